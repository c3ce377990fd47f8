/**
 * A route's `retry_policy` compiled once with the route table: the `retry_on` classification of
 * HTTP statuses, gRPC statuses and resets, and the `retriable_request_headers` matchers that decide
 * whether a request may be replayed at all. Immutable; shared by every call of the route.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/router_filter#x-envoy-retry-on
 */
import { RetryOn, type RetryPolicyModel } from '../config/model';
import { CompiledHeaderMatcher, type RequestHeaders } from './header-matcher';

/** Why an attempt failed without a usable response. */
export const enum ResetKind {
  /** No connection could be made (refused, connect timeout, TLS). */
  ConnectFailure = 0,
  /** The upstream reset or disconnected before the response started. */
  Reset = 1,
  /** REFUSED_STREAM / above a GOAWAY's last-stream-id: never processed. */
  Refused = 2,
  /** `per_try_timeout` fired before the response started. */
  PerTryTimeout = 3,
}

const RESETS = RetryOn.RESET | RetryOn.HTTP_5XX | RetryOn.GATEWAY_ERROR;
const GRPC_BITS = RetryOn.GRPC_CANCELLED | RetryOn.GRPC_DEADLINE_EXCEEDED | RetryOn.GRPC_RESOURCE_EXHAUSTED
  | RetryOn.GRPC_UNAVAILABLE | RetryOn.GRPC_INTERNAL;

/** Methods that are safe to replay without explicit permission (RFC 9110 §9.2.2 idempotent methods). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** A route's retry policy, compiled once per config update. Immutable; shared by every call. */
export class CompiledRetryPolicy {
  readonly retryOn: number;
  readonly numRetries: number;
  readonly perTryTimeoutMs: number | null;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** True when some `retry_on` bit retries on a gRPC status. */
  readonly hasGrpcConditions: boolean;
  private readonly statusCodes: readonly number[];
  /** null when the route gives no `retriable_request_headers`. */
  private readonly requestMatchers: readonly CompiledHeaderMatcher[] | null;

  constructor(model: RetryPolicyModel) {
    this.retryOn = model.retryOn;
    this.numRetries = model.numRetries;
    this.perTryTimeoutMs = model.perTryTimeoutMs;
    this.backoffBaseMs = model.backoffBaseMs;
    this.backoffMaxMs = model.backoffMaxMs;
    this.hasGrpcConditions = (model.retryOn & GRPC_BITS) !== 0;
    this.statusCodes = Object.freeze(model.retriableStatusCodes.slice());
    this.requestMatchers = model.retriableRequestHeaders.length === 0
      ? null
      : Object.freeze(model.retriableRequestHeaders.map((m) => new CompiledHeaderMatcher(m)));
  }

  /**
   * Whether a request may be retried at all (replay safety). With `retriable_request_headers`, only
   * requests matching one of them (that is how a route allows a non-idempotent method). Without,
   * gRPC calls (their committed semantics protect them) and idempotent methods only: a POST or
   * PATCH is never replayed by default.
   */
  allowsRequest(method: string, headers: RequestHeaders, isGrpc: boolean): boolean {
    const matchers = this.requestMatchers;
    if (matchers !== null) {
      for (let i = 0; i < matchers.length; i++) if (matchers[i].matches(headers)) return true;
      return false;
    }
    return isGrpc || IDEMPOTENT_METHODS.has(method);
  }

  /** Whether an upstream HTTP status (final, not 1xx) is retriable under `retry_on`. */
  retriableHttpStatus(status: number): boolean {
    const on = this.retryOn;
    if (status >= 500 && (on & RetryOn.HTTP_5XX) !== 0) return true;
    if ((status === 502 || status === 503 || status === 504) && (on & RetryOn.GATEWAY_ERROR) !== 0) return true;
    if ((on & RetryOn.RETRIABLE_STATUS_CODES) !== 0) {
      const codes = this.statusCodes;
      for (let i = 0; i < codes.length; i++) if (codes[i] === status) return true;
    }
    return false;
  }

  /** Whether a gRPC status (from trailers-only headers or trailers) is retriable under `retry_on`. */
  retriableGrpcStatus(code: number): boolean {
    const on = this.retryOn;
    switch (code) {
      case 1: return (on & RetryOn.GRPC_CANCELLED) !== 0;
      case 4: return (on & RetryOn.GRPC_DEADLINE_EXCEEDED) !== 0;
      case 8: return (on & RetryOn.GRPC_RESOURCE_EXHAUSTED) !== 0;
      case 13: return (on & RetryOn.GRPC_INTERNAL) !== 0;
      case 14: return (on & RetryOn.GRPC_UNAVAILABLE) !== 0;
      default: return false;
    }
  }

  /**
   * Whether a failure without a response is retriable: `reset`, `5xx` and `gateway-error` cover
   * every kind (a per-try timeout included, as Envoy); `connect-failure` covers connect failures;
   * `refused-stream` covers refused streams.
   */
  retriableReset(kind: ResetKind): boolean {
    const on = this.retryOn;
    if ((on & RESETS) !== 0) return true;
    if (kind === ResetKind.ConnectFailure) return (on & RetryOn.CONNECT_FAILURE) !== 0;
    if (kind === ResetKind.Refused) return (on & RetryOn.REFUSED_STREAM) !== 0;
    return false;
  }
}
