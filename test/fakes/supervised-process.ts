/**
 * A server binary run for a test under a small `sh` watchdog that kills it when our end of its
 * stdin pipe closes, so a test process that dies (runner timeout, Ctrl-C) does not leak servers.
 * Shared by the etcd and Redis fakes: `findBinary()` looks a binary up, `SupervisedProcess` spawns
 * it, keeps the tail of its output for error messages, waits until a readiness check passes, and
 * stops it (SIGTERM through the watchdog, then SIGKILL after 5 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor } from './wait';

/**
 * Runs "$@" with stdin from /dev/null, prints `child-pid <pid>`, and kills it once stdin (a pipe
 * from the test process) reaches EOF. Exits with the child's status.
 */
const WATCHDOG = 'exec 3<&0; "$@" </dev/null & pid=$!; echo "child-pid $pid"; (read _x <&3; kill $pid 2>/dev/null) & wait $pid';

/** The absolute path of `name` ($envVar, then PATH, then `extraDirs`), or null when not installed. */
export function findBinary(name: string, envVar: string, extraDirs: readonly string[] = []): string | null {
  const explicit = process.env[envVar];
  if (explicit !== undefined && explicit !== '') return fs.existsSync(explicit) ? explicit : null;
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), ...extraDirs]) {
    if (dir === '') continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch { /* not here */ }
  }
  return null;
}

export interface ReadyCheck {
  /** Resolves truthy once the server serves. */
  readonly check: () => Promise<boolean>;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  /** What is awaited, for the timeout message (e.g. `etcd healthy on http://…`). */
  readonly what: string;
}

/** One supervised server process; `start()` again after `kill()` to run it anew. */
export class SupervisedProcess {
  private child: ChildProcess | null = null;
  private pid = 0;
  private output = '';
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly label: string, private readonly binary: string) {}

  get running(): boolean { return this.child !== null; }

  /** Spawns `binary args…` and resolves once `ready.check` passes; rejects with the output tail otherwise. */
  async start(args: readonly string[], ready: ReadyCheck): Promise<void> {
    this.output = '';
    this.pid = 0;
    const child = spawn('/bin/sh', ['-c', WATCHDOG, 'sh', this.binary, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdin!.on('error', () => { /* EPIPE after the watchdog exited */ });
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8000);
      if (this.pid === 0) {
        const m = /child-pid (\d+)/.exec(this.output);
        if (m !== null) this.pid = Number(m[1]);
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exitInfo: string | null = null;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = `exit code ${code} signal ${signal}`;
        if (this.child === child) this.child = null;
        resolve();
      });
      child.once('error', (err) => {
        exitInfo = err.message;
        if (this.child === child) this.child = null;
        resolve();
      });
    });
    try {
      await waitFor(async () => {
        if (exitInfo !== null) throw new Error(`${this.label} exited (${exitInfo})`);
        return ready.check();
      }, { timeoutMs: ready.timeoutMs, intervalMs: ready.intervalMs, what: ready.what });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- ${this.label} output ---\n${this.output}`);
    }
  }

  /** Stops the process (SIGTERM via the watchdog, SIGKILL after 5 s). Idempotent. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    const exited = this.exited;
    child.stdin!.end();
    const timer = setTimeout(() => {
      if (this.pid > 0) try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
      child.kill('SIGKILL');
    }, 5000);
    await exited;
    clearTimeout(timer);
  }
}
