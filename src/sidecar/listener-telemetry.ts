/**
 * Builds one listener's StreamTelemetry at config time: its tracer (HCM `tracing`), Istio's standard
 * metrics (`istio.stats`) and its access logs (`access_log`), from the process-wide providers the
 * sidecar owns. A listener with none of them gets NO_TELEMETRY, and its requests pay nothing.
 */
import type { ListenerModel, NodeModel } from '../config/model';
import type { Runtime } from '../core/runtime';
import { AccessLogSinks } from '../observability/access-log/access-log-sinks';
import { IstioMetrics } from '../observability/istio-metrics';
import { NO_TELEMETRY, type StreamObserver, type StreamTelemetry } from '../observability/stream-info';
import { TracingProviders } from '../observability/tracing/tracing-providers';

export class ListenerTelemetry {
  private readonly istio: IstioMetrics;
  private readonly accessLogs: AccessLogSinks;
  private readonly tracing: TracingProviders;

  constructor(runtime: Runtime, node: NodeModel) {
    this.istio = new IstioMetrics(runtime.metrics, node);
    this.accessLogs = new AccessLogSinks(runtime);
    this.tracing = new TracingProviders(runtime, node);
  }

  /** The telemetry of one listener config. */
  build(listener: ListenerModel): StreamTelemetry {
    const hcm = listener.hcm;
    const observers: StreamObserver[] = [];
    const istio = this.istio.observerFor(listener);
    if (istio !== null) observers.push(istio);
    for (const model of hcm.accessLogs) {
      const o = this.accessLogs.observerFor(model, listener);
      if (o !== null) observers.push(o);
    }
    const tracer = hcm.tracing === null ? null : this.tracing.tracerFor(hcm.tracing, listener);
    if (tracer === null && observers.length === 0) return NO_TELEMETRY;
    return Object.freeze({ tracer, observers: Object.freeze(observers) });
  }

  /** Flushes spans and access logs (bounded) and closes their destinations. */
  async close(): Promise<void> {
    await Promise.all([this.accessLogs.close(), this.tracing.close()]);
  }
}
