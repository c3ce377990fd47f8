/**
 * The per-stream context every HTTP filter and the router see, and the `Downstream` interface the
 * listeners implement for HTTP/2 streams and HTTP/1.1 exchanges. One StreamContext is created per
 * request with every field initialised (null when unused) so all contexts share one shape.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import type { CompiledRoute } from '../routing/route-table';
import type { ListenerStats } from '../observability/metrics';

/** Request headers as forwarded: lowercase names, pseudo-headers included, mutable by filters. */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/**
 * The client side of one request. Contract: `respond` is called at most once; after it, only
 * `write`/`end` (or `reset`). `end(trailers)` sends trailers only when `respond` was called with
 * `wantTrailers` (HTTP/2); HTTP/1.1 drops them. `reset` aborts the exchange (RST_STREAM on h2,
 * socket destroy on h1). All methods are no-ops once the stream has closed.
 */
export interface Downstream {
  readonly protocol: 'h1' | 'h2';
  /** The request body source; null when the request carried END_STREAM with its headers. */
  readonly body: Readable | null;
  /** The response sink, for 'drain' (backpressure) listeners. */
  readonly sink: Writable;
  readonly responseStarted: boolean;
  readonly closed: boolean;
  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean, wantTrailers: boolean): void;
  write(chunk: Buffer): boolean;
  end(trailers: OutgoingHttpHeaders | null): void;
  /** Aborts with an HTTP/2 error code (CANCEL 8, INTERNAL_ERROR 2, ...). */
  reset(h2Code: number): void;
}

export class StreamContext {
  /** The route that matched, resolved once by the connection manager before the filter chain. */
  route: CompiledRoute | null = null;
  /** Final response status seen by the client (0 until a response starts). */
  responseStatus = 0;
  /** gRPC status sent to the client, -1 when none (not gRPC or not finished). */
  grpcStatus = -1;
  /** Set once the request has been accounted for in metrics. */
  finished = false;

  constructor(
    readonly downstream: Downstream,
    readonly listener: ListenerStats,
    readonly method: string,
    /** `:path` as received (with query). */
    readonly path: string,
    readonly authority: string,
    /** 'http' | 'https' of the downstream connection. */
    readonly scheme: string,
    readonly headers: RequestHeaders,
    readonly isGrpc: boolean,
    readonly remoteAddress: string,
    readonly startTime: number,
  ) {}
}
