/**
 * Runs the sidecar in-process for an integration test: writes the bootstrap to a temp file, starts
 * `Sidecar` (src/sidecar/sidecar.ts), waits until the admin `/ready` says 200, and offers the
 * listener ports, admin URL and a parsed metrics snapshot. `close()` stops the sidecar and removes
 * the temp dir; register it with `after()`.
 */
import { Sidecar } from '../../src/sidecar/sidecar';
import { bootstrapYaml, writeTempBootstrap, type BootstrapSpec } from './bootstrap';
import { httpRequest } from './http-client';
import { fetchMetrics, type Metrics } from './prom';
import { waitFor } from './wait';

export interface HarnessOptions {
  readonly drainTimeMs?: number;
  /** Wait for /ready 200 before returning (default true). */
  readonly waitReady?: boolean;
  /** node:http2 maxSessionMemory per downstream connection, MB. */
  readonly h2MaxSessionMemoryMb?: number;
}

export class SidecarHarness {
  readonly sidecar: Sidecar;
  readonly adminUrl: string;
  private readonly cleanupDir: () => void;
  private closed = false;

  private constructor(sidecar: Sidecar, cleanupDir: () => void) {
    this.sidecar = sidecar;
    this.adminUrl = sidecar.adminUrl();
    this.cleanupDir = cleanupDir;
  }

  /** Starts a sidecar from a bootstrap spec or raw YAML. */
  static async start(bootstrap: BootstrapSpec | string, options: HarnessOptions = {}): Promise<SidecarHarness> {
    const yaml = typeof bootstrap === 'string' ? bootstrap : bootstrapYaml(bootstrap);
    const file = writeTempBootstrap(yaml);
    let sidecar: Sidecar;
    try {
      sidecar = await Sidecar.start({ bootstrapPath: file.path, drainTimeMs: options.drainTimeMs ?? 5000, logLevel: 'silent', h2MaxSessionMemoryMb: options.h2MaxSessionMemoryMb });
    } catch (err) {
      file.cleanup();
      throw err;
    }
    const h = new SidecarHarness(sidecar, file.cleanup);
    if (options.waitReady ?? true) {
      try {
        await h.waitReady();
      } catch (err) {
        await h.close();
        throw err;
      }
    }
    return h;
  }

  /** Bound port of listener `name`. */
  port(name: string): number {
    return this.sidecar.listenerPort(name);
  }

  /** `127.0.0.1:<port>` of listener `name` (a gRPC target). */
  target(name: string): string {
    return `127.0.0.1:${this.port(name)}`;
  }

  /** Polls GET /ready until 200. */
  async waitReady(timeoutMs = 5000): Promise<void> {
    await waitFor(async () => (await httpRequest(this.adminUrl, { path: '/ready' })).status === 200, { timeoutMs, what: 'admin /ready → 200' });
  }

  /** Current /stats/prometheus snapshot. */
  metrics(): Promise<Metrics> {
    return fetchMetrics(this.adminUrl);
  }

  /** Stops the sidecar (idempotent) and removes its temp files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.sidecar.close();
    } finally {
      this.cleanupDir();
    }
  }
}
