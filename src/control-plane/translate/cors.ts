/**
 * CORS and gRPC-Web on a workload's inbound HCM, from VirtualService `corsPolicy` (Istio's fields):
 * the `envoy.filters.http.cors` and `envoy.filters.http.grpc_web` filters and the routes'
 * `typed_per_filter_config` CorsPolicy. (Stub: owned by the gRPC-Web work.)
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import type { MeshConfig } from '../mesh/model';
import type { NodeView } from './node-view';

/** HTTP filter entries (gRPC-Web, then CORS) for `node`'s inbound listener ([] when none applies). */
export function browserFilters(_mesh: MeshConfig, _node: NodeView): ProtoObject[] {
  return [];
}
