/**
 * `ReflectionDescriptorSource`: keeps a compiled transcoder config (`GrpcJsonTranscoderConfig` with
 * a `TranscoderTable`) up to date from an application's gRPC server reflection, and the
 * `ReflectionSourcePool` that shares one source per (runtime, target, options) between the filter
 * factories of successive config updates, so a listener or route update neither refetches nor has
 * a not-ready gap. A source fetches as soon as it is created, then every `refreshIntervalMs`, and
 * soon after its channel to the app leaves READY (the app restarted or went away): failed fetches
 * retry with exponential backoff (250 ms doubling, capped at the refresh interval, ±20 % jitter
 * from the Runtime's random source). A fetched set identical to the current one is a no-op; a
 * different one is compiled with the same options and swapped in as a new frozen config object
 * (in-flight requests finish on the table they started with). A failed fetch or a set that does
 * not compile keeps the last good table, logs a warning and counts
 * `remora_transcoder_reflection_fetches_total{target, result}` (result: `updated`, `unchanged`,
 * `fetch_error`, `compile_error`). Sources are released when every factory holding them has been
 * garbage-collected (a FinalizationRegistry, as the global rate limit's Redis pool does); timers
 * and the channel are unref'd, so an idle source never keeps a process alive.
 */
import * as grpc from '@grpc/grpc-js';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Runtime } from '../../core/runtime';
import { TranscoderConfigError, TranscoderTable } from '../../codec/transcode/transcoder-table';
import type { GrpcJsonTranscoderConfig } from './config';
import { assembleFileDescriptorSet, fetchServiceFiles, ReflectionProtocol } from './reflection-client';

const COMPONENT = 'transcoder-reflection';
const FIRST_RETRY_MS = 250;
/** A whole fetch (connect + all round trips) must finish within this. */
const FETCH_TIMEOUT_MS = 10_000;
const METRIC = 'remora_transcoder_reflection_fetches_total';

/** What a source needs from the compiled filter config. */
export interface ReflectionSourceSpec {
  /** `host:port`, plaintext h2c. */
  readonly target: string;
  readonly refreshIntervalMs: number;
  readonly services: readonly string[];
  /**
   * The transcoder config compiled without descriptors (options, limits, framing); its `table`
   * only carries the options and is replaced by each fetched set's table.
   */
  readonly base: GrpcJsonTranscoderConfig;
  /** Identity of (target, options, interval): equal keys share a source. */
  readonly key: string;
}

type FetchResult = 'updated' | 'unchanged' | 'fetch_error' | 'compile_error';

export class ReflectionDescriptorSource {
  /** The config to transcode with; null until the first successful fetch. Read once per request. */
  current: GrpcJsonTranscoderConfig | null = null;
  /** The last fetch error (cleared by a success), for logs and the not-ready reply. */
  lastError: string | null = null;
  private lastSet: Buffer | null = null;
  private readonly client: grpc.Client;
  private timer: NodeJS.Timeout | null = null;
  private fetching = false;
  private again = false;
  private failures = 0;
  private closed = false;
  private readonly waiters: Array<() => void> = [];
  private readonly logger: Logger;

  constructor(
    readonly spec: ReflectionSourceSpec,
    private readonly runtime: Runtime,
    private readonly protocol: ReflectionProtocol,
    private readonly fetches: Counter<'target' | 'result'>,
  ) {
    this.logger = runtime.logger.child({ component: COMPONENT, target: spec.target });
    this.client = new grpc.Client(spec.target, grpc.credentials.createInsecure(), {
      // One channel per source; never shared with grpc-js's global subchannel pool.
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  /** Starts the first fetch and the connection watch. Called once, by the pool. */
  start(): void {
    this.watch();
    this.refreshNow();
  }

  /**
   * Fetches now (or right after a fetch in progress). Asynchronous; never throws. No-op after
   * `close()`.
   */
  refreshNow(): void {
    if (this.closed) return;
    if (this.fetching) {
      this.again = true;
      return;
    }
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.fetching = true;
    void this.fetchOnce().then((result) => this.finish(result));
  }

  /** Stops timers and closes the channel; `current` stays readable. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.client.close();
    this.releaseWaiters();
  }

  /** Resolves after the next fetch attempt completes (whatever its result). */
  nextFetchForTest(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async fetchOnce(): Promise<FetchResult> {
    let set: Buffer;
    try {
      const files = await fetchServiceFiles(this.client, this.protocol, this.spec.services, this.runtime.clock.now() + FETCH_TIMEOUT_MS);
      set = assembleFileDescriptorSet(files);
    } catch (e) {
      this.lastError = (e as Error).message;
      return 'fetch_error';
    }
    if (this.lastSet !== null && this.lastSet.equals(set)) {
      this.lastError = null;
      return 'unchanged';
    }
    const base = this.spec.base;
    let table: TranscoderTable;
    try {
      table = TranscoderTable.compile(set, base.table.options);
    } catch (e) {
      this.lastError = e instanceof TranscoderConfigError ? e.problems.join('; ') : (e as Error).message;
      return 'compile_error';
    }
    this.lastSet = set;
    this.lastError = null;
    this.current = Object.freeze({ ...base, table });
    return 'updated';
  }

  private finish(result: FetchResult): void {
    this.fetching = false;
    this.fetches.inc({ target: this.spec.target, result });
    if (result === 'fetch_error' || result === 'compile_error') {
      this.failures++;
      // Only the first failure of a run is a warning: an app that is down would flood the log.
      if (this.failures === 1) this.logger.warn({ result, err: this.lastError, serving: this.current !== null }, 'server reflection fetch failed; keeping the last good descriptors');
    } else {
      if (result === 'updated') this.logger.info({ services: this.spec.services }, 'transcoder descriptors loaded through server reflection');
      this.failures = 0;
    }
    this.releaseWaiters();
    if (this.closed) return;
    if (this.again) {
      this.again = false;
      this.refreshNow();
      return;
    }
    this.schedule(this.failures === 0 ? this.spec.refreshIntervalMs : this.backoffMs());
  }

  private backoffMs(): number {
    const base = Math.min(this.spec.refreshIntervalMs, FIRST_RETRY_MS * 2 ** Math.min(this.failures - 1, 16));
    return Math.max(1, Math.round(base * (0.8 + 0.4 * this.runtime.random.next())));
  }

  private schedule(ms: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(onTimer, ms, this);
    this.timer.unref();
  }

  /**
   * Watches the channel: leaving READY means the connection to the app dropped (a restart, a
   * GOAWAY, an idle timeout); a refetch then runs once the app answers again (backoff while not).
   */
  private watch(): void {
    if (this.closed) return;
    const channel = this.client.getChannel();
    const state = channel.getConnectivityState(false);
    channel.watchConnectivityState(state, Infinity, () => {
      if (this.closed) return;
      const now = channel.getConnectivityState(false);
      if (state === grpc.connectivityState.READY && now !== grpc.connectivityState.READY) {
        this.failures = Math.max(this.failures, 1);
        this.refreshNow();
      }
      this.watch();
    });
  }

  private releaseWaiters(): void {
    const w = this.waiters.splice(0);
    for (const f of w) f();
  }
}

function onTimer(source: ReflectionDescriptorSource): void {
  source.refreshNow();
}

interface PoolEntry {
  readonly source: ReflectionDescriptorSource;
  refs: number;
}

/** One source per (runtime, spec key), reference-counted by the factories that hold it. */
export class ReflectionSourcePool {
  private readonly byRuntime = new WeakMap<Runtime, Map<string, PoolEntry>>();
  private readonly counters = new WeakMap<Registry, Counter<'target' | 'result'>>();
  private protocol: ReflectionProtocol | null = null;
  private readonly finalizer = new FinalizationRegistry<{ entries: Map<string, PoolEntry>; key: string; entry: PoolEntry }>((held) => {
    this.release(held.entries, held.key, held.entry);
  });

  /** The shared source for `spec` (started on first use), with one reference held until `owner` is collected. */
  acquire(runtime: Runtime, spec: ReflectionSourceSpec, owner: object): ReflectionDescriptorSource {
    let entries = this.byRuntime.get(runtime);
    if (entries === undefined) {
      entries = new Map();
      this.byRuntime.set(runtime, entries);
    }
    let entry = entries.get(spec.key);
    if (entry === undefined) {
      this.protocol ??= new ReflectionProtocol();
      entry = { source: new ReflectionDescriptorSource(spec, runtime, this.protocol, this.counter(runtime.metrics)), refs: 0 };
      entries.set(spec.key, entry);
      entry.source.start();
    }
    entry.refs++;
    this.finalizer.register(owner, { entries, key: spec.key, entry });
    return entry.source;
  }

  /** Every live source of `runtime` (tests, admin). */
  sourcesForTest(runtime: Runtime): ReflectionDescriptorSource[] {
    const entries = this.byRuntime.get(runtime);
    return entries === undefined ? [] : [...entries.values()].map((e) => e.source);
  }

  /** Closes every source of `runtime` now (sidecar shutdown, tests). */
  closeAll(runtime: Runtime): void {
    const entries = this.byRuntime.get(runtime);
    if (entries === undefined) return;
    for (const e of entries.values()) e.source.close();
    entries.clear();
  }

  private counter(registry: Registry): Counter<'target' | 'result'> {
    let c = this.counters.get(registry);
    if (c === undefined) {
      const existing = registry.getSingleMetric(METRIC) as Counter<'target' | 'result'> | undefined;
      c = existing ?? new Counter({
        name: METRIC,
        help: 'Descriptor fetches of reflection-sourced gRPC-JSON transcoders, by target and result (updated, unchanged, fetch_error, compile_error).',
        labelNames: ['target', 'result'],
        registers: [registry],
      });
      this.counters.set(registry, c);
    }
    return c;
  }

  private release(entries: Map<string, PoolEntry>, key: string, entry: PoolEntry): void {
    if (entries.get(key) !== entry) return; // closed by closeAll (and maybe replaced) since
    if (--entry.refs > 0) return;
    entries.delete(key);
    entry.source.close();
  }
}
