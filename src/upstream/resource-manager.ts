/**
 * One cluster's circuit breakers (Envoy's `ResourceManager` for priority DEFAULT): counters of
 * active connections, pending requests (waiting for a stream or connection), active requests and
 * active retries, each checked against its `circuit_breakers.thresholds` limit, plus the retry
 * budget (`retry_budget`: concurrent retries at most max(min_retry_concurrency, budget_percent % of
 * active requests); when the model has no budget, `max_retries` bounds them instead). A refused
 * acquisition counts an overflow (a plain number and, when bound, a Prometheus counter). The router
 * acquires and releases; every successful `tryAcquire*` must be paired with exactly one `release*`.
 * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/circuit_breaking
 */
import type { Counter, Registry } from 'prom-client';
import type { CircuitBreakersModel } from '../config/model';
import { ResilienceMetrics, type ClusterResilienceStats } from '../observability/resilience-metrics';
import { UpstreamMetrics } from '../observability/upstream-metrics';

type CounterChild = ReturnType<Counter<string>['labels']>;

export class ResourceManager {
  readonly limits: CircuitBreakersModel;
  /** Prometheus handles for this cluster; null when built without a registry (unit tests). */
  readonly stats: ClusterResilienceStats | null;
  /** `remora_upstream_connections_total{cluster}`, counted per acquired connection slot; null without a registry. */
  readonly connectionsOpened: CounterChild | null;
  activeConnections = 0;
  pendingRequests = 0;
  activeRequests = 0;
  activeRetries = 0;
  /** Overflows since construction, by resource. */
  connectionOverflows = 0;
  pendingOverflows = 0;
  requestOverflows = 0;
  retryOverflows = 0;

  /** Config time: one per Cluster. `registry` binds the overflow/retry counters for `cluster`. */
  constructor(limits: CircuitBreakersModel, cluster: string, registry: Registry | null) {
    this.limits = limits;
    this.stats = registry === null ? null : ResilienceMetrics.forRegistry(registry).forCluster(cluster);
    this.connectionsOpened = registry === null ? null : UpstreamMetrics.forRegistry(registry).connectionsOpened(cluster);
  }

  /** Admits one more active request unless `max_requests` are active (then counts an overflow). */
  tryAcquireRequest(): boolean {
    if (this.activeRequests >= this.limits.maxRequests) {
      this.requestOverflows++;
      if (this.stats !== null) this.stats.requestsOverflow.inc();
      return false;
    }
    this.activeRequests++;
    return true;
  }

  releaseRequest(): void { this.activeRequests--; }

  /** Admits one more request waiting for a stream/connection unless `max_pending_requests` wait. */
  tryAcquirePending(): boolean {
    if (this.pendingRequests >= this.limits.maxPendingRequests) {
      this.pendingOverflows++;
      if (this.stats !== null) this.stats.pendingOverflow.inc();
      return false;
    }
    this.pendingRequests++;
    return true;
  }

  releasePending(): void { this.pendingRequests--; }

  /** Admits one more connection unless `max_connections` are open. */
  tryAcquireConnection(): boolean {
    if (this.activeConnections >= this.limits.maxConnections) {
      this.connectionOverflows++;
      if (this.stats !== null) this.stats.connectionsOverflow.inc();
      return false;
    }
    this.activeConnections++;
    if (this.connectionsOpened !== null) this.connectionsOpened.inc();
    return true;
  }

  releaseConnection(): void { this.activeConnections--; }

  /**
   * How many retries may be in flight now: with a budget, max(minRetryConcurrency,
   * floor(budgetPercent % × active requests)); without one, `max_retries`. The router holds an
   * active-request slot for the whole call, waiting for a stream included, so active requests
   * already cover Envoy's "active + pending".
   */
  retryLimit(): number {
    const budget = this.limits.retryBudget;
    if (budget === null) return this.limits.maxRetries;
    const byBudget = Math.floor((budget.budgetPercent * this.activeRequests) / 100);
    return byBudget > budget.minRetryConcurrency ? byBudget : budget.minRetryConcurrency;
  }

  /** Admits one more concurrent retry unless the budget (or `max_retries`) is used up; counts the refusal. */
  tryAcquireRetry(): boolean {
    if (this.activeRetries >= this.retryLimit()) {
      this.retryOverflows++;
      if (this.stats !== null) {
        this.stats.retryOverflow.inc();
        this.stats.retriesOverflow.inc();
      }
      return false;
    }
    this.activeRetries++;
    return true;
  }

  releaseRetry(): void { this.activeRetries--; }
}
