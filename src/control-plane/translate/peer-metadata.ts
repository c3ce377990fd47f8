/**
 * The metadata-exchange header a sidecar adds to its outbound requests to mesh-internal services
 * (observability/istio/peer-metadata.ts): this node's workload, namespace, service account and
 * labels, encoded once per node at translation time, as a virtual-host `request_headers_to_add`.
 * The destination sidecar trusts it only when its mTLS peer certificate matches.
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import { encodePeerMetadata, PEER_METADATA_HEADER } from '../../observability/istio/peer-metadata';
import type { WorkloadEntry } from '../mesh/model';
import { workloadServiceAccount } from './mtls';
import type { NodeView } from './node-view';

/** The header entry for `node`'s outbound virtual hosts; null for a node without a workload name. */
export function peerMetadataHeader(node: NodeView, we: WorkloadEntry | null): ProtoObject | null {
  if (node.workloadName === null) return null;
  const l = node.labels;
  const value = encodePeerMetadata({
    workload: node.workloadName,
    namespace: node.namespace,
    serviceAccount: node.serviceAccount ?? (we === null ? 'default' : workloadServiceAccount(we)),
    app: l['app'] ?? '',
    version: l['version'] ?? '',
    canonicalService: l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l['app'] ?? node.workloadName,
    canonicalRevision: l['service.istio.io/canonical-revision'] ?? l['app.kubernetes.io/version'] ?? l['version'] ?? 'latest',
    cluster: '',
  });
  return { header: { key: PEER_METADATA_HEADER, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}
