/**
 * The compiled tracing config of one HTTP connection manager (Envoy's `HttpConnectionManager.Tracing`
 * with the `envoy.tracers.opentelemetry` provider). Owned by the tracing work; see
 * config/compile/tracing.ts.
 */
export interface TracingModel {
  /** `random_sampling` in percent (Envoy default 100), applied when the request carries no sampling decision. */
  readonly randomSamplingPercent: number;
}
