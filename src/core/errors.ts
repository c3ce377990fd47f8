/**
 * Typed errors of the data plane and the config pipeline. Each error carries a stable `code`
 * (never reworded once released), a client-safe `message`, and an internal `cause` that only ever
 * reaches logs and traces. `core/status.ts` is the one place these become HTTP/gRPC statuses.
 */

const BRAND = Symbol.for('remora.ProxyError');

/** Why a local reply was produced; also the `reason` label of `remora_local_replies_total`. */
export type LocalReplyReason =
  | 'no_route'
  | 'no_cluster'
  | 'no_healthy_upstream'
  | 'upstream_connect_failure'
  | 'upstream_reset'
  | 'upstream_timeout'
  | 'stream_idle_timeout'
  | 'request_timeout'
  | 'overflow'
  | 'header_overflow'
  | 'bad_request'
  | 'draining'
  | 'direct_response'
  | 'rate_limited'
  | 'fault_abort'
  | 'rbac_access_denied'
  | 'unauthenticated'
  | 'invalid_argument'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'response_too_large'
  | 'internal';

export abstract class ProxyError extends Error {
  readonly [BRAND] = true;
  abstract readonly code: string;
  abstract readonly reason: LocalReplyReason;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
  static is(err: unknown): err is ProxyError {
    return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
  }
}

export class NoRouteError extends ProxyError {
  readonly code = 'REMORA_ERR_NO_ROUTE';
  readonly reason = 'no_route';
  constructor() { super('no route matched'); }
}

export class NoClusterError extends ProxyError {
  readonly code = 'REMORA_ERR_NO_CLUSTER';
  readonly reason = 'no_cluster';
  constructor(cluster: string) { super('upstream cluster not found', { cause: cluster }); }
}

export class NoHealthyUpstreamError extends ProxyError {
  readonly code = 'REMORA_ERR_NO_HEALTHY_UPSTREAM';
  readonly reason = 'no_healthy_upstream';
  constructor(cluster: string) { super('no healthy upstream', { cause: cluster }); }
}

export class UpstreamConnectError extends ProxyError {
  readonly code = 'REMORA_ERR_UPSTREAM_CONNECT';
  readonly reason = 'upstream_connect_failure';
  constructor(cause?: unknown) { super('upstream connect error', { cause }); }
}

export class UpstreamResetError extends ProxyError {
  readonly code = 'REMORA_ERR_UPSTREAM_RESET';
  readonly reason = 'upstream_reset';
  /** The HTTP/2 RST_STREAM code the upstream sent, or -1 for a socket-level reset. */
  readonly rstCode: number;
  constructor(rstCode: number, cause?: unknown) {
    super('upstream reset before response', { cause });
    this.rstCode = rstCode;
  }
}

export class UpstreamTimeoutError extends ProxyError {
  readonly code = 'REMORA_ERR_UPSTREAM_TIMEOUT';
  readonly reason = 'upstream_timeout';
  constructor() { super('upstream request timeout'); }
}

/** The stream saw no activity for the route/HCM idle timeout. */
export class StreamIdleTimeoutError extends ProxyError {
  readonly code = 'REMORA_ERR_STREAM_IDLE_TIMEOUT';
  readonly reason = 'stream_idle_timeout';
  constructor() { super('stream idle timeout'); }
}

/** The whole request was not received within the HCM `request_timeout`. */
export class RequestTimeoutError extends ProxyError {
  readonly code = 'REMORA_ERR_REQUEST_TIMEOUT';
  readonly reason = 'request_timeout';
  constructor() { super('request timeout'); }
}

export class OverflowError extends ProxyError {
  readonly code = 'REMORA_ERR_OVERFLOW';
  readonly reason = 'overflow';
  constructor(what: string) { super('upstream overflow', { cause: what }); }
}

/** A local or global rate limit refused the request (429 / RESOURCE_EXHAUSTED). */
export class RateLimitedError extends ProxyError {
  readonly code = 'REMORA_ERR_RATE_LIMITED';
  readonly reason = 'rate_limited';
  constructor(what: string) { super('rate limited', { cause: what }); }
}

/**
 * Fault injection aborted the request with a configured status: `httpStatus` for HTTP clients,
 * `grpcStatus` for gRPC clients (when the fault names only one, core/status.ts derives the other).
 */
export class FaultAbortError extends ProxyError {
  readonly code = 'REMORA_ERR_FAULT_ABORT';
  readonly reason = 'fault_abort';
  constructor(readonly httpStatus: number | null, readonly grpcStatus: number | null) { super('fault filter abort'); }
}

/** An authorization policy (RBAC) denied the request: 403 / PERMISSION_DENIED, `RBAC: access denied`. */
export class AccessDeniedError extends ProxyError {
  readonly code = 'REMORA_ERR_ACCESS_DENIED';
  readonly reason = 'rbac_access_denied';
  /** `policy`: the matched policy name (internal: logs only). */
  constructor(policy: string | null) { super('RBAC: access denied', { cause: policy }); }
}

/**
 * Request authentication failed (a JWT that is invalid, expired, for another audience, …, or
 * missing where one is required): 401 / UNAUTHENTICATED. `message` is client-safe and short
 * (Envoy's texts: `Jwt is missing`, `Jwt verification fails`, `Jwt is expired`, …).
 */
export class UnauthenticatedError extends ProxyError {
  readonly code = 'REMORA_ERR_UNAUTHENTICATED';
  readonly reason = 'unauthenticated';
  constructor(message: string, cause?: unknown) { super(message, { cause }); }
}

/**
 * The request's content is invalid for the called method: a JSON body or query parameter the
 * transcoder cannot map, or a message that fails schema validation. 400 / INVALID_ARGUMENT.
 * `details` is an encoded `google.rpc.Status` (with e.g. a `google.rpc.BadRequest` listing every
 * field violation) sent as `grpc-status-details-bin`; null when there are none.
 */
export class InvalidArgumentError extends ProxyError {
  readonly code = 'REMORA_ERR_INVALID_ARGUMENT';
  readonly reason = 'invalid_argument';
  constructor(message: string, readonly details: Buffer | null = null) { super(message); }
}

/** The path is bound, but not for this method: 405 with `Allow` (UNIMPLEMENTED for gRPC clients). */
export class MethodNotAllowedError extends ProxyError {
  readonly code = 'REMORA_ERR_METHOD_NOT_ALLOWED';
  readonly reason = 'method_not_allowed';
  constructor(readonly allow: readonly string[]) { super('method not allowed'); }
}

/** A request body over a configured limit (e.g. the transcoder's `max_request_body_size`): 413. */
export class PayloadTooLargeError extends ProxyError {
  readonly code = 'REMORA_ERR_PAYLOAD_TOO_LARGE';
  readonly reason = 'payload_too_large';
  constructor(what: string) { super('request body too large', { cause: what }); }
}

/** A response over a configured limit (e.g. the transcoder's `max_response_body_size`): 500. */
export class ResponseTooLargeError extends ProxyError {
  readonly code = 'REMORA_ERR_RESPONSE_TOO_LARGE';
  readonly reason = 'response_too_large';
  constructor(what: string) { super('response body too large', { cause: what }); }
}

export class HeaderOverflowError extends ProxyError {
  readonly code = 'REMORA_ERR_HEADER_OVERFLOW';
  readonly reason = 'header_overflow';
  constructor(what: string) { super('request header fields too large', { cause: what }); }
}

export class BadRequestError extends ProxyError {
  readonly code = 'REMORA_ERR_BAD_REQUEST';
  readonly reason = 'bad_request';
  constructor(message: string) { super(message); }
}

export class DrainingError extends ProxyError {
  readonly code = 'REMORA_ERR_DRAINING';
  readonly reason = 'draining';
  constructor() { super('proxy is draining'); }
}

export class InternalProxyError extends ProxyError {
  readonly code = 'REMORA_ERR_INTERNAL';
  readonly reason = 'internal';
  constructor(cause?: unknown) { super('internal proxy error', { cause }); }
}

/** One config problem: the full field path and the reason. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Thrown only at startup (bootstrap) when a config cannot be compiled; carries every issue found. */
export class ConfigError extends Error {
  readonly code = 'REMORA_ERR_CONFIG';
  readonly issues: readonly ConfigIssue[];
  constructor(source: string, issues: readonly ConfigIssue[]) {
    super(`${source}: invalid config:\n` + issues.map((i) => `  ${i.path}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** The result of every validation/compile step: a value, or every error found with its field path. */
export type ValidationResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errors: readonly ConfigIssue[] };
