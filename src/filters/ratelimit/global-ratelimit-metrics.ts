/**
 * The global rate limit's metrics on the process registry: `remora_global_ratelimit_total{decision}`
 * (ok | over_limit | error_allowed | error_denied) and the check latency histogram
 * `remora_global_ratelimit_check_duration_seconds` (the Redis round trip as the filter saw it,
 * timeouts included). Get-or-create per registry, so any number of factories share one set, with
 * the four label children bound once.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

type CounterChild = ReturnType<Counter<string>['labels']>;

export const DECISIONS_METRIC = 'remora_global_ratelimit_total';
export const CHECK_DURATION_METRIC = 'remora_global_ratelimit_check_duration_seconds';

export class GlobalRateLimitMetrics {
  readonly ok: CounterChild;
  readonly overLimit: CounterChild;
  readonly errorAllowed: CounterChild;
  readonly errorDenied: CounterChild;
  readonly checkDuration: Histogram;

  constructor(registry: Registry) {
    const registers = [registry];
    const decisions = (registry.getSingleMetric(DECISIONS_METRIC) as Counter<'decision'> | undefined) ?? new Counter({
      name: DECISIONS_METRIC,
      help: 'Global rate limit decisions: ok, over_limit, error_allowed (Redis failed, fail-open), error_denied (Redis failed, failure_mode_deny).',
      labelNames: ['decision'], registers,
    });
    this.checkDuration = (registry.getSingleMetric(CHECK_DURATION_METRIC) as Histogram | undefined) ?? new Histogram({
      name: CHECK_DURATION_METRIC,
      help: 'Time from starting a global rate limit check to its decision (Redis round trip, or the timeout).',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.ok = decisions.labels('ok');
    this.overLimit = decisions.labels('over_limit');
    this.errorAllowed = decisions.labels('error_allowed');
    this.errorDenied = decisions.labels('error_denied');
  }
}
