/**
 * The gRPC-JSON transcoder's factory and per-stream logic (Envoy's `grpc_json_transcoder`). A request
 * that is already gRPC (`content-type: application/grpc*`) or whose route disables the filter passes
 * through. Otherwise the method and path are matched in the compiled table's trie: an unbound path is
 * 404 (or passes through with `match_incoming_request_route`), a path bound for other methods 405
 * with `Allow`, both as google.rpc.Status JSON. On a match the stream's downstream is wrapped by a
 * `TranscodingDownstream` (JSON ⇄ gRPC), the forwarded headers become a gRPC request (`POST
 * /pkg.Svc/Method`, `application/grpc`, `te: trailers`; hop-by-hop headers already dropped by the listener; the original
 * path and method kept in `x-envoy-original-*`, `Request-Timeout` → `grpc-timeout`) and the route is
 * matched again on the gRPC path. A unary / server-streaming request body is buffered (bounded by
 * `max_request_body_size`, 413 beyond) and built into one message before the chain continues; it
 * reaches the router as the wrapper's `completeBody`. A client stream is split element by element
 * and forwarded as frames through a `MessageSource` while it arrives. The only per-stream
 * allocations are the wrapper, the message source of a client stream and, for a request with a
 * body, one `PendingRequest` whose body listeners are module-level functions.
 */
import type { Readable } from 'node:stream';
import {
  InternalProxyError, InvalidArgumentError, MethodNotAllowedError, NoRouteError, PayloadTooLargeError, ProxyError,
} from '../../core/errors';
import { formatGrpcTimeout, parseGrpcTimeout } from '../../core/headers';
import { extractVariables, type PathBinding } from '../../codec/transcode/path-matcher';
import { parseStreamMessageJson } from '../../codec/transcode/method-binding';
import type { MethodBinding, MethodInfo } from '../../codec/transcode/transcoder-table';
import { FilterStatus, type FilterFactoryContext, type HttpFilter, type HttpFilterFactory } from '../filter';
import { sendLocalReply } from '../local-reply';
import type { StreamContext } from '../stream-context';
import type { GrpcJsonTranscoderConfig, GrpcJsonTranscoderPerRoute } from './config';
import { JsonStreamSplitter } from './json-stream-splitter';
import { framingForAccept, StreamFraming } from './stream-framing';
import { MessageSource, TranscodingDownstream } from './transcoding-downstream';

const kPending = Symbol('remora.transcoderPendingRequest');
type Tagged = Readable & { [kPending]?: PendingRequest };

function isPerRoute(c: unknown): c is GrpcJsonTranscoderPerRoute {
  return typeof c === 'object' && c !== null && (c as { kind?: unknown }).kind === 'grpc_json_transcoder_per_route';
}

export class GrpcJsonTranscoderFactory implements HttpFilterFactory, HttpFilter {
  private readonly filterName: string;

  constructor(readonly config: GrpcJsonTranscoderConfig, ctx: FilterFactoryContext) {
    this.filterName = ctx.filterName;
  }

  /** Stateless per stream (the state lives on the wrapper): the factory is the filter. */
  createFilter(): HttpFilter {
    return this;
  }

  onRequestHeaders(ctx: StreamContext): FilterStatus {
    let config = this.config;
    const route = ctx.route;
    if (route !== null) {
      const o = route.model.perFilterConfig[this.filterName];
      if (o !== undefined && isPerRoute(o)) {
        if (o.disabled) return FilterStatus.Continue;
        config = o.config;
      }
    }
    if (ctx.isGrpc) return FilterStatus.Continue;
    return transcode(ctx, config);
  }
}

/** Matches and, on a match, turns the request into a gRPC call. */
function transcode(ctx: StreamContext, config: GrpcJsonTranscoderConfig): FilterStatus {
  const table = config.table;
  const full = ctx.path;
  const q = full.indexOf('?');
  const path = q < 0 ? full : full.slice(0, q);
  const query = q < 0 ? null : full.slice(q + 1);
  const m = table.matcher.match(ctx.method, path);
  if (m.kind !== 'match') {
    if (m.kind === 'no_match' && config.matchIncomingRequestRoute) return FilterStatus.Continue;
    // Answer in JSON: wrap only to render the reply.
    ctx.wrapDownstream(new TranscodingDownstream(ctx, ctx.downstream, table, null, 0, StreamFraming.JsonArray), ctx.isGrpc);
    sendLocalReply(ctx, m.kind === 'no_match' ? new NoRouteError() : new MethodNotAllowedError(m.allow));
    return FilterStatus.StopIteration;
  }
  const binding = m.binding.target;
  const method = binding.method;
  const framing = method.responseStreaming ? framingForAccept(ctx.headers['accept'], config.defaultFraming) : StreamFraming.JsonArray;
  const inner = ctx.downstream;
  const ds = new TranscodingDownstream(ctx, inner, table, binding, config.maxResponseBodyBytes, framing);
  // Client streams feed the router through a message source; a single request message goes to the
  // router as the wrapper's `completeBody` (no stream object per request).
  const source = method.requestStreaming ? new MessageSource() : null;
  ds.body = source;
  ctx.wrapDownstream(ds, true);

  const vars = extractVariables(binding.template, m.segments, table.options.unescapeMode);
  if (typeof vars === 'number') {
    const v = binding.template.variables[vars];
    sendLocalReply(ctx, new InvalidArgumentError(`path variable ${v === undefined ? vars : v.fieldPath.join('.')} is not valid UTF-8 after percent-decoding`));
    return FilterStatus.StopIteration;
  }
  const body = inner.body;
  const contentType = headerValue(ctx.headers['content-type']);

  if (source !== null) {
    if (!rewriteRequest(ctx, config, method)) return FilterStatus.StopIteration;
    if (body === null) {
      source.finish();
    } else {
      source.upstreamOf = body;
      const p = new PendingRequest(ctx, config, binding, vars, query, ds, contentType, source, new JsonStreamSplitter(config.maxRequestBodyBytes));
      (body as Tagged)[kPending] = p;
      body.on('data', onStreamData);
      body.on('end', onStreamEnd);
    }
    return FilterStatus.Continue;
  }

  if (body === null) {
    if (!buildUnary(ctx, binding, vars, query, null, contentType, ds)) return FilterStatus.StopIteration;
    return rewriteRequest(ctx, config, method) ? FilterStatus.Continue : FilterStatus.StopIteration;
  }
  const declared = Number(headerValue(ctx.headers['content-length']) ?? -1);
  if (declared > config.maxRequestBodyBytes) {
    sendLocalReply(ctx, new PayloadTooLargeError('max_request_body_size'));
    return FilterStatus.StopIteration;
  }
  const p = new PendingRequest(ctx, config, binding, vars, query, ds, contentType, null, null);
  (body as Tagged)[kPending] = p;
  body.on('data', onUnaryData);
  body.on('end', onUnaryEnd);
  return FilterStatus.StopIteration;
}

function headerValue(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return typeof v === 'string' ? v : (v[0] ?? null);
}

/** Builds the one request message of a unary / server-streaming call as `ds.completeBody`; false after a local reply. */
function buildUnary(
  ctx: StreamContext, binding: MethodBinding, vars: readonly PathBinding[], query: string | null,
  body: Uint8Array | null, contentType: string | null, ds: TranscodingDownstream,
): boolean {
  let frame: Buffer;
  try {
    frame = binding.buildRequestFrame(vars, query, body, contentType);
  } catch (e) {
    sendLocalReply(ctx, ProxyError.is(e) ? e : new InternalProxyError(e));
    return false;
  }
  ds.completeBody = [frame];
  return true;
}

/**
 * `Request-Timeout` as milliseconds: decimal seconds with an optional `s` or `ms` unit (`2`, `1.5s`,
 * `250ms`), or a gRPC timeout value (`500m`, `2S`). NaN when malformed.
 */
export function parseRequestTimeout(v: string): number {
  const m = /^(\d{1,9})(?:\.(\d{1,9}))?(s|ms)?$/.exec(v);
  if (m !== null) {
    const n = Number(m[2] === undefined ? m[1] : `${m[1]}.${m[2]}`);
    return m[3] === 'ms' ? n : n * 1000;
  }
  return parseGrpcTimeout(v);
}

/**
 * Rewrites the forwarded headers into a gRPC request for `method` and re-matches the route (unless
 * `match_incoming_request_route`). False after a local reply (bad timeout header, no route).
 */
function rewriteRequest(ctx: StreamContext, config: GrpcJsonTranscoderConfig, method: MethodInfo): boolean {
  const h = ctx.headers;
  // Hop-by-hop headers never get here: the listener drops them from HTTP/1.1 requests, and HTTP/2 has none.
  delete h['content-length'];
  let timeoutMs = NaN;
  for (const name in h) {
    // grpc-* headers are the gRPC protocol's own; a JSON client does not get to set them (except the deadline).
    if (name.length > 5 && name.charCodeAt(0) === 0x67 && name.startsWith('grpc-') && name !== 'grpc-timeout') delete h[name];
  }
  const gt = headerValue(h['grpc-timeout']);
  if (gt !== null) {
    timeoutMs = parseGrpcTimeout(gt);
    if (timeoutMs !== timeoutMs) {
      sendLocalReply(ctx, new InvalidArgumentError('invalid grpc-timeout header'));
      return false;
    }
  }
  const rt = headerValue(h['request-timeout']);
  if (rt !== null) {
    const ms = parseRequestTimeout(rt.trim());
    if (ms !== ms) {
      sendLocalReply(ctx, new InvalidArgumentError('invalid Request-Timeout header (expected seconds, e.g. 1.5 or 1.5s, or 250ms)'));
      return false;
    }
    delete h['request-timeout'];
    if (timeoutMs !== timeoutMs || ms < timeoutMs) timeoutMs = ms;
  }
  if (timeoutMs === timeoutMs) h['grpc-timeout'] = formatGrpcTimeout(timeoutMs);
  h['x-envoy-original-path'] = ctx.path;
  h['x-envoy-original-method'] = ctx.method;
  h[':method'] = 'POST';
  h[':path'] = method.grpcPath;
  h['content-type'] = 'application/grpc';
  h['te'] = 'trailers';
  if (!config.matchIncomingRequestRoute && !ctx.refreshRoute()) {
    sendLocalReply(ctx, new NoRouteError());
    return false;
  }
  // No client deadline: the route's timeout becomes the call's gRPC deadline.
  if (timeoutMs !== timeoutMs && ctx.route !== null) {
    const action = ctx.route.model.action;
    if (action.type === 'route' && action.timeoutMs !== null && action.timeoutMs > 0) h['grpc-timeout'] = formatGrpcTimeout(action.timeoutMs);
  }
  return true;
}

/** The state of one request body being read (unary buffering, or a client stream being split). */
class PendingRequest {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private failed = false;

  constructor(
    readonly ctx: StreamContext,
    readonly config: GrpcJsonTranscoderConfig,
    readonly binding: MethodBinding,
    readonly vars: readonly PathBinding[],
    readonly query: string | null,
    /** The wrapper (a unary request's frame goes to its `completeBody`). */
    readonly ds: TranscodingDownstream,
    readonly contentType: string | null,
    /** Client streams only: where split messages go, and the splitter. */
    readonly source: MessageSource | null,
    readonly splitter: JsonStreamSplitter | null,
  ) {}

  unaryData(body: Readable, chunk: Buffer): void {
    if (this.failed) return;
    this.bytes += chunk.length;
    if (this.bytes > this.config.maxRequestBodyBytes) {
      this.fail(body, new PayloadTooLargeError('max_request_body_size'));
      return;
    }
    this.chunks.push(chunk);
  }

  unaryEnd(body: Readable): void {
    if (this.failed) return;
    detach(body);
    const ctx = this.ctx;
    if (ctx.downstream.closed || ctx.downstream.responseStarted) return;
    const chunks = this.chunks;
    this.chunks = [];
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.bytes);
    if (!buildUnary(ctx, this.binding, this.vars, this.query, data, this.contentType, this.ds)) return;
    if (!rewriteRequest(ctx, this.config, this.binding.method)) return;
    ctx.continueChain();
  }

  streamData(body: Readable, chunk: Buffer): void {
    if (this.failed) return;
    let elements: readonly string[];
    try {
      elements = this.splitter!.push(chunk);
    } catch (e) {
      this.fail(body, e);
      return;
    }
    if (!this.forward(body, elements, this.splitter!.elements - elements.length)) return;
  }

  streamEnd(body: Readable): void {
    if (this.failed) return;
    let elements: readonly string[];
    try {
      elements = this.splitter!.end();
    } catch (e) {
      this.fail(body, e);
      return;
    }
    if (!this.forward(body, elements, this.splitter!.elements - elements.length)) return;
    detach(body);
    this.source!.finish();
  }

  /** Builds and queues one frame per element; pauses the client when the router is not reading. */
  private forward(body: Readable, elements: readonly string[], firstIndex: number): boolean {
    for (let i = 0; i < elements.length; i++) {
      let value: unknown;
      try {
        value = parseStreamMessageJson(elements[i]!);
      } catch (e) {
        this.fail(body, new InvalidArgumentError(`invalid JSON in request stream message ${firstIndex + i}: ${(e as Error).message}`));
        return false;
      }
      let frame: Buffer;
      try {
        frame = this.binding.buildStreamFrame(this.vars, this.query, value);
      } catch (e) {
        this.fail(body, ProxyError.is(e) ? e : new InternalProxyError(e));
        return false;
      }
      if (!this.source!.offer(frame)) body.pause();
    }
    return true;
  }

  /** Stops reading and ends the exchange with `err` (before the router: a local reply; after: the call aborts). */
  private fail(body: Readable, err: unknown): void {
    this.failed = true;
    this.chunks = [];
    detach(body);
    // Drain (and discard) what the client still sends, so its stream can complete.
    body.resume();
    const e = ProxyError.is(err) ? err : new InternalProxyError(err);
    const call = this.ctx.call;
    if (call !== null) call.abort(e);
    else sendLocalReply(this.ctx, e);
  }
}

function detach(body: Readable): void {
  body.off('data', onUnaryData);
  body.off('end', onUnaryEnd);
  body.off('data', onStreamData);
  body.off('end', onStreamEnd);
  (body as Tagged)[kPending] = undefined;
}

function onUnaryData(this: Tagged, chunk: Buffer): void {
  this[kPending]?.unaryData(this, chunk);
}
function onUnaryEnd(this: Tagged): void {
  this[kPending]?.unaryEnd(this);
}
function onStreamData(this: Tagged, chunk: Buffer): void {
  this[kPending]?.streamData(this, chunk);
}
function onStreamEnd(this: Tagged): void {
  this[kPending]?.streamEnd(this);
}
