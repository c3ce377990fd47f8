/**
 * The HttpTracer of one listener: at request start it reads the incoming trace context (W3C or
 * B3), decides sampling (a parent's explicit decision is honoured; otherwise `random_sampling` ×
 * `overall_sampling` with the Runtime's random source), writes this hop's context into the
 * forwarded headers in the format(s) the request came with (W3C when none) — unsampled requests
 * included, with sampled=0, so the next hop honours the decision — and sets `stream.traceId`.
 * Only a sampled request gets a `RequestSpan`; an unsampled one costs the header parse, one random
 * draw, one or two pooled ids and the header writes. SERVER spans on INBOUND (and UNSPECIFIED)
 * listeners, CLIENT spans on OUTBOUND ones.
 */
import { SpanKind } from '@opentelemetry/api';
import type { ListenerModel } from '../../config/model';
import type { TracingModel } from '../../config/tracing-model';
import type { Clock, RandomSource } from '../../core/clock';
import { ResponseFlagFormatter } from '../../core/response-flags';
import type { HttpTracer, TracedStream } from '../stream-info';
import type { IdGenerator } from './id-generator';
import { RequestSpan, type SpanSettings, type SpanSink } from './request-span';
import { extractContext, Format, presentFormats, writeContext, type HeaderMap } from './trace-context';

export class OtelHttpTracer implements HttpTracer {
  private readonly settings: SpanSettings;
  /** Probability × 100 that a request without a decision is sampled. */
  private readonly rootPercent: number;

  constructor(
    model: TracingModel,
    listener: ListenerModel,
    sink: SpanSink,
    private readonly ids: IdGenerator,
    private readonly random: RandomSource,
    clock: Clock,
    flags: ResponseFlagFormatter,
    nodeId: string,
  ) {
    this.rootPercent = (model.randomSamplingPercent * model.overallSamplingPercent) / 100;
    this.settings = Object.freeze({
      kind: listener.trafficDirection === 'OUTBOUND' ? SpanKind.CLIENT : SpanKind.SERVER,
      sink,
      clock,
      flags,
      customTags: model.customTags,
      maxPathTagLength: model.maxPathTagLength,
      nodeId,
    });
  }

  /** See HttpTracer. Never throws; malformed incoming context starts a new trace. */
  onRequestStart(stream: TracedStream, headers: HeaderMap): void {
    const formats = presentFormats(headers);
    const incoming = formats === 0 ? null : extractContext(headers, formats);
    let traceId: string | null = null;
    let parentSpanId: string | null = null;
    let sampled: boolean;
    let debug = false;
    let fromW3C = false;
    if (incoming !== null) {
      traceId = incoming.traceId;
      parentSpanId = incoming.spanId;
      debug = incoming.debug;
      fromW3C = incoming.format === Format.W3C;
      sampled = incoming.sampled === -1 ? this.decide() : incoming.sampled === 1;
    } else {
      sampled = this.decide();
    }
    if (traceId === null) traceId = this.ids.traceId();
    const spanId = this.ids.spanId();
    writeContext(headers, formats, traceId, spanId, parentSpanId, sampled, debug, fromW3C);
    stream.traceId = traceId;
    if (!sampled) return;
    let traceState: string | null = null;
    if (fromW3C) {
      const ts = headers['tracestate'];
      if (ts !== undefined) traceState = typeof ts === 'string' ? ts : ts.join(',');
    }
    stream.span = new RequestSpan(this.settings, traceId, spanId, parentSpanId, traceState);
  }

  private decide(): boolean {
    const p = this.rootPercent;
    if (p >= 100) return true;
    if (p <= 0) return false;
    return this.random.next() * 100 < p;
  }
}
