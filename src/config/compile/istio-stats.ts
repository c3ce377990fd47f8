/**
 * Compiles the `istio.stats` HTTP filter entry (Istio's standard metrics) into IstioStatsModel.
 * The entry configures the listener's telemetry; it is not a per-request filter, so the HCM
 * compiler takes it out of the filter chain. (Stub: owned by the metrics work.)
 */
import type { IstioStatsModel } from '../istio-stats-model';
import type { Issues } from './context';
import type { ProtoObject } from './proto-json';

/** Remora's type URL for the Istio stats entry (proto/remora/filters/http/istio_stats/v1). */
export const ISTIO_STATS_TYPE_URL = 'type.googleapis.com/remora.filters.http.istio_stats.v1.IstioStats';

/** Compiles the entry's `typed_config`. */
export function compileIstioStats(_issues: Issues, _typedConfig: ProtoObject, _path: string): IstioStatsModel | null {
  return { enabled: true };
}
