/**
 * The compiled config of Istio's standard metrics for one listener (the `istio.stats` HTTP filter
 * entry). Owned by the metrics work; see config/compile/istio-stats.ts.
 */
export interface IstioStatsModel {
  readonly enabled: true;
}
