/**
 * `Downstream` over one HTTP/1.1 exchange (node:http IncomingMessage + ServerResponse). Trailers are
 * dropped (HTTP/1.1 clients of a gRPC route use gRPC-Web, a later codec); a reset destroys the socket.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Downstream } from '../filters/stream-context';

export class H1Downstream implements Downstream {
  readonly protocol = 'h1' as const;
  readonly body: Readable | null;
  responseStarted = false;
  bytesSent = 0;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    hasBody: boolean,
    private readonly closeConnection: boolean,
    /** HCM `server_name` (OVERWRITE); null with PASS_THROUGH. */
    private readonly serverName: string | null,
  ) {
    this.body = hasBody ? req : null;
  }

  get sink(): ServerResponse { return this.res; }
  get closed(): boolean { return this.res.destroyed || this.res.writableFinished; }

  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean, _wantTrailers: boolean): void {
    const res = this.res;
    if (this.responseStarted || res.destroyed) return;
    this.responseStarted = true;
    delete headers[':status'];
    if (this.closeConnection) headers.connection = 'close';
    if (this.serverName !== null) headers.server = this.serverName;
    try {
      res.writeHead(status, headers);
    } catch {
      res.destroy();
      return;
    }
    if (endStream) res.end();
  }

  write(chunk: Buffer): boolean {
    const res = this.res;
    if (res.destroyed || res.writableEnded) return true;
    this.bytesSent += chunk.length;
    return res.write(chunk);
  }

  end(_trailers: OutgoingHttpHeaders | null): void {
    const res = this.res;
    if (!res.destroyed && !res.writableEnded) res.end();
  }

  reset(_h2Code: number): void {
    this.res.destroy();
    this.req.socket.destroy();
  }
}
