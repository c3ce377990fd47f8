/**
 * The per-stream global rate limit filter and its per-listener factory. `onRequestHeaders` picks
 * the route's override (or the filter config), builds the descriptors' keys, and either continues
 * at once (no descriptor applies) or starts one Redis check and returns StopIteration; the check's
 * answer resumes the chain (`ctx.continueChain()`) or refuses the request with RateLimitedError
 * (429 / RESOURCE_EXHAUSTED). A failed or timed-out check follows `failure_mode_deny`. Every
 * decision is counted; with `enable_x_ratelimit_headers` the draft-03 `x-ratelimit-*` fields go
 * on every response of the stream through `ctx.responseHeadersToAdd`.
 */
import { ResponseFlag } from '../../core/response-flags';
import { RateLimitedError } from '../../core/errors';
import type { Clock } from '../../core/clock';
import { FilterStatus, type HttpFilter, type HttpFilterFactory } from '../filter';
import { sendLocalReply } from '../local-reply';
import type { StreamContext } from '../stream-context';
import { GLOBAL_RATELIMIT_NAME, type GlobalRateLimitConfig } from './config';
import { descriptorKey } from './descriptor-key';
import type { GlobalRateLimitMetrics } from './global-ratelimit-metrics';
import { RateLimitCode, type RateLimitHandler, type RedisRateLimiter } from './redis-rate-limiter';

/** Built once per listener config; shares the limiter (one Redis connection) with other factories. */
export class GlobalRateLimitFilterFactory implements HttpFilterFactory {
  /** `key_prefix + domain` of the filter config. */
  readonly base: string;
  readonly keyPrefix: string;
  readonly timeoutMs: number;
  /** Shared refusal errors (immutable; no per-request allocation or stack capture). */
  readonly overLimitError = new RateLimitedError('global rate limit');
  readonly failClosedError = new RateLimitedError('global rate limit service unavailable (failure_mode_deny)');

  constructor(
    readonly config: GlobalRateLimitConfig,
    readonly limiter: RedisRateLimiter,
    readonly metrics: GlobalRateLimitMetrics,
    readonly clock: Clock,
    /** Keeps this factory's reference in the limiter pool alive exactly as long as the factory. */
    readonly lease: object | null = null,
    /** The filter's name in `http_filters`: the key of its per-route overrides. */
    readonly filterName: string = GLOBAL_RATELIMIT_NAME,
  ) {
    const redis = config.redis!;
    this.keyPrefix = redis.keyPrefix;
    this.timeoutMs = redis.timeoutMs;
    this.base = redis.keyPrefix + config.domain!;
  }

  createFilter(): HttpFilter {
    return new GlobalRateLimitFilter(this);
  }
}

export class GlobalRateLimitFilter implements HttpFilter, RateLimitHandler {
  private ctx: StreamContext | null = null;
  private cfg: GlobalRateLimitConfig | null = null;
  private startedAt = 0;

  constructor(private readonly factory: GlobalRateLimitFilterFactory) {}

  onRequestHeaders(ctx: StreamContext): FilterStatus {
    const f = this.factory;
    let cfg = f.config;
    let base = f.base;
    const route = ctx.route;
    if (route !== null) {
      const override = route.model.perFilterConfig[f.filterName] as GlobalRateLimitConfig | undefined;
      if (override !== undefined) {
        if (override.disabled) return FilterStatus.Continue;
        cfg = override;
        if (override.domain !== null) base = f.keyPrefix + override.domain;
      }
    }
    const descs = cfg.descriptors;
    let keys: string[] | null = null;
    let limits: number[] | null = null;
    for (let i = 0; i < descs.length; i++) {
      const d = descs[i];
      const key = descriptorKey(d, ctx, base);
      if (key === null) continue;
      if (keys === null) {
        keys = [];
        limits = [];
      }
      keys.push(key);
      limits!.push(d.requestsPerUnit, d.windowMs);
    }
    if (keys === null) return FilterStatus.Continue;
    this.ctx = ctx;
    this.cfg = cfg;
    this.startedAt = f.clock.monotonic();
    f.limiter.check(keys, limits!, cfg.sliding, f.timeoutMs, this);
    return FilterStatus.StopIteration;
  }

  /** RateLimitHandler: the check's outcome (called once, asynchronously). */
  onRateLimit(code: RateLimitCode, limit: number, remaining: number, resetMs: number, windowMs: number, _error: Error | null): void {
    const ctx = this.ctx;
    const cfg = this.cfg;
    this.ctx = null;
    this.cfg = null;
    if (ctx === null || cfg === null) return;
    const f = this.factory;
    const m = f.metrics;
    m.checkDuration.observe((f.clock.monotonic() - this.startedAt) / 1000);
    switch (code) {
      case RateLimitCode.Ok:
        m.ok.inc();
        if (cfg.enableRateLimitHeaders) addHeaders(ctx, limit, remaining, resetMs, windowMs);
        ctx.continueChain();
        return;
      case RateLimitCode.OverLimit:
        m.overLimit.inc();
        if (cfg.enableRateLimitHeaders) addHeaders(ctx, limit, 0, resetMs, windowMs);
        if (!ctx.downstream.closed) sendLocalReply(ctx, f.overLimitError);
        return;
      default:
        ctx.responseFlags |= ResponseFlag.RateLimitServiceError;
        if (cfg.failureModeDeny) {
          m.errorDenied.inc();
          if (!ctx.downstream.closed) sendLocalReply(ctx, f.failClosedError);
        } else {
          m.errorAllowed.inc();
          ctx.continueChain();
        }
    }
  }
}

/** draft-ietf-httpapi-ratelimit-headers-03 fields, as Envoy's DRAFT_VERSION_03 writes them. */
function addHeaders(ctx: StreamContext, limit: number, remaining: number, resetMs: number, windowMs: number): void {
  let h = ctx.responseHeadersToAdd;
  if (h === null) {
    h = {};
    ctx.responseHeadersToAdd = h;
  }
  h['x-ratelimit-limit'] = `${limit}, ${limit};w=${Math.round(windowMs / 1000)}`;
  h['x-ratelimit-remaining'] = String(remaining);
  h['x-ratelimit-reset'] = String(Math.ceil(resetMs / 1000));
}
