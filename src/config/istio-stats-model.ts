/**
 * The compiled config of Istio's standard metrics for one listener (the `istio.stats` HTTP filter
 * entry, proto/remora/filters/http/istio_stats/v1): whether the listener records `istio_*` metrics
 * at all (the entry is present) and the one option that changes their labels. Compiled by
 * config/compile/istio-stats.ts; read by observability/istio-metrics.ts at config time.
 */
export interface IstioStatsModel {
  readonly enabled: true;
  /**
   * `disable_host_header_fallback`: on an inbound listener, do not label `destination_service`
   * with the request's host when the route does not name the service (default false).
   */
  readonly disableHostHeaderFallback: boolean;
}
