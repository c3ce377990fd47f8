/**
 * Compiles `envoy.config.route.v3.RetryPolicy` (a route's `route.retry_policy` or a virtual host's
 * `retry_policy`) into `RetryPolicyModel`: the `retry_on` condition list into `RetryOn` bits,
 * `num_retries`, `per_try_timeout`, `retriable_status_codes`, `retry_back_off` and
 * `retriable_request_headers`. The route/virtual-host precedence (a route's policy replaces the
 * virtual host's, without merging, as in Envoy) is applied by route-configuration.ts. Deviations
 * from Envoy are documented in docs/bootstrap.md ("Retry policy").
 */
import { RetryOn, type HeaderMatcherModel, type RetryPolicyModel } from '../model';
import { Issues, joinPath, list, msg, onlyFields, str, UNSUPPORTED, wrapped } from './context';
import type { ProtoObject } from './proto-json';
import { positiveDurationMs } from './cluster-resilience';

/** Envoy's `retry_on` names → `RetryOn` bits (the subset Remora implements). */
export const RETRY_ON_NAMES: Readonly<Record<string, number>> = Object.freeze({
  '5xx': RetryOn.HTTP_5XX,
  'gateway-error': RetryOn.GATEWAY_ERROR,
  'reset': RetryOn.RESET,
  'connect-failure': RetryOn.CONNECT_FAILURE,
  'refused-stream': RetryOn.REFUSED_STREAM,
  'retriable-status-codes': RetryOn.RETRIABLE_STATUS_CODES,
  'cancelled': RetryOn.GRPC_CANCELLED,
  'deadline-exceeded': RetryOn.GRPC_DEADLINE_EXCEEDED,
  'resource-exhausted': RetryOn.GRPC_RESOURCE_EXHAUSTED,
  'unavailable': RetryOn.GRPC_UNAVAILABLE,
  'internal': RetryOn.GRPC_INTERNAL,
});

/** The only retry host predicate accepted; Remora always prefers a different host on retry. */
export const PREVIOUS_HOSTS_PREDICATE = 'envoy.retry_host_predicates.previous_hosts';
const PREVIOUS_HOSTS_TYPE_URL = 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';

/** `retry_back_off.base_interval` default (Envoy: 25 ms); `max_interval` defaults to 10 × base. */
export const DEFAULT_BACKOFF_BASE_MS = 25;
const MAX_NUM_RETRIES = 0xffffffff;

/** Compiles one route HeaderMatcher (supplied by route-configuration.ts to avoid an import cycle). */
export type HeaderMatcherCompiler = (issues: Issues, h: ProtoObject, path: string) => HeaderMatcherModel | null;

/**
 * Parses a comma-separated `retry_on` value into `RetryOn` bits. Entries are trimmed; empty entries
 * are ignored; any unknown name is an issue at `path` naming the value. Returns 0 when empty.
 */
export function parseRetryOn(issues: Issues, value: string, path: string): number {
  let bits = 0;
  const parts = value.split(',');
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i]!.trim();
    if (name === '') continue;
    const bit = RETRY_ON_NAMES[name];
    if (bit === undefined) {
      issues.add(path, `unknown or unsupported retry_on value '${name}' (supported: ${Object.keys(RETRY_ON_NAMES).join(', ')})`);
      continue;
    }
    bits |= bit;
  }
  return bits;
}

/**
 * Compiles a RetryPolicy at `path`. Returns null with no new issue when the policy disables retries
 * (`num_retries: 0`), and null with issues when it is invalid; callers tell the two apart with
 * `issues.count`. Synchronous and pure; called once per config update.
 */
export function compileRetryPolicy(issues: Issues, rp: ProtoObject, path: string, compileHeaderMatcher: HeaderMatcherCompiler): RetryPolicyModel | null {
  const before = issues.count;
  onlyFields(issues, rp, path, [
    'retry_on', 'num_retries', 'per_try_timeout', 'retriable_status_codes', 'retry_back_off',
    'retriable_request_headers', 'retry_host_predicate', 'rate_limited_retry_back_off',
  ]);
  if (rp['rate_limited_retry_back_off'] !== undefined) {
    issues.add(joinPath(path, 'rate_limited_retry_back_off'),
      `${UNSUPPORTED}: Remora always honours grpc-retry-pushback-ms and Retry-After (capped by the retry back-off max_interval); remove this field`);
  }
  const preds = list(rp, 'retry_host_predicate');
  for (let i = 0; i < preds.length; i++) {
    const pp = `${joinPath(path, 'retry_host_predicate')}[${i}]`;
    const p = preds[i]!;
    onlyFields(issues, p, pp, ['name', 'typed_config']);
    const tc = msg(p, 'typed_config');
    const typeUrl = tc === undefined ? undefined : tc['@type'];
    if (str(p, 'name') !== PREVIOUS_HOSTS_PREDICATE && typeUrl !== PREVIOUS_HOSTS_TYPE_URL) {
      issues.add(joinPath(pp, 'name'), `only ${PREVIOUS_HOSTS_PREDICATE} is supported by Remora (and it is always applied), got '${str(p, 'name') ?? ''}'`);
    }
  }

  const numRetries = wrapped<number>(rp, 'num_retries') ?? 1;
  if (!Number.isInteger(numRetries) || numRetries < 0 || numRetries > MAX_NUM_RETRIES) {
    issues.add(joinPath(path, 'num_retries'), `must be in 0..${MAX_NUM_RETRIES}, got ${numRetries}`);
  }
  const retryOnPath = joinPath(path, 'retry_on');
  const retryOn = parseRetryOn(issues, str(rp, 'retry_on') ?? '', retryOnPath);
  if (retryOn === 0 && numRetries !== 0 && issues.count === before) {
    issues.add(retryOnPath, 'is required: name at least one retry condition (or set num_retries: 0 to disable retries)');
  }

  const perTryTimeoutMs = positiveDurationMs(issues, rp, 'per_try_timeout', path, null);

  const codes = rp['retriable_status_codes'];
  const retriableStatusCodes: number[] = [];
  if (Array.isArray(codes)) {
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i] as number;
      if (!Number.isInteger(c) || c < 100 || c > 599) issues.add(`${joinPath(path, 'retriable_status_codes')}[${i}]`, `must be an HTTP status in 100..599, got ${c}`);
      else if (!retriableStatusCodes.includes(c)) retriableStatusCodes.push(c);
    }
  }
  if ((retryOn & RetryOn.RETRIABLE_STATUS_CODES) !== 0 && retriableStatusCodes.length === 0 && issues.count === before) {
    issues.add(joinPath(path, 'retriable_status_codes'), "is required when retry_on includes 'retriable-status-codes'");
  }
  if ((retryOn & RetryOn.RETRIABLE_STATUS_CODES) === 0 && retriableStatusCodes.length > 0) {
    issues.add(joinPath(path, 'retriable_status_codes'), "has no effect unless retry_on includes 'retriable-status-codes'");
  }

  let backoffBaseMs = DEFAULT_BACKOFF_BASE_MS;
  let backoffMaxMs = 10 * DEFAULT_BACKOFF_BASE_MS;
  const bo = msg(rp, 'retry_back_off');
  if (bo !== undefined) {
    const bp = joinPath(path, 'retry_back_off');
    onlyFields(issues, bo, bp, ['base_interval', 'max_interval']);
    backoffBaseMs = positiveDurationMs(issues, bo, 'base_interval', bp, DEFAULT_BACKOFF_BASE_MS)!;
    backoffMaxMs = positiveDurationMs(issues, bo, 'max_interval', bp, 10 * backoffBaseMs)!;
    if (backoffMaxMs < backoffBaseMs) {
      issues.add(joinPath(bp, 'max_interval'), `must be >= base_interval (${backoffBaseMs}ms), got ${backoffMaxMs}ms`);
    }
  }

  const retriableRequestHeaders: HeaderMatcherModel[] = [];
  const rh = list(rp, 'retriable_request_headers');
  for (let i = 0; i < rh.length; i++) {
    const h = compileHeaderMatcher(issues, rh[i]!, `${joinPath(path, 'retriable_request_headers')}[${i}]`);
    if (h !== null) retriableRequestHeaders.push(h);
  }

  if (issues.count !== before || numRetries === 0) return null;
  return { retryOn, numRetries, perTryTimeoutMs, retriableStatusCodes, backoffBaseMs, backoffMaxMs, retriableRequestHeaders };
}
