/**
 * A real single-member etcd for integration tests: runs the `etcd` binary (Debian package
 * `etcd-server`) on free loopback ports with a throwaway data directory, waits until `/health`
 * reports healthy, and stops it (SIGTERM, then SIGKILL) and removes the directory. `restart()`
 * stops and starts the same member on the same ports and data, so tests can observe clients
 * reconnecting. etcd runs under a small `sh` watchdog that kills it when our end of its stdin pipe
 * closes, so a test process that is killed (runner timeout, Ctrl-C) does not leak etcd.
 * `findEtcdBinary()` lets a test skip with a clear message where etcd is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from './wait';

/** The skip reason tests print when the binary is missing. */
export const ETCD_MISSING = 'etcd binary not found on PATH (Debian/Ubuntu: apt-get install etcd-server)';

/** The absolute path of `etcd` on PATH (or $ETCD_BIN), or null when it is not installed. */
export function findEtcdBinary(): string | null {
  const explicit = process.env.ETCD_BIN;
  if (explicit !== undefined && explicit !== '') return fs.existsSync(explicit) ? explicit : null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const p = path.join(dir, 'etcd');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch { /* not here */ }
  }
  return null;
}

/** A currently free TCP port on 127.0.0.1 (bound and released). */
import { freePort as freeLoopbackPort } from './ports';

export { freeLoopbackPort };

export interface EtcdServerOptions {
  /** How long to wait for `/health` after spawning (default 20 s). */
  readonly startTimeoutMs?: number;
}

/**
 * Runs "$@" (etcd) with stdin from /dev/null, prints its pid, and kills it once stdin (a pipe from
 * the test process) reaches EOF: on `kill()` (we end the pipe) or when the test process dies.
 * Exits with etcd's status.
 */
const WATCHDOG = 'exec 3<&0; "$@" </dev/null & pid=$!; echo "etcd-pid $pid"; (read _x <&3; kill $pid 2>/dev/null) & wait $pid';

/** One running etcd member. Create with `EtcdServer.start()`; always `stop()` in `after()`. */
export class EtcdServer {
  private child: ChildProcess | null = null;
  private etcdPid = 0;
  private output = '';
  private exited: Promise<void> = Promise.resolve();
  private removed = false;

  private constructor(
    private readonly binary: string,
    readonly dataDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
    private readonly startTimeoutMs: number,
  ) {}

  /** Spawns etcd on free ports and resolves once it is healthy; rejects (and cleans up) otherwise. */
  static async start(options: EtcdServerOptions = {}): Promise<EtcdServer> {
    const binary = findEtcdBinary();
    if (binary === null) throw new Error(ETCD_MISSING);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-etcd-'));
    const server = new EtcdServer(binary, dataDir, await freeLoopbackPort(), await freeLoopbackPort(), options.startTimeoutMs ?? 20_000);
    try {
      await server.spawn();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** The client URL, e.g. `http://127.0.0.1:40123`. */
  get endpoint(): string { return `http://127.0.0.1:${this.clientPort}`; }

  /** Whether the etcd process is currently running. */
  get running(): boolean { return this.child !== null; }

  /** Stops the process (keeping the data) and starts it again on the same ports; resolves when healthy. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  /** Stops the process, keeping the data directory (for `resume()`). Idempotent. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    const exited = this.exited;
    child.stdin!.end(); // the watchdog SIGTERMs etcd
    const timer = setTimeout(() => {
      if (this.etcdPid > 0) try { process.kill(this.etcdPid, 'SIGKILL'); } catch { /* gone */ }
      child.kill('SIGKILL');
    }, 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Starts a killed member again on the same ports and data; resolves when healthy. */
  async resume(): Promise<void> {
    if (this.child !== null) return;
    await this.spawn();
  }

  /** Stops the process and removes the data directory. Idempotent. */
  async stop(): Promise<void> {
    await this.kill();
    if (!this.removed) {
      this.removed = true;
      fs.rmSync(this.dataDir, { recursive: true, force: true });
    }
  }

  private async spawn(): Promise<void> {
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.output = '';
    this.etcdPid = 0;
    const child = spawn('/bin/sh', ['-c', WATCHDOG, 'sh', this.binary,
      '--name', 'default',
      '--data-dir', this.dataDir,
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `default=${peer}`,
      '--initial-cluster-state', 'new',
    ], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdin!.on('error', () => { /* EPIPE after the watchdog exited */ });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8000);
      if (this.etcdPid === 0) {
        const m = /etcd-pid (\d+)/.exec(this.output);
        if (m !== null) this.etcdPid = Number(m[1]);
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
        if (exitInfo !== null) throw new Error(`etcd exited (${exitInfo})`);
        const res = await fetch(`${client}/health`);
        const body = (await res.json()) as { health?: string };
        return res.status === 200 && body.health === 'true';
      }, { timeoutMs: this.startTimeoutMs, intervalMs: 25, what: `etcd healthy on ${client}` });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- etcd output ---\n${this.output}`);
    }
  }
}
