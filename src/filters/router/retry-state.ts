/**
 * Retries for the router: the per-call `RetryState` (retries left, backoff step,
 * whether the call holds a retry slot of the cluster's budget) that the router allocates only for
 * routes with a policy, full-jitter exponential backoff, and the server pushback headers
 * (`grpc-retry-pushback-ms` per gRPC A6, `Retry-After` per RFC 9110 §10.2.3). The route's compiled
 * policy (`CompiledRetryPolicy`, routing/retry-policy.ts) is built with the route table. Pure
 * functions and plain objects: timers and the circuit breakers stay in the router call.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/router_filter#x-envoy-retry-on
 * https://github.com/grpc/proposal/blob/master/A6-client-retries.md
 */
import type { RandomSource } from '../../core/clock';
import type { CompiledRetryPolicy } from '../../routing/retry-policy';

/** Pushback result: no pushback header. */
export const PUSHBACK_NONE = -1;
/** Pushback result: the server said "do not retry" (negative or malformed `grpc-retry-pushback-ms`). */
export const PUSHBACK_STOP = -2;

/** Per-call retry bookkeeping; allocated by the router only for routes with a retry policy. */
export class RetryState {
  /** Retries still allowed by `num_retries`. */
  retriesLeft: number;
  /** Retries sent so far (the backoff exponent). */
  retriesDone = 0;
  /** Whether the call holds one concurrent-retry slot of the cluster's ResourceManager. */
  holdsRetrySlot = false;

  constructor(readonly policy: CompiledRetryPolicy, readonly random: RandomSource) {
    this.retriesLeft = policy.numRetries;
  }

  /** The full-jitter backoff before the next retry, in ms. */
  nextBackoffMs(): number {
    return fullJitterBackoffMs(this.retriesDone, this.policy.backoffBaseMs, this.policy.backoffMaxMs, this.random);
  }
}

/**
 * Full-jitter exponential backoff (AWS "Exponential Backoff And Jitter", as Envoy and gRPC A6):
 * a uniform delay in [0, min(maxMs, baseMs × 2^retry)). `retry` is the number of retries already
 * sent (0 before the first retry).
 */
export function fullJitterBackoffMs(retry: number, baseMs: number, maxMs: number, random: RandomSource): number {
  let ceiling = baseMs * 2 ** (retry > 30 ? 30 : retry);
  if (ceiling > maxMs) ceiling = maxMs;
  return random.next() * ceiling;
}

/**
 * `grpc-retry-pushback-ms` (gRPC A6): a non-negative decimal integer is the delay in ms before the
 * retry; anything else (negative, malformed, several values) means "do not retry" (`PUSHBACK_STOP`);
 * `PUSHBACK_NONE` when the header is absent.
 */
export function parseGrpcPushback(value: string | string[] | number | undefined): number {
  if (value === undefined) return PUSHBACK_NONE;
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : PUSHBACK_STOP;
  if (typeof value !== 'string') return PUSHBACK_STOP;
  const s = value.trim();
  if (s.length === 0 || s.length > 10) return PUSHBACK_STOP;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return PUSHBACK_STOP;
  }
  return Number(s);
}

/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, as a delay in ms from `nowMs`
 * (wall clock); `PUSHBACK_NONE` when absent or unparseable (the normal backoff then applies).
 * A date in the past is 0.
 */
export function parseRetryAfter(value: string | string[] | number | undefined, nowMs: number): number {
  if (value === undefined || Array.isArray(value)) return PUSHBACK_NONE;
  const s = String(value).trim();
  if (s.length === 0) return PUSHBACK_NONE;
  if (/^\d{1,9}$/.test(s)) return Number(s) * 1000;
  const at = Date.parse(s);
  if (at !== at /* NaN */) return PUSHBACK_NONE;
  return at > nowMs ? at - nowMs : 0;
}
