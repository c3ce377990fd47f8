/**
 * Services → Clusters and ClusterLoadAssignments. One cluster per (host, port) and per (host, port,
 * DestinationRule subset), named `outbound|<port>|<subset>|<host>`. STATIC-resolution services are
 * EDS clusters over ADS whose CLA holds the ServiceEntry endpoints or the selected WorkloadEntries
 * (one locality with `load_balancing_weight: 1`, IP literals, sorted, de-duplicated); DNS-resolution
 * services are STRICT_DNS clusters with an inline `load_assignment` (LOGICAL_DNS with one endpoint
 * for proxyless gRPC, which has no STRICT_DNS). GRPC/HTTP2 ports get explicit HTTP/2 upstream options.
 * The DestinationRule `trafficPolicy` (the subset's merged over the rule's) is applied by
 * `resilience.ts`. Every WorkloadEntry-backed endpoint carries Istio's endpoint metadata in
 * `metadata.filter_metadata.istio` (what sidecars label `istio_*` metrics with, see
 * `istioEndpointMetadata`).
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import { labelsMatch } from '../mesh/load-mesh-config';
import { effectiveTrafficPolicy, workloadIndexKey, type Labels, type MeshConfig, type ServiceEntry, type ServicePort, type WorkloadEntry } from '../mesh/model';
import { adsConfigSource, http2ProtocolOptions, socketAddress } from './envoy-builders';
import { isMtlsCandidate, spiffeId, upstreamTransportSocket, workloadServiceAccount, type BackingWorkload, type MtlsTranslateOptions } from './mtls';
import { outboundClusterName } from './names';
import { applyTrafficPolicy } from './resilience';

/**
 * The MeshConfig fields a cluster and its CLA are computed from, and nothing else: `emitCluster`
 * and its helpers take only these (the compiler enforces it), so `ClusterMemo` may reuse a cluster
 * while these fields are the very same objects.
 */
export const CLUSTER_INPUTS = ['serviceByHost', 'destinationRuleByHost', 'workloadEntryIndex', 'peerAuthentications'] as const;
export type ClusterInputs = Pick<MeshConfig, (typeof CLUSTER_INPUTS)[number]>;

/** One resolved endpoint of a service port. */
export interface ResolvedEndpoint {
  readonly address: string;
  readonly port: number;
  readonly labels: Labels;
  readonly weight: number | null;
  /** The WorkloadEntry behind the endpoint; null for ServiceEntry endpoints and DNS hosts. */
  readonly workload: WorkloadEntry | null;
}

/** The WorkloadEntries that could match `selector` in `namespace` (all sharing one of its labels). */
function selectorCandidates(mesh: ClusterInputs, namespace: string, selector: Readonly<Record<string, string>>): readonly WorkloadEntry[] {
  const keys = Object.keys(selector);
  const key = keys.length === 0 ? workloadIndexKey(namespace) : workloadIndexKey(namespace, keys[0], selector[keys[0]!]);
  return mesh.workloadEntryIndex.get(key) ?? [];
}

/** Every endpoint of `se` for `port` (ServiceEntry endpoints or selected WorkloadEntries), sorted. */
export function serviceEndpoints(mesh: ClusterInputs, se: ServiceEntry, port: ServicePort, host: string): ResolvedEndpoint[] {
  const out: ResolvedEndpoint[] = [];
  const dflt = port.targetPort ?? port.number;
  if (se.workloadSelector !== null) {
    for (const we of selectorCandidates(mesh, se.meta.namespace, se.workloadSelector)) {
      if (!labelsMatch(se.workloadSelector, we.labels)) continue;
      out.push({ address: we.address, port: we.ports[port.name] ?? dflt, labels: we.labels, weight: we.weight, workload: we });
    }
  } else if (se.endpoints.length > 0) {
    for (const ep of se.endpoints) out.push({ address: ep.address, port: ep.ports[port.name] ?? dflt, labels: ep.labels, weight: ep.weight, workload: null });
  } else if (se.resolution === 'DNS') {
    out.push({ address: host, port: dflt, labels: {}, weight: null, workload: null }); // Istio: resolve the host itself
  }
  out.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
  const seen = new Set<string>();
  return out.filter((e) => {
    const k = `${e.address}|${e.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Istio's endpoint metadata for a WorkloadEntry-backed endpoint: `workload` is Istio's encoding
 * `<workload>;<namespace>;<canonical service>;<canonical revision>;<cluster>` (the cluster part is
 * empty: the mesh config has no cluster id); Remora adds `app` and `version` (the `app`/`version`
 * labels, when set) and, when the cluster originates mTLS (`trustDomain` non-null), `identity`, the
 * SPIFFE ID the peer certificate is verified against. The canonical service and revision follow
 * Istio's injector defaults (the `service.istio.io/canonical-*` labels, else `app` / `version`
 * (or their `app.kubernetes.io/*` forms), else the workload name / `latest`).
 */
export function istioEndpointMetadata(we: WorkloadEntry, trustDomain: string | null): ProtoObject {
  const l = we.labels;
  const canonical = l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l['app'] ?? we.meta.name;
  const revision = l['service.istio.io/canonical-revision'] ?? l['app.kubernetes.io/version'] ?? l['version'] ?? 'latest';
  const istio: ProtoObject = { workload: `${we.meta.name};${we.meta.namespace};${canonical};${revision};` };
  if (l['app'] !== undefined) istio['app'] = l['app'];
  if (l['version'] !== undefined) istio['version'] = l['version'];
  if (trustDomain !== null) istio['identity'] = spiffeId(trustDomain, we.meta.namespace, workloadServiceAccount(we));
  return { filter_metadata: { istio } };
}

function lbEndpoints(eps: readonly ResolvedEndpoint[], trustDomain: string | null): ProtoObject[] {
  return eps.map((e) => {
    const lb: ProtoObject = { endpoint: { address: socketAddress(e.address, e.port) } };
    if (e.workload !== null) lb['metadata'] = istioEndpointMetadata(e.workload, trustDomain);
    if (e.weight !== null) lb['load_balancing_weight'] = { value: e.weight };
    return lb;
  });
}

/**
 * A CLA with one locality (weight 1) holding `eps`; no `endpoints` at all when `eps` is empty.
 * `mtlsTrustDomain` (non-null when the cluster originates mTLS) adds the peers' SPIFFE IDs to the
 * endpoint metadata.
 */
export function clusterLoadAssignment(clusterName: string, eps: readonly ResolvedEndpoint[], mtlsTrustDomain: string | null = null): ProtoObject {
  const cla: ProtoObject = { cluster_name: clusterName };
  if (eps.length > 0) cla['endpoints'] = [{ locality: {}, load_balancing_weight: { value: 1 }, lb_endpoints: lbEndpoints(eps, mtlsTrustDomain) }];
  return cla;
}

/** One (host, port, subset) cluster to emit. */
export interface ClusterKey {
  readonly host: string;
  readonly port: number;
  readonly subset: string | null;
}

/** The WorkloadEntries behind `se` (restricted to `subsetLabels`), each with its port for `port`. */
function backingWorkloads(mesh: ClusterInputs, se: ServiceEntry, port: ServicePort, subsetLabels: Labels | null): BackingWorkload[] {
  if (se.workloadSelector === null) return [];
  const out: BackingWorkload[] = [];
  for (const we of selectorCandidates(mesh, se.meta.namespace, se.workloadSelector)) {
    if (!labelsMatch(se.workloadSelector, we.labels)) continue;
    if (subsetLabels !== null && !labelsMatch(subsetLabels, we.labels)) continue;
    out.push({ we, port: we.ports[port.name] ?? port.targetPort ?? port.number });
  }
  return out;
}

/**
 * Emits the Cluster (and, for EDS clusters, its CLA) for `key` into `clusters`/`assignments`.
 * `proxyless` switches to what gRPC accepts (ROUND_ROBIN only, LOGICAL_DNS instead of STRICT_DNS).
 * With `mtls` (the control plane has a CA) a sidecar's cluster to a mesh-internal, workload-backed
 * service originates auto-mTLS (`mtls.ts`); proxyless clusters never do.
 */
export function emitCluster(
  mesh: ClusterInputs, key: ClusterKey, proxyless: boolean,
  clusters: Map<string, ProtoObject>, assignments: Map<string, ProtoObject>,
  mtls: MtlsTranslateOptions | null = null,
): void {
  const name = outboundClusterName(key.port, key.host, key.subset);
  if (clusters.has(name)) return;
  const se = mesh.serviceByHost.get(key.host);
  const port = se?.ports.find((p) => p.number === key.port);
  if (se === undefined || port === undefined) return; // validated references never get here
  const dr = mesh.destinationRuleByHost.get(key.host) ?? null;
  const subset = key.subset === null || dr === null ? null : (dr.subsets.find((s) => s.name === key.subset) ?? null);
  if (key.subset !== null && subset === null) return;

  let eps = serviceEndpoints(mesh, se, port, key.host);
  if (subset !== null) eps = eps.filter((e) => labelsMatch(subset.labels, e.labels));

  // Auto-mTLS first: whether the cluster originates mTLS decides the endpoints' `identity`.
  let ts: ProtoObject | null = null;
  if (mtls !== null && !proxyless && isMtlsCandidate(se.location, se.workloadSelector !== null)) {
    ts = upstreamTransportSocket(mesh, mtls, backingWorkloads(mesh, se, port, subset?.labels ?? null), key.port, key.host, key.subset, port.protocol);
  }
  const td = ts === null ? null : mtls!.trustDomain;

  const c: ProtoObject = { name };
  if (se.resolution === 'DNS') {
    if (proxyless) {
      c['type'] = 'LOGICAL_DNS';
      c['load_assignment'] = clusterLoadAssignment(name, eps.slice(0, 1), td);
    } else {
      c['type'] = 'STRICT_DNS';
      c['load_assignment'] = clusterLoadAssignment(name, eps, td);
    }
  } else {
    c['type'] = 'EDS';
    c['eds_cluster_config'] = { eds_config: adsConfigSource(), service_name: name };
    assignments.set(name, clusterLoadAssignment(name, eps, td));
  }
  if (port.protocol === 'GRPC' || port.protocol === 'HTTP2') c['typed_extension_protocol_options'] = http2ProtocolOptions();
  // grpc-js-xds accepts only ROUND_ROBIN/RING_HASH: proxyless clients fall back to ROUND_ROBIN.
  applyTrafficPolicy(c, effectiveTrafficPolicy(dr, subset), port.protocol, proxyless);
  if (ts !== null) c['transport_socket'] = ts;
  clusters.set(name, c);
}
