/**
 * The per-stream context every HTTP filter and the router see, and the `Downstream` interface the
 * listeners implement for HTTP/2 streams and HTTP/1.1 exchanges. One StreamContext is created per
 * request with every field initialised (null when unused) so all contexts share one shape.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { SyntheticResponse } from '../core/status';
import type { Readable, Writable } from 'node:stream';
import type { CompiledRoute } from '../routing/route-table';
import type { ProxyError } from '../core/errors';
import type { ListenerStats } from '../observability/metrics';
import type { PeerIdentity, RequestPrincipal } from '../transport/peer-identity';
import type { ConnectionInfo, TracedStream, TraceSpan } from '../observability/stream-info';

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
  /** Response body bytes written so far (what `write` accepted). */
  readonly bytesSent: number;
  /**
   * Codec wrappers (transcoder, gRPC-Web): `end(trailers)` takes the upstream's gRPC trailers
   * whatever the client's protocol (the wrapper turns them into a status, a JSON error or a
   * trailer frame). Absent/false: trailers only reach HTTP/2 clients.
   */
  readonly acceptsTrailers?: boolean;
  /**
   * Codec wrappers that already hold the whole request body (e.g. the validation filter after
   * checking a single-message call): the router sends these chunks and ends the request; `body` is
   * then null. Absent/null: the router reads `body`.
   */
  readonly completeBody?: readonly Buffer[] | null;
  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean, wantTrailers: boolean): void;
  write(chunk: Buffer): boolean;
  end(trailers: OutgoingHttpHeaders | null): void;
  /** Aborts with an HTTP/2 error code (CANCEL 8, INTERNAL_ERROR 2, ...). */
  reset(h2Code: number): void;
  /**
   * Set when the codec reset the stream itself because node refused the response it was given
   * (e.g. `ERR_HTTP2_INVALID_CONNECTION_HEADERS` for a connection-specific upstream header): the
   * node error code. The connection manager turns it into the LR flag and the access log's reason.
   * Absent/null otherwise.
   */
  readonly failure?: string | null;
  /**
   * Optional, for codec wrappers (a transcoder or gRPC-Web filter that replaced the stream's
   * downstream): renders a local reply in the client's own format (e.g. a google.rpc.Status JSON
   * body with the reply's HTTP status and headers). Returns false to let the default rendering run.
   */
  renderLocalReply?(reply: SyntheticResponse): boolean;
}

/** Resumes a filter chain that a filter paused, and re-matches routes (implemented by the connection manager). */
export interface FilterChainDriver {
  resume(ctx: StreamContext): void;
  /** Matches the route again with the current `:path` / `:authority` / headers; returns the new route (null: none). */
  rematchRoute(ctx: StreamContext): CompiledRoute | null;
}

/** What the connection manager and filters need from the router's per-stream call. */
export interface StreamCall {
  /** The downstream closed (finished, cancelled or reset); abort anything still in flight. */
  downstreamClosed(): void;
  /**
   * Ends the call with a local reply for `err` and cancels the upstream exchange (e.g. a request
   * message failed validation mid-stream). A no-op once the call finished.
   */
  abort(err: ProxyError): void;
}

export class StreamContext implements TracedStream {
  /**
   * The client side of the stream. Codec filters (transcoder, gRPC-Web) replace it with a wrapper
   * through `wrapDownstream` before the router starts; everything after them sees the wrapper.
   */
  downstream: Downstream;
  /**
   * Whether the request, as forwarded, is gRPC. A codec filter that turns an HTTP/JSON or gRPC-Web
   * request into gRPC sets it (with `wrapDownstream`) before the router starts.
   */
  isGrpc: boolean;
  /** The route that matched, resolved once by the connection manager before the filter chain. */
  route: CompiledRoute | null = null;
  /**
   * Headers every response of this stream gets (upstream responses and local replies), e.g. the
   * rate-limit filters' `x-ratelimit-*`. Null when none; filters create it on first use.
   */
  responseHeadersToAdd: Record<string, string> | null = null;
  /** @internal The router's call once started (the connection manager cancels it on close). */
  call: StreamCall | null = null;
  /** @internal Index of the next filter to run (the connection manager's chain cursor). */
  nextFilter = 0;
  /** @internal Set by the connection manager; used by `continueChain`. */
  chain: FilterChainDriver | null = null;
  /** The verified client certificate identity of the connection (mTLS); null for plaintext or no certificate. */
  peer: PeerIdentity | null = null;
  /** The request principal from a JWT the jwt_authn filter verified; null when none. */
  requestPrincipal: RequestPrincipal | null = null;
  /** Final response status seen by the client (0 until a response starts). */
  responseStatus = 0;
  /** gRPC status sent to the client, -1 when none (not gRPC or not finished). */
  grpcStatus = -1;
  /** Set once the request has been accounted for in metrics. */
  finished = false;
  /** Monotonic ms when the stream ended (set by the connection manager); 0 until then. */
  endTime = 0;
  /** core/response-flags bits, set where the outcome is decided (local replies, router, fault filter). */
  responseFlags = 0;
  /** The local reply's reason and message (null for upstream responses). */
  localReplyReason: string | null = null;
  localReplyMessage: string | null = null;
  /** Request body bytes received (counted by the router as it forwards the body). */
  bytesReceived = 0;
  /** The cluster the router picked and the last upstream host tried (`ip:port`); null when none. */
  upstreamCluster: string | null = null;
  upstreamHost: string | null = null;
  /** The last upstream host's `filter_metadata`; null when none. */
  upstreamMetadata: Readonly<Record<string, unknown>> | null = null;
  /** Upstream attempts made (1 + retries). */
  upstreamAttempts = 0;
  /** Hex trace id (sampled or not), set by the listener's tracer; null without tracing. */
  traceId: string | null = null;
  /** The request's span when sampled (the router adds retry events to it). */
  span: TraceSpan | null = null;
  /** The downstream connection's shared state; null for streams without one (tests). */
  connection: ConnectionInfo | null = null;

  constructor(
    downstream: Downstream,
    readonly listener: ListenerStats,
    readonly method: string,
    /** `:path` as received (with query). */
    readonly path: string,
    readonly authority: string,
    /** 'http' | 'https' of the downstream connection. */
    readonly scheme: string,
    readonly headers: RequestHeaders,
    isGrpc: boolean,
    readonly remoteAddress: string,
    readonly startTime: number,
    /** Wall-clock ms (Clock.now) at the start. */
    readonly startTimeWall: number,
  ) {
    this.downstream = downstream;
    this.isGrpc = isGrpc;
  }

  /**
   * For codec filters, before the router starts: makes `wrapper` (which delegates to the current
   * downstream) the stream's downstream, and marks the forwarded request as gRPC or not.
   */
  wrapDownstream(wrapper: Downstream, forwardedIsGrpc: boolean): void {
    this.downstream = wrapper;
    this.isGrpc = forwardedIsGrpc;
  }

  /**
   * For filters that rewrote `:path` (or the authority/headers routes match on): matches the route
   * again (Envoy's `clearRouteCache`). Returns false when no route matches now; the filter then
   * replies (e.g. `sendLocalReply(ctx, new NoRouteError())`).
   */
  refreshRoute(): boolean {
    const chain = this.chain;
    if (chain === null) return this.route !== null;
    this.route = chain.rematchRoute(this);
    return this.route !== null;
  }

  get protocol(): 'h1' | 'h2' { return this.downstream.protocol; }
  get bytesSent(): number { return this.downstream.bytesSent; }
  get routeName(): string | null { return this.route === null ? null : this.route.model.name; }
  get requestId(): string | null {
    const id = this.headers['x-request-id'];
    return typeof id === 'string' ? id : null;
  }

  /**
   * For asynchronous filters: a filter that returned `StopIteration` without replying calls this
   * once when it is done, and the chain goes on with the next filter (then the route action).
   * A no-op when the stream has closed or a response has started meanwhile.
   */
  continueChain(): void {
    const ds = this.downstream;
    if (this.chain === null || this.finished || ds.closed || ds.responseStarted) return;
    this.chain.resume(this);
  }
}
