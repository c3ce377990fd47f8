/**
 * Compiles the resilience and load-balancing extras of `envoy.config.cluster.v3.Cluster`:
 * `circuit_breakers` (priority DEFAULT thresholds and the retry budget), `outlier_detection`
 * (consecutive-failure ejection only), `health_checks` (one gRPC or HTTP checker),
 * `ring_hash_lb_config`, `least_request_lb_config.active_request_bias` and
 * `common_lb_config.healthy_panic_threshold`. Every function records issues with full field paths
 * into the caller's `Issues` and returns a usable value (the default) even on error, so that the
 * cluster compile can keep collecting problems. Defaults are Envoy's unless marked Remora; every
 * deviation is documented in docs/bootstrap.md ("Resilience").
 */
import type { CircuitBreakersModel, HealthCheckModel, OutlierDetectionModel } from '../model';
import { Issues, joinPath, list, msg, num, onlyFields, optDurationMs, str, UNSUPPORTED, wrapped } from './context';
import type { ProtoObject } from './proto-json';

const MAX_UINT32 = 0xffffffff;
/** Envoy's hard cap on ring sizes (8M entries). */
export const MAX_RING_SIZE = 8 * 1024 * 1024;

/** Envoy's `ring_hash_lb_config` defaults. */
export const DEFAULT_RING_HASH = Object.freeze({ minimumRingSize: 1024, maximumRingSize: MAX_RING_SIZE });

/** Envoy's default thresholds plus Remora's default retry budget (20%, min 3). */
export const DEFAULT_CIRCUIT_BREAKERS: CircuitBreakersModel = Object.freeze({
  maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3,
  retryBudget: Object.freeze({ budgetPercent: 20, minRetryConcurrency: 3 }),
});

/** Envoy's `outlier_detection` defaults (used for every unset field of a present `outlier_detection`). */
export const DEFAULT_OUTLIER_DETECTION: OutlierDetectionModel = Object.freeze({
  consecutive5xx: 5,
  consecutiveGatewayFailure: 5,
  consecutiveLocalOriginFailure: 5,
  splitExternalLocalOriginErrors: false,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  maxEjectionPercent: 10,
  enforcingConsecutive5xx: 100,
  enforcingConsecutiveGatewayFailure: 0,
  enforcingConsecutiveLocalOriginFailure: 100,
});

/** Envoy's `retry_budget` subfield defaults. */
const BUDGET_PERCENT_DEFAULT = 20;
const BUDGET_MIN_CONCURRENCY_DEFAULT = 3;
const PANIC_THRESHOLD_DEFAULT = 50;

// ------------------------------------------------------------------------------- small readers

/**
 * Reads an optional `envoy.type.v3.Percent` message field (`{value: double}`) that must lie in
 * 0..100; absent → `dflt`. Out of range (or NaN) → issue at `<path>.<k>.value`, returns `dflt`.
 */
export function percentField(issues: Issues, o: ProtoObject, k: string, path: string, dflt: number): number {
  const p = msg(o, k);
  if (p === undefined) return dflt;
  const fp = joinPath(path, k);
  onlyFields(issues, p, fp, ['value']);
  const v = num(p, 'value') ?? 0;
  if (!Number.isFinite(v) || v < 0 || v > 100) {
    issues.add(joinPath(fp, 'value'), `must be a percentage in 0..100, got ${v}`);
    return dflt;
  }
  return v;
}

/**
 * Reads an optional Duration that must be > 0 when present; absent → `dflt`. `0s` → issue
 * "must be greater than 0" (negative durations are reported by `durationMs`).
 */
export function positiveDurationMs(issues: Issues, o: ProtoObject, k: string, path: string, dflt: number | null): number | null {
  if (msg(o, k) === undefined) return dflt;
  const before = issues.count;
  const ms = optDurationMs(issues, o, k, path, dflt, false);
  if (issues.count !== before) return dflt;
  if (ms === 0) {
    issues.add(joinPath(path, k), 'must be greater than 0');
    return dflt;
  }
  return ms;
}

/** Reads an optional non-negative Duration (0 allowed); absent → `dflt`. */
function nonNegativeDurationMs(issues: Issues, o: ProtoObject, k: string, path: string, dflt: number): number {
  return optDurationMs(issues, o, k, path, dflt, false) ?? dflt;
}

/** Reads an optional UInt32Value/UInt64Value wrapper in `min..max`; absent → `dflt`; violation → issue naming the reason. */
function wrappedRange(issues: Issues, o: ProtoObject, k: string, path: string, dflt: number, min: number, max: number, why = ''): number {
  const v = wrapped<number>(o, k);
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    issues.add(joinPath(path, k), `must be in ${min}..${max}, got ${String(v)}${why}`);
    return dflt;
  }
  return v;
}

function isZeroDuration(d: ProtoObject): boolean {
  return Number(d['seconds'] ?? 0) === 0 && Number(d['nanos'] ?? 0) === 0;
}

// ------------------------------------------------------------------------------- load balancing extras

/**
 * Compiles `ring_hash_lb_config`: `minimum_ring_size` (default 1024) and `maximum_ring_size`
 * (default 8M), both 1..8M with min ≤ max; `hash_function` XX_HASH only.
 */
export function compileRingHashConfig(issues: Issues, o: ProtoObject, path: string): { minimumRingSize: number; maximumRingSize: number } {
  onlyFields(issues, o, path, ['minimum_ring_size', 'maximum_ring_size', 'hash_function']);
  const hf = str(o, 'hash_function');
  if (hf !== undefined && hf !== 'XX_HASH') issues.add(joinPath(path, 'hash_function'), `${hf} is not supported by Remora (only XX_HASH)`);
  const before = issues.count;
  const minimumRingSize = wrappedRange(issues, o, 'minimum_ring_size', path, DEFAULT_RING_HASH.minimumRingSize, 1, MAX_RING_SIZE);
  const maximumRingSize = wrappedRange(issues, o, 'maximum_ring_size', path, DEFAULT_RING_HASH.maximumRingSize, 1, MAX_RING_SIZE);
  if (issues.count === before && minimumRingSize > maximumRingSize) {
    issues.add(joinPath(path, 'minimum_ring_size'), `must be <= maximum_ring_size (${maximumRingSize}), got ${minimumRingSize}`);
  }
  return { minimumRingSize, maximumRingSize };
}

/**
 * Compiles `least_request_lb_config.active_request_bias` (a RuntimeDouble): `default_value` ≥ 0
 * (finite). `runtime_key` is accepted and ignored (Remora has no runtime layer). Absent → 1.0.
 */
export function compileActiveRequestBias(issues: Issues, lr: ProtoObject, path: string): number {
  const rd = msg(lr, 'active_request_bias');
  if (rd === undefined) return 1;
  const rp = joinPath(path, 'active_request_bias');
  onlyFields(issues, rd, rp, ['default_value', 'runtime_key']);
  const v = num(rd, 'default_value') ?? 0;
  if (!Number.isFinite(v) || v < 0) {
    issues.add(joinPath(rp, 'default_value'), `must be a finite number >= 0, got ${v}`);
    return 1;
  }
  return v;
}

/** Compiles `common_lb_config`: only `healthy_panic_threshold` (Percent 0..100, default 50; 0 disables panic mode). */
export function compileCommonLbConfig(issues: Issues, o: ProtoObject, path: string): number {
  onlyFields(issues, o, path, ['healthy_panic_threshold']);
  return percentField(issues, o, 'healthy_panic_threshold', path, PANIC_THRESHOLD_DEFAULT);
}

// ------------------------------------------------------------------------------- circuit breakers

const THRESHOLD_LIMITS = [
  ['max_connections', 'maxConnections'],
  ['max_pending_requests', 'maxPendingRequests'],
  ['max_requests', 'maxRequests'],
  ['max_retries', 'maxRetries'],
] as const;

/**
 * Compiles `circuit_breakers`. Absent, or without a DEFAULT-priority entry → `DEFAULT_CIRCUIT_BREAKERS`
 * (Envoy's limits plus Remora's default retry budget). A DEFAULT entry without `retry_budget` →
 * `retryBudget: null` and `max_retries` applies (Envoy); with `retry_budget` → its values, with
 * Envoy's 20% / 3 for unset subfields. Limits must be ≥ 1 (0 would overflow every request).
 */
export function compileCircuitBreakers(issues: Issues, cb: ProtoObject | undefined, path: string): CircuitBreakersModel {
  if (cb === undefined) return DEFAULT_CIRCUIT_BREAKERS;
  onlyFields(issues, cb, path, ['thresholds']);
  const thresholds = list(cb, 'thresholds');
  let out: CircuitBreakersModel = DEFAULT_CIRCUIT_BREAKERS;
  let seenDefault = false;
  for (let i = 0; i < thresholds.length; i++) {
    const t = thresholds[i]!;
    const tp = `${joinPath(path, 'thresholds')}[${i}]`;
    onlyFields(issues, t, tp, ['priority', ...THRESHOLD_LIMITS.map((l) => l[0]), 'retry_budget']);
    const priority = str(t, 'priority') ?? 'DEFAULT';
    if (priority !== 'DEFAULT') {
      issues.add(joinPath(tp, 'priority'), `${priority} is not supported by Remora (only DEFAULT; Remora has no routing priorities)`);
      continue;
    }
    if (seenDefault) {
      issues.add(joinPath(tp, 'priority'), 'duplicate thresholds for priority DEFAULT');
      continue;
    }
    seenDefault = true;
    const limits: Record<string, number> = {};
    for (const [field, key] of THRESHOLD_LIMITS) {
      limits[key] = wrappedRange(issues, t, field, tp, DEFAULT_CIRCUIT_BREAKERS[key], 1, MAX_UINT32,
        ' (0 would reject every request; omit the field for the default)');
    }
    let retryBudget: CircuitBreakersModel['retryBudget'] = null;
    const rb = msg(t, 'retry_budget');
    if (rb !== undefined) {
      const bp = joinPath(tp, 'retry_budget');
      onlyFields(issues, rb, bp, ['budget_percent', 'min_retry_concurrency']);
      retryBudget = {
        budgetPercent: percentField(issues, rb, 'budget_percent', bp, BUDGET_PERCENT_DEFAULT),
        minRetryConcurrency: wrappedRange(issues, rb, 'min_retry_concurrency', bp, BUDGET_MIN_CONCURRENCY_DEFAULT, 0, MAX_UINT32),
      };
    }
    out = {
      maxConnections: limits['maxConnections']!,
      maxPendingRequests: limits['maxPendingRequests']!,
      maxRequests: limits['maxRequests']!,
      maxRetries: limits['maxRetries']!,
      retryBudget,
    };
  }
  return out;
}

// ------------------------------------------------------------------------------- outlier detection

/** Fields Remora accepts only at a value that disables the corresponding (unimplemented) detector. */
const MUST_BE_ZERO_ENFORCING = [
  'enforcing_success_rate', 'enforcing_local_origin_success_rate',
  'enforcing_failure_percentage', 'enforcing_failure_percentage_local_origin',
] as const;

/**
 * Compiles `outlier_detection` (consecutive 5xx / gateway / local-origin ejection). Success-rate and
 * failure-percentage detection are not implemented: their tuning fields are rejected, and their
 * `enforcing_*` fields are accepted only as 0. Counts must be ≥ 1, percentages 0..100, durations > 0,
 * `base_ejection_time` ≤ `max_ejection_time`.
 */
export function compileOutlierDetection(issues: Issues, od: ProtoObject, path: string): OutlierDetectionModel {
  const d = DEFAULT_OUTLIER_DETECTION;
  onlyFields(issues, od, path, [
    'consecutive_5xx', 'consecutive_gateway_failure', 'consecutive_local_origin_failure', 'split_external_local_origin_errors',
    'interval', 'base_ejection_time', 'max_ejection_time', 'max_ejection_time_jitter', 'max_ejection_percent',
    'enforcing_consecutive_5xx', 'enforcing_consecutive_gateway_failure', 'enforcing_consecutive_local_origin_failure',
    ...MUST_BE_ZERO_ENFORCING,
  ]);
  for (const f of MUST_BE_ZERO_ENFORCING) {
    const v = wrapped<number>(od, f);
    if (v !== undefined && v !== 0) {
      issues.add(joinPath(path, f), `${UNSUPPORTED}: Remora implements only consecutive-failure ejection; set 0 or omit`);
    }
  }
  const jitter = msg(od, 'max_ejection_time_jitter');
  if (jitter !== undefined && !isZeroDuration(jitter)) issues.add(joinPath(path, 'max_ejection_time_jitter'), UNSUPPORTED);

  const count = (f: string, dflt: number): number => wrappedRange(issues, od, f, path, dflt, 1, MAX_UINT32,
    ' (to disable this detector set its enforcing_* field to 0)');
  const pct = (f: string, dflt: number): number => wrappedRange(issues, od, f, path, dflt, 0, 100);
  const baseEjectionTimeMs = positiveDurationMs(issues, od, 'base_ejection_time', path, d.baseEjectionTimeMs)!;
  const maxEjectionTimeMs = positiveDurationMs(issues, od, 'max_ejection_time', path, d.maxEjectionTimeMs)!;
  if (baseEjectionTimeMs > maxEjectionTimeMs) {
    issues.add(joinPath(path, msg(od, 'max_ejection_time') !== undefined ? 'max_ejection_time' : 'base_ejection_time'),
      `base_ejection_time (${baseEjectionTimeMs}ms) must be <= max_ejection_time (${maxEjectionTimeMs}ms)`);
  }
  return {
    consecutive5xx: count('consecutive_5xx', d.consecutive5xx),
    consecutiveGatewayFailure: count('consecutive_gateway_failure', d.consecutiveGatewayFailure),
    consecutiveLocalOriginFailure: count('consecutive_local_origin_failure', d.consecutiveLocalOriginFailure),
    splitExternalLocalOriginErrors: od['split_external_local_origin_errors'] === true,
    intervalMs: positiveDurationMs(issues, od, 'interval', path, d.intervalMs)!,
    baseEjectionTimeMs,
    maxEjectionTimeMs,
    maxEjectionPercent: pct('max_ejection_percent', d.maxEjectionPercent),
    enforcingConsecutive5xx: pct('enforcing_consecutive_5xx', d.enforcingConsecutive5xx),
    enforcingConsecutiveGatewayFailure: pct('enforcing_consecutive_gateway_failure', d.enforcingConsecutiveGatewayFailure),
    enforcingConsecutiveLocalOriginFailure: pct('enforcing_consecutive_local_origin_failure', d.enforcingConsecutiveLocalOriginFailure),
  };
}

// ------------------------------------------------------------------------------- health checks

type HealthCheckKind = HealthCheckModel['check'];

function compileGrpcHealthCheck(issues: Issues, g: ProtoObject, path: string): HealthCheckKind {
  onlyFields(issues, g, path, ['service_name', 'authority']);
  const authority = str(g, 'authority') ?? '';
  return { type: 'grpc', serviceName: str(g, 'service_name') ?? '', authority: authority === '' ? null : authority };
}

function compileHttpHealthCheck(issues: Issues, h: ProtoObject, path: string): HealthCheckKind {
  onlyFields(issues, h, path, ['host', 'path', 'expected_statuses', 'method']);
  const method = str(h, 'method');
  if (method !== undefined && method !== 'GET' && method !== 'METHOD_UNSPECIFIED') {
    issues.add(joinPath(path, 'method'), `${method} is not supported by Remora (health checks use GET)`);
  }
  const p = str(h, 'path') ?? '';
  if (p === '') issues.add(joinPath(path, 'path'), 'is required');
  else if (!p.startsWith('/')) issues.add(joinPath(path, 'path'), `must start with '/', got '${p}'`);
  const host = str(h, 'host') ?? '';
  const ranges = list(h, 'expected_statuses');
  const expectedStatuses: [number, number][] = [];
  for (let i = 0; i < ranges.length; i++) {
    const rp = `${joinPath(path, 'expected_statuses')}[${i}]`;
    onlyFields(issues, ranges[i]!, rp, ['start', 'end']);
    const start = Number(ranges[i]!['start'] ?? 0);
    const end = Number(ranges[i]!['end'] ?? 0);
    if (start < 100 || start > 599) issues.add(joinPath(rp, 'start'), `must be in 100..599, got ${start}`);
    else if (end <= start || end > 600) issues.add(joinPath(rp, 'end'), `must be in ${start + 1}..600 (the range is [start, end)), got ${end}`);
    else expectedStatuses.push([start, end]);
  }
  if (ranges.length === 0) expectedStatuses.push([200, 201]);
  return { type: 'http', path: p, host: host === '' ? null : host, expectedStatuses };
}

function compileHealthCheck(issues: Issues, hc: ProtoObject, path: string): HealthCheckModel | null {
  const before = issues.count;
  onlyFields(issues, hc, path, [
    'timeout', 'interval', 'initial_jitter', 'interval_jitter', 'interval_jitter_percent',
    'unhealthy_threshold', 'healthy_threshold', 'unhealthy_interval', 'grpc_health_check', 'http_health_check',
  ]);
  const required = (k: string): number => {
    if (msg(hc, k) === undefined) {
      issues.add(joinPath(path, k), 'is required');
      return 0;
    }
    return positiveDurationMs(issues, hc, k, path, 0)!;
  };
  const threshold = (k: string): number => {
    if (msg(hc, k) === undefined) {
      issues.add(joinPath(path, k), 'is required');
      return 0;
    }
    return wrappedRange(issues, hc, k, path, 0, 1, MAX_UINT32);
  };
  const timeoutMs = required('timeout');
  const intervalMs = required('interval');
  const jitterPercent = num(hc, 'interval_jitter_percent') ?? 0;
  if (jitterPercent > 100) issues.add(joinPath(path, 'interval_jitter_percent'), `must be in 0..100, got ${jitterPercent}`);
  let check: HealthCheckKind | null = null;
  const grpc = msg(hc, 'grpc_health_check');
  const http = msg(hc, 'http_health_check');
  if (grpc !== undefined) check = compileGrpcHealthCheck(issues, grpc, joinPath(path, 'grpc_health_check'));
  else if (http !== undefined) check = compileHttpHealthCheck(issues, http, joinPath(path, 'http_health_check'));
  else if (hc['tcp_health_check'] === undefined && hc['custom_health_check'] === undefined) {
    issues.add(path, 'one of grpc_health_check or http_health_check is required');
  } // tcp/custom were reported as unsupported by onlyFields.
  const model: HealthCheckModel = {
    timeoutMs,
    intervalMs,
    initialJitterMs: nonNegativeDurationMs(issues, hc, 'initial_jitter', path, 0),
    intervalJitterMs: nonNegativeDurationMs(issues, hc, 'interval_jitter', path, 0),
    intervalJitterPercent: jitterPercent,
    unhealthyThreshold: threshold('unhealthy_threshold'),
    healthyThreshold: threshold('healthy_threshold'),
    unhealthyIntervalMs: positiveDurationMs(issues, hc, 'unhealthy_interval', path, null),
    check: check!,
  };
  return issues.count === before && check !== null ? model : null;
}

/** Compiles `health_checks` (at most one entry is supported; empty = no active health checking). */
export function compileHealthChecks(issues: Issues, hcs: readonly ProtoObject[], path: string): HealthCheckModel[] {
  if (hcs.length > 1) issues.add(joinPath(path, 'health_checks'), `at most one health check is supported by Remora, got ${hcs.length}`);
  const out: HealthCheckModel[] = [];
  for (let i = 0; i < hcs.length; i++) {
    const hc = compileHealthCheck(issues, hcs[i]!, `${joinPath(path, 'health_checks')}[${i}]`);
    if (hc !== null) out.push(hc);
  }
  return out;
}
