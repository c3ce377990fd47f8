/**
 * The dashboard's telemetry store and its golden-signal aggregation. Each scrape of a sidecar's
 * Istio metrics (`istio_requests_total`, `istio_request_duration_milliseconds_bucket`) is reduced to
 * the few dimensions the dashboard shows (reporter, source workload, destination service and
 * workload, success) and turned into per-scrape deltas against the previous scrape (a counter that
 * went down is a reset: its new value is the delta; a series that appears after the first scrape
 * started at 0). `summarize(now)` sums the deltas inside the window into request rates, success
 * rates, p50/p99 (PromQL `histogram_quantile` over the window's bucket increases) and call edges.
 * Memory is bounded: per sidecar at most `maxScrapes` deltas (older than the window are dropped)
 * and at most `maxSeries` reduced series; `drop(id)` forgets a sidecar. Times are the caller's
 * monotonic milliseconds; nothing here reads a clock.
 */
import { histogramQuantile, type Bucket } from './histogram-quantile';
import type { PromSample } from './prometheus-text';

export const REQUESTS_TOTAL = 'istio_requests_total';
export const DURATION_BUCKET = 'istio_request_duration_milliseconds_bucket';
export const CERT_EXPIRY = 'remora_workload_cert_expiry_timestamp_seconds';

/** The metric families the dashboard reads from a scrape (a `keep` filter for the parser). */
export function isDashboardMetric(name: string): boolean {
  return name === REQUESTS_TOTAL || name === DURATION_BUCKET || name === CERT_EXPIRY;
}

export type Reporter = 'source' | 'destination';

/** Golden signals of one destination service over the window. */
export interface ServiceSignals {
  /** `destination_service` (the FQDN-ish host). */
  readonly service: string;
  readonly name: string;
  readonly namespace: string;
  /** Which side's metrics were used: destination when any sidecar reported them, else source. */
  readonly reporter: Reporter;
  /** Requests per second over the window. */
  readonly rps: number;
  /** Share of successful requests (not 5xx, not 0, gRPC OK) in [0, 1]; null when no requests. */
  readonly successRate: number | null;
  /** Latency quantiles in ms; null without observations in the window. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface GraphNode {
  /** `wl:<namespace>/<workload>` or `svc:<destination_service>`. */
  readonly id: string;
  readonly kind: 'workload' | 'service';
  readonly name: string;
  readonly namespace: string;
}

export interface GraphEdge {
  readonly source: string;
  readonly target: string;
  /** `call`: workload → service it calls; `serves`: service → workload that served it. */
  readonly kind: 'call' | 'serves';
  readonly reporter: Reporter;
  readonly rps: number;
  readonly successRate: number | null;
}

export interface TelemetrySummary {
  readonly services: ServiceSignals[];
  readonly nodes: GraphNode[];
  readonly edges: GraphEdge[];
}

export interface MeshTelemetryOptions {
  /** Rates and quantiles are over this window (ms). */
  readonly windowMs: number;
  /** Deltas kept per sidecar (default 128). */
  readonly maxScrapes?: number;
  /** Reduced series kept per sidecar (default 5000); new ones beyond are ignored. */
  readonly maxSeries?: number;
}

interface ScrapeDelta {
  readonly t: number;
  readonly deltas: Map<string, number>;
}

class SidecarSeries {
  prev: Map<string, number> | null = null;
  firstAt = 0;
  readonly ring: ScrapeDelta[] = [];
  certExpiry: number | null = null;
  droppedSeries = 0;
}

const SEP = '\u001f';
const KIND_REQUESTS = 'R';
const KIND_BUCKET = 'D';

// Field positions in a reduced key (after the kind).
const F_REPORTER = 1;
const F_SRC_WL = 2;
const F_SRC_NS = 3;
const F_DST_SVC = 4;
const F_DST_NAME = 5;
const F_DST_NS = 6;
const F_DST_WL = 7;
const F_DST_WL_NS = 8;
const F_LAST = 9; // ok flag for R, le for D

function label(labels: Readonly<Record<string, string>>, name: string): string {
  const v = labels[name];
  return v === undefined || v === '' ? 'unknown' : v;
}

function dims(kind: string, l: Readonly<Record<string, string>>): string {
  return kind + SEP + (l['reporter'] ?? '') + SEP + label(l, 'source_workload') + SEP + label(l, 'source_workload_namespace') + SEP +
    label(l, 'destination_service') + SEP + label(l, 'destination_service_name') + SEP + label(l, 'destination_service_namespace') + SEP +
    label(l, 'destination_workload') + SEP + label(l, 'destination_workload_namespace');
}

/**
 * Whether a request counts as successful: HTTP status not 5xx and not 0 (no response), and a gRPC
 * status, when there is one (a number), of 0 (OK).
 */
export function isSuccess(responseCode: string | undefined, grpcStatus: string | undefined): boolean {
  const code = responseCode ?? '';
  if (code.charCodeAt(0) === 53 /* 5 */ || code === '0') return false;
  if (grpcStatus === undefined) return true;
  return !/^\d+$/.test(grpcStatus) || grpcStatus === '0';
}

/** Reduces one scrape to cumulative values per reduced key. */
function reduce(samples: readonly PromSample[]): { values: Map<string, number>; certExpiry: number | null } {
  const values = new Map<string, number>();
  let certExpiry: number | null = null;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    if (!Number.isFinite(s.value)) continue;
    let key: string;
    if (s.name === REQUESTS_TOTAL) {
      key = dims(KIND_REQUESTS, s.labels) + SEP + (isSuccess(s.labels['response_code'], s.labels['grpc_response_status']) ? '1' : '0');
    } else if (s.name === DURATION_BUCKET) {
      const le = s.labels['le'];
      if (le === undefined) continue;
      key = dims(KIND_BUCKET, s.labels) + SEP + le;
    } else if (s.name === CERT_EXPIRY) {
      if (s.value > 0 && (certExpiry === null || s.value < certExpiry)) certExpiry = s.value;
      continue;
    } else {
      continue;
    }
    values.set(key, (values.get(key) ?? 0) + s.value);
  }
  return { values, certExpiry };
}

interface Acc {
  rps: number;
  okRps: number;
}

/** Scraped telemetry of every sidecar, and the aggregation the dashboard shows. */
export class MeshTelemetry {
  private readonly sidecars = new Map<string, SidecarSeries>();
  private readonly windowMs: number;
  private readonly maxScrapes: number;
  private readonly maxSeries: number;

  constructor(options: MeshTelemetryOptions) {
    this.windowMs = options.windowMs;
    this.maxScrapes = options.maxScrapes ?? 128;
    this.maxSeries = options.maxSeries ?? 5000;
  }

  /**
   * Records one successful scrape of sidecar `id` taken at monotonic `at` ms. The first scrape of a
   * sidecar is only a baseline. Synchronous.
   */
  ingest(id: string, at: number, samples: readonly PromSample[]): void {
    let sc = this.sidecars.get(id);
    if (sc === undefined) {
      sc = new SidecarSeries();
      this.sidecars.set(id, sc);
    }
    const { values, certExpiry } = reduce(samples);
    sc.certExpiry = certExpiry;
    const prev = sc.prev;
    if (prev === null) {
      sc.firstAt = at;
      sc.prev = this.capped(sc, values, null);
      return;
    }
    const next = this.capped(sc, values, prev);
    const deltas = new Map<string, number>();
    for (const [key, v] of next) {
      const before = prev.get(key) ?? 0;
      const d = v >= before ? v - before : v;
      if (d > 0) deltas.set(key, d);
    }
    sc.prev = next;
    sc.ring.push({ t: at, deltas });
    const horizon = at - this.windowMs;
    while (sc.ring.length > this.maxScrapes || (sc.ring.length > 0 && sc.ring[0]!.t <= horizon)) sc.ring.shift();
  }

  /** Keeps at most maxSeries keys: the ones known before first, then new ones until full. */
  private capped(sc: SidecarSeries, values: Map<string, number>, prev: Map<string, number> | null): Map<string, number> {
    if (values.size <= this.maxSeries) return values;
    const out = new Map<string, number>();
    if (prev !== null) for (const k of prev.keys()) { const v = values.get(k); if (v !== undefined) out.set(k, v); }
    for (const [k, v] of values) {
      if (out.size >= this.maxSeries) break;
      if (!out.has(k)) out.set(k, v);
    }
    sc.droppedSeries = values.size - out.size;
    return out;
  }

  /** Forgets sidecar `id` (disconnected long enough); its traffic leaves the summary. */
  drop(id: string): void {
    this.sidecars.delete(id);
  }

  /** Ids with telemetry. */
  ids(): string[] {
    return [...this.sidecars.keys()];
  }

  /** The earliest `remora_workload_cert_expiry_timestamp_seconds` of the last scrape, or null. */
  certExpiry(id: string): number | null {
    return this.sidecars.get(id)?.certExpiry ?? null;
  }

  /** Reduced series of `id` ignored because of `maxSeries` in the last scrape. */
  droppedSeries(id: string): number {
    return this.sidecars.get(id)?.droppedSeries ?? 0;
  }

  /** Golden signals, graph nodes and edges over the window ending at monotonic `now`. Pure read. */
  summarize(now: number): TelemetrySummary {
    const horizon = now - this.windowMs;
    // Per reduced key: rate (per second) and raw count within the window.
    const rates = new Map<string, number>();
    const counts = new Map<string, number>();
    const known = new Set<string>();
    for (const sc of this.sidecars.values()) {
      if (sc.prev === null) continue;
      for (const k of sc.prev.keys()) if (k.charCodeAt(0) === 82 /* R */) known.add(k);
      const elapsedMs = Math.min(this.windowMs, now - sc.firstAt);
      if (elapsedMs <= 0) continue;
      for (let i = 0; i < sc.ring.length; i++) {
        const e = sc.ring[i]!;
        if (e.t <= horizon || e.t > now) continue;
        for (const [k, d] of e.deltas) {
          counts.set(k, (counts.get(k) ?? 0) + d);
          if (k.charCodeAt(0) === 82) rates.set(k, (rates.get(k) ?? 0) + d / (elapsedMs / 1000));
        }
      }
    }

    // Which reporter each service and edge uses. Service signals and `serves` edges: destination
    // when present. Call edges into a service: source when any caller of it reported (the
    // destination side may not know the caller, e.g. without mTLS it sees `unknown`), else
    // destination; chosen per service so that one call is never counted from both sides.
    const svcReporters = new Map<string, Set<string>>();
    const servesReporters = new Map<string, Set<string>>();
    const parsed = new Map<string, string[]>();
    for (const k of known) {
      const f = k.split(SEP);
      parsed.set(k, f);
      addTo(svcReporters, f[F_DST_SVC]!, f[F_REPORTER]!);
      addTo(servesReporters, servesKey(f), f[F_REPORTER]!);
    }
    const pick = (set: Set<string> | undefined, preferred: Reporter): Reporter => {
      if (set === undefined || set.has(preferred)) return preferred;
      return preferred === 'source' ? (set.has('destination') ? 'destination' : 'source') : (set.has('source') ? 'source' : 'destination');
    };

    const services = new Map<string, { name: string; namespace: string; reporter: Reporter; acc: Acc }>();
    const calls = new Map<string, { f: string[]; reporter: Reporter; acc: Acc }>();
    const serves = new Map<string, { f: string[]; reporter: Reporter; acc: Acc }>();
    const nodes = new Map<string, GraphNode>();
    for (const [k, f] of parsed) {
      const reporter = f[F_REPORTER]!;
      const rate = rates.get(k) ?? 0;
      const ok = f[F_LAST] === '1';
      const svc = f[F_DST_SVC]!;
      const svcReporter = pick(svcReporters.get(svc), 'destination');
      let s = services.get(svc);
      if (s === undefined) {
        s = { name: f[F_DST_NAME]!, namespace: f[F_DST_NS]!, reporter: svcReporter, acc: { rps: 0, okRps: 0 } };
        services.set(svc, s);
      }
      if (reporter === svcReporter) accumulate(s.acc, rate, ok);
      const ck = callKey(f);
      const callReporter = pick(svcReporters.get(svc), 'source');
      if (reporter === callReporter) {
        let c = calls.get(ck);
        if (c === undefined) { c = { f, reporter: callReporter, acc: { rps: 0, okRps: 0 } }; calls.set(ck, c); }
        accumulate(c.acc, rate, ok);
      }
      if (f[F_DST_WL] !== 'unknown') {
        const sk = servesKey(f);
        const servesReporter = pick(servesReporters.get(sk), 'destination');
        if (reporter === servesReporter) {
          let v = serves.get(sk);
          if (v === undefined) { v = { f, reporter: servesReporter, acc: { rps: 0, okRps: 0 } }; serves.set(sk, v); }
          accumulate(v.acc, rate, ok);
        }
      }
    }

    // Latency: the window's bucket increases per service (chosen reporter), then the quantiles.
    const buckets = new Map<string, Map<string, number>>();
    for (const [k, n] of counts) {
      if (k.charCodeAt(0) !== 68 /* D */) continue;
      const f = k.split(SEP);
      const svc = f[F_DST_SVC]!;
      const s = services.get(svc);
      if (s === undefined || f[F_REPORTER] !== s.reporter) continue;
      let m = buckets.get(svc);
      if (m === undefined) { m = new Map(); buckets.set(svc, m); }
      m.set(f[F_LAST]!, (m.get(f[F_LAST]!) ?? 0) + n);
    }

    const outServices: ServiceSignals[] = [];
    for (const [svc, s] of services) {
      const b: Bucket[] = [];
      const m = buckets.get(svc);
      if (m !== undefined) for (const [le, count] of m) { const v = Number(le === '+Inf' ? Infinity : le); if (!Number.isNaN(v)) b.push({ le: v, count }); }
      outServices.push({
        service: svc,
        name: s.name,
        namespace: s.namespace,
        reporter: s.reporter,
        rps: s.acc.rps,
        successRate: s.acc.rps > 0 ? s.acc.okRps / s.acc.rps : null,
        p50Ms: finiteOrNull(histogramQuantile(0.5, b)),
        p99Ms: finiteOrNull(histogramQuantile(0.99, b)),
      });
      nodes.set('svc:' + svc, { id: 'svc:' + svc, kind: 'service', name: s.name === 'unknown' ? svc : s.name, namespace: s.namespace });
    }
    outServices.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));

    const edges: GraphEdge[] = [];
    for (const c of calls.values()) {
      const src = workloadId(c.f[F_SRC_NS]!, c.f[F_SRC_WL]!);
      if (!nodes.has(src)) nodes.set(src, { id: src, kind: 'workload', name: c.f[F_SRC_WL]!, namespace: c.f[F_SRC_NS]! });
      edges.push({ source: src, target: 'svc:' + c.f[F_DST_SVC]!, kind: 'call', reporter: c.reporter, rps: c.acc.rps, successRate: c.acc.rps > 0 ? c.acc.okRps / c.acc.rps : null });
    }
    for (const v of serves.values()) {
      const dst = workloadId(v.f[F_DST_WL_NS]!, v.f[F_DST_WL]!);
      if (!nodes.has(dst)) nodes.set(dst, { id: dst, kind: 'workload', name: v.f[F_DST_WL]!, namespace: v.f[F_DST_WL_NS]! });
      edges.push({ source: 'svc:' + v.f[F_DST_SVC]!, target: dst, kind: 'serves', reporter: v.reporter, rps: v.acc.rps, successRate: v.acc.rps > 0 ? v.acc.okRps / v.acc.rps : null });
    }
    // Calls first, then by source and target.
    edges.sort((a, b) => (a.kind !== b.kind ? (a.kind === 'call' ? -1 : 1) : a.source !== b.source ? (a.source < b.source ? -1 : 1) : a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
    const outNodes = [...nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { services: outServices, nodes: outNodes, edges };
  }
}

function callKey(f: readonly string[]): string {
  return f[F_SRC_NS]! + SEP + f[F_SRC_WL]! + SEP + f[F_DST_SVC]!;
}

function servesKey(f: readonly string[]): string {
  return f[F_DST_SVC]! + SEP + f[F_DST_WL_NS]! + SEP + f[F_DST_WL]!;
}

function workloadId(namespace: string, name: string): string {
  return `wl:${namespace}/${name}`;
}

function addTo(m: Map<string, Set<string>>, key: string, value: string): void {
  let s = m.get(key);
  if (s === undefined) { s = new Set(); m.set(key, s); }
  s.add(value);
}

function accumulate(acc: Acc, rate: number, ok: boolean): void {
  acc.rps += rate;
  if (ok) acc.okRps += rate;
}

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}
