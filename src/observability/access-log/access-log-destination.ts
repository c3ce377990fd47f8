/**
 * One access-log output (a file path, or stdout/stderr), shared by every listener and every
 * `access_log` entry that names the same path and reference-counted by AccessLogSinks. Lines go
 * through pino's asynchronous destination (SonicBoom, `sync: false`): `write` only appends to an
 * in-memory buffer and the file is written off the request path, so logging never blocks the event
 * loop. The buffer is bounded (`MAX_BUFFERED_BYTES`): when the disk cannot keep up, further lines
 * are dropped and counted (`remora_access_log_dropped_lines_total`) rather than growing memory.
 * An output that cannot be opened logs one warning; its lines are then dropped the same way.
 */
import pino, { type Logger } from 'pino';
import type { Counter } from 'prom-client';

type SonicBoom = ReturnType<typeof pino.destination>;

/** Bytes buffered per destination before lines are dropped. */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/** Counters of all destinations, labelled by path (bounded by config). */
export interface AccessLogCounters {
  readonly written: Counter<'path'>;
  readonly dropped: Counter<'path'>;
}

export class AccessLogDestination {
  /** Observers using this destination (AccessLogSinks' reference count). */
  refs = 0;
  private readonly stream: SonicBoom;
  private readonly written: { inc(): void };
  private readonly dropped: { inc(): void };
  private failed = false;
  private closing: Promise<void> | null = null;

  constructor(readonly path: string, counters: AccessLogCounters, private readonly logger: Logger) {
    this.written = counters.written.labels(path);
    this.dropped = counters.dropped.labels(path);
    const fd = path === '/dev/stdout' ? 1 : path === '/dev/stderr' ? 2 : null;
    this.stream = pino.destination(fd !== null
      ? { fd, sync: false, maxLength: MAX_BUFFERED_BYTES }
      : { dest: path, sync: false, mkdir: true, append: true, maxLength: MAX_BUFFERED_BYTES });
    this.stream.on('error', this.onError.bind(this));
    this.stream.on('drop', this.onDrop.bind(this));
  }

  /** Appends one newline-terminated line; never blocks and never throws. */
  write(line: string): void {
    if (this.closing !== null) return;
    if (this.failed) {
      this.dropped.inc();
      return;
    }
    try {
      this.stream.write(line);
      this.written.inc();
    } catch (err) {
      this.onError(err as Error);
    }
  }

  /**
   * Flushes what is buffered and closes the output (stdout/stderr stay open). Resolves when done, or
   * after `timeoutMs` at the latest (an output that never opened or a stuck disk cannot hang shutdown).
   */
  close(timeoutMs: number): Promise<void> {
    if (this.closing !== null) return this.closing;
    const s = this.stream;
    this.closing = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      if (this.failed) {
        done();
        return;
      }
      s.once('close', done);
      s.once('error', done);
      try {
        s.end();
      } catch {
        done();
      }
    });
    return this.closing;
  }

  private onDrop(): void {
    this.dropped.inc();
  }

  private onError(err: Error): void {
    if (!this.failed) this.logger.warn({ path: this.path, err: err.message }, 'access log output failed; its lines are dropped');
    this.failed = true;
    this.dropped.inc();
  }
}
