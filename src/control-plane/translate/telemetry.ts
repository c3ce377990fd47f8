/**
 * The telemetry part of a sidecar listener's HCM: Istio's standard metrics (`istio.stats`, on by
 * default), and — from the mesh's `Telemetry` documents — `tracing` and `access_log`. (Stub: the
 * Telemetry kind is owned by the telemetry work.)
 */
import type { MeshConfig } from '../mesh/model';
import type { ProtoObject } from '../../config/compile/proto-json';
import type { NodeView } from './node-view';

export const ISTIO_STATS_FILTER: ProtoObject = Object.freeze({
  name: 'istio.stats',
  typed_config: Object.freeze({ '@type': 'type.googleapis.com/remora.filters.http.istio_stats.v1.IstioStats' }),
});

export interface ListenerTelemetryXds {
  /** HTTP filters to put first in the chain (e.g. `istio.stats`). */
  readonly filters: readonly ProtoObject[];
  /** Fields merged into the HCM (`tracing`, `access_log`). */
  readonly hcmFields: ProtoObject;
}

/** The telemetry config of `node`'s inbound or outbound listener. */
export function listenerTelemetry(_mesh: MeshConfig, _node: NodeView, _direction: 'INBOUND' | 'OUTBOUND'): ListenerTelemetryXds {
  return { filters: [ISTIO_STATS_FILTER], hcmFields: {} };
}
