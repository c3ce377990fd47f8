/**
 * The codec HTTP filters of a workload's inbound HCM, from the mesh's `GrpcTranscoder` and
 * `GrpcValidation` documents (remora.dev/v1alpha1): the gRPC-JSON transcoder and the schema
 * validation filter, in that order, placed after the request filters (JWT, RBAC, rate limits) and
 * before the router. (Stub: owned by the transcoding work.)
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import type { MeshConfig } from '../mesh/model';
import type { NodeView } from './node-view';

/** HTTP filter entries for `node`'s inbound listener ([] when no document selects it). */
export function codecFilters(_mesh: MeshConfig, _node: NodeView): ProtoObject[] {
  return [];
}
