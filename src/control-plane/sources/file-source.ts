/**
 * The file-based mesh config source: reads a YAML file, or every `*.yaml`/`*.yml` in a directory
 * (non-recursive, sorted by name), and watches it. Changes are detected by `fs.watch` on the
 * directory (so editors that save by rename are seen) plus a stat-polling fallback for file systems
 * where watching is unreliable; bursts are debounced (100 ms by default) and a snapshot is emitted
 * only when some file's text actually changed. Validation is not done here: the consumer passes the
 * snapshot to `loadMeshConfig`.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { DebouncedReader } from './debounced-reader';

/** The mesh config documents as text, keyed by file path (sorted). */
export interface MeshSourceSnapshot {
  readonly files: ReadonlyMap<string, string>;
}

export interface FileSourceOptions {
  /** Quiet period after the last change before reading (default 100 ms). */
  readonly debounceMs?: number;
  /** Stat-poll interval of the fallback watcher (default 1000 ms; 0 disables polling). */
  readonly pollIntervalMs?: number;
}

export interface FileSourceListener {
  /** A new snapshot whose text differs from the previous one. Called asynchronously, never concurrently. */
  onChange(snapshot: MeshSourceSnapshot): void;
  /** Reading failed (e.g. the file vanished mid-save); the previous snapshot stays current. */
  onError?(err: Error): void;
}

const YAML_RE = /\.ya?ml$/i;

/** Watches one mesh config file or directory. Create, `start()`, and `close()` when done. */
export class FileSource {
  private readonly debounceMs: number;
  private readonly pollIntervalMs: number;
  private listener: FileSourceListener | null = null;
  private watcher: fs.FSWatcher | null = null;
  private poller: NodeJS.Timeout | null = null;
  private readonly reader: DebouncedReader;
  private last: MeshSourceSnapshot | null = null;
  private lastSignature = '';
  private closed = false;
  private isDirectory = false;

  constructor(private readonly target: string, options: FileSourceOptions = {}) {
    this.debounceMs = options.debounceMs ?? 100;
    this.reader = new DebouncedReader(this.debounceMs, () => this.readAndEmit(), (e) => this.listener?.onError?.(e));
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
  }

  /**
   * Reads the target once without watching. Rejects when the target does not exist or a file cannot
   * be read. A directory with no YAML files gives an empty snapshot.
   */
  async read(): Promise<MeshSourceSnapshot> {
    const st = await fsp.stat(this.target);
    const files = new Map<string, string>();
    if (st.isDirectory()) {
      const names = (await fsp.readdir(this.target)).filter((n) => YAML_RE.test(n)).sort();
      for (const n of names) {
        const p = path.join(this.target, n);
        const s = await fsp.stat(p).catch(() => null);
        if (s === null || !s.isFile()) continue; // vanished or a directory named *.yaml
        files.set(p, await fsp.readFile(p, 'utf8'));
      }
    } else {
      files.set(this.target, await fsp.readFile(this.target, 'utf8'));
    }
    return { files };
  }

  /**
   * Reads the initial snapshot (rejecting like `read()`), then watches; `listener.onChange` is
   * called for every later change. Returns the initial snapshot (not passed to the listener).
   */
  async start(listener: FileSourceListener): Promise<MeshSourceSnapshot> {
    if (this.listener !== null) throw new Error('FileSource already started');
    this.listener = listener;
    const st = await fsp.stat(this.target);
    this.isDirectory = st.isDirectory();
    const initial = await this.read();
    this.last = initial;
    this.lastSignature = await this.signature();
    const dir = this.isDirectory ? this.target : path.dirname(this.target);
    const base = path.basename(this.target);
    try {
      this.watcher = fs.watch(dir, { persistent: false }, (_event, filename) => {
        const f = filename === null ? null : String(filename);
        if (this.isDirectory ? (f === null || YAML_RE.test(f)) : (f === null || f === base)) this.schedule();
      });
      this.watcher.on('error', () => { /* the poller keeps working */ });
    } catch {
      this.watcher = null; // e.g. unsupported file system: rely on polling
    }
    if (this.pollIntervalMs > 0) {
      this.poller = setInterval(pollTick, this.pollIntervalMs, this);
      this.poller.unref();
    }
    return initial;
  }

  /** Stops watching; no listener call happens after it returns. Idempotent. */
  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.poller !== null) clearInterval(this.poller);
    this.poller = null;
    this.reader.close();
  }

  /** @internal Restarts the quiet period. */
  schedule(): void {
    this.reader.schedule();
  }

  /** @internal Polling: schedules a read when the stat signature changed. */
  async poll(): Promise<void> {
    const sig = await this.signature().catch(() => '');
    if (sig !== this.lastSignature) {
      this.lastSignature = sig;
      this.schedule();
    }
  }

  /** Reads and emits when the text changed (run by the DebouncedReader, never concurrently). */
  private async readAndEmit(): Promise<void> {
    const snap = await this.read();
    this.lastSignature = await this.signature().catch(() => '');
    if (!this.closed && !sameSnapshot(this.last, snap)) {
      this.last = snap;
      this.listener?.onChange(snap);
    }
  }

  private async signature(): Promise<string> {
    const parts: string[] = [];
    const add = async (p: string): Promise<void> => {
      const s = await fsp.stat(p).catch(() => null);
      parts.push(s === null ? `${p}:-` : `${p}:${s.mtimeMs}:${s.size}:${s.ino}`);
    };
    if (this.isDirectory) {
      const names = (await fsp.readdir(this.target)).filter((n) => YAML_RE.test(n)).sort();
      for (const n of names) await add(path.join(this.target, n));
    } else await add(this.target);
    return parts.join('|');
  }
}

function sameSnapshot(a: MeshSourceSnapshot | null, b: MeshSourceSnapshot): boolean {
  if (a === null || a.files.size !== b.files.size) return false;
  for (const [k, v] of b.files) if (a.files.get(k) !== v) return false;
  return true;
}

function pollTick(src: FileSource): void {
  void src.poll();
}
