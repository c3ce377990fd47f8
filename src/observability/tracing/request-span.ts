/**
 * The span of one sampled request. `RequestSpan` is what the stream holds while it runs (ids, the
 * retry events the router adds); `end(info)` turns it, with the finished StreamInfo, into an
 * `ExportedSpan` — an OpenTelemetry SDK `ReadableSpan` built directly, without the SDK's Span, its
 * context manager or its sampler — and hands that to the listener's export queue. Attributes follow
 * the OpenTelemetry semantic conventions (rpc.*, http.*, server.address, network.peer.address) plus
 * Envoy's standard tags (upstream_cluster, upstream_address, response_flags, guid:x-request-id,
 * component, node_id), the downstream peer's principal and the configured custom tags.
 */
import { SpanKind, SpanStatusCode, type Attributes, type HrTime, type Link, type SpanContext, type SpanStatus } from '@opentelemetry/api';
import { TraceState, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { Clock } from '../../core/clock';
import type { ResponseFlagFormatter } from '../../core/response-flags';
import type { CustomTagModel } from '../../config/tracing-model';
import type { StreamInfo, TraceSpan } from '../stream-info';

/** Where a listener's finished spans go, and what they share (config-time objects). */
export interface SpanSink {
  push(span: ReadableSpan): void;
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
}

/** Per-listener span settings, built once by the tracer. */
export interface SpanSettings {
  readonly kind: SpanKind;
  readonly sink: SpanSink;
  readonly clock: Clock;
  readonly flags: ResponseFlagFormatter;
  readonly customTags: readonly CustomTagModel[];
  readonly maxPathTagLength: number;
  readonly nodeId: string;
}

const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];
const UNSET_STATUS: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });

/** Epoch milliseconds (fractional) → HrTime. */
export function msToHrTime(ms: number): HrTime {
  let s = Math.floor(ms / 1000);
  let ns = Math.round((ms - s * 1000) * 1e6);
  if (ns >= 1e9) { s += 1; ns -= 1e9; }
  return [s, ns];
}

export class RequestSpan implements TraceSpan {
  private events: TimedEvent[] | null = null;
  private ended = false;

  constructor(
    private readonly settings: SpanSettings,
    readonly traceId: string,
    readonly spanId: string,
    /** The incoming (remote) parent span; null for a root. */
    readonly parentSpanId: string | null,
    /** The incoming W3C `tracestate`, raw; null when none. */
    private readonly traceState: string | null,
  ) {}

  /** Records an event at the current wall time (e.g. the router's `retry`). Ignored after `end`. */
  addEvent(name: string, attributes: Readonly<Record<string, string | number | boolean>> | null): void {
    if (this.ended) return;
    if (this.events === null) this.events = [];
    this.events.push({ name, time: msToHrTime(this.settings.clock.now()), attributes: attributes === null ? undefined : { ...attributes }, droppedAttributesCount: 0 });
  }

  /** Builds the exported span from the finished stream and queues it. Called once; later calls are ignored. */
  end(info: StreamInfo): void {
    if (this.ended) return;
    this.ended = true;
    const st = this.settings;
    const startMs = info.startTimeWall;
    const durMs = info.endTime > info.startTime ? info.endTime - info.startTime : 0;
    const parent: SpanContext | undefined = this.parentSpanId === null ? undefined
      : { traceId: this.traceId, spanId: this.parentSpanId, traceFlags: 1, isRemote: true };
    const ctx: SpanContext = {
      traceId: this.traceId, spanId: this.spanId, traceFlags: 1,
      traceState: this.traceState === null ? undefined : new TraceState(this.traceState),
    };
    st.sink.push(new ExportedSpan(
      spanName(info, st.maxPathTagLength), st.kind, ctx, parent, msToHrTime(startMs), msToHrTime(startMs + durMs), msToHrTime(durMs),
      status(info), attributesOf(info, st), this.events ?? NO_EVENTS, st.sink.resource, st.sink.scope,
    ));
  }
}

/** A finished span in the shape the OTLP exporters read. */
class ExportedSpan implements ReadableSpan {
  readonly links: Link[] = NO_LINKS;
  readonly ended = true;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;

  constructor(
    readonly name: string,
    readonly kind: SpanKind,
    private readonly ctx: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    readonly startTime: HrTime,
    readonly endTime: HrTime,
    readonly duration: HrTime,
    readonly status: SpanStatus,
    readonly attributes: Attributes,
    readonly events: TimedEvent[],
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
  ) {}

  spanContext(): SpanContext {
    return this.ctx;
  }
}

/** `:path` without the query string. */
function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max);
}

/** gRPC: the method path (`/pkg.Svc/Method`); HTTP: `<method> <authority><path>` (Envoy's operation name, cut to max_path_tag_length). */
function spanName(info: StreamInfo, maxPath: number): string {
  const p = pathOnly(info.path);
  if (info.isGrpc) return truncate(p, maxPath);
  return `${info.method} ${truncate(info.authority + p, maxPath)}`;
}

/** The authority's host (without port; IPv6 brackets removed). */
function hostOf(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end < 0 ? authority : authority.slice(1, end);
  }
  const colon = authority.lastIndexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}

function status(info: StreamInfo): SpanStatus {
  if (info.responseStatus === 0) return { code: SpanStatusCode.ERROR, message: info.localReplyReason ?? 'no response' };
  if (info.responseStatus >= 500) return { code: SpanStatusCode.ERROR, message: info.localReplyReason ?? `HTTP ${info.responseStatus}` };
  if (info.isGrpc && info.grpcStatus > 0) return { code: SpanStatusCode.ERROR, message: info.localReplyReason ?? `grpc-status ${info.grpcStatus}` };
  return UNSET_STATUS;
}

function attributesOf(info: StreamInfo, st: SpanSettings): Attributes {
  const a: Attributes = {
    'http.request.method': info.method,
    'server.address': hostOf(info.authority),
    'url.path': truncate(pathOnly(info.path), st.maxPathTagLength),
    'url.scheme': info.scheme,
    'network.protocol.version': info.protocol === 'h2' ? '2' : '1.1',
    'network.peer.address': info.remoteAddress,
    'http.request.body.size': info.bytesReceived,
    'http.response.body.size': info.bytesSent,
    'response_flags': st.flags.format(info.responseFlags),
    'component': 'proxy',
    'node_id': st.nodeId,
  };
  if (info.responseStatus > 0) a['http.response.status_code'] = info.responseStatus;
  if (info.isGrpc) {
    a['rpc.system'] = 'grpc';
    const p = pathOnly(info.path);
    const slash = p.lastIndexOf('/');
    if (slash > 0) {
      a['rpc.service'] = p.slice(1, slash);
      a['rpc.method'] = p.slice(slash + 1);
    }
    if (info.grpcStatus >= 0) a['rpc.grpc.status_code'] = info.grpcStatus;
  }
  const principal = info.connection?.peer?.principal ?? null;
  if (principal !== null) a['remora.peer.principal'] = principal;
  if (info.upstreamCluster !== null) a['upstream_cluster'] = info.upstreamCluster;
  if (info.upstreamHost !== null) a['upstream_address'] = info.upstreamHost;
  if (info.upstreamAttempts > 1) a['remora.upstream.attempts'] = info.upstreamAttempts;
  if (info.requestId !== null) a['guid:x-request-id'] = info.requestId;
  if (info.localReplyReason !== null) a['remora.local_reply.reason'] = info.localReplyReason;
  const tags = st.customTags;
  for (let i = 0; i < tags.length; i++) {
    const t = tags[i];
    if (t.kind === 'literal') {
      a[t.tag] = t.value;
    } else {
      const v = info.headers[t.name];
      const s = v === undefined ? t.defaultValue : typeof v === 'string' ? v : v.length > 0 ? v[0] : t.defaultValue;
      if (s !== null) a[t.tag] = s;
    }
  }
  return a;
}
