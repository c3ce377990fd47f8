/**
 * The local rate limit filter's factory (one per listener and config update) and its per-stream
 * check. The factory owns the token-bucket state: one default bucket and one bucket per configured
 * descriptor entry list, created when the factory is built (for the listener config) or on the first
 * request of a route whose `typed_per_filter_config` overrides it (kept in a WeakMap keyed by that
 * frozen config), plus the pre-bound metric children and the precomputed local reply. The filter
 * itself holds no per-stream state, so `createFilter()` hands out the factory's one shared instance.
 *
 * Per request: sample `filter_enabled`; take one token from every applicable bucket if each has one.
 * The applicable buckets are Envoy's: every configured descriptor that equals one of the request's
 * descriptors (from the route's `rate_limits`, `ROUTE_DESCRIPTORS`), plus the default bucket when none
 * matched or with `always_consume_default_token_bucket` (default true). Envoy consumes the matched
 * buckets one by one, most restrictive (fewest tokens per second) first, and stops at the first empty
 * one, so a rejected request may still have spent tokens of the buckets checked before it; Remora
 * checks all of them first and takes tokens only when the request is admitted (same admit/reject
 * decision, no tokens spent by rejected requests). Otherwise the request is over the limit: sample
 * `filter_enforced` and either reply
 * locally (429 or `status` / RESOURCE_EXHAUSTED, with `response_headers_to_add`) or forward it with
 * `request_headers_to_add_when_not_enforced`. With `enable_x_ratelimit_headers` the most restrictive
 * bucket is reported in `x-ratelimit-limit`, `-remaining` and `-reset` on every response of the stream.
 */
import { PerRouteStates } from '../per-route';
import { sampleFraction as sampleFractionOf } from '../../core/fraction';
import { Counter, type Registry } from 'prom-client';
import type { Clock, RandomSource } from '../../core/clock';
import { RateLimitedError } from '../../core/errors';
import { toSyntheticResponse, type SyntheticResponse } from '../../core/status';
import type { HeaderValueOptionModel } from '../../config/model';
import { FilterStatus, type FilterFactoryContext, type HttpFilter, type HttpFilterFactory } from '../filter';
import { sendSyntheticResponse } from '../local-reply';
import type { RequestHeaders, StreamContext } from '../stream-context';
import type { FractionModel, LocalRateLimitConfig } from './config';
import { TokenBucket } from './token-bucket';


/**
 * Produces the request's rate-limit descriptors (in `descriptorKey()` form) for descriptor lookup.
 * A source must be synchronous, must not throw, and is called only when the active config has
 * descriptors. The default is `ROUTE_DESCRIPTORS`; tests and embedders may pass their own as the
 * factory's third argument.
 */
export interface DescriptorSource {
  /** Appends the descriptor keys of `ctx` to `out`. */
  collect(ctx: StreamContext, out: string[]): void;
}

/** Produces nothing: only the default bucket applies. */
export const NO_DESCRIPTORS: DescriptorSource = { collect(): void {} };

/**
 * The descriptors of the matched route's compiled `rate_limits` (route level, else the virtual
 * host's; see routing/rate-limit-descriptors.ts), as in Envoy. The peer principal is null until the
 * security issue puts the mTLS peer identity on StreamContext; pass it here then.
 */
export const ROUTE_DESCRIPTORS: DescriptorSource = {
  collect(ctx: StreamContext, out: string[]): void {
    const route = ctx.route;
    if (route === null || route.rateLimits === null) return;
    const peer = ctx.peer;
    route.rateLimits.populate(ctx.headers, ctx.remoteAddress, peer === null ? null : peer.principal, out);
  },
};

type CounterChild = ReturnType<Counter<string>['labels']>;

/** Returns the registry's metric `name`, creating it once (factories are rebuilt on every config update). */
function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames: labelNames as L[], registers: [registry] });
}

/** True with probability numerator/denominator; draws no random number at 0% or 100%. */
export function sampleFraction(f: FractionModel, random: RandomSource): boolean {
  return sampleFractionOf(f.numerator, f.denominator, random);
}

/** Applies one Envoy header-append action to request headers. */
export function addRequestHeader(headers: RequestHeaders, h: HeaderValueOptionModel): void {
  if (h.value === '' && !h.keepEmptyValue) return;
  const cur = headers[h.key];
  switch (h.action) {
    case 'APPEND_IF_EXISTS_OR_ADD':
      headers[h.key] = cur === undefined ? h.value : Array.isArray(cur) ? [...cur, h.value] : [cur, h.value];
      return;
    case 'ADD_IF_ABSENT':
      if (cur === undefined) headers[h.key] = h.value;
      return;
    case 'OVERWRITE_IF_EXISTS':
      if (cur !== undefined) headers[h.key] = h.value;
      return;
    default:
      headers[h.key] = h.value;
  }
}

/** The buckets, metric children and reply of one compiled config (listener-level or per-route). */
class LimiterState {
  readonly defaultBucket: TokenBucket | null;
  /** Descriptor key → bucket; null when the config has no descriptors. */
  readonly byKey: Map<string, TokenBucket> | null;
  readonly reply: SyntheticResponse;
  readonly allowed: CounterChild;
  readonly limited: CounterChild;
  readonly limitedNotEnforced: CounterChild;

  constructor(readonly config: LocalRateLimitConfig, now: number, requests: Counter<'listener' | 'stat_prefix' | 'decision'>, listener: string) {
    this.defaultBucket = config.tokenBucket === null ? null : new TokenBucket(config.tokenBucket, now);
    let byKey: Map<string, TokenBucket> | null = null;
    if (config.descriptors.length > 0) {
      byKey = new Map();
      for (const d of config.descriptors) byKey.set(d.key, new TokenBucket(d.tokenBucket, now));
    }
    this.byKey = byKey;
    const base = toSyntheticResponse(new RateLimitedError(config.statPrefix));
    this.reply = Object.freeze({ ...base, httpStatus: config.httpStatus });
    this.allowed = requests.labels(listener, config.statPrefix, 'allowed');
    this.limited = requests.labels(listener, config.statPrefix, 'limited');
    this.limitedNotEnforced = requests.labels(listener, config.statPrefix, 'limited_not_enforced');
  }
}

export class LocalRateLimitFactory implements HttpFilterFactory, HttpFilter {
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly listenerName: string;
  private readonly requests: Counter<'listener' | 'stat_prefix' | 'decision'>;
  private readonly listenerState: LimiterState;
  private readonly perRoute: PerRouteStates<LocalRateLimitConfig, LimiterState>;
  /** Scratch arrays for descriptor matching (the filter runs synchronously; never re-entered). */
  private readonly keys: string[] = [];
  private readonly buckets: TokenBucket[] = [];

  /** Built at config time; per-route overrides are found under `ctx.filterName` (the HCM's name for this filter). */
  constructor(config: LocalRateLimitConfig, ctx: FilterFactoryContext, private readonly descriptors: DescriptorSource = ROUTE_DESCRIPTORS) {
    this.clock = ctx.runtime.clock;
    this.random = ctx.runtime.random;
    this.listenerName = ctx.listenerName;
    this.requests = counter(ctx.runtime.metrics, 'remora_local_ratelimit_requests_total',
      'Requests checked by the local rate limit filter, by decision (allowed, limited, limited_not_enforced).',
      ['listener', 'stat_prefix', 'decision'] as const);
    this.listenerState = new LimiterState(config, this.clock.monotonic(), this.requests, this.listenerName);
    this.perRoute = new PerRouteStates(ctx.filterName, isLocalRateLimitConfig,
      (c) => new LimiterState(c, this.clock.monotonic(), this.requests, this.listenerName));
  }

  /** The filter is stateless per stream: every stream shares this instance. */
  createFilter(): HttpFilter {
    return this;
  }

  /** Synchronous: Continue, or StopIteration after replying 429 / RESOURCE_EXHAUSTED. Never throws. */
  onRequestHeaders(ctx: StreamContext): FilterStatus {
    const state = this.stateFor(ctx);
    const cfg = state.config;
    if (!sampleFraction(cfg.enabled, this.random)) return FilterStatus.Continue;
    const now = this.clock.monotonic();
    const buckets = this.buckets;
    buckets.length = 0;
    if (state.byKey !== null) {
      const keys = this.keys;
      keys.length = 0;
      this.descriptors.collect(ctx, keys);
      for (let i = 0; i < keys.length; i++) {
        const b = state.byKey.get(keys[i]);
        if (b !== undefined && !buckets.includes(b)) buckets.push(b);
      }
    }
    if (state.defaultBucket !== null && (buckets.length === 0 || cfg.alwaysConsumeDefaultTokenBucket)) buckets.push(state.defaultBucket);
    let allowed = true;
    let report: TokenBucket | null = null;
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i];
      const avail = b.available(now);
      if (avail < 1) allowed = false;
      if (report === null || avail < report.remaining) report = b;
    }
    if (allowed) for (let i = 0; i < buckets.length; i++) buckets[i].consumeChecked();
    if (cfg.xRateLimitHeaders && report !== null) {
      const add = ctx.responseHeadersToAdd ?? (ctx.responseHeadersToAdd = {});
      add['x-ratelimit-limit'] = String(report.maxTokens);
      add['x-ratelimit-remaining'] = String(report.remaining);
      add['x-ratelimit-reset'] = String(report.resetSeconds(now));
    }
    buckets.length = 0;
    if (allowed) {
      state.allowed.inc();
      return FilterStatus.Continue;
    }
    if (!sampleFraction(cfg.enforced, this.random)) {
      state.limitedNotEnforced.inc();
      const hs = cfg.requestHeadersToAddWhenNotEnforced;
      for (let i = 0; i < hs.length; i++) addRequestHeader(ctx.headers, hs[i]);
      return FilterStatus.Continue;
    }
    state.limited.inc();
    const rh = cfg.responseHeadersToAdd;
    if (rh.length > 0) {
      const add = ctx.responseHeadersToAdd ?? (ctx.responseHeadersToAdd = {});
      for (let i = 0; i < rh.length; i++) if (rh[i].value !== '' || rh[i].keepEmptyValue) add[rh[i].key] = rh[i].value;
    }
    sendSyntheticResponse(ctx, state.reply);
    return FilterStatus.StopIteration;
  }

  /** The route's override state (created on first use), else the listener's. */
  private stateFor(ctx: StreamContext): LimiterState {
    return this.perRoute.forRoute(ctx.route, this.listenerState);
  }

  /** Tokens left in the listener-level default bucket at `now` (tests). */
  defaultTokensForTest(): number {
    const b = this.listenerState.defaultBucket;
    return b === null ? -1 : b.available(this.clock.monotonic());
  }
}

function isLocalRateLimitConfig(c: unknown): c is LocalRateLimitConfig {
  return (c as LocalRateLimitConfig).kind === 'local_ratelimit';
}
