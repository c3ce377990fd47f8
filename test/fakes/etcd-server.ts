/**
 * A real single-member etcd for integration tests: runs the `etcd` binary (Debian package
 * `etcd-server`) on free loopback ports with a throwaway data directory, waits until `/health`
 * reports healthy, and stops it (SIGTERM, then SIGKILL) and removes the directory. `restart()`
 * stops and starts the same member on the same ports and data, so tests can observe clients
 * reconnecting. etcd runs under a small `sh` watchdog that kills it when our end of its stdin pipe
 * closes, so a test process that is killed (runner timeout, Ctrl-C) does not leak etcd.
 * `findEtcdBinary()` lets a test skip with a clear message where etcd is missing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findBinary, SupervisedProcess } from './supervised-process';

/** The skip reason tests print when the binary is missing. */
export const ETCD_MISSING = 'etcd binary not found on PATH (Debian/Ubuntu: apt-get install etcd-server)';

/** The absolute path of `etcd` on PATH (or $ETCD_BIN), or null when it is not installed. */
export function findEtcdBinary(): string | null {
  return findBinary('etcd', 'ETCD_BIN');
}

/** A currently free TCP port on 127.0.0.1 (bound and released). */
import { freePort as freeLoopbackPort } from './ports';

export { freeLoopbackPort };

export interface EtcdServerOptions {
  /** How long to wait for `/health` after spawning (default 20 s). */
  readonly startTimeoutMs?: number;
}

/** One running etcd member. Create with `EtcdServer.start()`; always `stop()` in `after()`. */
export class EtcdServer {
  private readonly proc: SupervisedProcess;
  private removed = false;

  private constructor(
    binary: string,
    readonly dataDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
    private readonly startTimeoutMs: number,
  ) {
    this.proc = new SupervisedProcess('etcd', binary);
  }

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
  get running(): boolean { return this.proc.running; }

  /** Stops the process (keeping the data) and starts it again on the same ports; resolves when healthy. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  /** Stops the process, keeping the data directory (for `resume()`). Idempotent. */
  async kill(): Promise<void> {
    await this.proc.kill();
  }

  /** Starts a killed member again on the same ports and data; resolves when healthy. */
  async resume(): Promise<void> {
    if (this.proc.running) return;
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

  private spawn(): Promise<void> {
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    return this.proc.start([
      '--name', 'default',
      '--data-dir', this.dataDir,
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `default=${peer}`,
      '--initial-cluster-state', 'new',
    ], {
      check: async () => {
        const res = await fetch(`${client}/health`);
        const body = (await res.json()) as { health?: string };
        return res.status === 200 && body.health === 'true';
      },
      timeoutMs: this.startTimeoutMs, intervalMs: 25, what: `etcd healthy on ${client}`,
    });
  }
}
