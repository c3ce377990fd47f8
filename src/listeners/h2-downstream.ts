/**
 * `Downstream` over one HTTP/2 server stream (node:http2 core API, not the compat layer). Every
 * response with a body is sent with `waitForTrailers`: the trailers handed to `end()` (gRPC) are
 * written when nghttp2 asks for them, and a response without trailers ends with an empty
 * END_STREAM DATA frame (what node:http2 sends for empty trailers). Ending the last body chunk
 * itself with END_STREAM lets the stream close and be destroyed before that write completes, and
 * node:stream then builds an ERR_STREAM_DESTROYED error, stack trace included, for the response
 * (~20 µs each in the transcoder's profile).
 */
import * as http2 from 'node:http2';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Downstream } from '../filters/stream-context';

const kDownstream = Symbol('remora.h2Downstream');
const EMPTY_TRAILERS: OutgoingHttpHeaders = Object.freeze({}) as OutgoingHttpHeaders;

export class H2Downstream implements Downstream {
  readonly protocol = 'h2' as const;
  readonly body: Readable | null;
  responseStarted = false;
  bytesSent = 0;
  failure: string | null = null;
  private pendingTrailers: OutgoingHttpHeaders | null = null;
  /** Set by `respond` with `wantTrailers`: `end()`'s trailers are sent; otherwise they are dropped. */
  private sendsTrailers = false;

  constructor(readonly stream: http2.ServerHttp2Stream, requestEnded: boolean, private readonly serverName: string | null) {
    this.body = requestEnded ? null : stream;
    (stream as unknown as Record<symbol, H2Downstream>)[kDownstream] = this;
  }

  get sink(): http2.ServerHttp2Stream { return this.stream; }
  get closed(): boolean { return this.stream.closed || this.stream.destroyed; }

  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean, wantTrailers: boolean): void {
    const s = this.stream;
    if (this.responseStarted || s.closed || s.destroyed) return;
    this.responseStarted = true;
    headers[':status'] = status;
    if (this.serverName !== null) headers.server = this.serverName;
    this.sendsTrailers = wantTrailers;
    if (!endStream) s.once('wantTrailers', onWantTrailers);
    try {
      s.respond(headers, { endStream, waitForTrailers: !endStream });
    } catch (err) {
      // Invalid response header from upstream (e.g. a connection-specific header): reset rather than hang.
      this.fail(err);
    }
  }

  write(chunk: Buffer): boolean {
    const s = this.stream;
    if (s.closed || s.destroyed || s.writableEnded) return true;
    this.bytesSent += chunk.length;
    return s.write(chunk);
  }

  end(trailers: OutgoingHttpHeaders | null): void {
    const s = this.stream;
    if (s.closed || s.destroyed || s.writableEnded) return;
    if (this.sendsTrailers && trailers !== null) this.pendingTrailers = trailers;
    s.end();
  }

  reset(h2Code: number): void {
    const s = this.stream;
    if (!s.closed && !s.destroyed) s.close(h2Code);
  }

  /** @internal */ sendTrailers(): void {
    const s = this.stream;
    if (s.closed || s.destroyed) return;
    try {
      s.sendTrailers(this.pendingTrailers ?? EMPTY_TRAILERS);
    } catch (err) {
      this.fail(err);
    }
  }

  /** node refused what we handed it: reset the stream and keep the reason for the stream's telemetry. */
  private fail(err: unknown): void {
    this.failure = (err as { code?: string }).code ?? 'ERR_HTTP2';
    const s = this.stream;
    if (!s.closed && !s.destroyed) s.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  }
}

function onWantTrailers(this: http2.ServerHttp2Stream): void {
  (this as unknown as Record<symbol, H2Downstream>)[kDownstream].sendTrailers();
}
