/**
 * Prometheus counters for retries and circuit breaking, per cluster: retries sent, retries refused
 * by the retry budget / `max_retries` breaker, calls that ran out of `num_retries`, per-try
 * timeouts, and circuit-breaker overflows by resource (Envoy's `upstream_rq_retry`,
 * `upstream_rq_retry_overflow`, `upstream_rq_retry_limit_exceeded`, `upstream_rq_per_try_timeout`,
 * `upstream_rq_pending_overflow`, `upstream_rq_overflow`, `upstream_cx_overflow`). The metric
 * families live on the process registry (Runtime.metrics); `ResilienceMetrics.forRegistry` finds
 * them there when another cluster already registered them, so no module-level state is kept and
 * every Cluster (one per CDS version) binds its label children once, at construction.
 */
import { Counter, type Registry } from 'prom-client';

type CounterChild = ReturnType<Counter<string>['labels']>;

const RETRIES = 'remora_upstream_retries_total';
const RETRY_OVERFLOW = 'remora_upstream_retry_overflow_total';
const RETRY_LIMIT = 'remora_upstream_retry_limit_exceeded_total';
const PER_TRY_TIMEOUT = 'remora_upstream_per_try_timeouts_total';
const OVERFLOW = 'remora_upstream_overflow_total';
const EJECTIONS = 'remora_upstream_outlier_ejections_total';
const HC_FAILURES = 'remora_upstream_health_check_failures_total';

/** The metric families (shared by every cluster of one registry). */
export class ResilienceMetrics {
  readonly retries: Counter<'cluster'>;
  readonly retryOverflow: Counter<'cluster'>;
  readonly retryLimitExceeded: Counter<'cluster'>;
  readonly perTryTimeouts: Counter<'cluster'>;
  readonly overflow: Counter<'cluster' | 'resource'>;
  readonly ejections: Counter<'cluster'>;
  readonly healthCheckFailures: Counter<'cluster'>;

  private constructor(registry: Registry) {
    const registers = [registry];
    this.retries = existing(registry, RETRIES) ?? new Counter({
      name: RETRIES, help: 'Retries sent upstream (attempts after the first), by cluster.', labelNames: ['cluster'], registers,
    });
    this.retryOverflow = existing(registry, RETRY_OVERFLOW) ?? new Counter({
      name: RETRY_OVERFLOW, help: 'Retries not sent because the retry budget or max_retries circuit breaker was exhausted.', labelNames: ['cluster'], registers,
    });
    this.retryLimitExceeded = existing(registry, RETRY_LIMIT) ?? new Counter({
      name: RETRY_LIMIT, help: 'Calls that failed retriably after using all num_retries.', labelNames: ['cluster'], registers,
    });
    this.perTryTimeouts = existing(registry, PER_TRY_TIMEOUT) ?? new Counter({
      name: PER_TRY_TIMEOUT, help: 'Upstream attempts ended by per_try_timeout.', labelNames: ['cluster'], registers,
    });
    this.overflow = existing(registry, OVERFLOW) ?? new Counter({
      name: OVERFLOW, help: 'Requests refused by a circuit breaker, by resource (requests, pending, retries, connections).',
      labelNames: ['cluster', 'resource'], registers,
    });
    this.ejections = existing(registry, EJECTIONS) ?? new Counter({
      name: EJECTIONS, help: 'Endpoints ejected by outlier detection, by cluster.', labelNames: ['cluster'], registers,
    });
    this.healthCheckFailures = existing(registry, HC_FAILURES) ?? new Counter({
      name: HC_FAILURES, help: 'Failed active health checks (status, timeout or network error), by cluster.', labelNames: ['cluster'], registers,
    });
  }

  /** The families on `registry`, registering them on first use. Config time only. */
  static forRegistry(registry: Registry): ResilienceMetrics {
    return new ResilienceMetrics(registry);
  }

  /** Label children for one cluster, bound once (config time). */
  forCluster(cluster: string): ClusterResilienceStats {
    return new ClusterResilienceStats(this, cluster);
  }
}

/** Pre-bound counters of one cluster (hot path: `.inc()` only). */
export class ClusterResilienceStats {
  readonly retries: CounterChild;
  readonly retryOverflow: CounterChild;
  readonly retryLimitExceeded: CounterChild;
  readonly perTryTimeouts: CounterChild;
  readonly requestsOverflow: CounterChild;
  readonly pendingOverflow: CounterChild;
  readonly retriesOverflow: CounterChild;
  readonly connectionsOverflow: CounterChild;
  readonly ejections: CounterChild;
  readonly healthCheckFailures: CounterChild;

  constructor(m: ResilienceMetrics, readonly cluster: string) {
    this.retries = m.retries.labels(cluster);
    this.retryOverflow = m.retryOverflow.labels(cluster);
    this.retryLimitExceeded = m.retryLimitExceeded.labels(cluster);
    this.perTryTimeouts = m.perTryTimeouts.labels(cluster);
    this.requestsOverflow = m.overflow.labels(cluster, 'requests');
    this.pendingOverflow = m.overflow.labels(cluster, 'pending');
    this.retriesOverflow = m.overflow.labels(cluster, 'retries');
    this.connectionsOverflow = m.overflow.labels(cluster, 'connections');
    this.ejections = m.ejections.labels(cluster);
    this.healthCheckFailures = m.healthCheckFailures.labels(cluster);
  }
}

function existing<T>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}
