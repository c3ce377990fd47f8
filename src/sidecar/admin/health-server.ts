/**
 * The sidecar's health port for the kubelet (Istio's 15021 `/healthz/ready`): the admin API stays on
 * loopback, and this server exposes one read-only path on an address the kubelet can reach.
 * `GET /healthz/ready` (or HEAD) answers 200 once the sidecar is ready, by the admin `/ready` rule
 * (first complete config, not draining), and 503 otherwise; any other path or method gets 404.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SocketAddressModel } from '../../config/model';
import { BoundHttpServer } from './bound-http-server';

export const READY_PATH = '/healthz/ready';

export class HealthServer {
  private readonly http: BoundHttpServer;

  constructor(isReady: () => boolean) {
    this.http = new BoundHttpServer(http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (path !== READY_PATH || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
        return;
      }
      const ready = isReady();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ready ? 'ready\n' : 'not ready\n');
    }));
  }

  /** Binds `address`; resolves with the bound address, rejects when the port is taken. */
  listen(address: SocketAddressModel): Promise<AddressInfo> { return this.http.listen(address); }

  address(): AddressInfo | null { return this.http.address(); }

  /** Stops listening and closes open connections. Safe before `listen()`. */
  close(): Promise<void> { return this.http.close(); }
}
