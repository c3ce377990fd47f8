/**
 * An HTTP/1.1 backend (node:http on 127.0.0.1:0) that answers every request with a JSON echo of what
 * it received: method, url, raw and parsed headers, body length and the id of the connection it came
 * on. It counts connections and requests so tests can prove keep-alive reuse through the sidecar.
 * Request headers `x-backend-delay-ms` (delay before responding) and `x-backend-status` steer it.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';

/** What the backend saw, as returned in its JSON body. */
export interface BackendEcho {
  id: string;
  method: string;
  url: string;
  httpVersion: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  bodyLength: number;
  connectionId: number;
}

export class HttpBackend {
  readonly id: string;
  readonly port: number;
  /** Connections accepted so far. */
  connections = 0;
  /** Requests served so far. */
  requests = 0;
  /** Every request's echo, in arrival order. */
  readonly seen: BackendEcho[] = [];

  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(server: http.Server, port: number, id: string) {
    this.server = server;
    this.port = port;
    this.id = id;
  }

  /** Starts a backend with the given id (reported in the body and in the `x-backend-id` response header). */
  static async start(id = 'backend'): Promise<HttpBackend> {
    const server = http.createServer({ keepAliveTimeout: 60_000 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected address');
    const backend = new HttpBackend(server, addr.port, id);
    backend.install();
    return backend;
  }

  private install(): void {
    let nextConn = 0;
    const connIds = new WeakMap<Socket, number>();
    this.server.on('connection', (socket: Socket) => {
      this.connections++;
      connIds.set(socket, ++nextConn);
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      let bodyLength = 0;
      req.on('data', (c: Buffer) => { bodyLength += c.length; });
      req.on('end', () => {
        this.requests++;
        const echo: BackendEcho = {
          id: this.id,
          method: req.method ?? '',
          url: req.url ?? '',
          httpVersion: req.httpVersion,
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          bodyLength,
          connectionId: connIds.get(req.socket) ?? -1,
        };
        this.seen.push(echo);
        const delay = Number(req.headers['x-backend-delay-ms'] ?? 0);
        const status = Number(req.headers['x-backend-status'] ?? 200);
        const send = (): void => {
          if (res.destroyed) return;
          const body = JSON.stringify(echo);
          res.writeHead(status, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'x-backend-id': this.id,
            // Hop-by-hop noise the proxy must not forward downstream.
            'keep-alive': 'timeout=60',
            'x-backend-hop': 'should-be-stripped',
            connection: 'keep-alive, x-backend-hop',
          });
          res.end(body);
        };
        if (delay > 0) {
          const t = setTimeout(() => { this.timers.delete(t); send(); }, delay);
          this.timers.add(t);
        } else {
          send();
        }
      });
    });
  }

  /** The most recent request's echo (throws if none). */
  last(): BackendEcho {
    const e = this.seen[this.seen.length - 1];
    if (e === undefined) throw new Error(`backend ${this.id} saw no request`);
    return e;
  }

  /** Number of currently open connections. */
  openConnections(): number {
    return this.sockets.size;
  }

  /** Closes the server and every connection. */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
