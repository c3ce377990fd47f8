/**
 * Owns every child process the harness starts (upstream, proxies, h2load) and guarantees they die
 * with the harness: on normal exit, on SIGINT/SIGTERM and on an uncaught error. Children are killed
 * by their own pid only (SIGTERM, then SIGKILL after a grace period), never by name.
 */
import type { ChildProcess } from 'node:child_process';

/** A set of live children; `install()` hooks process exit and signals once. */
export class ChildRegistry {
  private readonly live: Set<ChildProcess> = new Set();
  private installed = false;

  /** Tracks `child` until it exits. Returns the same child for chaining. */
  track<T extends ChildProcess>(child: T): T {
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
    return child;
  }

  /**
   * Terminates `child`: SIGTERM, then SIGKILL if it is still alive after `graceMs`. Resolves once it
   * has exited (immediately if it already has).
   */
  async stop(child: ChildProcess, graceMs = 3000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Stops every tracked child (in parallel) and waits for all of them. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((c) => this.stop(c)));
  }

  /** Synchronous last resort used from 'exit': SIGKILL whatever is still alive. */
  killAllSync(): void {
    for (const child of this.live) {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  /**
   * Installs the exit hooks (idempotent): 'exit' kills synchronously; SIGINT/SIGTERM and uncaught
   * errors stop all children, then exit with 130/143/1.
   */
  install(): void {
    if (this.installed) return;
    this.installed = true;
    process.on('exit', () => this.killAllSync());
    const bail = (code: number, why: string) => {
      process.stderr.write(`\nbench: ${why}; stopping children\n`);
      this.stopAll().finally(() => process.exit(code));
    };
    process.once('SIGINT', () => bail(130, 'interrupted'));
    process.once('SIGTERM', () => bail(143, 'terminated'));
    process.on('uncaughtException', (err) => bail(1, `uncaught error: ${err.stack ?? String(err)}`));
    process.on('unhandledRejection', (err) =>
      bail(1, `unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
    );
  }
}
