/**
 * The compiled tracing config of one HTTP connection manager (Envoy's `HttpConnectionManager.Tracing`
 * with the `envoy.tracers.opentelemetry` provider), as built by config/compile/tracing.ts: sampling
 * percentages, custom tags resolved as far as config time allows, the path-tag limit and the OTLP
 * exporter the spans go to. Deep-frozen like the rest of the model.
 */

/** A `custom_tags[]` entry. `environment` and `metadata` tags are rejected at compile time. */
export type CustomTagModel =
  | { readonly kind: 'literal'; readonly tag: string; readonly value: string }
  /** The request header's value (first one when repeated); `defaultValue` when absent, tag omitted when that is null. */
  | { readonly kind: 'request_header'; readonly tag: string; readonly name: string; readonly defaultValue: string | null };

/** Where spans are exported (OpenTelemetryConfig). */
export interface OtlpExporterModel {
  /** `grpc`: OTLP/gRPC to `google_grpc.target_uri` (plaintext); `http`: OTLP/HTTP protobuf POST to `http_uri.uri`. */
  readonly protocol: 'grpc' | 'http';
  /** gRPC: `http://host:port`; HTTP: the full URL (e.g. `http://collector:4318/v1/traces`). */
  readonly endpoint: string;
  /** The `service.name` resource attribute; '' = derived from the node (WORKLOAD_NAME.NAMESPACE, else node.cluster). */
  readonly serviceName: string;
  /** Export deadline per batch (`grpc_service.timeout` / `http_uri.timeout`; default 5000 ms). */
  readonly timeoutMs: number;
  /** Identity of the exporter: listeners whose provider configs have equal keys share one exporter and queue. */
  readonly key: string;
}

export interface TracingModel {
  /** `random_sampling` in percent (Envoy default 100), applied when the request carries no sampling decision. */
  readonly randomSamplingPercent: number;
  /**
   * `overall_sampling` in percent (default 100): a second cut applied to Remora's own (root) decisions.
   * A parent's explicit decision is always honoured, so it does not apply to those.
   */
  readonly overallSamplingPercent: number;
  /**
   * `client_sampling` in percent (default 100). Accepted for compatibility; it has no effect because
   * Remora does not implement Envoy's `x-client-trace-id` forced tracing.
   */
  readonly clientSamplingPercent: number;
  /** `max_path_tag_length` (default 256): the `url.path` attribute and HTTP span names are cut to this length. */
  readonly maxPathTagLength: number;
  readonly customTags: readonly CustomTagModel[];
  readonly exporter: OtlpExporterModel;
}
