/**
 * The sidecar's admin HTTP server (Envoy's admin API shape, bound to loopback by default):
 * `/ready`, `/stats/prometheus` (the Runtime registry as Prometheus text, or OpenMetrics 1.0 when the
 * Accept header asks for it: observability/exposition.ts), `/config_dump`,
 * `/clusters` (text or `?format=json`), `/listeners?format=json`, and `POST /drain`.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { SocketAddressModel } from '../../config/model';
import { metricsResponse } from '../../observability/exposition';
import { BoundHttpServer } from './bound-http-server';

/** What the admin server shows; implemented by the Sidecar. */
export interface AdminSource {
  isReady(): boolean;
  readonly registry: Registry;
  configDump(): unknown;
  clustersJson(): unknown;
  clustersText(): string;
  listenersJson(): unknown;
  /** Starts a graceful drain; the returned promise settles when drained. */
  drain(): Promise<void>;
}

export class AdminServer {
  private readonly http: BoundHttpServer;

  constructor(private readonly source: AdminSource) {
    this.http = new BoundHttpServer(http.createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`admin error: ${err.message}\n`);
      });
    }));
  }

  listen(address: SocketAddressModel): Promise<AddressInfo> { return this.http.listen(address); }

  address(): AddressInfo | null { return this.http.address(); }

  close(): Promise<void> { return this.http.close(); }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const json = url.searchParams.get('format') === 'json';
    switch (url.pathname) {
      case '/ready': {
        const ready = this.source.isReady();
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
        res.end(ready ? 'LIVE\n' : 'NOT READY\n');
        return;
      }
      case '/stats/prometheus': {
        const r = await metricsResponse(this.source.registry, req.headers.accept);
        res.writeHead(200, { 'content-type': r.contentType });
        res.end(r.body);
        return;
      }
      case '/config_dump':
        return sendJson(res, this.source.configDump());
      case '/clusters':
        if (json) return sendJson(res, this.source.clustersJson());
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(this.source.clustersText());
        return;
      case '/listeners':
        return sendJson(res, this.source.listenersJson());
      case '/drain':
      case '/drain_listeners':
        if (req.method !== 'POST') {
          res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' });
          res.end('use POST\n');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('draining\n');
        void this.source.drain();
        return;
      case '/':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('/ready\n/stats/prometheus\n/config_dump\n/clusters\n/listeners\nPOST /drain\n');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
    }
  }
}

function sendJson(res: http.ServerResponse, value: unknown): void {
  const body = JSON.stringify(value, jsonReplacer, 2);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body + '\n');
}

/** Keys and certificates never leave the process; regexes show their source. */
function jsonReplacer(key: string, value: unknown): unknown {
  if (key === 'privateKey' && value !== null) return '[redacted]';
  if (value instanceof RegExp) return value.source;
  if (value !== null && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return `[${(value as { data: unknown[] }).data.length} bytes]`;
  }
  return value;
}
