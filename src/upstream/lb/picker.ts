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
  /**
   * True when the picker was built in panic mode (Envoy's `healthy_panic_threshold`): too few
   * endpoints were routable, so it routes to every endpoint of its level regardless of health.
   * Constant for the picker's lifetime (for a gauge / `lb_healthy_panic` counter).
   */
  readonly panic: boolean;
}

/** Envoy's `common_lb_config.healthy_panic_threshold` default, in percent. */
export const DEFAULT_PANIC_THRESHOLD_PERCENT = 50;
/** Envoy's `least_request_lb_config.active_request_bias` default. */
export const DEFAULT_ACTIVE_REQUEST_BIAS = 1;
/** Envoy's `ring_hash_lb_config` size defaults. */
export const DEFAULT_RING_SIZES: RingHashSizes = Object.freeze({ minimumRingSize: 1024, maximumRingSize: 8 * 1024 * 1024 });

export interface RingHashSizes {
  readonly minimumRingSize: number;
  readonly maximumRingSize: number;
}

/** The options every policy's picker is built with. */
export interface PickerBuildOptions {
  readonly clusterName: string;
  /** Used at build time only (e.g. round robin's random start index). */
  readonly random: RandomSource;
  /** `least_request_lb_config.choice_count` (LEAST_REQUEST only). */
  readonly choiceCount: number;
  /** `least_request_lb_config.active_request_bias` (LEAST_REQUEST with unequal weights); default 1. */
  readonly activeRequestBias?: number;
  /** `ring_hash_lb_config` sizes (RING_HASH only); default 1024 / 8M. */
  readonly ringHash?: RingHashSizes;
  /** `common_lb_config.healthy_panic_threshold` in percent; default 50; 0 disables panic mode. */
  readonly healthyPanicThresholdPercent?: number;
}

/**
 * Published when no endpoint is routable (or the cluster has none yet, or was closed): every pick
 * fails with the same pre-allocated `NoHealthyUpstreamError` (created once, so no stack capture per
 * request).
 */
export class FailPicker implements Picker {
  readonly endpoints: readonly Endpoint[] = [];
  readonly panic = false;
  private readonly result: PickResult;
  constructor(clusterName: string) {
    this.result = Object.freeze({ type: 'fail', error: new NoHealthyUpstreamError(clusterName) });
  }
  pick(_ctx: PickContext): PickResult { return this.result; }
}

/** The endpoints a picker is built over, and whether they were selected in panic mode. */
export interface HostSelection {
  readonly hosts: Endpoint[];
  readonly panic: boolean;
}

/**
 * Selects the endpoints the picker balances over (config time), with Envoy's panic threshold:
 * 1. the lowest-numbered priority level whose routable fraction (routable / all endpoints of that
 *    level; routable = declared HEALTHY or UNKNOWN and no runtime health flag) is at least
 *    `panicThresholdPercent` gets the traffic: its routable endpoints, in input order;
 * 2. otherwise (every level with a routable endpoint is below the threshold) the lowest-numbered
 *    level with any routable endpoint is used in panic mode: ALL its endpoints regardless of health;
 * 3. when nothing is routable at all and the threshold is > 0, the lowest-numbered level is used in
 *    panic mode (Envoy routes to all hosts rather than failing).
 * With threshold 0 (disabled) this is `selectPriorityLevel`; empty hosts only when nothing is
 * routable and panic is disabled, or `all` is empty.
 *
 * Simplification vs Envoy: Envoy spreads load across priorities by health percentage and the
 * overprovisioning factor (1.4), so a level that is 80% healthy still takes all traffic and one
 * that is 50% healthy spills ~30% to the next level; it evaluates panic per priority level (and
 * "total panic" when the levels' health sums below 100%). Remora sends all traffic to one level: it
 * skips a level in panic when a later level is not, and panics only when no level is above the
 * threshold.
 */
export function selectHosts(all: readonly Endpoint[], panicThresholdPercent: number): HostSelection {
  if (all.length === 0) return { hosts: [], panic: false };
  if (!(panicThresholdPercent > 0)) return { hosts: selectPriorityLevel(all), panic: false };
  // Count endpoints and routable endpoints per priority (levels are usually few: a small map).
  const levels = new Map<number, { total: number; routable: number }>();
  for (let i = 0; i < all.length; i++) {
    const ep = all[i];
    let l = levels.get(ep.priority);
    if (l === undefined) { l = { total: 0, routable: 0 }; levels.set(ep.priority, l); }
    l.total++;
    if (ep.routable) l.routable++;
  }
  const order = [...levels.keys()].sort((a, b) => a - b);
  let firstRoutable = -1;
  for (const p of order) {
    const l = levels.get(p)!;
    if (l.routable === 0) continue;
    if (firstRoutable === -1) firstRoutable = p;
    if (l.routable * 100 >= panicThresholdPercent * l.total) return { hosts: levelHosts(all, p, true), panic: false };
  }
  return { hosts: levelHosts(all, firstRoutable === -1 ? order[0] : firstRoutable, false), panic: true };
}

function levelHosts(all: readonly Endpoint[], priority: number, routableOnly: boolean): Endpoint[] {
  const out: Endpoint[] = [];
  for (let i = 0; i < all.length; i++) {
    const ep = all[i];
    if (ep.priority === priority && (!routableOnly || ep.routable)) out.push(ep);
  }
  return out;
}

/**
 * Returns the routable endpoints of the lowest-numbered priority level that has any (declared
 * HEALTHY or UNKNOWN and no runtime health flag), in input order; empty when none is routable.
 * This is `selectHosts` with panic mode disabled: Remora switches levels only when a level has no
 * routable endpoint at all (see `selectHosts` for how this simplifies Envoy).
 */
export function selectPriorityLevel(all: readonly Endpoint[]): Endpoint[] {
  let best = Infinity;
  for (let i = 0; i < all.length; i++) {
    const ep = all[i];
    if (ep.routable && ep.priority < best) best = ep.priority;
  }
  if (best === Infinity) return [];
  return levelHosts(all, best, true);
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
