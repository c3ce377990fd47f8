/**
 * VirtualService → Envoy routes for one virtual host (host, port), with Istio's semantics: `http[]`
 * entries in order, first match wins; a `match` list is an OR, so each entry becomes its own Envoy
 * route (no `match` = catch-all prefix `/`); entries whose `sourceLabels` do not select the calling
 * node are dropped for that node; several destinations become `weighted_clusters`. No VirtualService
 * → one default route `/` to the whole service. Timeouts follow Istio: for sidecars `timeout` is the
 * VirtualService timeout or `0s` (disabled) with `grpc-timeout` honoured through
 * `max_stream_duration`; proxyless gRPC gets `max_stream_duration` only (gRFC A31). `retries`
 * become `retry_policy` (with Remora's safe default on sidecar routes, see `resilience.ts`), `fault`
 * the route's fault filter config, and a destination with a consistent-hash DestinationRule adds its
 * `hash_policy`. Also reports which (host, port, subset) clusters the routes reference.
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import { labelsMatch } from '../mesh/load-mesh-config';
import { effectiveTrafficPolicy, type HttpMatch, type HttpRoute, type MeshConfig, type RouteDestination, type StringMatch } from '../mesh/model';
import type { ClusterKey } from './clusters';
import { applyHeaders, duration } from './envoy-builders';
import { outboundClusterName } from './names';
import { FAULT_FILTER_NAME, faultConfig, hashPolicy, retryPolicy } from './resilience';
import type { NodeView } from './node-view';

const REDIRECT_CODE: Record<number, string> = {
  301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT',
};

function stringMatcher(m: StringMatch): ProtoObject {
  switch (m.kind) {
    case 'exact': return { exact: m.value };
    case 'prefix': return { prefix: m.value };
    case 'regex': return { safe_regex: { regex: m.value } };
  }
}

function routeMatch(m: HttpMatch | null): ProtoObject {
  const out: ProtoObject = {};
  const uri = m?.uri ?? null;
  if (uri === null) out['prefix'] = '/';
  else if (uri.kind === 'exact') out['path'] = uri.value;
  else if (uri.kind === 'prefix') out['prefix'] = uri.value;
  else out['safe_regex'] = { regex: uri.value };
  if (m === null) return out;
  if (m.ignoreUriCase) out['case_sensitive'] = { value: false };
  const headers: ProtoObject[] = [];
  if (m.method !== null) headers.push({ name: ':method', string_match: stringMatcher(m.method) });
  if (m.authority !== null) headers.push({ name: ':authority', string_match: stringMatcher(m.authority) });
  for (const h of m.headers) headers.push({ name: h.name, string_match: stringMatcher(h.match) });
  if (headers.length > 0) out['headers'] = headers;
  if (m.queryParams.length > 0) out['query_parameters'] = m.queryParams.map((q) => ({ name: q.name, string_match: stringMatcher(q.match) }));
  return out;
}

/** The port a destination resolves to when building the virtual host (host, vhostPort). */
export function destinationPort(mesh: MeshConfig, d: RouteDestination, host: string, vhostPort: number): number {
  if (d.port !== null) return d.port;
  const se = mesh.serviceByHost.get(d.host)!;
  const http = se.ports.filter((p) => p.protocol !== 'TCP');
  if (http.length === 1) return http[0]!.number;
  if (d.host === host || http.some((p) => p.number === vhostPort)) return vhostPort;
  return http[0]!.number;
}

function timeouts(action: ProtoObject, timeoutMs: number | null, proxyless: boolean): void {
  if (proxyless) {
    if (timeoutMs !== null) action['max_stream_duration'] = { max_stream_duration: duration(timeoutMs) };
    return;
  }
  action['timeout'] = duration(timeoutMs ?? 0);
  action['max_stream_duration'] = timeoutMs === null
    ? { grpc_timeout_header_max: duration(0) }
    : { max_stream_duration: duration(timeoutMs), grpc_timeout_header_max: duration(timeoutMs) };
}

/** The `hash_policy` entries of the clusters `keys` (consistent-hash DestinationRules), de-duplicated, in order. */
function hashPolicies(mesh: MeshConfig, keys: readonly ClusterKey[]): ProtoObject[] {
  const out: ProtoObject[] = [];
  const seen = new Set<string>();
  for (const k of keys) {
    const dr = mesh.destinationRuleByHost.get(k.host) ?? null;
    const subset = k.subset === null || dr === null ? null : (dr.subsets.find((s) => s.name === k.subset) ?? null);
    const lb = effectiveTrafficPolicy(dr, subset)?.loadBalancer ?? null;
    if (lb === null || lb.kind !== 'consistentHash') continue;
    const hp = hashPolicy(lb.hash);
    const id = JSON.stringify(hp);
    if (!seen.has(id)) out.push(hp);
    seen.add(id);
  }
  return out;
}

/** Retry and hash policies of a forwarding action. */
function resilience(mesh: MeshConfig, action: ProtoObject, r: HttpRoute | null, keys: readonly ClusterKey[], proxyless: boolean): void {
  const rp = retryPolicy(r?.retries ?? null, proxyless);
  if (rp !== null) action['retry_policy'] = rp;
  const hp = hashPolicies(mesh, keys);
  if (hp.length > 0) action['hash_policy'] = hp;
}

function forwardAction(
  mesh: MeshConfig, r: HttpRoute, host: string, port: number, proxyless: boolean, route: ProtoObject, refs: ClusterKey[],
): void {
  const dests = r.route.filter((d) => d.weight > 0);
  const keys: ClusterKey[] = [];
  const names = dests.map((d) => {
    const key: ClusterKey = { host: d.host, port: destinationPort(mesh, d, host, port), subset: d.subset };
    refs.push(key);
    keys.push(key);
    return outboundClusterName(key.port, key.host, key.subset);
  });
  const action: ProtoObject = {};
  if (dests.length === 1) {
    action['cluster'] = names[0]!;
    applyHeaders(route, r.headers);
    applyHeaders(route, dests[0]!.headers);
  } else {
    action['weighted_clusters'] = {
      clusters: dests.map((d, i) => {
        const wc: ProtoObject = { name: names[i]!, weight: { value: d.weight } };
        applyHeaders(wc, d.headers);
        return wc;
      }),
    };
    applyHeaders(route, r.headers);
  }
  if (r.rewrite?.uri != null) action['prefix_rewrite'] = r.rewrite.uri;
  if (r.rewrite?.authority != null) action['host_rewrite_literal'] = r.rewrite.authority;
  timeouts(action, r.timeoutMs, proxyless);
  resilience(mesh, action, r, keys, proxyless);
  route['route'] = action;
  if (r.fault !== null) route['typed_per_filter_config'] = { [FAULT_FILTER_NAME]: faultConfig(r.fault) };
}

function envoyRoute(mesh: MeshConfig, r: HttpRoute, m: HttpMatch | null, host: string, port: number, proxyless: boolean, refs: ClusterKey[]): ProtoObject {
  const route: ProtoObject = {};
  const name = [r.name, m?.name ?? null].filter((x): x is string => x !== null).join('.');
  if (name !== '') route['name'] = name;
  route['match'] = routeMatch(m);
  if (r.redirect !== null) {
    const rd: ProtoObject = {};
    if (r.redirect.uri !== null) rd['path_redirect'] = r.redirect.uri;
    if (r.redirect.authority !== null) rd['host_redirect'] = r.redirect.authority;
    if (r.redirect.port !== null) rd['port_redirect'] = r.redirect.port;
    if (r.redirect.scheme !== null) rd['scheme_redirect'] = r.redirect.scheme;
    if (r.redirect.redirectCode !== 301) rd['response_code'] = REDIRECT_CODE[r.redirect.redirectCode]!;
    route['redirect'] = rd;
    applyHeaders(route, r.headers);
  } else if (r.directResponse !== null) {
    const dr: ProtoObject = { status: r.directResponse.status };
    const b = r.directResponse.body;
    if (b !== null) dr['body'] = b.kind === 'string' ? { inline_string: b.value } : { inline_bytes: b.value };
    route['direct_response'] = dr;
    applyHeaders(route, r.headers);
  } else {
    forwardAction(mesh, r, host, port, proxyless, route, refs);
  }
  return route;
}

/**
 * The Envoy routes of virtual host (host, port) as seen by `node`, and the clusters they reference
 * (pushed onto `refs`).
 */
export function buildRoutes(mesh: MeshConfig, host: string, port: number, node: NodeView, refs: ClusterKey[]): ProtoObject[] {
  const vs = mesh.virtualServiceByHost.get(host);
  if (vs === undefined) {
    const key: ClusterKey = { host, port, subset: null };
    refs.push(key);
    const action: ProtoObject = { cluster: outboundClusterName(port, host) };
    timeouts(action, null, node.proxyless);
    resilience(mesh, action, null, [key], node.proxyless);
    return [{ name: 'default', match: { prefix: '/' }, route: action }];
  }
  const out: ProtoObject[] = [];
  for (const r of vs.http) {
    if (r.match.length === 0) {
      out.push(envoyRoute(mesh, r, null, host, port, node.proxyless, refs));
      continue;
    }
    for (const m of r.match) {
      if (m.sourceLabels !== null && !labelsMatch(m.sourceLabels, node.labels)) continue;
      out.push(envoyRoute(mesh, r, m, host, port, node.proxyless, refs));
    }
  }
  return out;
}
