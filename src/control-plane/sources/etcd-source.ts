/**
 * The etcd mesh config source: every key under a prefix (e.g. `/remora/`) is one "file" of YAML
 * text, so several control-plane replicas sharing one etcd serve the same mesh. It reads the prefix
 * with a linearizable range, then watches the prefix from the revision after that read, so no change
 * between the read and the watch is lost. Watch events (put/delete) are debounced and trigger a
 * fresh read of the whole prefix; a snapshot is emitted only when some key's text changed. When the
 * watch stream drops (etcd restart, network), the etcd3 client re-establishes it with exponential
 * backoff and resumes from the last seen revision; on reconnect the prefix is read again. If etcd
 * cancels the watch (e.g. its start revision was compacted), the watch is re-created from a fresh
 * read. Reads are retried with cockatiel exponential backoff; every unary call has a deadline.
 * Validation is not done here: the consumer passes the snapshot to `loadMeshConfig`.
 */
import { ExponentialBackoff, handleAll, noop, retry, type IBackoff, type RetryPolicy } from 'cockatiel';
import { Etcd3, type IKeyValue, type Watcher } from 'etcd3';
import type { Clock } from '../../core/clock';
import type { MeshSource, MeshSourceListener, MeshSourceSnapshot } from './mesh-source';
import { DebouncedReader } from './debounced-reader';

export interface EtcdSourceOptions {
  /** etcd client URLs, e.g. `['http://10.0.0.1:2379']`; a bare `host:port` means `http://host:port`. */
  readonly endpoints: readonly string[];
  /** Key prefix whose keys are the mesh documents (e.g. `/remora/`). Must not be empty. */
  readonly prefix: string;
  /** Wall clock for call deadlines (the Runtime's). */
  readonly clock: Clock;
  /** Quiet period after the last watch event before reading (default 50 ms). */
  readonly debounceMs?: number;
  /** Deadline of each unary etcd call (default 5000 ms). */
  readonly callTimeoutMs?: number;
  /** Connection establishment timeout (default 5000 ms). */
  readonly dialTimeoutMs?: number;
  /** Attempts per read, including the first (default 5). */
  readonly readAttempts?: number;
  /** First retry/reconnect delay (default 100 ms). */
  readonly backoffInitialMs?: number;
  /** Largest retry/reconnect delay (default 5000 ms). */
  readonly backoffMaxMs?: number;
}

/** Invalid endpoints or prefix (a usage error: the CLI exits 2). */
export class EtcdSourceConfigError extends Error {
  readonly code = 'REMORA_ERR_ETCD_SOURCE_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'EtcdSourceConfigError';
  }
}

/** Normalises `--etcd a:2379,http://b:2379` into client URLs; throws EtcdSourceConfigError. */
export function parseEtcdEndpoints(list: string): string[] {
  const out: string[] = [];
  for (const raw of list.split(',')) {
    const e = raw.trim();
    if (e === '') continue;
    const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(e) ? e : `http://${e}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new EtcdSourceConfigError(`--etcd: '${e}' is not a host:port or http(s) URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new EtcdSourceConfigError(`--etcd: '${e}': only http:// and https:// endpoints are supported`);
    if (parsed.hostname === '' || parsed.port === '') throw new EtcdSourceConfigError(`--etcd: '${e}': expected host:port`);
    out.push(`${parsed.protocol}//${parsed.host}`);
  }
  if (out.length === 0) throw new EtcdSourceConfigError('--etcd: expected at least one endpoint');
  return out;
}

/** Reads and watches every key under one etcd prefix. Create, `start()`, and `close()` when done. */
export class EtcdSource implements MeshSource {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  private readonly client: Etcd3;
  private readonly debounceMs: number;
  private readonly readPolicy: RetryPolicy;
  private readonly rewatchPolicy: RetryPolicy;
  private readonly abort = new AbortController();
  private listener: MeshSourceListener | null = null;
  private watcher: Watcher | null = null;
  private readonly reader: DebouncedReader;
  private last: MeshSourceSnapshot | null = null;
  private disconnected = false;
  private rewatching = false;
  private closed = false;
  private closing: Promise<void> | null = null;

  constructor(options: EtcdSourceOptions) {
    if (options.prefix === '') throw new EtcdSourceConfigError('--etcd-prefix: must not be empty (it would watch the whole keyspace)');
    if (options.endpoints.length === 0) throw new EtcdSourceConfigError('--etcd: expected at least one endpoint');
    this.endpoints = [...options.endpoints];
    this.prefix = options.prefix;
    this.debounceMs = options.debounceMs ?? 50;
    this.reader = new DebouncedReader(this.debounceMs, async () => this.emitIfChanged((await this.readWithRevision()).snapshot), (e) => this.listener?.onError?.(e));
    const clock = options.clock;
    const callTimeoutMs = options.callTimeoutMs ?? 5000;
    const backoff = new ExponentialBackoff({ initialDelay: options.backoffInitialMs ?? 100, maxDelay: options.backoffMaxMs ?? 5000 });
    this.readPolicy = retry(handleAll, { maxAttempts: Math.max(0, (options.readAttempts ?? 5) - 1), backoff });
    this.rewatchPolicy = retry(handleAll, { maxAttempts: Number.MAX_SAFE_INTEGER, backoff });
    this.client = new Etcd3({
      hosts: [...this.endpoints],
      dialTimeout: options.dialTimeoutMs ?? 5000,
      // Unary calls get a deadline; the watch stream lives until closed.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: clock.now() + callTimeoutMs }),
      // Retries are ours (readPolicy), so a restarted etcd is not hidden behind an open breaker.
      // etcd3 calls `watchBackoff.next()` itself, i.e. it wants a backoff factory; its typings say IBackoff.
      faultHandling: { host: () => noop, global: noop, watchBackoff: backoff as unknown as IBackoff<unknown> },
    });
  }

  /** A human-readable name for logs and `/debug/config`: `etcd://host:port,host:port/prefix`. */
  describe(): string {
    return `etcd://${this.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}${this.prefix.startsWith('/') ? '' : '/'}${this.prefix}`;
  }

  /**
   * Reads every key under the prefix once (retrying with backoff). Keys are the full etcd keys,
   * sorted; values are UTF-8 YAML text. Rejects when etcd cannot be reached after all attempts.
   */
  async read(): Promise<MeshSourceSnapshot> {
    return (await this.readWithRevision()).snapshot;
  }

  /**
   * Reads the initial snapshot (rejecting like `read()`), then watches the prefix from the next
   * revision; `listener.onChange` is called for every later change. Resolves with the initial
   * snapshot (not passed to the listener).
   */
  async start(listener: MeshSourceListener): Promise<MeshSourceSnapshot> {
    if (this.listener !== null) throw new Error('EtcdSource already started');
    if (this.closed) throw new Error('EtcdSource closed');
    this.listener = listener;
    const { snapshot, revision } = await this.readWithRevision();
    this.last = snapshot;
    await this.watchFrom(revision);
    return snapshot;
  }

  /**
   * Stops watching and closes the etcd connection; no listener call happens after it is called.
   * Idempotent; the returned promise settles when the connection is released.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    this.abort.abort();
    this.reader.close();
    const w = this.watcher;
    this.watcher = null;
    this.closing = (async () => {
      if (w !== null) {
        w.removeAllListeners();
        w.on('error', ignore); // a late stream error must not become an unhandled 'error'
        await boundedWait(w.cancel(), 1000);
      }
      this.client.close();
    })();
    return this.closing;
  }

  /** @internal Restarts the quiet period before a read. */
  schedule(): void {
    this.reader.schedule();
  }

  private emitIfChanged(snapshot: MeshSourceSnapshot): void {
    if (this.closed || sameSnapshot(this.last, snapshot)) return;
    this.last = snapshot;
    this.listener?.onChange(snapshot);
  }

  /** One linearizable range over the prefix, retried; returns the snapshot and the next revision to watch from. */
  private async readWithRevision(): Promise<{ snapshot: MeshSourceSnapshot; revision: string }> {
    const res = await this.readPolicy.execute(
      () => this.client.getAll().prefix(this.prefix).sort('Key', 'Ascend').exec(),
      this.abort.signal,
    );
    const kvs: IKeyValue[] = res.kvs;
    const entries: [string, string][] = [];
    for (let i = 0; i < kvs.length; i++) entries.push([kvs[i]!.key.toString('utf8'), kvs[i]!.value.toString('utf8')]);
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { snapshot: { files: new Map(entries) }, revision: (BigInt(res.header.revision) + 1n).toString() };
  }

  private async watchFrom(revision: string): Promise<void> {
    const w = await this.client.watch().prefix(this.prefix).startRevision(revision).create();
    if (this.closed) {
      await boundedWait(w.cancel(), 1000);
      return;
    }
    this.watcher = w;
    this.disconnected = false;
    w.on('data', () => this.schedule());
    w.on('disconnected', (err: Error) => {
      if (this.closed || this.disconnected) return;
      this.disconnected = true;
      this.listener?.onError?.(new Error(`etcd watch on '${this.prefix}' disconnected (reconnecting): ${err.message}`));
    });
    w.on('connected', () => {
      if (!this.disconnected) return;
      this.disconnected = false;
      this.schedule(); // catch up, in case the resumed watch could not replay everything
    });
    w.on('error', (err: Error) => {
      if (this.closed || this.watcher !== w) return;
      this.listener?.onError?.(new Error(`etcd watch on '${this.prefix}' failed (re-creating it): ${err.message}`));
      void this.rewatch(w);
    });
  }

  /** The watch was cancelled by etcd: drop it, read afresh and watch from that read. */
  private async rewatch(old: Watcher): Promise<void> {
    if (this.rewatching) return;
    this.rewatching = true;
    this.watcher = null;
    old.removeAllListeners();
    old.on('error', ignore);
    void boundedWait(old.cancel(), 1000);
    try {
      await this.rewatchPolicy.execute(async () => {
        const { snapshot, revision } = await this.readWithRevision();
        if (this.closed) return;
        this.emitIfChanged(snapshot);
        await this.watchFrom(revision);
      }, this.abort.signal);
    } catch (e) {
      if (!this.closed) this.listener?.onError?.(e as Error);
    } finally {
      this.rewatching = false;
    }
  }
}

function sameSnapshot(a: MeshSourceSnapshot | null, b: MeshSourceSnapshot): boolean {
  if (a === null || a.files.size !== b.files.size) return false;
  for (const [k, v] of b.files) if (a.files.get(k) !== v) return false;
  return true;
}


function ignore(): void {}

/** Waits for `p` (ignoring its rejection) for at most `ms`. */
function boundedWait(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    p.then(() => { clearTimeout(t); resolve(); }, () => { clearTimeout(t); resolve(); });
  });
}
