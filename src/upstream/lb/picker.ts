/**
 * The load-balancer contract of the request path: a `Picker` is an immutable snapshot of one
 * cluster's routable endpoints, rebuilt (never mutated) whenever the endpoint set or endpoint health
 * changes, with a synchronous, allocation-free `pick()` (modelled on grpc-js `picker.ts`). Also holds
 * the shared pieces every policy uses: priority selection, the pre-allocated results and the
 * failing picker published when nothing is routable.
 */
import { NoHealthyUpstreamError, type ProxyError } from '../../core/errors';
import type { RandomSource } from '../../core/clock';
import type { Endpoint } from '../endpoint';

export type PickResult =
  | { readonly type: 'complete'; readonly endpoint: Endpoint }
  /** Not produced by the built-in policies; reserved for pickers that wait for a connection. */
  | { readonly type: 'queue' }
  | { readonly type: 'fail'; readonly error: ProxyError }
  | { readonly type: 'drop'; readonly error: ProxyError };

export type CompletePickResult = Extract<PickResult, { type: 'complete' }>;

export interface PickContext {
  /** Randomness for this pick (the Runtime's, or a seeded one in tests). */
  readonly random: RandomSource;
  /**
   * On a retry: the endpoint the previous attempt used. The picker returns a different endpoint
   * whenever another routable one exists (Envoy's `previous_hosts` retry predicate); null otherwise.
   */
  readonly exclude: Endpoint | null;
  /**
   * The request's hash from the route's `hash_policy` (an unsigned 32-bit integer), for RING_HASH;
   * null when the route has no hash policy or no policy produced a value (a random point is used).
   */
  readonly hash: number | null;
}

export interface Picker {
  /**
   * Chooses an endpoint for one request attempt. Synchronous; never throws; allocates nothing (the
   * returned result objects are pre-allocated per endpoint and shared: callers must not mutate them).
   */
  pick(ctx: PickContext): PickResult;
  /** The endpoints this picker chooses from (the selected priority level), for tests and admin. */
  readonly endpoints: readonly Endpoint[];
}

/** The options every policy's picker is built with. */
export interface PickerBuildOptions {
  readonly clusterName: string;
  /** Used at build time only (e.g. round robin's random start index). */
  readonly random: RandomSource;
  /** `least_request_lb_config.choice_count` (LEAST_REQUEST only). */
  readonly choiceCount: number;
}

/**
 * Published when no endpoint is routable (or the cluster has none yet, or was closed): every pick
 * fails with the same pre-allocated `NoHealthyUpstreamError` (created once, so no stack capture per
 * request).
 */
export class FailPicker implements Picker {
  readonly endpoints: readonly Endpoint[] = [];
  private readonly result: PickResult;
  constructor(clusterName: string) {
    this.result = Object.freeze({ type: 'fail', error: new NoHealthyUpstreamError(clusterName) });
  }
  pick(_ctx: PickContext): PickResult { return this.result; }
}

/**
 * Returns the routable endpoints of the lowest-numbered priority level that has any (declared
 * HEALTHY or UNKNOWN and no runtime health flag), in input order; empty when none is routable.
 *
 * Simplification vs Envoy: Envoy spreads load across priorities by health percentage and the
 * overprovisioning factor (1.4), so a level that is 80% healthy still takes all traffic and one
 * that is 50% healthy spills ~30% to the next level. Remora switches levels only when a level has
 * no routable endpoint at all.
 */
export function selectPriorityLevel(all: readonly Endpoint[]): Endpoint[] {
  let best = Infinity;
  for (let i = 0; i < all.length; i++) {
    const ep = all[i];
    if (ep.routable && ep.priority < best) best = ep.priority;
  }
  const out: Endpoint[] = [];
  if (best === Infinity) return out;
  for (let i = 0; i < all.length; i++) {
    const ep = all[i];
    if (ep.routable && ep.priority === best) out.push(ep);
  }
  return out;
}

/** One frozen `{type:'complete', endpoint}` per endpoint, in the same order. */
export function completeResults(endpoints: readonly Endpoint[]): CompletePickResult[] {
  const out = new Array<CompletePickResult>(endpoints.length);
  for (let i = 0; i < endpoints.length; i++) out[i] = Object.freeze({ type: 'complete', endpoint: endpoints[i] });
  return out;
}

/** True when every endpoint has the same weight (the cheap unweighted path applies). */
export function allWeightsEqual(endpoints: readonly Endpoint[]): boolean {
  for (let i = 1; i < endpoints.length; i++) if (endpoints[i].weight !== endpoints[0].weight) return false;
  return true;
}

/** Index of `ep` in `endpoints`, or -1. Only used on retries (`exclude`), so a linear scan is fine. */
export function indexOfEndpoint(endpoints: readonly Endpoint[], ep: Endpoint | null): number {
  if (ep === null) return -1;
  for (let i = 0; i < endpoints.length; i++) if (endpoints[i] === ep) return i;
  return -1;
}
