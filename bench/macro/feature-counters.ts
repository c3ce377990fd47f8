/**
 * Proof that the issue-5 resilience features were enabled but did not fire during a measured run:
 * reads the sidecar's Prometheus text (`GET /stats/prometheus` on its admin address) before and after
 * the run and reduces it to the counters that move when a feature acts — local rate limit decisions,
 * retries and retry-budget refusals, per-try timeouts, circuit-breaker overflows and outlier
 * ejections. A feature that is on shows in `rateLimitAllowed` (every request is checked); a feature
 * that fired shows in any of the other counters. Pure parsing plus one HTTP GET.
 */
import * as http from 'node:http';

/** Counter totals (summed over every label set) or their difference over a run. */
export interface FeatureCounters {
  /** `remora_local_ratelimit_requests_total{decision="allowed"}`: requests the filter checked and let through. */
  readonly rateLimitAllowed: number;
  /** The same with `decision` `limited` or `limited_not_enforced`. */
  readonly rateLimitLimited: number;
  /** `remora_upstream_retries_total`. */
  readonly retries: number;
  /** `remora_upstream_retry_overflow_total` (retry budget / max_retries refusals). */
  readonly retryOverflow: number;
  /** `remora_upstream_retry_limit_exceeded_total`. */
  readonly retryLimitExceeded: number;
  /** `remora_upstream_per_try_timeouts_total`. */
  readonly perTryTimeouts: number;
  /** `remora_upstream_overflow_total` (circuit breakers, any resource). */
  readonly breakerOverflow: number;
  /** `remora_upstream_outlier_ejections_total`. */
  readonly ejections: number;
}

/** The counters that mean "a feature fired", with their display names (in FeatureCounters order). */
const FIRING: readonly (readonly [Exclude<keyof FeatureCounters, 'rateLimitAllowed'>, string])[] = [
  ['rateLimitLimited', 'rate-limited'],
  ['retries', 'retries'],
  ['retryOverflow', 'retry overflow'],
  ['retryLimitExceeded', 'retry limit exceeded'],
  ['perTryTimeouts', 'per-try timeouts'],
  ['breakerOverflow', 'breaker overflow'],
  ['ejections', 'ejections'],
];

const SIMPLE: Readonly<Record<string, keyof FeatureCounters>> = {
  remora_upstream_retries_total: 'retries',
  remora_upstream_retry_overflow_total: 'retryOverflow',
  remora_upstream_retry_limit_exceeded_total: 'retryLimitExceeded',
  remora_upstream_per_try_timeouts_total: 'perTryTimeouts',
  remora_upstream_overflow_total: 'breakerOverflow',
  remora_upstream_outlier_ejections_total: 'ejections',
};

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/;

/**
 * Sums the feature counters in Prometheus text exposition `text`. Comment lines, other metrics and
 * unparseable values are ignored; a metric that is absent counts as 0.
 */
export function parseFeatureCounters(text: string): FeatureCounters {
  const c: Record<keyof FeatureCounters, number> = {
    rateLimitAllowed: 0, rateLimitLimited: 0, retries: 0, retryOverflow: 0, retryLimitExceeded: 0, perTryTimeouts: 0, breakerOverflow: 0, ejections: 0,
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = SAMPLE.exec(lines[i]);
    if (m === null) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    const name = m[1];
    if (name === 'remora_local_ratelimit_requests_total') {
      const decision = /(?:^|[{,])decision="([^"]*)"/.exec(m[2] ?? '')?.[1];
      if (decision === 'allowed') c.rateLimitAllowed += v;
      else if (decision === 'limited' || decision === 'limited_not_enforced') c.rateLimitLimited += v;
      continue;
    }
    const key = SIMPLE[name];
    if (key !== undefined) c[key] += v;
  }
  return c;
}

/** `after − before`, field by field. */
export function diffFeatureCounters(before: FeatureCounters, after: FeatureCounters): FeatureCounters {
  return {
    rateLimitAllowed: after.rateLimitAllowed - before.rateLimitAllowed,
    rateLimitLimited: after.rateLimitLimited - before.rateLimitLimited,
    retries: after.retries - before.retries,
    retryOverflow: after.retryOverflow - before.retryOverflow,
    retryLimitExceeded: after.retryLimitExceeded - before.retryLimitExceeded,
    perTryTimeouts: after.perTryTimeouts - before.perTryTimeouts,
    breakerOverflow: after.breakerOverflow - before.breakerOverflow,
    ejections: after.ejections - before.ejections,
  };
}

/** The features that fired in `c` as `name N` items (empty when none did). */
export function firedFeatures(c: FeatureCounters): string[] {
  const out: string[] = [];
  for (const [k, label] of FIRING) if (c[k] !== 0) out.push(`${label} ${c[k]}`);
  return out;
}

/**
 * One-line description for the report: `none fired (rate limit checked N)` or `FIRED: retries 3, …`
 * (with the rate-limit check count too, so a filter that never ran is visible as `checked 0`).
 */
export function describeFeatureCounters(c: FeatureCounters): string {
  const fired = firedFeatures(c);
  const checked = `rate limit checked ${c.rateLimitAllowed + c.rateLimitLimited}`;
  return fired.length === 0 ? `none fired (${checked})` : `FIRED: ${fired.join(', ')} (${checked})`;
}

/**
 * GETs `http://<admin>/stats/prometheus` (`admin` is `host:port`) and parses it. Rejects on a
 * non-200 answer, a socket error or after `timeoutMs`.
 */
export function fetchFeatureCounters(admin: string, timeoutMs = 5000): Promise<FeatureCounters> {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${admin}/stats/prometheus`, { timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET http://${admin}/stats/prometheus answered ${res.statusCode}`));
        else resolve(parseFeatureCounters(Buffer.concat(chunks).toString('utf8')));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET http://${admin}/stats/prometheus timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
