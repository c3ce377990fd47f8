/**
 * The storage and exposition of Istio's standard HTTP metrics — `istio_requests_total` (counter),
 * `istio_request_duration_milliseconds`, `istio_request_bytes`, `istio_response_bytes`
 * (histograms) — with Istio's names, label names and Envoy's default histogram buckets (Istio sets
 * no buckets of its own, so its `istiocustom` histograms use Envoy's defaults).
 *
 * Why not prom-client's Counter/Histogram: their `inc`/`observe` hash all 25 label values into a
 * string on every call. Here a call's labels are split into a config-time `IstioSeries` (the 21
 * labels fixed per endpoint, cluster or connection, interned once) and an `IstioOutcome` per
 * (protocol, response code, gRPC status, response flags) found through one numeric Map key; the
 * hot path increments plain numbers. The four metrics are registered in the prom-client Registry
 * as custom metric objects, so `/stats/prometheus` (text or OpenMetrics) and `getMetricsAsJSON`
 * print them like any other metric. One store per Registry (found again through
 * `registry.getSingleMetric`).
 */
import { Registry } from 'prom-client';
import type { ServiceLabels, WorkloadLabels } from './istio-labels';

/** Envoy's default histogram buckets, used by Istio for all three histograms (ms and bytes alike). */
export const ISTIO_DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
]);

/** Every label of the four metrics, in exposition order. */
export const ISTIO_LABEL_NAMES: readonly string[] = Object.freeze([
  'reporter',
  'source_workload', 'source_workload_namespace', 'source_principal', 'source_app', 'source_version',
  'source_canonical_service', 'source_canonical_revision', 'source_cluster',
  'destination_workload', 'destination_workload_namespace', 'destination_principal', 'destination_app', 'destination_version',
  'destination_service', 'destination_service_name', 'destination_service_namespace',
  'destination_canonical_service', 'destination_canonical_revision', 'destination_cluster',
  'request_protocol', 'response_code', 'grpc_response_status', 'response_flags', 'connection_security_policy',
]);

export type Reporter = 'source' | 'destination';
export type SecurityPolicy = 'mutual_tls' | 'none' | 'unknown';

const REQUESTS = 'istio_requests_total';
const DURATION = 'istio_request_duration_milliseconds';
const REQUEST_BYTES = 'istio_request_bytes';
const RESPONSE_BYTES = 'istio_response_bytes';

/** Counts per bucket (not cumulative; the last slot is above every bound) plus sum and count. */
class HistogramData {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(buckets: number) {
    this.counts = new Float64Array(buckets + 1);
  }

  observe(bounds: readonly number[], v: number): void {
    let i = 0;
    const n = bounds.length;
    while (i < n && v > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** The series of one full label set (a series plus an outcome). */
export class IstioOutcome {
  requests = 0;
  readonly duration: HistogramData;
  readonly requestBytes: HistogramData;
  readonly responseBytes: HistogramData;

  constructor(
    /** All 25 labels (frozen; shared with the exposition, formatted once by prom-client). */
    readonly labels: Readonly<Record<string, string>>,
    buckets: number,
  ) {
    this.duration = new HistogramData(buckets);
    this.requestBytes = new HistogramData(buckets);
    this.responseBytes = new HistogramData(buckets);
  }
}

/**
 * The labels fixed for a group of calls (reporter, both workloads, the service, the connection
 * security policy), interned by the store. `outcomes` maps `outcomeKey(...)` to the full series.
 */
export class IstioSeries {
  /** @internal */
  readonly outcomes = new Map<number, IstioOutcome>();

  constructor(
    readonly store: IstioSeriesStore,
    /** The 21 fixed labels by name. */
    readonly labels: Readonly<Record<string, string>>,
  ) {}
}

/**
 * The numeric key of an outcome: response flags bits, gRPC or not, gRPC status (-1 none; clamped
 * to 0..1022), HTTP status (clamped to 0..999). Unique per label combination.
 */
export function outcomeKey(flags: number, grpc: boolean, grpcStatus: number, status: number): number {
  const gs = grpcStatus < -1 ? 0 : grpcStatus > 1022 ? 1023 : grpcStatus + 1;
  const st = status < 0 ? 0 : status > 999 ? 999 : status;
  return ((flags * 2 + (grpc ? 1 : 0)) * 1024 + gs) * 1000 + st;
}

/** One Registry's Istio series and the four exposition objects registered in it. */
export class IstioSeriesStore {
  private readonly bySeriesKey = new Map<string, IstioSeries>();
  /** Every outcome in creation order (the exposition order). */
  readonly outcomes: IstioOutcome[] = [];
  readonly bounds: readonly number[] = ISTIO_DEFAULT_BUCKETS;

  private constructor(readonly registry: Registry) {}

  /** The store of `registry`, registering the four metrics on first use. Throws when a foreign metric holds one of the names. */
  static of(registry: Registry): IstioSeriesStore {
    const existing = registry.getSingleMetric(REQUESTS) as unknown;
    if (existing instanceof IstioMetricExposition) return existing.store;
    const store = new IstioSeriesStore(registry);
    registry.registerMetric(new IstioMetricExposition(store, 'counter', REQUESTS, 'Total requests, by Istio standard labels (Remora sidecar).') as never);
    registry.registerMetric(new IstioMetricExposition(store, 'duration', DURATION, 'Request duration in milliseconds, by Istio standard labels.') as never);
    registry.registerMetric(new IstioMetricExposition(store, 'requestBytes', REQUEST_BYTES, 'Request body sizes in bytes, by Istio standard labels.') as never);
    registry.registerMetric(new IstioMetricExposition(store, 'responseBytes', RESPONSE_BYTES, 'Response body sizes in bytes, by Istio standard labels.') as never);
    return store;
  }

  /** The interned series of these fixed labels (config or connection time: builds a key string). */
  series(reporter: Reporter, src: WorkloadLabels, dst: WorkloadLabels, svc: ServiceLabels, security: SecurityPolicy): IstioSeries {
    const labels: Record<string, string> = {
      reporter,
      source_workload: src.workload,
      source_workload_namespace: src.namespace,
      source_principal: src.principal,
      source_app: src.app,
      source_version: src.version,
      source_canonical_service: src.canonicalService,
      source_canonical_revision: src.canonicalRevision,
      source_cluster: src.cluster,
      destination_workload: dst.workload,
      destination_workload_namespace: dst.namespace,
      destination_principal: dst.principal,
      destination_app: dst.app,
      destination_version: dst.version,
      destination_service: svc.service,
      destination_service_name: svc.name,
      destination_service_namespace: svc.namespace,
      destination_canonical_service: dst.canonicalService,
      destination_canonical_revision: dst.canonicalRevision,
      destination_cluster: dst.cluster,
      connection_security_policy: security,
    };
    const key = Object.values(labels).join('\u0000');
    let s = this.bySeriesKey.get(key);
    if (s === undefined) {
      s = new IstioSeries(this, Object.freeze(labels));
      this.bySeriesKey.set(key, s);
    }
    return s;
  }

  /** The outcome series of `series` (created on first use; a handful per series). */
  outcome(series: IstioSeries, key: number, grpc: boolean, grpcStatus: number, status: number, flags: string): IstioOutcome {
    let o = series.outcomes.get(key);
    if (o !== undefined) return o;
    const b = series.labels;
    const gs = grpcStatus < -1 ? -1 : grpcStatus > 1022 ? 1022 : grpcStatus;
    const labels: Record<string, string> = {};
    for (let i = 0; i < ISTIO_LABEL_NAMES.length; i++) {
      const n = ISTIO_LABEL_NAMES[i]!;
      switch (n) {
        case 'request_protocol': labels[n] = grpc ? 'grpc' : 'http'; break;
        case 'response_code': labels[n] = String(status < 0 ? 0 : status > 999 ? 999 : status); break;
        case 'grpc_response_status': labels[n] = grpc && gs >= 0 ? String(gs) : ''; break;
        case 'response_flags': labels[n] = flags; break;
        default: labels[n] = b[n]!;
      }
    }
    o = new IstioOutcome(Object.freeze(labels), this.bounds.length);
    series.outcomes.set(key, o);
    this.outcomes.push(o);
    return o;
  }

  /** Zeroes every value (Registry.resetMetrics); the series stay. */
  reset(): void {
    for (const o of this.outcomes) {
      o.requests = 0;
      for (const h of [o.duration, o.requestBytes, o.responseBytes]) {
        h.counts.fill(0);
        h.sum = 0;
        h.count = 0;
      }
    }
  }
}

type Kind = 'counter' | 'duration' | 'requestBytes' | 'responseBytes';

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
  sharedLabels?: Readonly<Record<string, string>>;
}

const EMPTY: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * One of the four metrics as prom-client's Registry sees a metric (`name`, `type`, `help`,
 * `aggregator`, `get`, `getForPromString`, `reset`). Read only at scrape time.
 */
class IstioMetricExposition {
  readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum';
  private readonly leLabels: readonly Record<string, string | number>[];

  constructor(readonly store: IstioSeriesStore, private readonly kind: Kind, private readonly baseName: string, readonly help: string) {
    this.type = kind === 'counter' ? 'counter' : 'histogram';
    this.leLabels = [...store.bounds.map((b) => Object.freeze({ le: b })), Object.freeze({ le: '+Inf' })];
  }

  /**
   * The metric name. Under OpenMetrics prom-client prints counters as `<name>` + `_total` and
   * renames them through this setter; the name follows the registry's content type instead, so a
   * later Prometheus-format scrape still prints `istio_requests_total`.
   */
  get name(): string {
    if (this.type === 'counter' && (this.store.registry.contentType as string) === Registry.OPENMETRICS_CONTENT_TYPE) return this.baseName.replace(/_total$/, '');
    return this.baseName;
  }

  set name(_ignored: string) { /* see the getter */ }

  /** Values with labels kept apart (`sharedLabels`, formatted once per series by prom-client). */
  getForPromString(): { name: string; help: string; type: string; values: MetricValue[]; aggregator: string } {
    const values: MetricValue[] = [];
    const outcomes = this.store.outcomes;
    if (this.kind === 'counter') {
      for (let i = 0; i < outcomes.length; i++) values.push({ value: outcomes[i]!.requests, labels: EMPTY, sharedLabels: outcomes[i]!.labels });
    } else {
      const bucket = `${this.baseName}_bucket`;
      const sum = `${this.baseName}_sum`;
      const count = `${this.baseName}_count`;
      for (let i = 0; i < outcomes.length; i++) {
        const o = outcomes[i]!;
        const h = o[this.kind];
        if (h.count === 0) continue;
        let acc = 0;
        for (let b = 0; b < this.leLabels.length; b++) {
          acc += h.counts[b]!;
          values.push({ value: acc, labels: this.leLabels[b] as Record<string, string | number>, metricName: bucket, sharedLabels: o.labels });
        }
        values.push({ value: h.sum, labels: EMPTY, metricName: sum, sharedLabels: o.labels });
        values.push({ value: h.count, labels: EMPTY, metricName: count, sharedLabels: o.labels });
      }
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The same values with every label in `labels` (getMetricsAsJSON, Registry.aggregate). */
  get(): { name: string; help: string; type: string; values: MetricValue[]; aggregator: string } {
    const data = this.getForPromString();
    data.values = data.values.map((v) => ({ value: v.value, metricName: v.metricName, labels: { ...v.sharedLabels, ...v.labels } }));
    return data;
  }

  reset(): void {
    this.store.reset();
  }
}
