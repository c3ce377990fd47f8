/**
 * The compiled, immutable data-plane model. `config/compile/` turns Envoy v3 resources (from a
 * bootstrap file or from xDS) into these plain, deep-frozen objects; everything on the data path
 * reads only these types and never sees protobuf. Durations are milliseconds; `null` means unset or
 * disabled (Envoy's `0s` = disabled is normalised to `null`). Defaults noted per field follow
 * Envoy's v3 API docs unless marked "Remora".
 */
import type { TracingModel } from './tracing-model';
import type { AccessLogModel } from './access-log-model';
import type { IstioStatsModel } from './istio-stats-model';
import { Re2Regex } from './re2-regex';

export interface SocketAddressModel {
  readonly host: string;
  readonly port: number;
}

export interface NodeModel {
  readonly id: string;
  readonly cluster: string;
  /** `node.metadata` as plain JSON (a google.protobuf.Struct decoded). */
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface BootstrapModel {
  readonly node: NodeModel;
  /** `admin.address`; Remora default 127.0.0.1:15000 when `admin` is absent. */
  readonly admin: SocketAddressModel;
  readonly listeners: readonly ListenerModel[];
  readonly clusters: readonly ClusterModel[];
  /** `dynamic_resources.ads_config` (control-plane issue); null for static-only bootstraps. */
  readonly ads: AdsConfigModel | null;
}

export interface AdsConfigModel {
  /** Name of the static cluster that reaches the control plane. */
  readonly clusterName: string;
  readonly ldsFromAds: boolean;
  readonly cdsFromAds: boolean;
}

// ---------------------------------------------------------------- strings and headers

export type StringMatchModel =
  | { readonly kind: 'exact' | 'prefix' | 'suffix' | 'contains'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'regex'; readonly regex: Re2Regex };

export type HeaderAppendAction =
  | 'APPEND_IF_EXISTS_OR_ADD'
  | 'ADD_IF_ABSENT'
  | 'OVERWRITE_IF_EXISTS_OR_ADD'
  | 'OVERWRITE_IF_EXISTS';

export interface HeaderValueOptionModel {
  /** Lowercase header name. */
  readonly key: string;
  readonly value: string;
  readonly action: HeaderAppendAction;
  /** Envoy's `keep_empty_value` (default false: an empty value removes nothing and adds nothing). */
  readonly keepEmptyValue: boolean;
}

/** Header mutations of one level (route config, virtual host or route); all names lowercase. */
export interface HeaderMutationsModel {
  readonly requestHeadersToAdd: readonly HeaderValueOptionModel[];
  readonly requestHeadersToRemove: readonly string[];
  readonly responseHeadersToAdd: readonly HeaderValueOptionModel[];
  readonly responseHeadersToRemove: readonly string[];
}

// ---------------------------------------------------------------- listeners

export type CodecType = 'AUTO' | 'HTTP1' | 'HTTP2';

export interface ListenerModel {
  readonly name: string;
  readonly address: SocketAddressModel;
  /** `filter_chains[0].transport_socket` (envoy.transport_sockets.tls); null for plaintext. */
  readonly tls: DownstreamTlsModel | null;
  /**
   * Plaintext connections are served: always when `tls` is null; with `tls`, only when the listener
   * has Istio's PERMISSIVE shape (tls_inspector plus a `transport_protocol: tls` chain and a
   * `raw_buffer` chain with the same HCM), and the listener then tells TLS from plaintext by the
   * first byte. False = STRICT (plaintext clients are refused).
   */
  readonly plaintextAllowed: boolean;
  /** `traffic_direction`: INBOUND listeners report Istio metrics as the destination, OUTBOUND as the source. */
  readonly trafficDirection: 'UNSPECIFIED' | 'INBOUND' | 'OUTBOUND';
  readonly hcm: HttpConnectionManagerModel;
}

export interface DownstreamTlsModel {
  /** The server certificate; null when it comes from SDS (`certificateSdsName`). */
  readonly certChain: Buffer | null;
  readonly privateKey: Buffer | null;
  /** `tls_certificate_sds_secret_configs[0].name` (SDS over ADS); null for inline/file material. */
  readonly certificateSdsName: string | null;
  /** `validation_context_sds_secret_config.name` (or the combined context's SDS name); null when inline. */
  readonly validationSdsName: string | null;
  /** `validation_context.trusted_ca`; null when client certificates are not verified. */
  readonly trustedCa: Buffer | null;
  readonly requireClientCertificate: boolean;
  readonly matchSubjectAltNames: readonly SanMatcherModel[];
  /** `common_tls_context.alpn_protocols`; default ['h2', 'http/1.1'] for codec AUTO (Remora: Envoy sends none). */
  readonly alpnProtocols: readonly string[];
  /** 'TLSv1.2' (Envoy's server default) unless `tls_params.tls_minimum_protocol_version` says otherwise. */
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list, or null for Node's defaults. */
  readonly cipherSuites: string | null;
}

export interface UpstreamTlsModel {
  readonly certChain: Buffer | null;
  readonly privateKey: Buffer | null;
  /** `tls_certificate_sds_secret_configs[0].name`; null for inline/file material or none. */
  readonly certificateSdsName: string | null;
  /** `validation_context_sds_secret_config.name`; null when inline or none. */
  readonly validationSdsName: string | null;
  readonly trustedCa: Buffer | null;
  /** `sni`; null → no SNI. */
  readonly sni: string | null;
  readonly matchSubjectAltNames: readonly SanMatcherModel[];
  readonly alpnProtocols: readonly string[];
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly cipherSuites: string | null;
}

/**
 * An SDS `Secret` (envoy.extensions.transport_sockets.tls.v3.Secret), compiled: a certificate with
 * its key, or a validation context (trust bundle plus optional SAN matchers). Delivered over ADS or
 * produced locally (the workload identity: `default` and `ROOTCA`, Istio's names).
 */
export interface SecretModel {
  readonly name: string;
  readonly tlsCertificate: { readonly certChain: Buffer; readonly privateKey: Buffer } | null;
  readonly validationContext: { readonly trustedCa: Buffer; readonly matchSubjectAltNames: readonly SanMatcherModel[] } | null;
}

export interface SanMatcherModel {
  readonly type: 'DNS' | 'URI' | 'IP_ADDRESS' | 'EMAIL';
  readonly matcher: StringMatchModel;
}

export interface HttpConnectionManagerModel {
  readonly statPrefix: string;
  readonly codecType: CodecType;
  /** Inline `route_config`; null when routes come from RDS. */
  readonly routeConfig: RouteConfigModel | null;
  /** `rds.route_config_name`; null for inline routes. */
  readonly rdsRouteConfigName: string | null;
  /** Every HTTP filter in order; the last is always `envoy.filters.http.router`. */
  readonly httpFilters: readonly HttpFilterModel[];
  /** `stream_idle_timeout`, default 5 min. */
  readonly streamIdleTimeoutMs: number | null;
  /** `request_timeout`, default disabled. */
  readonly requestTimeoutMs: number | null;
  /** `request_headers_timeout`, default disabled. */
  readonly requestHeadersTimeoutMs: number | null;
  /** `common_http_protocol_options.idle_timeout` (connection idle), default 1 h. */
  readonly connectionIdleTimeoutMs: number | null;
  /** `max_request_headers_kb`, default 60, in bytes here (name + value + 32 per header, HPACK accounting). */
  readonly maxRequestHeadersBytes: number;
  /** `common_http_protocol_options.max_headers_count`, default 100. */
  readonly maxHeadersCount: number;
  /** `http2_protocol_options.max_concurrent_streams`, default 2147483647. */
  readonly maxConcurrentStreams: number;
  /** `http2_protocol_options.initial_stream_window_size`, default 268435456 (256 MiB). */
  readonly initialStreamWindowSize: number;
  /** `http2_protocol_options.initial_connection_window_size`, default 268435456 (256 MiB). */
  readonly initialConnectionWindowSize: number;
  /** `use_remote_address`, default false. */
  readonly useRemoteAddress: boolean;
  /** `xff_num_trusted_hops`, default 0. */
  readonly xffNumTrustedHops: number;
  /** `generate_request_id`, default true. */
  readonly generateRequestId: boolean;
  /** `preserve_external_request_id`, default false (but an existing id is kept when not edge, see listeners/). */
  readonly preserveExternalRequestId: boolean;
  /** `strip_any_host_port`, default false. */
  readonly stripAnyHostPort: boolean;
  /** `server_name`, default 'envoy'; Remora default 'remora'. Null with `server_header_transformation: PASS_THROUGH`. */
  readonly serverName: string | null;
  /** `forward_client_cert_details` (x-forwarded-client-cert handling), default SANITIZE. */
  readonly forwardClientCertDetails: ForwardClientCertModel;
  /** `set_current_client_cert_details`: what APPEND_FORWARD / SANITIZE_SET add after `By=` and `Hash=`. */
  readonly setCurrentClientCertDetails: ClientCertDetailsModel;
  /** `tracing` (sampling, custom tags, the OpenTelemetry provider); null = no tracing. */
  readonly tracing: TracingModel | null;
  /** `access_log` entries, in order. */
  readonly accessLogs: readonly AccessLogModel[];
  /** Istio's standard metrics (the `istio.stats` HTTP filter entry, taken out of the filter chain); null = off. */
  readonly istioStats: IstioStatsModel | null;
}

/** Envoy's `HttpConnectionManager.ForwardClientCertDetails`. */
export type ForwardClientCertModel = 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';

/** Envoy's `HttpConnectionManager.SetCurrentClientCertDetails` (all false by default). */
export interface ClientCertDetailsModel {
  readonly subject: boolean;
  readonly cert: boolean;
  readonly chain: boolean;
  readonly dns: boolean;
  readonly uri: boolean;
}

export interface HttpFilterModel {
  readonly name: string;
  readonly typeUrl: string;
  /** The filter's own compiled config (from its FilterRegistration.compile); opaque here. */
  readonly config: unknown;
  /** `is_optional`/`disabled` are rejected for now. */
}

// ---------------------------------------------------------------- routes

export interface RouteConfigModel {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHostModel[];
  readonly headers: HeaderMutationsModel;
}

export interface VirtualHostModel {
  readonly name: string;
  /** Lowercased domains as written (`*`, `*.suffix`, `prefix*`, exact). */
  readonly domains: readonly string[];
  readonly routes: readonly RouteModel[];
  readonly headers: HeaderMutationsModel;
}

export type PathMatchModel =
  | { readonly kind: 'prefix'; readonly value: string; readonly caseSensitive: boolean }
  | { readonly kind: 'path'; readonly value: string; readonly caseSensitive: boolean }
  | { readonly kind: 'regex'; readonly regex: Re2Regex };

export interface HeaderMatcherModel {
  /** Lowercase; `:authority`, `:method`, `:path` are matchable as in Envoy. */
  readonly name: string;
  /** null for `present_match: true`; for `present_match: false` see `presentMatch`. */
  readonly match: StringMatchModel | null;
  /** For a presence-only matcher: whether the header must be present (true) or absent (false). */
  readonly presentMatch: boolean;
  readonly invertMatch: boolean;
  /** `treat_missing_header_as_empty`, default false. */
  readonly treatMissingAsEmpty: boolean;
}

export interface QueryParameterMatcherModel {
  readonly name: string;
  /** null means `present_match: true`. */
  readonly match: StringMatchModel | null;
}

export interface RouteMatchModel {
  readonly path: PathMatchModel;
  readonly headers: readonly HeaderMatcherModel[];
  readonly queryParameters: readonly QueryParameterMatcherModel[];
  /** `grpc: {}`: only requests with a gRPC content-type. */
  readonly grpc: boolean;
}

export interface WeightedClusterModel {
  readonly name: string;
  readonly weight: number;
  readonly headers: HeaderMutationsModel;
}

export interface RouteForwardModel {
  readonly type: 'route';
  /** One entry for `cluster`, several for `weighted_clusters` (weights > 0 sum to `totalWeight`). */
  readonly clusters: readonly WeightedClusterModel[];
  readonly totalWeight: number;
  /** `timeout`, default 15 s; null when `0s` (disabled). */
  readonly timeoutMs: number | null;
  /** `idle_timeout`; null = inherit the HCM stream idle timeout. */
  readonly idleTimeoutMs: number | null;
  readonly prefixRewrite: string | null;
  readonly hostRewriteLiteral: string | null;
  /**
   * `max_stream_duration.grpc_timeout_header_max`: null when unset. Remora honours a client
   * `grpc-timeout` regardless (the deadline is min(route timeout, client deadline)); when this is set
   * and non-zero, the client's value is capped by it first. 0 means "no cap".
   */
  readonly grpcTimeoutHeaderMaxMs: number | null;
  /**
   * `max_stream_duration.grpc_timeout_header_offset`: subtracted from the client's `grpc-timeout`
   * (after the cap) so the proxy's deadline fires before the client's and the client gets the
   * proxy's DEADLINE_EXCEEDED with time to spare; a result ≤ 0 times out at once (Envoy). 0 when unset.
   */
  readonly grpcTimeoutHeaderOffsetMs: number;
  /** `max_stream_duration.max_stream_duration`; null when unset. */
  readonly maxStreamDurationMs: number | null;
  /** `retry_policy` (route level, else the virtual host's); null = no retries. */
  readonly retryPolicy: RetryPolicyModel | null;
  /** `hash_policy` in order (RING_HASH clusters); empty = no hash (a random ring point). */
  readonly hashPolicy: readonly HashPolicyModel[];
  /**
   * `rate_limits` (stage 0): the route's own, else the virtual host's (Envoy's default
   * `vh_rate_limits: OVERRIDE`); both, route first, with `include_vh_rate_limits: true`. Empty = the
   * request produces no rate-limit descriptors. Consumed by the local rate limit filter.
   */
  readonly rateLimits: readonly RateLimitModel[];
}

/**
 * One `envoy.config.route.v3.RateLimit`: a request produces one descriptor from it, the entries of
 * its actions in order, or none when an action produces nothing.
 */
export interface RateLimitModel {
  /** At least one. */
  readonly actions: readonly RateLimitActionModel[];
}

/**
 * A `RateLimit.Action`. `destination_cluster` compiles to `generic_key` (`destination_cluster` = the
 * route's single cluster). `source_principal` has no Envoy action: it is Remora's hook for the peer
 * identity (mTLS), not produced by any config yet.
 */
export type RateLimitActionModel =
  /** Entry `descriptorKey` = the first value of `headerName` (lowercase); absent: skip the entry or the descriptor. */
  | { readonly kind: 'request_headers'; readonly headerName: string; readonly descriptorKey: string; readonly skipIfAbsent: boolean }
  /** Entry `remote_address` = the downstream peer address. */
  | { readonly kind: 'remote_address' }
  /** Entry `descriptorKey` (default `generic_key`) = `descriptorValue`. */
  | { readonly kind: 'generic_key'; readonly descriptorKey: string; readonly descriptorValue: string }
  /** Entry `descriptorKey` (default `header_match`) = `descriptorValue` when all `headers` match equals `expectMatch`. */
  | { readonly kind: 'header_value_match'; readonly descriptorKey: string; readonly descriptorValue: string; readonly expectMatch: boolean; readonly headers: readonly HeaderMatcherModel[] }
  /** Entry `descriptorKey` = the peer's principal; no principal: the descriptor is skipped. */
  | { readonly kind: 'source_principal'; readonly descriptorKey: string };

/** `retry_on` conditions as bits (Envoy's names in comments). */
export const RetryOn = {
  /** `5xx`: any 5xx response, or a reset/connect failure/refused stream. */
  HTTP_5XX: 1 << 0,
  /** `gateway-error`: 502, 503, 504, or a reset/connect failure. */
  GATEWAY_ERROR: 1 << 1,
  /** `reset`: the upstream reset or disconnected before responding. */
  RESET: 1 << 2,
  /** `connect-failure`. */
  CONNECT_FAILURE: 1 << 3,
  /** `refused-stream`: REFUSED_STREAM (always replayed transparently as well). */
  REFUSED_STREAM: 1 << 4,
  /** `retriable-status-codes`: the HTTP statuses in `retriableStatusCodes`. */
  RETRIABLE_STATUS_CODES: 1 << 5,
  /** gRPC `cancelled` (grpc-status 1, from headers or trailers). */
  GRPC_CANCELLED: 1 << 6,
  /** gRPC `deadline-exceeded` (4). */
  GRPC_DEADLINE_EXCEEDED: 1 << 7,
  /** gRPC `resource-exhausted` (8). */
  GRPC_RESOURCE_EXHAUSTED: 1 << 8,
  /** gRPC `unavailable` (14). */
  GRPC_UNAVAILABLE: 1 << 9,
  /** gRPC `internal` (13). */
  GRPC_INTERNAL: 1 << 10,
} as const;

export interface RetryPolicyModel {
  /** OR of `RetryOn` bits; never 0 (a policy without conditions is rejected at compile time). */
  readonly retryOn: number;
  /** `num_retries`, default 1. */
  readonly numRetries: number;
  /** `per_try_timeout`; null = only the route timeout bounds each try. */
  readonly perTryTimeoutMs: number | null;
  /** `retriable_status_codes` (for `retriable-status-codes`). */
  readonly retriableStatusCodes: readonly number[];
  /** `retry_back_off.base_interval`, default 25 ms. */
  readonly backoffBaseMs: number;
  /** `retry_back_off.max_interval`, default 10 × base (250 ms). */
  readonly backoffMaxMs: number;
  /**
   * `retriable_request_headers`: when non-empty, a request is retried only if it matches one of
   * them (this is how a route explicitly allows retrying a non-idempotent method, e.g. `:method`
   * POST). When empty, Remora retries gRPC calls and requests with an idempotent method only.
   */
  readonly retriableRequestHeaders: readonly HeaderMatcherModel[];
}

export type HashPolicyModel =
  | { readonly kind: 'header'; readonly name: string; readonly terminal: boolean }
  | { readonly kind: 'cookie'; readonly name: string; readonly terminal: boolean }
  | { readonly kind: 'source_ip'; readonly terminal: boolean }
  | { readonly kind: 'query_parameter'; readonly name: string; readonly terminal: boolean };

export interface RouteDirectResponseModel {
  readonly type: 'direct_response';
  readonly status: number;
  readonly body: Buffer | null;
}

export interface RouteRedirectModel {
  readonly type: 'redirect';
  /** 301 (default), 302, 303, 307, 308 from `response_code`. */
  readonly status: number;
  readonly schemeRedirect: string | null;
  readonly hostRedirect: string | null;
  readonly portRedirect: number | null;
  readonly pathRedirect: string | null;
  readonly prefixRewrite: string | null;
  readonly stripQuery: boolean;
}

export type RouteActionModel = RouteForwardModel | RouteDirectResponseModel | RouteRedirectModel;

export interface RouteModel {
  readonly name: string;
  readonly match: RouteMatchModel;
  readonly action: RouteActionModel;
  readonly headers: HeaderMutationsModel;
  /** Per-route filter configs (`typed_per_filter_config`), compiled by each filter; keyed by filter name. */
  readonly perFilterConfig: Readonly<Record<string, unknown>>;
}

// ---------------------------------------------------------------- clusters

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH';

export interface EndpointModel {
  readonly host: string;
  readonly port: number;
  /** `load_balancing_weight`, default 1. */
  readonly weight: number;
  /** Locality priority, default 0. */
  readonly priority: number;
  /** `health_status` as declared: UNKNOWN and HEALTHY are used; others are not routed to. */
  readonly healthStatus: 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'TIMEOUT' | 'DEGRADED';
  /** `metadata.filter_metadata` decoded to plain JSON (e.g. Istio's `istio.workload`); null when absent. */
  readonly metadata: Readonly<Record<string, unknown>> | null;
}

export type UpstreamProtocol = 'http1' | 'http2' | 'downstream';

export interface ClusterModel {
  readonly name: string;
  readonly type: 'STATIC' | 'STRICT_DNS' | 'EDS';
  /** `connect_timeout`, default 5 s. */
  readonly connectTimeoutMs: number;
  readonly lbPolicy: LbPolicy;
  /** `least_request_lb_config.choice_count`, default 2. */
  readonly leastRequestChoiceCount: number;
  /** From `load_assignment` (STATIC, STRICT_DNS: host names to resolve); empty for EDS until assigned. */
  readonly endpoints: readonly EndpointModel[];
  /** `eds_cluster_config.service_name` or the cluster name; only for EDS. */
  readonly edsServiceName: string | null;
  /** From HttpProtocolOptions: explicit http2 → 'http2', use_downstream_protocol_config → 'downstream', else 'http1'. */
  readonly protocol: UpstreamProtocol;
  /** `http2_protocol_options.max_concurrent_streams` towards upstream, default 2147483647 (the peer's SETTINGS bound it anyway). */
  readonly http2MaxConcurrentStreams: number;
  /** `http2_protocol_options.initial_stream_window_size`, default 256 MiB. */
  readonly http2InitialStreamWindowSize: number;
  /** `http2_protocol_options.initial_connection_window_size`, default 256 MiB. */
  readonly http2InitialConnectionWindowSize: number;
  /** `common_http_protocol_options.idle_timeout` for upstream connections, default 1 h. */
  readonly idleTimeoutMs: number | null;
  /** `common_http_protocol_options.max_requests_per_connection`; null = unlimited. */
  readonly maxRequestsPerConnection: number | null;
  readonly tls: UpstreamTlsModel | null;
  /** `dns_refresh_rate`, default 5 s (STRICT_DNS only). */
  readonly dnsRefreshRateMs: number;
  /** `dns_lookup_family`: AUTO (default, v4 preferred as Envoy's V4_PREFERRED), V4_ONLY, V6_ONLY, ALL. */
  readonly dnsLookupFamily: 'AUTO' | 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'ALL';
  /** `least_request_lb_config.active_request_bias`, default 1.0. */
  readonly leastRequestActiveRequestBias: number;
  /** `ring_hash_lb_config.minimum_ring_size` (default 1024) / `maximum_ring_size` (default 8M). */
  readonly ringHash: { readonly minimumRingSize: number; readonly maximumRingSize: number };
  /** `common_lb_config.healthy_panic_threshold`, percent, default 50; 0 disables panic mode. */
  readonly healthyPanicThresholdPercent: number;
  /** `circuit_breakers.thresholds` for priority DEFAULT (Envoy's defaults when absent). */
  readonly circuitBreakers: CircuitBreakersModel;
  /** `outlier_detection`; null = off. */
  readonly outlierDetection: OutlierDetectionModel | null;
  /** `health_checks` (at most one is supported); empty = no active health checking. */
  readonly healthChecks: readonly HealthCheckModel[];
}

export interface CircuitBreakersModel {
  /** `max_connections`, default 1024 (HTTP/1.1 connections; for HTTP/2 one connection per endpoint is the pool's own limit). */
  readonly maxConnections: number;
  /** `max_pending_requests`, default 1024 (requests waiting for a connection or stream). */
  readonly maxPendingRequests: number;
  /** `max_requests`, default 1024 (active requests). */
  readonly maxRequests: number;
  /** `max_retries`, default 3 (active retries); ignored when `retryBudget` is set. */
  readonly maxRetries: number;
  /**
   * `retry_budget`. Remora default ON: 20% of active requests, minimum 3 concurrent retries (Envoy
   * applies only `max_retries` unless a budget is configured). Null when thresholds are given
   * without a `retry_budget`: then `maxRetries` applies, as in Envoy.
   */
  readonly retryBudget: { readonly budgetPercent: number; readonly minRetryConcurrency: number } | null;
}

export interface OutlierDetectionModel {
  /** `consecutive_5xx`, default 5. */
  readonly consecutive5xx: number;
  /** `consecutive_gateway_failure`, default 5. */
  readonly consecutiveGatewayFailure: number;
  /** `consecutive_local_origin_failure`, default 5 (counted only with `split_external_local_origin_errors`). */
  readonly consecutiveLocalOriginFailure: number;
  /** `split_external_local_origin_errors`, default false (local-origin failures then count as 5xx). */
  readonly splitExternalLocalOriginErrors: boolean;
  /** `interval`, default 10 s: how often ejections are reviewed (un-ejection by time). */
  readonly intervalMs: number;
  /** `base_ejection_time`, default 30 s; an endpoint's n-th ejection lasts n × base (capped). */
  readonly baseEjectionTimeMs: number;
  /** `max_ejection_time`, default 300 s. */
  readonly maxEjectionTimeMs: number;
  /** `max_ejection_percent`, default 10. */
  readonly maxEjectionPercent: number;
  /** `enforcing_consecutive_5xx`, default 100. */
  readonly enforcingConsecutive5xx: number;
  /** `enforcing_consecutive_gateway_failure`, default 0 (as Envoy). */
  readonly enforcingConsecutiveGatewayFailure: number;
  /** `enforcing_consecutive_local_origin_failure`, default 100. */
  readonly enforcingConsecutiveLocalOriginFailure: number;
}

export interface HealthCheckModel {
  /** `timeout` (required). */
  readonly timeoutMs: number;
  /** `interval` (required). */
  readonly intervalMs: number;
  /** `initial_jitter`, default 0. */
  readonly initialJitterMs: number;
  /** `interval_jitter`, default 0. */
  readonly intervalJitterMs: number;
  /** `interval_jitter_percent`, default 0. */
  readonly intervalJitterPercent: number;
  /** `unhealthy_threshold` (required). */
  readonly unhealthyThreshold: number;
  /** `healthy_threshold` (required). */
  readonly healthyThreshold: number;
  /** `unhealthy_interval`; null = `intervalMs`. */
  readonly unhealthyIntervalMs: number | null;
  readonly check:
    | { readonly type: 'grpc'; readonly serviceName: string; readonly authority: string | null }
    | {
      readonly type: 'http';
      readonly path: string;
      readonly host: string | null;
      /** `expected_statuses` as [start, end) ranges; default [[200, 201)]. */
      readonly expectedStatuses: readonly (readonly [number, number])[];
    };
}

export interface ClusterLoadAssignmentModel {
  readonly clusterName: string;
  readonly endpoints: readonly EndpointModel[];
}

/** A compiled `envoy.type.v3.FractionalPercent`: `numerator` over 100, 10 000 or 1 000 000. */
export interface FractionalPercentModel {
  readonly numerator: number;
  readonly denominator: number;
}

/** Recursively freezes a compiled model object (Buffers, RegExps and compiled RE2 patterns are left as they are). */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  if (Buffer.isBuffer(value) || value instanceof RegExp || value instanceof Re2Regex) return value;
  Object.freeze(value);
  for (const key of Object.keys(value as object)) deepFreeze((value as Record<string, unknown>)[key]);
  return value;
}
