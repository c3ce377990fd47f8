/**
 * CORS and gRPC-Web on a workload's inbound HCM, from VirtualService `corsPolicy` (Istio's fields):
 * the `envoy.filters.http.grpc_web` and `envoy.filters.http.cors` filters (in that order, first in
 * the chain so a preflight is answered before authentication) and the inbound routes'
 * `typed_per_filter_config` CorsPolicy.
 *
 * Where it applies: on the inbound sidecar of the workloads backing the VirtualService's hosts
 * (browsers reach a workload's sidecar the way they reach an ingress), not on callers' outbound
 * listeners as in Istio (there are no browsers behind an outbound sidecar). The inbound route of
 * host H gets the corsPolicy of the first `http[]` entry of H's VirtualService that has one (the
 * inbound route is a single catch-all per host and port). Both filters are added only when some
 * host the workload backs has a corsPolicy, so configs without one are unchanged; gRPC-Web comes
 * with CORS because a browser calling a gRPC service from another origin needs both, and the
 * filter passes every non-gRPC-Web request untouched.
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import { labelsMatch } from '../mesh/load-mesh-config';
import type { CorsPolicySpec } from '../mesh/cors-policy';
import { workloadIndexKey, type MeshConfig, type ServiceEntry, type StringMatch } from '../mesh/model';
import type { NodeView } from './node-view';

export const CORS_FILTER_NAME = 'envoy.filters.http.cors';
export const GRPC_WEB_FILTER_NAME = 'envoy.filters.http.grpc_web';
const CORS_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
const CORS_POLICY_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';
const GRPC_WEB_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb';

function stringMatcher(m: StringMatch): ProtoObject {
  switch (m.kind) {
    case 'exact': return { exact: m.value };
    case 'prefix': return { prefix: m.value };
    case 'regex': return { safe_regex: { regex: m.value } };
  }
}

/** Envoy's `envoy.extensions.filters.http.cors.v3.CorsPolicy` for an Istio corsPolicy. */
export function corsPolicyConfig(p: CorsPolicySpec): ProtoObject {
  const out: ProtoObject = { '@type': CORS_POLICY_TYPE_URL, allow_origin_string_match: p.allowOrigins.map(stringMatcher) };
  if (p.allowMethods.length > 0) out['allow_methods'] = p.allowMethods.join(',');
  if (p.allowHeaders.length > 0) out['allow_headers'] = p.allowHeaders.join(',');
  if (p.exposeHeaders.length > 0) out['expose_headers'] = p.exposeHeaders.join(',');
  if (p.maxAgeSeconds !== null) out['max_age'] = String(p.maxAgeSeconds);
  if (p.allowCredentials !== null) out['allow_credentials'] = { value: p.allowCredentials };
  if (p.unmatchedPreflights === 'IGNORE') out['forward_not_matching_preflights'] = { value: false };
  return out;
}

/** The corsPolicy for `host`: the first http route of its VirtualService that has one; null when none. */
export function corsPolicyForHost(mesh: MeshConfig, host: string): CorsPolicySpec | null {
  const vs = mesh.virtualServiceByHost.get(host);
  if (vs === undefined) return null;
  for (const r of vs.http) if (r.corsPolicy !== undefined && r.corsPolicy !== null) return r.corsPolicy;
  return null;
}

/**
 * The `typed_per_filter_config` of the inbound route for `host` (`{envoy.filters.http.cors: CorsPolicy}`),
 * or null when the host has no corsPolicy.
 */
export function inboundCorsPerFilterConfig(mesh: MeshConfig, host: string): ProtoObject | null {
  const p = corsPolicyForHost(mesh, host);
  return p === null ? null : { [CORS_FILTER_NAME]: corsPolicyConfig(p) };
}

/** Hosts of the ServiceEntries selecting `node`'s workload (the services its inbound serves). */
function backedHosts(mesh: MeshConfig, node: NodeView): string[] {
  const out: string[] = [];
  const consider = (list: readonly ServiceEntry[] | undefined): void => {
    if (list === undefined) return;
    for (const se of list) {
      if (labelsMatch(se.workloadSelector!, node.labels) && se.ports.some((p) => p.protocol !== 'TCP')) out.push(...se.hosts);
    }
  };
  consider(mesh.selectingServiceIndex.get(workloadIndexKey(node.namespace)));
  for (const k of Object.keys(node.labels)) consider(mesh.selectingServiceIndex.get(workloadIndexKey(node.namespace, k, node.labels[k])));
  return out;
}

/** HTTP filter entries (gRPC-Web, then CORS) for `node`'s inbound listener ([] when no corsPolicy applies). */
export function browserFilters(mesh: MeshConfig, node: NodeView): ProtoObject[] {
  if (node.proxyless) return [];
  const hosts = backedHosts(mesh, node);
  for (let i = 0; i < hosts.length; i++) {
    if (corsPolicyForHost(mesh, hosts[i]!) !== null) {
      return [
        { name: GRPC_WEB_FILTER_NAME, typed_config: { '@type': GRPC_WEB_TYPE_URL } },
        { name: CORS_FILTER_NAME, typed_config: { '@type': CORS_TYPE_URL } },
      ];
    }
  }
  return [];
}
