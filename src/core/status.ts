/**
 * The ONE place errors become wire statuses. Every local reply (no route, connect failure,
 * timeout, overflow, ...) is turned into a SyntheticResponse carrying both the HTTP status and the
 * gRPC status, so each listener can answer in its client's protocol. Also maps HTTP statuses and
 * HTTP/2 RST_STREAM codes to gRPC codes, following
 * https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md and
 * https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#errors.
 */
import {
  FaultAbortError, InvalidArgumentError, MethodNotAllowedError, ProxyError, UpstreamResetError, type LocalReplyReason,
} from './errors';
import { ResponseFlag } from './response-flags';

export const GrpcStatus = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5,
  ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10,
  OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
} as const;

/** A local reply: what the client sees, in both protocols. `message` is client-safe (no internals). */
export interface SyntheticResponse {
  readonly httpStatus: number;
  readonly grpcStatus: number;
  readonly message: string;
  readonly reason: LocalReplyReason;
  /** Extra response headers of this reply (e.g. `x-remora-overloaded` on overflow); null when none. */
  readonly headers: Readonly<Record<string, string>> | null;
  /** The core/response-flags bits this reply sets on the stream (0 for none). */
  readonly responseFlags: number;
}

/** Envoy's response flag of each local reply reason. */
const FLAG_BY_REASON: Readonly<Record<LocalReplyReason, number>> = {
  no_route: ResponseFlag.NoRouteFound,
  no_cluster: ResponseFlag.NoRouteFound,
  no_healthy_upstream: ResponseFlag.NoHealthyUpstream,
  upstream_connect_failure: ResponseFlag.UpstreamConnectionFailure,
  upstream_reset: ResponseFlag.UpstreamRemoteReset,
  upstream_timeout: ResponseFlag.UpstreamRequestTimeout,
  stream_idle_timeout: ResponseFlag.StreamIdleTimeout,
  request_timeout: 0,
  overflow: ResponseFlag.UpstreamOverflow,
  rate_limited: ResponseFlag.RateLimited,
  fault_abort: ResponseFlag.FaultInjected,
  rbac_access_denied: ResponseFlag.UnauthorizedExternalService,
  unauthenticated: ResponseFlag.UnauthorizedExternalService,
  header_overflow: ResponseFlag.DownstreamProtocolError,
  bad_request: ResponseFlag.DownstreamProtocolError,
  invalid_argument: 0,
  method_not_allowed: ResponseFlag.NoRouteFound,
  payload_too_large: ResponseFlag.DownstreamProtocolError,
  response_too_large: 0,
  draining: ResponseFlag.LocalReset,
  direct_response: 0,
  internal: 0,
};

const frozen = (httpStatus: number, grpcStatus: number, message: string, reason: LocalReplyReason, headers: Readonly<Record<string, string>> | null = null): SyntheticResponse =>
  Object.freeze({ httpStatus, grpcStatus, message, reason, headers, responseFlags: FLAG_BY_REASON[reason] });

const BY_REASON: Readonly<Record<LocalReplyReason, SyntheticResponse>> = {
  no_route: frozen(404, GrpcStatus.UNIMPLEMENTED, 'no route matched', 'no_route'),
  no_cluster: frozen(503, GrpcStatus.UNAVAILABLE, 'upstream cluster not found', 'no_cluster'),
  no_healthy_upstream: frozen(503, GrpcStatus.UNAVAILABLE, 'no healthy upstream', 'no_healthy_upstream'),
  upstream_connect_failure: frozen(503, GrpcStatus.UNAVAILABLE, 'upstream connect error', 'upstream_connect_failure'),
  upstream_reset: frozen(503, GrpcStatus.UNAVAILABLE, 'upstream reset before response', 'upstream_reset'),
  upstream_timeout: frozen(504, GrpcStatus.DEADLINE_EXCEEDED, 'upstream request timeout', 'upstream_timeout'),
  stream_idle_timeout: frozen(408, GrpcStatus.DEADLINE_EXCEEDED, 'stream idle timeout', 'stream_idle_timeout'),
  request_timeout: frozen(408, GrpcStatus.DEADLINE_EXCEEDED, 'request timeout', 'request_timeout'),
  overflow: frozen(503, GrpcStatus.UNAVAILABLE, 'upstream overflow', 'overflow', Object.freeze({ 'x-remora-overloaded': 'true' })),
  rate_limited: frozen(429, GrpcStatus.RESOURCE_EXHAUSTED, 'rate limited', 'rate_limited'),
  fault_abort: frozen(503, GrpcStatus.UNAVAILABLE, 'fault filter abort', 'fault_abort'),
  rbac_access_denied: frozen(403, GrpcStatus.PERMISSION_DENIED, 'RBAC: access denied', 'rbac_access_denied'),
  unauthenticated: frozen(401, GrpcStatus.UNAUTHENTICATED, 'Jwt verification fails', 'unauthenticated',
    Object.freeze({ 'www-authenticate': 'Bearer realm="remora", error="invalid_token"' })),
  header_overflow: frozen(431, GrpcStatus.RESOURCE_EXHAUSTED, 'request header fields too large', 'header_overflow'),
  bad_request: frozen(400, GrpcStatus.INTERNAL, 'bad request', 'bad_request'),
  invalid_argument: frozen(400, GrpcStatus.INVALID_ARGUMENT, 'invalid argument', 'invalid_argument'),
  method_not_allowed: frozen(405, GrpcStatus.UNIMPLEMENTED, 'method not allowed', 'method_not_allowed'),
  payload_too_large: frozen(413, GrpcStatus.RESOURCE_EXHAUSTED, 'request body too large', 'payload_too_large'),
  response_too_large: frozen(500, GrpcStatus.INTERNAL, 'response body too large', 'response_too_large'),
  draining: frozen(503, GrpcStatus.UNAVAILABLE, 'proxy is draining', 'draining'),
  direct_response: frozen(200, GrpcStatus.OK, '', 'direct_response'),
  internal: frozen(500, GrpcStatus.INTERNAL, 'internal proxy error', 'internal'),
};

/** Maps any error reaching a listener edge to the reply the client gets. Unknown errors become INTERNAL. */
export function toSyntheticResponse(err: unknown): SyntheticResponse {
  if (!ProxyError.is(err)) return BY_REASON.internal;
  if (err instanceof UpstreamResetError && err.rstCode >= 0) {
    const grpc = h2RstToGrpcStatus(err.rstCode);
    if (grpc !== GrpcStatus.UNAVAILABLE) return frozen(503, grpc, err.message, 'upstream_reset');
  }
  if (err.reason === 'bad_request') return frozen(400, GrpcStatus.INTERNAL, err.message, 'bad_request');
  if (err instanceof InvalidArgumentError) {
    return frozen(400, GrpcStatus.INVALID_ARGUMENT, err.message, 'invalid_argument',
      err.details === null ? null : Object.freeze({ 'grpc-status-details-bin': err.details.toString('base64').replace(/=+$/, '') }));
  }
  if (err instanceof MethodNotAllowedError) {
    return frozen(405, GrpcStatus.UNIMPLEMENTED, err.message, 'method_not_allowed', Object.freeze({ allow: err.allow.join(', ') }));
  }
  if (err.reason === 'unauthenticated') return frozen(401, GrpcStatus.UNAUTHENTICATED, err.message, 'unauthenticated', BY_REASON.unauthenticated.headers);
  if (err instanceof FaultAbortError) {
    const http = err.httpStatus ?? (err.grpcStatus !== null ? grpcStatusToHttpStatus(err.grpcStatus) : 503);
    const grpc = err.grpcStatus ?? httpStatusToGrpcStatus(http);
    return frozen(http, grpc, err.message, 'fault_abort');
  }
  return BY_REASON[err.reason];
}

/** The canned reply for a reason, for callers that have no error object. */
export function syntheticResponseFor(reason: LocalReplyReason): SyntheticResponse {
  return BY_REASON[reason];
}

/** HTTP status of a non-gRPC response from a gRPC upstream → gRPC status (grpc http-grpc-status-mapping). */
export function httpStatusToGrpcStatus(httpStatus: number): number {
  switch (httpStatus) {
    case 400: return GrpcStatus.INTERNAL;
    case 401: return GrpcStatus.UNAUTHENTICATED;
    case 403: return GrpcStatus.PERMISSION_DENIED;
    case 404: return GrpcStatus.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return GrpcStatus.UNAVAILABLE;
    default: return GrpcStatus.UNKNOWN;
  }
}

/** gRPC status → HTTP status, for gRPC errors shown to HTTP clients (grpc-gateway's table). */
export function grpcStatusToHttpStatus(grpcStatus: number): number {
  switch (grpcStatus) {
    case GrpcStatus.OK: return 200;
    case GrpcStatus.CANCELLED: return 499;
    case GrpcStatus.INVALID_ARGUMENT: case GrpcStatus.FAILED_PRECONDITION: case GrpcStatus.OUT_OF_RANGE: return 400;
    case GrpcStatus.DEADLINE_EXCEEDED: return 504;
    case GrpcStatus.NOT_FOUND: return 404;
    case GrpcStatus.ALREADY_EXISTS: case GrpcStatus.ABORTED: return 409;
    case GrpcStatus.PERMISSION_DENIED: return 403;
    case GrpcStatus.UNAUTHENTICATED: return 401;
    case GrpcStatus.RESOURCE_EXHAUSTED: return 429;
    case GrpcStatus.UNIMPLEMENTED: return 501;
    case GrpcStatus.UNAVAILABLE: return 503;
    default: return 500;
  }
}

/** HTTP/2 RST_STREAM error code → gRPC status (PROTOCOL-HTTP2.md "Errors"). */
export function h2RstToGrpcStatus(rstCode: number): number {
  switch (rstCode) {
    case 0x7: return GrpcStatus.UNAVAILABLE; // REFUSED_STREAM
    case 0x8: return GrpcStatus.CANCELLED; // CANCEL
    case 0xb: return GrpcStatus.RESOURCE_EXHAUSTED; // ENHANCE_YOUR_CALM
    case 0xc: return GrpcStatus.PERMISSION_DENIED; // INADEQUATE_SECURITY
    default: return GrpcStatus.INTERNAL;
  }
}

/** Status class label value ('2xx' …) for a numeric HTTP status. */
export function statusClass(httpStatus: number): string {
  return STATUS_CLASSES[(httpStatus / 100) | 0] ?? 'other';
}
const STATUS_CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** Percent-encodes a grpc-message value (PROTOCOL-HTTP2.md: encode outside 0x20–0x7E and '%'). */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) { plain = false; break; }
  }
  if (plain) return message;
  const bytes = Buffer.from(message, 'utf8');
  let out = '';
  for (const b of bytes) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase() : String.fromCharCode(b);
  }
  return out;
}
