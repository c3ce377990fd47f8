/**
 * The control plane's HTTP admin server (default port 15014): `GET /ready` (200 once the first
 * config snapshot exists, 503 before), `GET /stats/prometheus` (the process Registry, in the
 * Prometheus text format or OpenMetrics when the Accept header asks for it), `GET /debug/syncz` (per-stream push status as JSON, what `remora status` reads) and
 * `GET /debug/config` (the config state: current version and the last rejected change with its
 * errors, from a provider callback), and with a `dashboard` the mesh dashboard under `/dashboard`
 * (`/` redirects there; see dashboard/mesh-dashboard.ts). Everything it shows comes from callbacks
 * and objects passed in, so it owns no state beyond its socket. Other paths answer 404, other
 * methods 405.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { metricsResponse } from '../../observability/exposition';
import { ensureProcessMetrics } from '../../observability/process-metrics';
import type { NodeStatus } from '../server/push-status';
import type { MeshDashboard } from '../dashboard/mesh-dashboard';

export interface ControlPlaneAdminOptions {
  /** Listen port (0 = ephemeral; default 15014). */
  readonly port?: number;
  /** Listen host (default 127.0.0.1). */
  readonly host?: string;
  /** The registry served on /stats/prometheus. */
  readonly registry: Registry;
  /** True once the first config snapshot exists. Called per /ready request. */
  readonly ready: () => boolean;
  /** Per-stream status for /debug/syncz (e.g. `() => adsServer.pushStatus.list()`). */
  readonly syncz: () => readonly NodeStatus[];
  /** JSON-serialisable config state for /debug/config; called per request. */
  readonly config: () => unknown;
  /** The mesh dashboard (`/dashboard*`; `/` redirects there); null/absent = not served. */
  readonly dashboard?: MeshDashboard | null;
}

/** The admin HTTP server. `start()` then `stop()`. */
export class ControlPlaneAdmin {
  private server: http.Server | null = null;
  private boundPort = 0;

  constructor(private readonly options: ControlPlaneAdminOptions) {}

  /** Binds and listens; resolves with the bound port. Rejects if the port is taken. */
  start(): Promise<number> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error: ${(err as Error)?.message ?? String(err)}\n`);
      });
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 15014, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        this.server = server;
        this.boundPort = (server.address() as AddressInfo).port;
        resolve(this.boundPort);
      });
    });
  }

  /** The bound port (0 before start). */
  get port(): number {
    return this.boundPort;
  }

  /** Closes the listener and every open connection. Idempotent. */
  stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' });
      res.end('method not allowed\n');
      return;
    }
    switch (path) {
      case '/ready': {
        const ok = this.options.ready();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
        res.end(ok ? 'LIVE\n' : 'NOT READY: no config snapshot yet\n');
        return;
      }
      case '/stats/prometheus': {
        // Text or OpenMetrics by Accept; process metrics are registered on the first scrape if nobody did (idempotent).
        ensureProcessMetrics(this.options.registry);
        const r = await metricsResponse(this.options.registry, req.headers.accept);
        res.writeHead(200, { 'content-type': r.contentType });
        res.end(r.body);
        return;
      }
      case '/debug/syncz':
        json(res, this.options.syncz());
        return;
      case '/debug/config':
        json(res, this.options.config());
        return;
      default: {
        const dashboard = this.options.dashboard ?? null;
        if (dashboard !== null && path === '/') {
          res.writeHead(302, { location: '/dashboard' });
          res.end();
          return;
        }
        if (dashboard !== null && dashboard.handle(req, res, path)) return;
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      }
    }
  }
}

function json(res: http.ServerResponse, value: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value, null, 2) + '\n');
}
