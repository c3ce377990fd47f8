/**
 * Compiles `envoy.config.bootstrap.v3.Bootstrap` into `BootstrapModel`: `node`, `admin`,
 * `static_resources.{listeners,clusters}` and `dynamic_resources` (ADS over a static cluster, with
 * LDS/CDS from ADS). Checks cross-resource rules: unique listener and cluster names, the ADS cluster
 * exists, EDS clusters and RDS listeners need ADS, and inline routes reference known clusters when
 * clusters are static only (Envoy's `validate_clusters` default for static route tables).
 */
import type { AdsConfigModel, BootstrapModel, ClusterModel, ListenerModel, NodeModel, SocketAddressModel } from '../model';
import type { ValidationResult } from '../../core/errors';
import { checkAdsConfigSource, CompileDeps, compileSocketAddress, Issues, joinPath, list, msg, onlyFields, str } from './context';
import { compileClusterInto } from './cluster';
import { compileListenerInto } from './listener';
import type { ProtoObject } from './proto-json';

const DEFAULT_ADMIN: SocketAddressModel = { host: '127.0.0.1', port: 15000 };

/** Compiles a Bootstrap ProtoObject (from `parseProtoJson`); collects every issue. */
export function compileBootstrap(obj: ProtoObject, deps: CompileDeps): ValidationResult<BootstrapModel> {
  const issues = new Issues();
  onlyFields(issues, obj, '', ['node', 'admin', 'static_resources', 'dynamic_resources']);

  const nodeObj = msg(obj, 'node') ?? {};
  onlyFields(issues, nodeObj, 'node', ['id', 'cluster', 'metadata', 'locality', 'user_agent_name', 'user_agent_version', 'user_agent_build_version', 'client_features']);
  const node: NodeModel = {
    id: str(nodeObj, 'id') ?? '',
    cluster: str(nodeObj, 'cluster') ?? '',
    metadata: (msg(nodeObj, 'metadata') ?? {}) as Record<string, unknown>,
  };

  let admin = DEFAULT_ADMIN;
  const adminObj = msg(obj, 'admin');
  if (adminObj !== undefined) {
    // Admin access logs are accepted and ignored: they only log admin requests.
    onlyFields(issues, adminObj, 'admin', ['address', 'access_log', 'access_log_path', 'profile_path']);
    if (adminObj['address'] !== undefined) admin = compileSocketAddress(issues, msg(adminObj, 'address'), 'admin.address', 'ip', 0) ?? DEFAULT_ADMIN;
  }

  const sr = msg(obj, 'static_resources') ?? {};
  onlyFields(issues, sr, 'static_resources', ['listeners', 'clusters']);
  const clusters: ClusterModel[] = [];
  const clusterNames = new Set<string>();
  const cs = list(sr, 'clusters');
  for (let i = 0; i < cs.length; i++) {
    const p = `static_resources.clusters[${i}]`;
    const name = str(cs[i]!, 'name') ?? '';
    if (name !== '' && clusterNames.has(name)) issues.add(joinPath(p, 'name'), `duplicate cluster name '${name}'`);
    clusterNames.add(name);
    const c = compileClusterInto(issues, deps, cs[i]!, p);
    if (c !== null) clusters.push(c);
  }
  const listeners: ListenerModel[] = [];
  const listenerNames = new Set<string>();
  const ls = list(sr, 'listeners');
  for (let i = 0; i < ls.length; i++) {
    const p = `static_resources.listeners[${i}]`;
    const name = str(ls[i]!, 'name') ?? '';
    if (name !== '' && listenerNames.has(name)) issues.add(joinPath(p, 'name'), `duplicate listener name '${name}'`);
    listenerNames.add(name);
    const l = compileListenerInto(issues, deps, ls[i]!, p);
    if (l !== null) listeners.push(l);
  }

  const ads = compileDynamicResources(issues, msg(obj, 'dynamic_resources'), clusterNames);
  if (ads === null) {
    for (let i = 0; i < cs.length; i++) {
      if (str(cs[i]!, 'type') === 'EDS') issues.add(`static_resources.clusters[${i}].type`, 'EDS clusters require dynamic_resources.ads_config');
    }
    for (let i = 0; i < ls.length; i++) {
      if (listeners.find((l) => l.name === str(ls[i]!, 'name'))?.hcm.rdsRouteConfigName != null) {
        issues.add(`static_resources.listeners[${i}]`, 'RDS route configs require dynamic_resources.ads_config');
      }
    }
  }
  if (ads === null || !ads.cdsFromAds) checkRouteClusters(issues, ls, listeners, clusterNames);

  return issues.result<BootstrapModel>({ node, admin, listeners, clusters, ads });
}

function compileDynamicResources(issues: Issues, dr: ProtoObject | undefined, clusterNames: ReadonlySet<string>): AdsConfigModel | null {
  if (dr === undefined) return null;
  onlyFields(issues, dr, 'dynamic_resources', ['ads_config', 'lds_config', 'cds_config']);
  const ac = msg(dr, 'ads_config');
  let clusterName = '';
  if (ac === undefined) {
    if (dr['lds_config'] !== undefined || dr['cds_config'] !== undefined) issues.add('dynamic_resources.ads_config', 'is required when lds_config or cds_config is set');
    return null;
  }
  const ap = 'dynamic_resources.ads_config';
  onlyFields(issues, ac, ap, ['api_type', 'transport_api_version', 'grpc_services', 'set_node_on_first_message_only']);
  const apiType = str(ac, 'api_type');
  if (apiType !== 'GRPC') issues.add(joinPath(ap, 'api_type'), `must be GRPC${apiType === undefined ? '' : `, got ${apiType}`}`);
  const tv = ac['transport_api_version'];
  if (tv !== undefined && tv !== 'V3' && tv !== 'AUTO') issues.add(joinPath(ap, 'transport_api_version'), 'only V3 is supported');
  const gs = list(ac, 'grpc_services');
  if (gs.length !== 1) issues.add(joinPath(ap, 'grpc_services'), 'exactly one grpc service is required');
  else {
    const gp = `${ap}.grpc_services[0]`;
    onlyFields(issues, gs[0]!, gp, ['envoy_grpc']);
    const eg = msg(gs[0]!, 'envoy_grpc');
    if (eg === undefined) issues.add(joinPath(gp, 'envoy_grpc'), 'is required (google_grpc is not supported by Remora)');
    else {
      onlyFields(issues, eg, joinPath(gp, 'envoy_grpc'), ['cluster_name']);
      clusterName = str(eg, 'cluster_name') ?? '';
      const cp = joinPath(gp, 'envoy_grpc.cluster_name');
      if (clusterName === '') issues.add(cp, 'is required');
      else if (!clusterNames.has(clusterName)) issues.add(cp, `unknown cluster '${clusterName}'; the ADS cluster must be a static cluster`);
    }
  }
  const ldsFromAds = dr['lds_config'] !== undefined && checkAdsConfigSource(issues, msg(dr, 'lds_config'), 'dynamic_resources.lds_config');
  const cdsFromAds = dr['cds_config'] !== undefined && checkAdsConfigSource(issues, msg(dr, 'cds_config'), 'dynamic_resources.cds_config');
  return { clusterName, ldsFromAds, cdsFromAds };
}

/** With static clusters only, every cluster an inline route names must exist (Envoy validate_clusters). */
function checkRouteClusters(issues: Issues, raw: ProtoObject[], listeners: readonly ListenerModel[], names: ReadonlySet<string>): void {
  for (let li = 0; li < raw.length; li++) {
    if (!listeners.some((m) => m.name === str(raw[li]!, 'name'))) continue; // failed listeners already reported
    const hcm = msg(list(list(raw[li]!, 'filter_chains')[0] ?? {}, 'filters')[0] ?? {}, 'typed_config') ?? {};
    const rc = msg(hcm, 'route_config');
    if (rc === undefined) continue;
    const rcPath = `static_resources.listeners[${li}].filter_chains[0].filters[0].typed_config.route_config`;
    const vhs = list(rc, 'virtual_hosts');
    for (let vi = 0; vi < vhs.length; vi++) {
      const routes = list(vhs[vi]!, 'routes');
      for (let ri = 0; ri < routes.length; ri++) {
        const action = msg(routes[ri]!, 'route');
        if (action === undefined) continue;
        const rp = `${rcPath}.virtual_hosts[${vi}].routes[${ri}].route`;
        const single = str(action, 'cluster');
        if (single !== undefined && !names.has(single)) issues.add(`${rp}.cluster`, `unknown cluster '${single}'`);
        const wcs = list(msg(action, 'weighted_clusters') ?? {}, 'clusters');
        for (let ci = 0; ci < wcs.length; ci++) {
          const n = str(wcs[ci]!, 'name') ?? '';
          if (!names.has(n)) issues.add(`${rp}.weighted_clusters.clusters[${ci}].name`, `unknown cluster '${n}'`);
        }
      }
    }
  }
}
