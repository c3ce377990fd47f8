/**
 * Remote JWKS fetching and caching for `remote_jwks` providers. A `RemoteJwks` owns one JWKS URI:
 * it fetches the set over HTTP(S) with node:http (a fresh connection per fetch, `timeout` from the
 * provider's `http_uri`), keeps the last good `KeySet`, and serves it stale-while-revalidate: once
 * `cache_duration` has passed, the cached keys keep verifying while one background refresh runs.
 * A failed fetch never drops cached keys (a JWKS outage keeps working tokens working); it is
 * logged, counted, and retried no sooner than `failedRefetchMs`. A token whose `kid` is unknown may
 * force one refresh, at most once per `unknownKidRefreshMs` per URI, so random kids cannot turn
 * the sidecar into a JWKS flooder. Fetches are single-flight. `JwksPool` shares one RemoteJwks per
 * (runtime, URI, cache settings) across listener config updates, so a new config does not refetch.
 * The `cluster` of Envoy's `http_uri` is not used: the URI is fetched directly.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../../core/clock';
import type { Runtime } from '../../core/runtime';
import { KeySet } from './key-set';

const COMPONENT = 'jwt_authn';
export const JWKS_FETCH_METRIC = 'remora_jwt_authn_jwks_fetch_total';
/** A JWKS document larger than this is refused (Envoy has no fixed cap; 1 MiB is generous for keys). */
export const MAX_JWKS_BYTES = 1024 * 1024;

export interface RemoteJwksOptions {
  readonly uri: string;
  readonly timeoutMs: number;
  /** How long fetched keys are fresh (Envoy's `cache_duration`, default 5 min). */
  readonly cacheDurationMs: number;
  /** After a failed fetch, no new fetch before this (Envoy's `failed_refetch_duration`, default 1 s). */
  readonly failedRefetchMs: number;
  /** Minimum interval between refreshes forced by unknown `kid`s (default 10 s). */
  readonly unknownKidRefreshMs: number;
}

type CounterChild = ReturnType<Counter<string>['labels']>;

/** `remora_jwt_authn_jwks_fetch_total{result=ok|error}` on a registry (get-or-create). */
export class JwksFetchMetrics {
  readonly ok: CounterChild;
  readonly error: CounterChild;
  constructor(registry: Registry) {
    const c = (registry.getSingleMetric(JWKS_FETCH_METRIC) as Counter<'result'> | undefined) ?? new Counter({
      name: JWKS_FETCH_METRIC,
      help: 'Remote JWKS fetches by result (ok | error: unreachable, timeout, non-200, bad JSON or no usable key).',
      labelNames: ['result'], registers: [registry],
    });
    this.ok = c.labels('ok');
    this.error = c.labels('error');
  }
}

export class RemoteJwks {
  private keys: KeySet | null = null;
  /** Monotonic ms of the last successful fetch. */
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private failedAt = Number.NEGATIVE_INFINITY;
  private kidRefreshAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<KeySet | null> | null = null;
  private fetches = 0;

  constructor(
    readonly options: RemoteJwksOptions,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly metrics: JwksFetchMetrics,
  ) {}

  /**
   * The cached keys (possibly stale), or null before the first successful fetch. Synchronous;
   * starts a background refresh when the keys are stale and no fetch is in flight or backing off.
   */
  current(): KeySet | null {
    const now = this.clock.monotonic();
    if (this.keys !== null && now - this.fetchedAt >= this.options.cacheDurationMs && this.canFetch(now)) void this.fetch();
    return this.keys;
  }

  /**
   * Resolves with keys to verify with: the cached ones, or after a fetch when there are none yet.
   * Resolves null (never rejects) when there are no keys and the fetch failed or is backing off.
   */
  load(): Promise<KeySet | null> {
    const keys = this.current();
    if (keys !== null) return Promise.resolve(keys);
    if (this.inflight !== null) return this.inflight;
    if (!this.canFetch(this.clock.monotonic())) return Promise.resolve(null);
    return this.fetch();
  }

  /**
   * A token's `kid` is not in the cached set: refresh once, unless a kid-forced refresh ran less
   * than `unknownKidRefreshMs` ago (then null: the caller fails the token with the keys it has).
   */
  refreshForUnknownKid(): Promise<KeySet | null> | null {
    if (this.inflight !== null) return this.inflight;
    const now = this.clock.monotonic();
    if (now - this.kidRefreshAt < this.options.unknownKidRefreshMs || !this.canFetch(now)) return null;
    this.kidRefreshAt = now;
    return this.fetch();
  }

  /** Starts a fetch now unless one is in flight (then joins it). Resolves with the keys after it. */
  fetch(): Promise<KeySet | null> {
    if (this.inflight !== null) return this.inflight;
    const p = this.doFetch().then((keys) => {
      this.inflight = null;
      return keys;
    });
    this.inflight = p;
    return p;
  }

  /** Successful and failed fetches so far (tests). */
  fetchCountForTest(): number {
    return this.fetches;
  }

  private canFetch(now: number): boolean {
    return this.inflight === null && now - this.failedAt >= this.options.failedRefetchMs;
  }

  private async doFetch(): Promise<KeySet | null> {
    this.fetches++;
    try {
      const text = await getText(this.options.uri, this.options.timeoutMs);
      const r = KeySet.parse(text);
      if (!r.ok) throw new Error(`bad JWKS: ${r.error}`);
      if (r.skipped.length > 0) this.logger.warn({ component: COMPONENT, uri: this.options.uri, skipped: r.skipped }, 'JWKS keys skipped');
      this.keys = r.keys;
      this.fetchedAt = this.clock.monotonic();
      this.metrics.ok.inc();
    } catch (err) {
      this.failedAt = this.clock.monotonic();
      this.metrics.error.inc();
      this.logger.warn({ component: COMPONENT, uri: this.options.uri, err: (err as Error).message, cachedKeys: this.keys !== null }, 'JWKS fetch failed; keeping cached keys');
    }
    return this.keys;
  }
}

/** GET `uri`, 200 only, at most MAX_JWKS_BYTES, within `timeoutMs`; a new connection each time. */
function getText(uri: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const mod = uri.startsWith('https:') ? https : http;
    const req = mod.get(uri, { agent: false, headers: { accept: 'application/json' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`HTTP ${res.statusCode ?? 0}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_JWKS_BYTES) {
          req.destroy(new Error(`JWKS larger than ${MAX_JWKS_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timed out after ${timeoutMs}ms`)));
    req.on('error', reject);
  });
}

/**
 * One RemoteJwks per (runtime, URI, timeout, cache settings), shared by every factory of a
 * registration. Entries live as long as the registration (a handful of URIs per sidecar).
 */
export class JwksPool {
  private readonly byRuntime = new WeakMap<Runtime, Map<string, RemoteJwks>>();

  constructor(private readonly unknownKidRefreshMs: number, private readonly failedRefetchMs: number) {}

  get(runtime: Runtime, uri: string, timeoutMs: number, cacheDurationMs: number, failedRefetchMs: number | null): RemoteJwks {
    let m = this.byRuntime.get(runtime);
    if (m === undefined) {
      m = new Map();
      this.byRuntime.set(runtime, m);
    }
    const refetch = failedRefetchMs ?? this.failedRefetchMs;
    const key = `${uri}\0${timeoutMs}\0${cacheDurationMs}\0${refetch}`;
    let r = m.get(key);
    if (r === undefined) {
      r = new RemoteJwks({ uri, timeoutMs, cacheDurationMs, failedRefetchMs: refetch, unknownKidRefreshMs: this.unknownKidRefreshMs },
        runtime.clock, runtime.logger, new JwksFetchMetrics(runtime.metrics));
      m.set(key, r);
    }
    return r;
  }
}
