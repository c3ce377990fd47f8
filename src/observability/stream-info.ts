/**
 * What telemetry sees of one request: the `StreamInfo` view (Envoy's name) that the per-stream
 * context implements, and the interfaces the connection manager calls — `HttpTracer` at request
 * start and `StreamObserver`s (Istio metrics, access logs) once when the stream ends. The HCM of a
 * listener holds a `StreamTelemetry` built at config time; with telemetry off it holds
 * `NO_TELEMETRY` and the request path does nothing more than test two fields.
 */

/** The verified peer of a downstream connection, as telemetry needs it (a subset of transport's PeerIdentity). */
export interface PeerInfo {
  readonly spiffeId: string | null;
  /** Istio's principal form (`cluster.local/ns/<ns>/sa/<sa>`). */
  readonly principal: string | null;
  readonly namespace: string | null;
  readonly serviceAccount: string | null;
}

/**
 * Per-connection state shared by the requests of one downstream connection. `telemetrySlot` is
 * owned by the telemetry code (e.g. the label set of Istio metrics computed once per connection);
 * nothing else reads it.
 */
export interface ConnectionInfo {
  readonly peer: PeerInfo | null;
  readonly remoteAddress: string;
  /** True when the connection is TLS with a verified client certificate (mTLS). */
  readonly mutualTls: boolean;
  telemetrySlot: unknown;
}

/** A read-only view of one request, complete once the stream ended. */
export interface StreamInfo {
  readonly method: string;
  /** `:path` as received (with query). */
  readonly path: string;
  readonly authority: string;
  readonly scheme: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly isGrpc: boolean;
  readonly protocol: 'h1' | 'h2';
  readonly remoteAddress: string;
  readonly connection: ConnectionInfo | null;
  /** Monotonic ms at the first byte of the request (Clock.monotonic). */
  readonly startTime: number;
  /** Wall-clock ms since the epoch at the start (Clock.now), for access logs and spans. */
  readonly startTimeWall: number;
  /** Monotonic ms when the stream ended; 0 until then. */
  readonly endTime: number;
  readonly responseStatus: number;
  /** -1 when not gRPC or no status was seen. */
  readonly grpcStatus: number;
  /** core/response-flags bits. */
  readonly responseFlags: number;
  /** The local reply's reason (`no_healthy_upstream`, `rate_limited`, …) and client-facing message; null for upstream responses. */
  readonly localReplyReason: string | null;
  readonly localReplyMessage: string | null;
  /** Request body bytes received from the client. */
  readonly bytesReceived: number;
  /** Response body bytes sent to the client. */
  readonly bytesSent: number;
  /** The route's name ('' when unnamed); null when no route matched. */
  readonly routeName: string | null;
  /** The cluster the router picked; null when none. */
  readonly upstreamCluster: string | null;
  /** `ip:port` of the last upstream host tried; null when none. */
  readonly upstreamHost: string | null;
  /** The last upstream host's `filter_metadata` (config-time object; e.g. Istio's workload metadata); null when none. */
  readonly upstreamMetadata: Readonly<Record<string, unknown>> | null;
  /** Upstream attempts made (1 + retries); 0 when the request never reached the router. */
  readonly upstreamAttempts: number;
  /** The `x-request-id` forwarded upstream; null when none. */
  readonly requestId: string | null;
  /** Hex trace id of the request's trace context (sampled or not); null without tracing. */
  readonly traceId: string | null;
}

/** Called once per request when the stream ended (after the response or a reset). Must not throw. */
export interface StreamObserver {
  onStreamEnd(info: StreamInfo): void;
  /**
   * Optional: called once at request start, after the tracer, with the headers the router will
   * forward (e.g. to read and remove a metadata-exchange header). Must not throw.
   */
  onRequestStart?(info: StreamInfo, headers: Record<string, string | string[] | undefined>): void;
}

/** The span of one request, when sampled. */
export interface TraceSpan {
  /** Records an event (e.g. a retry: name `retry`, attribute `attempt`). */
  addEvent(name: string, attributes: Readonly<Record<string, string | number | boolean>> | null): void;
  /** Ends the span with the finished stream's attributes. Called once. */
  end(info: StreamInfo): void;
}

/** The writable fields a tracer sets on the stream at request start. */
export interface TracedStream extends StreamInfo {
  traceId: string | null;
  span: TraceSpan | null;
}

/**
 * The tracer of one listener. `onRequestStart` runs once per request after the connection manager
 * prepared the forwarded headers (x-request-id): it reads the incoming trace context from
 * `headers`, decides sampling (honouring the parent's decision), writes the outgoing context into
 * `headers` (the ones the router forwards) and sets `stream.traceId` / `stream.span`.
 */
export interface HttpTracer {
  onRequestStart(stream: TracedStream, headers: Record<string, string | string[] | undefined>): void;
}

/** One listener's telemetry, compiled at config time. */
export interface StreamTelemetry {
  readonly tracer: HttpTracer | null;
  readonly observers: readonly StreamObserver[];
  /** The observers that have `onRequestStart` (so the request path loops over those only). */
  readonly startObservers: readonly StreamObserver[];
}

const NONE = Object.freeze([]) as readonly StreamObserver[];
export const NO_TELEMETRY: StreamTelemetry = Object.freeze({ tracer: null, observers: NONE, startObservers: NONE });
