/**
 * Builds one listener's StreamTelemetry at config time: its tracer (HCM `tracing`), Istio's standard
 * metrics (`istio.stats`) and its access logs (`access_log`), from the process-wide providers the
 * sidecar owns. A listener with none of them gets NO_TELEMETRY, and its requests pay nothing. A new
 * config of a listener releases the access-log outputs its previous config held (an output closes
 * when no listener config uses its path any more).
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
  /** The access-log observers of each listener's current config, released when the config is replaced. */
  private readonly accessLogObservers = new Map<string, StreamObserver[]>();

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
    const logs: StreamObserver[] = [];
    for (const model of hcm.accessLogs) {
      const o = this.accessLogs.observerFor(model, listener);
      if (o !== null) logs.push(o);
    }
    observers.push(...logs);
    // The new observers hold their outputs before the old ones let go: an unchanged path stays open.
    const previous = this.accessLogObservers.get(listener.name);
    this.accessLogObservers.set(listener.name, logs);
    if (previous !== undefined) for (const o of previous) void this.accessLogs.release(o);
    const tracer = hcm.tracing === null ? null : this.tracing.tracerFor(hcm.tracing, listener);
    if (tracer === null && observers.length === 0) return NO_TELEMETRY;
    const startObservers = observers.filter((o) => o.onRequestStart !== undefined);
    return Object.freeze({ tracer, observers: Object.freeze(observers), startObservers: Object.freeze(startObservers) });
  }

  /** Flushes spans and access logs (bounded) and closes their destinations. */
  async close(): Promise<void> {
    await Promise.all([this.accessLogs.close(), this.tracing.close()]);
  }
}
