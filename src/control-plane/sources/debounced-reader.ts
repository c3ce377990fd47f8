/**
 * The re-read machinery shared by the mesh config sources: change notifications restart a quiet
 * period (debounce); when it ends, one read runs; reads never overlap, and a notification that
 * arrives during a read schedules exactly one more read after it. The owner supplies the read
 * (which emits the snapshot when it changed) and the error sink.
 */

export class DebouncedReader {
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  private rereadRequested = false;
  private closed = false;

  constructor(
    private readonly debounceMs: number,
    private readonly readOnce: () => Promise<void>,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Something changed: (re)starts the quiet period. No-op after `close()`. */
  schedule(): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(flushTick, this.debounceMs, this);
    this.timer.unref();
  }

  /** Stops scheduling; a read in progress finishes but schedules nothing more. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** @internal Runs one read now (serialised with any read in progress). */
  async flush(): Promise<void> {
    this.timer = null;
    if (this.closed) return;
    if (this.reading) {
      this.rereadRequested = true;
      return;
    }
    this.reading = true;
    try {
      await this.readOnce();
    } catch (e) {
      if (!this.closed) this.onError(e as Error);
    } finally {
      this.reading = false;
      if (this.rereadRequested && !this.closed) {
        this.rereadRequested = false;
        this.schedule();
      }
    }
  }
}

function flushTick(reader: DebouncedReader): void {
  void reader.flush();
}
