/**
 * The sidecar's OpenTelemetry tracing providers: one OTLP exporter (gRPC or HTTP/protobuf) with its
 * bounded export queue per distinct provider config (`OtlpExporterModel.key`), shared by every
 * listener that names it and kept across config updates, plus one `OtelHttpTracer` per listener
 * config. Nothing here is global: no OpenTelemetry global tracer provider, propagator or context
 * manager is registered. `close()` flushes every queue with a bounded wait and shuts the exporters
 * down. Note: the OTLP exporter packages also read the standard `OTEL_EXPORTER_OTLP_*` environment
 * variables (headers, compression) themselves.
 */
import * as grpc from '@grpc/grpc-js';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ListenerModel, NodeModel } from '../../config/model';
import type { OtlpExporterModel, TracingModel } from '../../config/tracing-model';
import type { Runtime } from '../../core/runtime';
import { ResponseFlagFormatter } from '../../core/response-flags';
import type { HttpTracer } from '../stream-info';
import { OtelHttpTracer } from './http-tracer';
import { IdGenerator } from './id-generator';
import type { SpanSink } from './request-span';
import { DEFAULT_QUEUE_OPTIONS, SpanExportQueue, TracingMetrics, type SpanExportQueueOptions } from './span-export-queue';
import { NodeMetadataKey } from '../../config/node-metadata';

const SCOPE: InstrumentationScope = Object.freeze({ name: 'remora' });
/** How long `close()` waits for the queued spans to reach the collector. */
const CLOSE_FLUSH_MS = 2000;

/** One exporter + queue, the sink of every tracer using the same provider config. */
class ProviderSink implements SpanSink {
  readonly scope = SCOPE;
  constructor(readonly queue: SpanExportQueue, readonly resource: Resource) {}

  push(span: ReadableSpan): void {
    this.queue.push(span);
  }
}

/** Builds the OTLP exporter of a provider config (config time). */
export function createOtlpExporter(model: OtlpExporterModel): SpanExporter {
  if (model.protocol === 'grpc') {
    return new GrpcTraceExporter({ url: model.endpoint, credentials: grpc.credentials.createInsecure(), timeoutMillis: model.timeoutMs });
  }
  return new ProtoTraceExporter({ url: model.endpoint, timeoutMillis: model.timeoutMs });
}

/** `service.name` when the config has none: Istio's `<app>.<namespace>` from the node metadata, else the node cluster or id. */
export function defaultServiceName(node: NodeModel): string {
  const md = node.metadata;
  const labels = md[NodeMetadataKey.Labels];
  const app = typeof labels === 'object' && labels !== null ? (labels as Record<string, unknown>)['app'] : undefined;
  const workload = typeof app === 'string' && app !== '' ? app : md[NodeMetadataKey.WorkloadName];
  const ns = md[NodeMetadataKey.Namespace];
  if (typeof workload === 'string' && workload !== '') return typeof ns === 'string' && ns !== '' ? `${workload}.${ns}` : workload;
  return node.cluster !== '' ? node.cluster : node.id;
}

export class TracingProviders {
  private readonly sinks = new Map<string, ProviderSink>();
  private readonly ids = new IdGenerator();
  private readonly flags = new ResponseFlagFormatter();
  private metrics: TracingMetrics | null = null;

  /**
   * `queueOptions` tunes the export queues (tests use a short schedule delay); the sidecar uses
   * the defaults (2048 spans, batches of 512, 500 ms).
   */
  constructor(
    readonly runtime: Runtime,
    readonly node: NodeModel,
    private readonly queueOptions: Partial<SpanExportQueueOptions> = {},
  ) {}

  /** The tracer of one listener with `tracing` configured (config time; the exporter is shared by provider config). */
  tracerFor(model: TracingModel, listener: ListenerModel): HttpTracer | null {
    const sink = this.sinkFor(model.exporter);
    return new OtelHttpTracer(model, listener, sink, this.ids, this.runtime.random, this.runtime.clock, this.flags, this.node.id);
  }

  /** Flushes pending spans (bounded) and shuts the exporters down. Tracers built earlier drop (and count) later spans. */
  async close(): Promise<void> {
    const sinks = [...this.sinks.values()];
    await Promise.all(sinks.map((s) => s.queue.shutdown(CLOSE_FLUSH_MS)));
  }

  /** Forces every queue to export now; resolves when they are empty (bounded). For tests and `/drain`. */
  async flush(timeoutMs = CLOSE_FLUSH_MS): Promise<void> {
    await Promise.all([...this.sinks.values()].map((s) => s.queue.forceFlush(timeoutMs)));
  }

  private sinkFor(model: OtlpExporterModel): ProviderSink {
    let sink = this.sinks.get(model.key);
    if (sink === undefined) {
      if (this.metrics === null) this.metrics = TracingMetrics.forRegistry(this.runtime.metrics);
      const options: SpanExportQueueOptions = { ...DEFAULT_QUEUE_OPTIONS, exportTimeoutMs: model.timeoutMs, ...this.queueOptions };
      const queue = new SpanExportQueue(createOtlpExporter(model), this.metrics, options);
      const resource = resourceFromAttributes({
        'service.name': model.serviceName !== '' ? model.serviceName : defaultServiceName(this.node),
        'service.instance.id': this.node.id,
        'telemetry.sdk.name': 'remora',
      });
      sink = new ProviderSink(queue, resource);
      this.sinks.set(model.key, sink);
    }
    return sink;
  }
}
