/**
 * The FilterRegistration of `remora.filters.http.global_ratelimit`, and the limiter pool behind it.
 * `createGlobalRateLimitRegistration()` is called once per ExtensionRegistry (one per sidecar): the
 * registration owns a pool with one RedisRateLimiter (one connection) per Redis address, shared by
 * every factory that names that address. A config update that keeps the address reuses the
 * connection; factories are reference-counted with a FinalizationRegistry, so once every factory
 * of an address has been garbage-collected (its listener replaced and its requests finished) the
 * connection is closed. The limiter's sockets and timers are unref'd, so an unused pool never keeps
 * a process alive. TODO(lead): an explicit `HttpFilterFactory.close()` would make this prompt.
 */
import type { Registry } from 'prom-client';
import type { Runtime } from '../../core/runtime';
import type { FilterRegistration } from '../filter';
import {
  GLOBAL_RATELIMIT_NAME, GLOBAL_RATELIMIT_TYPE_URL, compileGlobalRateLimit, compileGlobalRateLimitPerRoute,
  type GlobalRateLimitConfig,
} from './config';
import { GlobalRateLimitFilterFactory } from './filter';
import { GlobalRateLimitMetrics } from './global-ratelimit-metrics';
import { RedisRateLimiter, type RedisRateLimiterOptions, type RedisTarget } from './redis-rate-limiter';

interface PoolEntry {
  readonly limiter: RedisRateLimiter;
  refs: number;
}

/** One limiter per (runtime, Redis address), reference-counted by live factories. */
export class RedisLimiterPool {
  private readonly byRuntime = new WeakMap<Runtime, Map<string, PoolEntry>>();
  private readonly metricsByRegistry = new WeakMap<Registry, GlobalRateLimitMetrics>();
  private readonly finalizer = new FinalizationRegistry<{ entries: Map<string, PoolEntry>; address: string }>((held) => {
    this.release(held.entries, held.address);
  });

  constructor(private readonly options: RedisRateLimiterOptions = {}) {}

  /**
   * The shared limiter for `target`, with one more reference held for `owner` (a factory) until
   * `owner` is garbage-collected.
   */
  acquire(runtime: Runtime, target: RedisTarget, owner: object): RedisRateLimiter {
    let entries = this.byRuntime.get(runtime);
    if (entries === undefined) {
      entries = new Map();
      this.byRuntime.set(runtime, entries);
    }
    const address = `${target.host}:${target.port}`;
    let entry = entries.get(address);
    if (entry === undefined) {
      entry = { limiter: new RedisRateLimiter(target, runtime, this.options), refs: 0 };
      entries.set(address, entry);
    }
    entry.refs++;
    this.finalizer.register(owner, { entries, address });
    return entry.limiter;
  }

  /** The metric handles on `registry` (created once). */
  metrics(registry: Registry): GlobalRateLimitMetrics {
    let m = this.metricsByRegistry.get(registry);
    if (m === undefined) {
      m = new GlobalRateLimitMetrics(registry);
      this.metricsByRegistry.set(registry, m);
    }
    return m;
  }

  private release(entries: Map<string, PoolEntry>, address: string): void {
    const entry = entries.get(address);
    if (entry === undefined) return;
    if (--entry.refs > 0) return;
    entries.delete(address);
    void entry.limiter.close();
  }
}

/** A fresh registration with its own limiter pool; register it in each ExtensionRegistry. */
export function createGlobalRateLimitRegistration(options: RedisRateLimiterOptions = {}): FilterRegistration<GlobalRateLimitConfig, GlobalRateLimitConfig> {
  const pool = new RedisLimiterPool(options);
  return {
    name: GLOBAL_RATELIMIT_NAME,
    typeUrl: GLOBAL_RATELIMIT_TYPE_URL,
    perRouteTypeUrl: GLOBAL_RATELIMIT_TYPE_URL,
    compile: compileGlobalRateLimit,
    compilePerRoute: compileGlobalRateLimitPerRoute,
    createFactory(config, ctx) {
      const runtime = ctx.runtime;
      const redis = config.redis!;
      // The factory owns a pool reference: the holder object it is registered under lives exactly
      // as long as the factory (the factory references it, nothing else does).
      const lease = {};
      const limiter = pool.acquire(runtime, { host: redis.host, port: redis.port }, lease);
      const factory = new GlobalRateLimitFilterFactory(config, limiter, pool.metrics(runtime.metrics), runtime.clock, lease, ctx.filterName);
      return factory;
    },
  };
}
