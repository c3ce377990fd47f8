/**
 * Per-cluster load metrics read at scrape time: `remora_upstream_connections_active{cluster}`,
 * `remora_upstream_requests_active{cluster}` and `remora_upstream_requests_pending{cluster}` (Envoy's
 * `upstream_cx_active`, `upstream_rq_active`, `upstream_rq_pending_active`), plus the counter
 * `remora_upstream_connections_total{cluster}` (`upstream_cx_total`, connections opened, failed ones
 * included) whose label child a cluster binds once. The gauges cost nothing per request: clusters
 * keep plain numbers (their ResourceManager and pools) and register as `UpstreamLoadSource`s; each
 * gauge's `collect()` sums the live sources by cluster name (an old and a new version of one cluster
 * may both be draining requests) and drops clusters that are gone. The families and the set of live
 * sources belong to the registry (found again through `forRegistry`), never to the module.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

type CounterChild = ReturnType<Counter<string>['labels']>;

export const CONNECTIONS_ACTIVE = 'remora_upstream_connections_active';
export const CONNECTIONS_TOTAL = 'remora_upstream_connections_total';
export const REQUESTS_ACTIVE = 'remora_upstream_requests_active';
export const REQUESTS_PENDING = 'remora_upstream_requests_pending';

/** What a cluster reports at scrape time. Methods are called only while a scrape runs. */
export interface UpstreamLoadSource {
  /** The cluster name (the `cluster` label). */
  readonly name: string;
  /** Open upstream connections (HTTP/2 sessions connecting or open, HTTP/1.1 sockets). */
  activeConnections(): number;
  /** Requests holding an active-request slot (Envoy `upstream_rq_active`). */
  activeRequests(): number;
  /** Requests waiting for a connection or stream (Envoy `upstream_rq_pending_active`). */
  pendingRequests(): number;
}

type Reading = 'activeConnections' | 'activeRequests' | 'pendingRequests';

/** A gauge that reads one number from every live source when scraped. */
class LoadGauge extends Gauge<'cluster'> {
  constructor(name: string, help: string, readonly sources: Set<UpstreamLoadSource>, readonly reading: Reading, registry: Registry) {
    super({ name, help, labelNames: ['cluster'], registers: [registry], collect: collectLoad });
  }
}

function collectLoad(this: Gauge<'cluster'>): void {
  const g = this as LoadGauge;
  const sums = new Map<string, number>();
  for (const s of g.sources) sums.set(s.name, (sums.get(s.name) ?? 0) + s[g.reading]());
  g.reset();
  for (const [cluster, value] of sums) g.set({ cluster }, value);
}

/** The families on one registry, shared by every cluster of that registry. */
export class UpstreamMetrics {
  readonly connectionsTotal: Counter<'cluster'>;
  private readonly sources: Set<UpstreamLoadSource>;

  private constructor(registry: Registry) {
    const existing = registry.getSingleMetric(REQUESTS_ACTIVE);
    if (existing instanceof LoadGauge) {
      this.sources = existing.sources;
      this.connectionsTotal = registry.getSingleMetric(CONNECTIONS_TOTAL) as Counter<'cluster'>;
      return;
    }
    const sources = new Set<UpstreamLoadSource>();
    this.sources = sources;
    new LoadGauge(CONNECTIONS_ACTIVE, 'Open upstream connections (HTTP/2 sessions and HTTP/1.1 sockets), by cluster.', sources, 'activeConnections', registry);
    new LoadGauge(REQUESTS_ACTIVE, 'Requests in flight to a cluster (waiting for a connection included), by cluster.', sources, 'activeRequests', registry);
    new LoadGauge(REQUESTS_PENDING, 'Requests waiting for an upstream connection or stream, by cluster.', sources, 'pendingRequests', registry);
    this.connectionsTotal = new Counter({
      name: CONNECTIONS_TOTAL, help: 'Upstream connections opened (attempts, failed ones included), by cluster.', labelNames: ['cluster'], registers: [registry],
    });
  }

  /** The families on `registry`, registering them on first use. Config time only. */
  static forRegistry(registry: Registry): UpstreamMetrics {
    return new UpstreamMetrics(registry);
  }

  /** The `connections_total` child of one cluster, bound once (config time). */
  connectionsOpened(cluster: string): CounterChild {
    return this.connectionsTotal.labels(cluster);
  }

  /** Includes `source` in the load gauges from now on. Idempotent. */
  track(source: UpstreamLoadSource): void {
    this.sources.add(source);
  }

  /** Stops reporting `source` (its cluster label disappears when no other source has the name). Idempotent. */
  untrack(source: UpstreamLoadSource): void {
    this.sources.delete(source);
  }
}
