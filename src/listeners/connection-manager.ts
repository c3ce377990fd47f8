/**
 * The HTTP connection manager of one listener (Envoy's HCM): the compiled, immutable per-listener
 * config (route table, filter factories, limits) plus the per-request entry points for HTTP/2
 * streams and HTTP/1.1 requests. For each request it enforces the header limits, prepares the
 * forwarded headers (x-request-id, x-forwarded-for, x-forwarded-proto, x-forwarded-client-cert),
 * attaches the connection's verified peer identity (`StreamContext.peer`), matches the route once,
 * runs the filter chain with an indexed loop and hands the request to the router (or answers a
 * direct response / redirect). A new config builds a new HttpConnectionManager; requests in flight
 * keep the one they started with.
 */
import * as http2 from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { BadRequestError, HeaderOverflowError, NoRouteError } from '../core/errors';
import { connectionHeaderTokens, HOP_BY_HOP, isGrpcContentType } from '../core/headers';
import type { Runtime } from '../core/runtime';
import type { HttpConnectionManagerModel } from '../config/model';
import { FilterStatus, type HttpFilterFactory } from '../filters/filter';
import { sendLocalReply } from '../filters/local-reply';
import { RouterCall, type RouterDeps } from '../filters/router/router-call';
import { StreamContext, type FilterChainDriver, type RequestHeaders } from '../filters/stream-context';
import type { ListenerStats } from '../observability/metrics';
import type { CompiledRoute, RouteTable } from '../routing/route-table';
import { applyHeaderMutations } from '../routing/header-mutations';
import type { DownstreamConnection } from './downstream-connection';
import { ResponseFlag } from '../core/response-flags';
import { NO_TELEMETRY, type StreamTelemetry } from '../observability/stream-info';
import { H1Downstream } from './h1-downstream';
import { H2Downstream } from './h2-downstream';

const { NGHTTP2_CANCEL } = http2.constants;
const FLAG_END_STREAM = 0x1;
/** HPACK accounting of a header's size (RFC 7541 §4.1), as Envoy's max_request_headers_kb uses. */
const HEADER_ENTRY_OVERHEAD = 32;

const kCtx = Symbol('remora.streamContext');
const kHcm = Symbol('remora.connectionManager');
type Tagged = { [kCtx]?: StreamContext; [kHcm]?: HttpConnectionManager };

export class HttpConnectionManager implements FilterChainDriver {
  /** Stream idle timeout to apply when a route sets none. */
  private readonly streamIdleTimeoutMs: number | null;
  private readonly replaceRequestId: boolean;
  private readonly clock: Runtime['clock'];

  constructor(
    readonly model: HttpConnectionManagerModel,
    /** Null until RDS delivers the route configuration (then every request gets no_route). */
    readonly routeTable: RouteTable | null,
    readonly filters: readonly HttpFilterFactory[],
    private readonly router: RouterDeps,
    readonly stats: ListenerStats,
    private readonly runtime: Runtime,
    /** The listener's tracer and end-of-stream observers (metrics, access logs), compiled with the config. */
    readonly telemetry: StreamTelemetry = NO_TELEMETRY,
  ) {
    this.streamIdleTimeoutMs = model.streamIdleTimeoutMs;
    this.replaceRequestId = model.useRemoteAddress && !model.preserveExternalRequestId;
    this.clock = runtime.clock;
  }

  /** Ends a stream's accounting once: metrics, then the telemetry observers and the span. */
  finishStream(ctx: StreamContext): void {
    if (ctx.finished) return;
    ctx.finished = true;
    ctx.endTime = this.clock.monotonic();
    const call = ctx.call;
    if (call !== null) call.downstreamClosed();
    else if (!ctx.downstream.responseStarted) ctx.responseFlags |= ResponseFlag.DownstreamConnectionTermination;
    const failure = ctx.downstream.failure;
    if (failure !== undefined && failure !== null) {
      ctx.responseFlags |= ResponseFlag.LocalReset;
      ctx.localReplyReason = 'response_rejected';
      ctx.localReplyMessage = `node:http2 refused the response (${failure}); stream reset`;
    }
    ctx.listener.streamsActive.dec();
    ctx.listener.request(ctx.responseStatus, ctx.isGrpc ? ctx.grpcStatus : -1);
    const observers = this.telemetry.observers;
    for (let i = 0; i < observers.length; i++) observers[i].onStreamEnd(ctx);
    const span = ctx.span;
    if (span !== null) span.end(ctx);
  }

  /** Entry point for one HTTP/2 stream ('stream' event of the listener's h2 server). */
  handleH2Stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[], conn: DownstreamConnection): void {
    const ds = new H2Downstream(stream, (flags & FLAG_END_STREAM) !== 0, this.model.serverName);
    const ctx = new StreamContext(
      ds, this.stats, headers[':method'] ?? 'GET', headers[':path'] ?? '/', headers[':authority'] ?? '',
      conn.scheme, headers as RequestHeaders, isGrpcContentType(headers['content-type']), conn.remoteAddress, this.runtime.clock.monotonic(),
      this.runtime.clock.now(),
    );
    ctx.peer = conn.peer;
    ctx.connection = conn;
    this.stats.streamsActive.inc();
    (stream as Tagged)[kCtx] = ctx;
    (stream as Tagged)[kHcm] = this;
    stream.on('close', onH2StreamClose);
    stream.on('error', onStreamError);
    const overflow = this.checkHeaderLimits(rawHeaders);
    if (overflow !== null) {
      sendLocalReply(ctx, overflow);
      return;
    }
    this.dispatch(ctx, conn);
  }

  /** Entry point for one HTTP/1.1 request (the listener's h1 server 'request' event). */
  handleH1Request(req: IncomingMessage, res: ServerResponse, draining: boolean, conn: DownstreamConnection): void {
    const scheme = conn.scheme;
    const src = req.headers;
    const headers: RequestHeaders = Object.create(null);
    headers[':method'] = req.method ?? 'GET';
    headers[':path'] = req.url ?? '/';
    headers[':authority'] = src.host ?? '';
    headers[':scheme'] = scheme;
    // Connection-specific headers end at this hop (RFC 9110 §7.6.1); HTTP/2 upstreams refuse them.
    const connectionTokens = connectionHeaderTokens(src.connection);
    for (const name in src) {
      if (name === 'host' || HOP_BY_HOP.has(name)) continue;
      if (connectionTokens !== null && connectionTokens.has(name)) continue;
      headers[name] = src[name];
    }
    const hasBody = src['transfer-encoding'] !== undefined || (src['content-length'] !== undefined && src['content-length'] !== '0');
    const ds = new H1Downstream(req, res, hasBody, draining, this.model.serverName);
    const ctx = new StreamContext(
      ds, this.stats, headers[':method'] as string, headers[':path'] as string, headers[':authority'] as string,
      scheme, headers, isGrpcContentType(src['content-type']), conn.remoteAddress, this.runtime.clock.monotonic(),
      this.runtime.clock.now(),
    );
    ctx.peer = conn.peer;
    ctx.connection = conn;
    this.stats.streamsActive.inc();
    (res as Tagged)[kCtx] = ctx;
    (res as Tagged)[kHcm] = this;
    res.on('close', onH1ResponseClose);
    const raw = req.rawHeaders;
    if (raw.length / 2 > this.model.maxHeadersCount) {
      sendLocalReply(ctx, new HeaderOverflowError('header count'));
      return;
    }
    if (req.url === undefined || req.url.length === 0 || (req.url.charCodeAt(0) !== 0x2f /* / */ && req.url !== '*')) {
      sendLocalReply(ctx, new BadRequestError('invalid request target'));
      return;
    }
    this.dispatch(ctx, conn);
  }

  /** Envoy's max_request_headers_kb and max_headers_count; null when within limits. */
  private checkHeaderLimits(raw: string[]): HeaderOverflowError | null {
    const count = raw.length >> 1;
    if (count > this.model.maxHeadersCount) return new HeaderOverflowError('header count');
    let bytes = count * HEADER_ENTRY_OVERHEAD;
    for (let i = 0; i < raw.length; i++) bytes += raw[i].length;
    if (bytes > this.model.maxRequestHeadersBytes) return new HeaderOverflowError('header bytes');
    return null;
  }

  /** Common request path after the codec: headers, route, filters, action. */
  private dispatch(ctx: StreamContext, conn: DownstreamConnection): void {
    const model = this.model;
    const headers = ctx.headers;
    conn.applyXfcc(headers, model);
    // Envoy: an edge proxy (use_remote_address) replaces a client's x-request-id unless told to keep it.
    if (model.generateRequestId && (headers['x-request-id'] === undefined || this.replaceRequestId)) headers['x-request-id'] = randomUUID();
    const xff = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = xff === undefined ? ctx.remoteAddress : `${xff}, ${ctx.remoteAddress}`;
    if (model.useRemoteAddress || headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = ctx.scheme;
    const telemetry = this.telemetry;
    if (telemetry.tracer !== null) telemetry.tracer.onRequestStart(ctx, headers);
    const starts = telemetry.startObservers;
    for (let i = 0; i < starts.length; i++) starts[i]!.onRequestStart!(ctx, headers);

    const table = this.routeTable;
    const route = table === null ? null : table.match(ctx);
    if (route === null) {
      sendLocalReply(ctx, new NoRouteError());
      return;
    }
    ctx.route = route;
    if (this.filters.length > 0) ctx.chain = this;
    this.runChain(ctx);
  }

  /** FilterChainDriver: an asynchronous filter finished; go on after it. */
  resume(ctx: StreamContext): void {
    this.runChain(ctx);
  }

  /** FilterChainDriver: a filter rewrote the request (e.g. the transcoder's `:path`); match again on the forwarded headers. */
  rematchRoute(ctx: StreamContext): CompiledRoute | null {
    const table = this.routeTable;
    if (table === null) return null;
    const h = ctx.headers;
    const path = h[':path'];
    const authority = h[':authority'];
    const method = h[':method'];
    return table.match({
      authority: typeof authority === 'string' ? authority : ctx.authority,
      path: typeof path === 'string' ? path : ctx.path,
      method: typeof method === 'string' ? method : ctx.method,
      headers: h,
      isGrpc: ctx.isGrpc,
    });
  }

  /** Runs the filters from `ctx.nextFilter`, then the route action, unless a filter stops. */
  private runChain(ctx: StreamContext): void {
    const filters = this.filters;
    while (ctx.nextFilter < filters.length) {
      const filter = filters[ctx.nextFilter++].createFilter();
      if (filter.onRequestHeaders(ctx) === FilterStatus.StopIteration) return;
    }
    ctx.chain = null;
    const route = ctx.route!;
    const action = route.model.action;
    switch (action.type) {
      case 'route': {
        const call = new RouterCall(ctx, route, action, this.router,
          action.idleTimeoutMs ?? this.streamIdleTimeoutMs, this.model.requestTimeoutMs);
        ctx.call = call;
        call.start();
        return;
      }
      case 'direct_response':
        this.directResponse(ctx, route, action.status, action.body);
        return;
      case 'redirect': {
        const location = route.redirectLocation(ctx, ctx.scheme);
        this.directResponse(ctx, route, action.status, null, location);
        return;
      }
    }
  }

  private directResponse(ctx: StreamContext, route: CompiledRoute, status: number, body: Buffer | null, location?: string): void {
    const headers: Record<string, string | string[] | undefined> = {};
    if (location !== undefined) headers.location = location;
    if (body !== null) {
      headers['content-type'] = 'text/plain';
      headers['content-length'] = String(body.length);
    }
    const levels = route.responseHeaderMutations;
    for (let i = 0; i < levels.length; i++) applyHeaderMutations(headers, levels[i].adds, levels[i].removes);
    const extra = ctx.responseHeadersToAdd;
    if (extra !== null) for (const name in extra) headers[name] = extra[name];
    ctx.responseStatus = status;
    ctx.listener.localReply('direct_response');
    const ds = ctx.downstream;
    ds.respond(status, headers, body === null, false);
    if (body !== null) {
      ds.write(body);
      ds.end(null);
    }
  }
}

function onH2StreamClose(this: http2.ServerHttp2Stream & Tagged): void {
  this[kHcm]!.finishStream(this[kCtx]!);
}

function onH1ResponseClose(this: ServerResponse & Tagged): void {
  this[kHcm]!.finishStream(this[kCtx]!);
}

function onStreamError(this: http2.ServerHttp2Stream): void {
  // Stream errors surface as 'close' with an rstCode; handled there. Keep them from throwing.
  if (!this.closed) this.close(NGHTTP2_CANCEL);
}
