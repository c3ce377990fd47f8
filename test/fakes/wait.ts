/**
 * Bounded polling for integration tests: `waitFor` re-checks a condition until it holds or a
 * deadline passes, then fails with a message naming what was awaited. Tests use it instead of
 * bare sleeps, so a missing behaviour fails fast and a present one is detected as soon as it shows.
 */

export interface WaitOptions {
  /** Give up after this long (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Re-check interval (default 10 ms). */
  readonly intervalMs?: number;
  /** Describes the condition in the failure message. */
  readonly what?: string;
}

/**
 * Resolves with the first truthy value `check` returns (sync or async); rejects when the deadline
 * passes. An exception thrown by `check` counts as "not yet" and is reported if the wait times out.
 */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (performance.now() >= deadline) {
      const suffix = lastError !== null ? ` (last error: ${String((lastError as Error)?.message ?? lastError)})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'condition'}${suffix}`);
    }
    await new Promise<void>((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Rejects if `promise` does not settle within `timeoutMs`; the timer never keeps the process alive. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
    timer.unref();
    promise.then(
      (v) => { clearTimeout(timer); resolve(v); },
      (e) => { clearTimeout(timer); reject(e); },
    );
  });
}
