/**
 * Compiles the `istio.stats` HTTP filter entry (Istio's standard metrics) into IstioStatsModel.
 * The entry configures the listener's telemetry; it is not a per-request filter, so the HCM
 * compiler takes it out of the filter chain and calls this.
 */
import type { IstioStatsModel } from '../istio-stats-model';
import { bool, onlyFields, type Issues } from './context';
import type { ProtoObject } from './proto-json';

/** Remora's type URL for the Istio stats entry (proto/remora/filters/http/istio_stats/v1). */
export const ISTIO_STATS_TYPE_URL = 'type.googleapis.com/remora.filters.http.istio_stats.v1.IstioStats';

/**
 * Compiles the entry's `typed_config` (a canonical ProtoObject of `IstioStats`). Unknown fields are
 * recorded as issues at `path`; never throws. Returns null only when an issue was recorded.
 */
export function compileIstioStats(issues: Issues, typedConfig: ProtoObject, path: string): IstioStatsModel | null {
  const before = issues.count;
  onlyFields(issues, typedConfig, path, ['disable_host_header_fallback']);
  if (issues.count > before) return null;
  return { enabled: true, disableHostHeaderFallback: bool(typedConfig, 'disable_host_header_fallback') ?? false };
}
