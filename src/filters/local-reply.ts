/**
 * Sends a local reply (a response the proxy makes itself) in the client's protocol, through the one
 * error→status mapping in core/status.ts: a gRPC client gets a trailers-only response with the
 * mapped `grpc-status`, an HTTP client the mapped HTTP status with a short text body, and a client
 * behind a codec wrapper (`Downstream.renderLocalReply`: transcoded JSON, gRPC-Web) its own format. When the
 * response has already started, a gRPC stream waiting for trailers gets them with the status; any
 * other exchange is reset, never left hanging. Internals (cause, addresses) never reach the client.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { encodeGrpcMessage, toSyntheticResponse, type SyntheticResponse } from '../core/status';
import type { StreamContext } from './stream-context';

const NGHTTP2_INTERNAL_ERROR = 2;

/** Replies with the synthetic response for `err` and counts it. Returns the reply used. */
export function sendLocalReply(ctx: StreamContext, err: unknown): SyntheticResponse {
  const reply = toSyntheticResponse(err);
  sendSyntheticResponse(ctx, reply);
  return reply;
}

export function sendSyntheticResponse(ctx: StreamContext, reply: SyntheticResponse): void {
  const ds = ctx.downstream;
  if (ds.closed) return;
  ctx.listener.localReply(reply.reason);
  ctx.responseFlags |= reply.responseFlags;
  ctx.localReplyReason = reply.reason;
  ctx.localReplyMessage = reply.message;
  // A codec wrapper (transcoder, gRPC-Web) renders the reply in its client's format.
  if (ds.renderLocalReply !== undefined) {
    const started = ds.responseStarted;
    if (ds.renderLocalReply(reply)) {
      if (!started) ctx.responseStatus = reply.httpStatus;
      ctx.grpcStatus = reply.grpcStatus;
      return;
    }
  }
  if (ds.responseStarted) {
    if (ctx.isGrpc && ds.protocol === 'h2') {
      ctx.grpcStatus = reply.grpcStatus;
      const trailers: OutgoingHttpHeaders = { 'grpc-status': String(reply.grpcStatus), 'grpc-message': encodeGrpcMessage(reply.message) };
      // The reply's own headers (e.g. grpc-status-details-bin) travel in the trailers too.
      const own = reply.headers;
      if (own !== null) for (const name in own) trailers[name] = own[name];
      ds.end(trailers);
    } else {
      ds.reset(NGHTTP2_INTERNAL_ERROR);
    }
    return;
  }
  if (ctx.isGrpc) {
    ctx.responseStatus = 200;
    ctx.grpcStatus = reply.grpcStatus;
    ds.respond(200, withExtraHeaders(ctx, reply, {
      'content-type': 'application/grpc',
      'grpc-status': String(reply.grpcStatus),
      'grpc-message': encodeGrpcMessage(reply.message),
    }), true, false);
    return;
  }
  ctx.responseStatus = reply.httpStatus;
  const body = Buffer.from(reply.message + '\n');
  ds.respond(reply.httpStatus, withExtraHeaders(ctx, reply, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length }), false, false);
  ds.write(body);
  ds.end(null);
}

/** The reply's own headers and the stream's `responseHeadersToAdd`, added to `headers`. */
function withExtraHeaders(ctx: StreamContext, reply: SyntheticResponse, headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const own = reply.headers;
  if (own !== null) for (const name in own) headers[name] = own[name];
  const extra = ctx.responseHeadersToAdd;
  if (extra !== null) for (const name in extra) headers[name] = extra[name];
  return headers;
}
