/**
 * Shared timers for per-request timeouts. Short delays (< 1 s, where precision matters: gRPC
 * deadlines) use a native unref'd timer; longer ones (idle, request and route timeouts) share one
 * coarse 500 ms tick, so a busy proxy does not create a kernel-level timer per request.
 * Callbacks are module-level functions taking one argument: no per-request closures.
 * Modelled on undici's `util/timers.js`.
 */

export type TimerCallback<T> = (arg: T) => void;

export interface TimerHandle {
  /**
   * Cancels the timer for good and drops its reference to `arg`, so a finished request is not kept
   * alive (and promoted to the old generation) until the next tick. Safe to call more than once and
   * after it fired.
   */
  clear(): void;
  /** Restarts the full delay from now (idle timeouts). A no-op after `clear()`. */
  refresh(): void;
}

const TICK_MS = 499;
const NATIVE_BELOW_MS = 1000;

class CoarseTimer<T> implements TimerHandle {
  /** Absolute monotonic deadline; -1 when idle (cleared or fired). */
  deadline = -1;
  /** Whether the timer sits in the wheel's list (it is swept out lazily on the next tick). */
  listed = false;
  cleared = false;
  constructor(
    private readonly wheel: Timers,
    readonly callback: TimerCallback<T>,
    public arg: T | null,
    readonly delay: number,
  ) {}
  clear(): void {
    this.deadline = -1;
    this.cleared = true;
    this.arg = null;
  }
  refresh(): void {
    if (this.cleared) return;
    if (!this.listed) this.wheel.add(this);
    this.deadline = this.wheel.now() + this.delay;
  }
}

class NativeTimer<T> implements TimerHandle {
  private handle: NodeJS.Timeout | null;
  constructor(callback: TimerCallback<T>, arg: T, delay: number) {
    this.handle = setTimeout(callback, delay, arg);
    this.handle.unref();
  }
  clear(): void {
    if (this.handle !== null) clearTimeout(this.handle);
    this.handle = null;
  }
  refresh(): void { if (this.handle !== null) this.handle.refresh(); }
}

/** One instance per Runtime. `now` is injectable so tests can drive coarse timers with a fake clock. */
export class Timers {
  private active: CoarseTimer<any>[] = [];
  private tick: NodeJS.Timeout | null = null;
  constructor(readonly now: () => number = () => performance.now()) {}

  /** Calls `callback(arg)` once after `delayMs` (coarse, ±500 ms above 1 s). */
  setTimeout<T>(callback: TimerCallback<T>, delayMs: number, arg: T): TimerHandle {
    if (delayMs < NATIVE_BELOW_MS) return new NativeTimer(callback, arg, delayMs);
    const t = new CoarseTimer(this, callback, arg, delayMs);
    t.refresh();
    return t;
  }

  /** @internal */
  add(t: CoarseTimer<any>): void {
    t.listed = true;
    this.active.push(t);
    if (this.tick === null) {
      this.tick = setInterval(runTick, TICK_MS, this);
      this.tick.unref();
    }
  }

  /** Fires due timers; exposed for tests that drive time by hand. */
  runDueForTest(): void { this.fire(); }

  /** @internal */
  fire(): void {
    const now = this.now();
    const list = this.active;
    let kept = 0;
    for (let i = 0; i < list.length; i++) {
      const t = list[i];
      if (t.deadline === -1) {
        t.listed = false;
        continue;
      }
      if (t.deadline <= now) {
        t.deadline = -1;
        t.listed = false;
        const arg = t.arg;
        t.arg = null;
        t.cleared = true;
        t.callback(arg);
        continue;
      }
      list[kept++] = t;
    }
    // Timers added by callbacks during this loop were appended past list.length snapshot; keep them.
    for (let i = list.length; i < this.active.length; i++) list[kept++] = this.active[i];
    list.length = kept;
    if (kept === 0 && this.tick !== null) {
      clearInterval(this.tick);
      this.tick = null;
    }
  }

  /** Stops the shared tick (process shutdown). */
  close(): void {
    if (this.tick !== null) clearInterval(this.tick);
    this.tick = null;
    this.active = [];
  }
}

function runTick(timers: Timers): void { timers.fire(); }
