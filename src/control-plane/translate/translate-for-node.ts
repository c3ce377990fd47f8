/**
 * Translation: (validated MeshConfig, node identity) → the xDS resources that node should see.
 * Pure and deterministic (no clock, no I/O; every map sorted by resource name; resources deep-
 * frozen). A sidecar node gets the `outbound` listener (HCM, RDS `outbound` routing by authority to
 * every host it may call), the `inbound` listener (RDS `inbound` → `inbound|<app port>||` STATIC
 * clusters on 127.0.0.1) for the services its workload backs, and the clusters/CLAs behind them.
 * A proxyless gRPC node gets an `api_listener` per `<host>:<port>` (and `<host>` for single-port
 * services), each with its own route configuration, plus clusters/CLAs. An HCM gets the fault
 * filter only when one of its routes injects faults, and a sidecar's inbound HCM gets the rate-limit
 * filters of the RateLimitPolicy selecting its workload. See docs/mesh-config.md.
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import { TYPE_URL, type NodeIdentity, type XdsResourceSet, type XdsTypeUrl } from '../cache/resources';
import { labelsMatch } from '../mesh/load-mesh-config';
import { workloadIndexKey, type MeshConfig, type ServiceEntry, type ServicePort, type WorkloadEntry } from '../mesh/model';
import type { ClusterKey } from './clusters';
import { ClusterMemo } from './cluster-memo';
import { deepFreeze } from '../../config/model';
import { duration, hcmWithRds, http2ProtocolOptions, socketAddress } from './envoy-builders';
import { effectiveMtlsMode, inboundListenerChains, rootCaSecret, ROOT_CA_SECRET_NAME, type MtlsTranslateOptions } from './mtls';
import { hostPortName, inboundClusterName, INBOUND_NAME, OUTBOUND_NAME } from './names';
import { nodeView, type NodeView } from './node-view';
import { addInboundRateLimits, rateLimitFilters, rateLimitPolicyFor } from './rate-limits';
import { authorizationFilters, authorizationPoliciesFor } from './authorization';
import { requestAuthenticationFilters } from './request-authentication';
import { faultHttpFilter, routesUseFault } from './resilience';
import { buildRoutes } from './routes';
import { listenerTelemetry } from './telemetry';
import { peerMetadataHeader } from './peer-metadata';
import { codecFilters } from './codec-filters';
import { browserFilters, inboundCorsPerFilterConfig } from './cors';

export interface TranslateOptions {
  /** Sidecar outbound listener port unless the node sets OUTBOUND_PORT (Istio: 15001). */
  readonly outboundPort: number;
  /** Sidecar inbound listener port unless the node sets INBOUND_PORT or its WorkloadEntry names one (Istio: 15006). */
  readonly inboundPort: number;
  /** Address the sidecar listeners bind (default 0.0.0.0). */
  readonly bindAddress?: string;
  /**
   * Automatic mTLS between sidecars (PeerAuthentication, the ROOTCA secret); null/absent = off, the
   * output is then exactly as without it. Set when the control plane runs with a CA (`--ca-dir`).
   */
  readonly mtls?: MtlsTranslateOptions | null;
  /** The mesh's root namespace (`--root-namespace`): Telemetry there applies mesh-wide. Default istio-system. */
  readonly rootNamespace?: string;
}

export const DEFAULT_TRANSLATE_OPTIONS: TranslateOptions = Object.freeze({ outboundPort: 15001, inboundPort: 15006, bindAddress: '0.0.0.0' });

interface Output {
  readonly listeners: Map<string, ProtoObject>;
  readonly routes: Map<string, ProtoObject>;
  readonly clusters: Map<string, ProtoObject>;
  readonly endpoints: Map<string, ProtoObject>;
  /** Builds the clusters, sharing them with other nodes and generations when the caller keeps it. */
  readonly clusterMemo: ClusterMemo;
}

/** (host, HTTP port) pairs of every service the node may call, sorted by host then port. */
function visibleHttpServices(mesh: MeshConfig, node: NodeView): { se: ServiceEntry; host: string; ports: ServicePort[] }[] {
  const out: { se: ServiceEntry; host: string; ports: ServicePort[] }[] = [];
  const add = (host: string, se: ServiceEntry): void => { out.push({ se, host, ports: se.ports.filter((p) => p.protocol !== 'TCP') }); };
  if (node.egressHosts === null) {
    for (const [host, se] of mesh.serviceByHost) add(host, se);
  } else {
    // A scoped node: look up its hosts instead of scanning the mesh.
    for (const host of node.egressHosts) {
      const se = mesh.serviceByHost.get(host);
      if (se !== undefined) add(host, se);
    }
  }
  return out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

/** Every cluster of a visible host: all ports, whole service and each DestinationRule subset. */
function allClusterKeys(mesh: MeshConfig, se: ServiceEntry, host: string): ClusterKey[] {
  const dr = mesh.destinationRuleByHost.get(host);
  const keys: ClusterKey[] = [];
  for (const p of se.ports) {
    keys.push({ host, port: p.number, subset: null });
    if (dr !== undefined) for (const s of dr.subsets) keys.push({ host, port: p.number, subset: s.name });
  }
  return keys;
}

function findWorkload(mesh: MeshConfig, node: NodeView): WorkloadEntry | null {
  if (node.workloadName === null) return null;
  return mesh.workloadEntryByName.get(`${node.namespace}/${node.workloadName}`) ?? null;
}

function sidecar(mesh: MeshConfig, node: NodeView, we: WorkloadEntry | null, opts: TranslateOptions, out: Output): void {
  const bind = opts.bindAddress ?? '0.0.0.0';
  const refs: ClusterKey[] = [];
  const vhosts: ProtoObject[] = [];
  // Istio's metadata exchange: mesh-internal services learn who calls them (peer-metadata.ts).
  const exchange = peerMetadataHeader(node, we);
  for (const { se, host, ports } of visibleHttpServices(mesh, node)) {
    for (const k of allClusterKeys(mesh, se, host)) refs.push(k);
    ports.forEach((p, i) => {
      // A bare-host domain may appear in one virtual host only: the service's lowest HTTP port.
      const domains = i === 0 ? [host, hostPortName(host, p.number)] : [hostPortName(host, p.number)];
      const vh: ProtoObject = { name: hostPortName(host, p.number), domains, routes: buildRoutes(mesh, host, p.number, node, refs) };
      if (exchange !== null && se.location === 'MESH_INTERNAL') vh['request_headers_to_add'] = [exchange];
      vhosts.push(vh);
    });
  }
  out.routes.set(OUTBOUND_NAME, { name: OUTBOUND_NAME, virtual_hosts: vhosts });
  out.listeners.set(OUTBOUND_NAME, {
    name: OUTBOUND_NAME,
    address: socketAddress(bind, node.outboundPort ?? opts.outboundPort),
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: withTelemetry(hcmWithRds(OUTBOUND_NAME, OUTBOUND_NAME, faultFilters(vhosts)), mesh, node, 'OUTBOUND', opts) }] }],
    traffic_direction: 'OUTBOUND',
  });
  for (const k of refs) out.clusterMemo.emit(mesh, k, false, out.clusters, out.endpoints, opts.mtls ?? null);
  inbound(mesh, node, we, opts, out);
}

/** The app port serving service port `p`: see docs/mesh-config.md "Inbound". */
function appPortFor(node: NodeView, p: ServicePort): number {
  const target = p.targetPort ?? p.number;
  if (node.appPorts.includes(target)) return target;
  if (node.appPorts.includes(p.number)) return p.number;
  if (node.appPorts.length === 1) return node.appPorts[0]!;
  return target;
}

function inbound(mesh: MeshConfig, node: NodeView, we: WorkloadEntry | null, opts: TranslateOptions, out: Output): void {
  const backed: { se: ServiceEntry; host: string; port: ServicePort }[] = [];
  const consider = (list: readonly ServiceEntry[] | undefined): void => {
    if (list === undefined) return;
    for (const se of list) {
      if (!labelsMatch(se.workloadSelector!, node.labels)) continue;
      for (const host of se.hosts) for (const port of se.ports) if (port.protocol !== 'TCP') backed.push({ se, host, port });
    }
  };
  // Candidates from the selector index (each entry is under exactly one key, so none repeats).
  consider(mesh.selectingServiceIndex.get(workloadIndexKey(node.namespace)));
  for (const k of Object.keys(node.labels)) consider(mesh.selectingServiceIndex.get(workloadIndexKey(node.namespace, k, node.labels[k])));
  if (backed.length === 0) return;
  backed.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port.number - b.port.number));

  const vhosts: ProtoObject[] = [];
  const seenHost = new Set<string>();
  let fallback: string | null = null;
  const explicitPorts = new Set<number>();
  const workloadPorts = new Set<number>();
  for (const { host, port } of backed) {
    workloadPorts.add(we?.ports[port.name] ?? port.targetPort ?? port.number);
    const app = appPortFor(node, port);
    const cluster = inboundClusterName(app);
    fallback ??= cluster;
    if (we !== null && we.ports[port.name] !== undefined) explicitPorts.add(we.ports[port.name]!);
    if (!out.clusters.has(cluster)) {
      const c: ProtoObject = {
        name: cluster,
        type: 'STATIC',
        load_assignment: {
          cluster_name: cluster,
          endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress('127.0.0.1', app) } }] }],
        },
      };
      if (port.protocol === 'GRPC' || port.protocol === 'HTTP2') c['typed_extension_protocol_options'] = http2ProtocolOptions();
      out.clusters.set(cluster, c);
    }
    const domains = seenHost.has(host) ? [hostPortName(host, port.number)] : [host, hostPortName(host, port.number)];
    seenHost.add(host);
    const vhostName = `inbound|${hostPortName(host, port.number)}`;
    const route = inboundRoute(cluster, vhostName);
    // VirtualService corsPolicy for this host (cors.ts): the CORS filter's per-route policy.
    const cors = inboundCorsPerFilterConfig(mesh, host);
    if (cors !== null) route['typed_per_filter_config'] = cors;
    vhosts.push({ name: vhostName, domains, routes: [route] });
  }
  // Callers that do not preserve the authority still reach the (first) local app.
  vhosts.push({ name: 'inbound|*', domains: ['*'], routes: [inboundRoute(fallback!, 'default')] });
  const rateLimitPolicy = rateLimitPolicyFor(mesh, node);
  addInboundRateLimits(vhosts, rateLimitPolicy);
  out.routes.set(INBOUND_NAME, { name: INBOUND_NAME, virtual_hosts: vhosts });
  const listenPort = node.inboundPort ?? (explicitPorts.size === 1 ? [...explicitPorts][0]! : opts.inboundPort);
  // PeerAuthentication (mtls.ts): STRICT/PERMISSIVE wrap the chain in TLS; DISABLE or no CA keep it as is.
  const mtls = opts.mtls ?? null;
  const mode = mtls === null ? 'DISABLE' : effectiveMtlsMode(mesh, mtls.rootNamespace, node.namespace, node.labels, [...workloadPorts].sort((a, b) => a - b));
  // Browser protocols first (a CORS preflight is answered before authentication), then the request
  // filters, then the codecs that turn JSON into gRPC and validate messages, then the router.
  const filters = [
    ...browserFilters(mesh, node),
    ...requestAuthenticationFilters(mesh, node), ...authorizationFilters(authorizationPoliciesFor(mesh, node)), ...rateLimitFilters(rateLimitPolicy),
    ...codecFilters(mesh, node),
  ];
  const hcm = withTelemetry(hcmWithRds(INBOUND_NAME, INBOUND_NAME, filters), mesh, node, 'INBOUND', opts);
  // Over mTLS the app learns its caller from x-forwarded-client-cert (Istio's inbound settings).
  if (mode !== 'DISABLE') Object.assign(hcm, INBOUND_XFCC);
  const chain: ProtoObject = { filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] };
  out.listeners.set(INBOUND_NAME, {
    name: INBOUND_NAME,
    address: socketAddress(opts.bindAddress ?? '0.0.0.0', listenPort),
    ...inboundListenerChains(mtls, mode, chain),
    traffic_direction: 'INBOUND',
  });
}

/** Adds the listener's telemetry (telemetry.ts): `istio.stats` first in the chain, `tracing` / `access_log` fields. */
function withTelemetry(hcm: ProtoObject, mesh: MeshConfig, node: NodeView, direction: 'INBOUND' | 'OUTBOUND', opts: TranslateOptions): ProtoObject {
  const t = listenerTelemetry(mesh, node, direction, opts.rootNamespace ?? opts.mtls?.rootNamespace);
  if (t.filters.length > 0) hcm['http_filters'] = [...t.filters, ...(hcm['http_filters'] as ProtoObject[])];
  Object.assign(hcm, t.hcmFields);
  return hcm;
}

/** The inbound HCM's XFCC handling with mTLS: this hop appended (By, Hash, Subject, URI, DNS) to a trusted chain. */
const INBOUND_XFCC: ProtoObject = Object.freeze({
  forward_client_cert_details: 'APPEND_FORWARD',
  set_current_client_cert_details: { subject: { value: true }, dns: true, uri: true },
});

/**
 * The one route of an inbound virtual host. Its name is the virtual host's (`inbound|<host>:<port>`):
 * Istio's metrics take the destination service from it at config time.
 */
function inboundRoute(cluster: string, name: string): ProtoObject {
  return {
    name,
    match: { prefix: '/' },
    route: { cluster, timeout: duration(0), max_stream_duration: { grpc_timeout_header_max: duration(0) } },
  };
}

/** The fault filter when some route of `vhosts` injects faults (so configs without faults are unchanged). */
function faultFilters(vhosts: readonly ProtoObject[]): ProtoObject[] {
  return routesUseFault(vhosts) ? [faultHttpFilter()] : [];
}

function proxyless(mesh: MeshConfig, node: NodeView, out: Output): void {
  const refs: ClusterKey[] = [];
  for (const { se, host, ports } of visibleHttpServices(mesh, node)) {
    for (const k of allClusterKeys(mesh, se, host)) refs.push(k);
    for (const p of ports) {
      const name = hostPortName(host, p.number);
      const vhosts = [{ name, domains: [name, host], routes: buildRoutes(mesh, host, p.number, node, refs) }];
      out.routes.set(name, { name, virtual_hosts: vhosts });
      // grpc-js-xds implements envoy.filters.http.fault (gRFC A33), so proxyless clients get it too.
      const filters = faultFilters(vhosts);
      const listener = { name, api_listener: { api_listener: hcmWithRds(name, name, filters) } };
      out.listeners.set(name, listener);
      if (ports.length === 1) out.listeners.set(host, { name: host, api_listener: { api_listener: hcmWithRds(name, name, filters) } });
    }
  }
  for (const k of refs) out.clusterMemo.emit(mesh, k, true, out.clusters, out.endpoints);
}

function sorted(m: Map<string, ProtoObject>): ReadonlyMap<string, ProtoObject> {
  return new Map([...m.keys()].sort().map((k) => [k, deepFreeze(m.get(k)!)]));
}

/**
 * The resources `node` should receive for `mesh`: LDS, RDS, CDS and EDS maps (always all four, maybe
 * empty), sorted by name and deep-frozen. Pure: equal inputs give deeply equal outputs, and nodes with
 * equal `translationKey` get equal outputs. A `clusterMemo` the caller keeps across calls changes
 * no output; it makes clusters whose inputs did not change the very same objects as before.
 */
export function translateForNode(
  mesh: MeshConfig, node: NodeIdentity, opts: TranslateOptions = DEFAULT_TRANSLATE_OPTIONS, clusterMemo: ClusterMemo | null = null,
): XdsResourceSet {
  const view = nodeView(node);
  const out: Output = { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map(), clusterMemo: clusterMemo ?? new ClusterMemo() };
  if (view.proxyless) {
    proxyless(mesh, view, out);
  } else {
    const we = findWorkload(mesh, view);
    // The workload's labels are its WorkloadEntry's, overridden by what the node asserts.
    const effective: NodeView = { ...view, labels: { ...(we?.labels ?? {}), ...view.labels } };
    sidecar(mesh, effective, we, opts, out);
  }
  const byType = new Map<XdsTypeUrl, ReadonlyMap<string, ProtoObject>>([
    [TYPE_URL.CLUSTER, sorted(out.clusters)],
    [TYPE_URL.ENDPOINT, sorted(out.endpoints)],
    [TYPE_URL.LISTENER, sorted(out.listeners)],
    [TYPE_URL.ROUTE, sorted(out.routes)],
  ]);
  // SDS: a sidecar (never a proxyless client: no SDS in grpc-js-xds) gets the mesh trust bundle.
  if (opts.mtls !== undefined && opts.mtls !== null && !view.proxyless) {
    byType.set(TYPE_URL.SECRET, sorted(new Map([[ROOT_CA_SECRET_NAME, rootCaSecret(opts.mtls)]])));
  }
  return Object.freeze({ byType });
}
