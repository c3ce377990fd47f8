/**
 * Compiles `envoy.config.route.v3.RouteConfiguration` (inline in an HCM or delivered by RDS) into
 * `RouteConfigModel`: virtual hosts with Envoy's domain rules, route matches (prefix | path |
 * safe_regex, headers, query parameters, grpc), actions (route with cluster or weighted_clusters,
 * direct_response, redirect), retry policies (route level, else the virtual host's; retry-policy.ts),
 * hash policies (hash-policy.ts), rate limits (route level, else the virtual host's; rate-limit-actions.ts),
 * header mutations at every level and per-route filter configs
 * (compiled by the HttpFilterCompiler). Regexes are compiled here, once.
 */
import type {
  HeaderMatcherModel, PathMatchModel, QueryParameterMatcherModel, RetryPolicyModel, RouteActionModel, RouteConfigModel,
  RouteMatchModel, RouteModel, VirtualHostModel, WeightedClusterModel,
} from '../model';
import type { ValidationResult } from '../../core/errors';
import {
  bool, CompileDeps, compileDataSource, Issues, joinPath, list, msg, num, onlyFields, optDurationMs, str, strList, wrapped,
} from './context';
import { compileHashPolicies } from './hash-policy';
import { compileRateLimitList, routeRateLimits, type RateLimitDraft } from './rate-limit-actions';
import { compileHeaderMutations, HEADER_MUTATION_FIELDS } from './headers';
import type { ProtoObject } from './proto-json';
import { compileRetryPolicy } from './retry-policy';
import { compileRegexMatcher, compileStringMatcher } from './string-matcher';

const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_DIRECT_RESPONSE_BODY = 4096;

const REDIRECT_CODES: Readonly<Record<string, number>> = {
  MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308,
};

/** Compiles a standalone RouteConfiguration ProtoObject (RDS, or `path` inside a bootstrap). */
export function compileRouteConfiguration(obj: ProtoObject, deps: CompileDeps, path = ''): ValidationResult<RouteConfigModel> {
  const issues = new Issues();
  const rc = compileRouteConfigInto(issues, deps, obj, path);
  return issues.result(rc as RouteConfigModel);
}

/** Compiles a RouteConfiguration into `issues`; the value is meaningful only if no issue was added. */
export function compileRouteConfigInto(issues: Issues, deps: CompileDeps, obj: ProtoObject, path: string): RouteConfigModel | null {
  onlyFields(issues, obj, path, ['name', 'virtual_hosts', 'validate_clusters', 'max_direct_response_body_size_bytes', ...HEADER_MUTATION_FIELDS]);
  const maxBody = wrapped<number>(obj, 'max_direct_response_body_size_bytes') ?? DEFAULT_MAX_DIRECT_RESPONSE_BODY;
  const vhosts = list(obj, 'virtual_hosts');
  const out: VirtualHostModel[] = [];
  const seenDomains = new Map<string, string>();
  const seenNames = new Set<string>();
  for (let i = 0; i < vhosts.length; i++) {
    const vp = `${joinPath(path, 'virtual_hosts')}[${i}]`;
    const vh = compileVirtualHost(issues, deps, vhosts[i]!, vp, seenDomains, maxBody);
    if (vh === null) continue;
    if (seenNames.has(vh.name)) issues.add(joinPath(vp, 'name'), `duplicate virtual host name '${vh.name}'`);
    seenNames.add(vh.name);
    out.push(vh);
  }
  return { name: str(obj, 'name') ?? '', virtualHosts: out, headers: compileHeaderMutations(issues, obj, path) };
}

/** Envoy's domain rules: non-empty, no whitespace/control chars, at most one `*`, only at either end. */
function checkDomain(issues: Issues, d: string, path: string): boolean {
  if (d === '') {
    issues.add(path, 'domain must not be empty');
    return false;
  }
  if (/[\s\x00-\x1f\x7f]/.test(d)) {
    issues.add(path, 'domain must not contain whitespace or control characters');
    return false;
  }
  const stars = d.split('*').length - 1;
  if (stars > 1) {
    issues.add(path, `invalid domain '${d}': only one wildcard '*' is allowed`);
    return false;
  }
  if (stars === 1 && d !== '*' && !d.startsWith('*') && !d.endsWith('*')) {
    issues.add(path, `invalid domain '${d}': the wildcard must be a prefix ('*.example.com') or a suffix ('example.*')`);
    return false;
  }
  return true;
}

function compileVirtualHost(issues: Issues, deps: CompileDeps, vh: ProtoObject, path: string, seenDomains: Map<string, string>, maxBody: number): VirtualHostModel | null {
  const before = issues.count;
  onlyFields(issues, vh, path, ['name', 'domains', 'routes', 'retry_policy', 'rate_limits', ...HEADER_MUTATION_FIELDS]);
  const name = str(vh, 'name') ?? '';
  if (name === '') issues.add(joinPath(path, 'name'), 'is required');
  const domains = strList(vh, 'domains');
  if (domains.length === 0) issues.add(joinPath(path, 'domains'), 'at least one domain is required');
  const lower: string[] = [];
  for (let i = 0; i < domains.length; i++) {
    const dp = `${joinPath(path, 'domains')}[${i}]`;
    const d = domains[i]!.toLowerCase();
    if (!checkDomain(issues, d, dp)) continue;
    const prev = seenDomains.get(d);
    if (prev !== undefined) issues.add(dp, `domain '${d}' is already used by virtual host '${prev}'`);
    else seenDomains.set(d, name);
    lower.push(d);
  }
  const vrp = msg(vh, 'retry_policy');
  const vhRetry = vrp === undefined ? null : compileRetryPolicy(issues, vrp, joinPath(path, 'retry_policy'), compileHeaderMatcher);
  const vhRateLimits = compileRateLimitList(issues, list(vh, 'rate_limits'), joinPath(path, 'rate_limits'), compileHeaderMatcher);
  const routes = list(vh, 'routes');
  const compiled: RouteModel[] = [];
  for (let i = 0; i < routes.length; i++) {
    const r = compileRoute(issues, deps, routes[i]!, `${joinPath(path, 'routes')}[${i}]`, maxBody, vhRetry, vhRateLimits);
    if (r !== null) compiled.push(r);
  }
  const headers = compileHeaderMutations(issues, vh, path);
  if (issues.count !== before) return null;
  return { name, domains: lower, routes: compiled, headers };
}

function compileRoute(issues: Issues, deps: CompileDeps, r: ProtoObject, path: string, maxBody: number, vhRetry: RetryPolicyModel | null, vhRateLimits: readonly RateLimitDraft[]): RouteModel | null {
  const before = issues.count;
  onlyFields(issues, r, path, ['name', 'match', 'route', 'redirect', 'direct_response', 'typed_per_filter_config', 'metadata', ...HEADER_MUTATION_FIELDS]);
  const match = compileRouteMatch(issues, msg(r, 'match'), joinPath(path, 'match'));
  let action: RouteActionModel | null = null;
  if (r['route'] !== undefined) action = compileRouteAction(issues, msg(r, 'route')!, joinPath(path, 'route'), vhRetry, vhRateLimits);
  else if (r['redirect'] !== undefined) action = compileRedirect(issues, msg(r, 'redirect')!, joinPath(path, 'redirect'));
  else if (r['direct_response'] !== undefined) action = compileDirectResponse(issues, deps, msg(r, 'direct_response')!, joinPath(path, 'direct_response'), maxBody);
  else if (r['filter_action'] === undefined && r['non_forwarding_action'] === undefined) issues.add(path, 'one of route, redirect or direct_response is required');
  const headers = compileHeaderMutations(issues, r, path);
  const perFilterConfig: Record<string, unknown> = {};
  const tpfc = msg(r, 'typed_per_filter_config');
  if (tpfc !== undefined) {
    for (const filterName of Object.keys(tpfc)) {
      const v = issues.take(deps.filters.compilePerRoute(filterName, tpfc[filterName] as ProtoObject, `${joinPath(path, 'typed_per_filter_config')}[${JSON.stringify(filterName)}]`, deps.readFile));
      if (v !== null) perFilterConfig[filterName] = v;
    }
  }
  if (issues.count !== before || match === null || action === null) return null;
  return { name: str(r, 'name') ?? '', match, action, headers, perFilterConfig };
}

function compileRouteMatch(issues: Issues, m: ProtoObject | undefined, path: string): RouteMatchModel | null {
  if (m === undefined) {
    issues.add(path, 'is required');
    return null;
  }
  const before = issues.count;
  onlyFields(issues, m, path, ['prefix', 'path', 'safe_regex', 'case_sensitive', 'headers', 'query_parameters', 'grpc']);
  const caseSensitive = wrapped<boolean>(m, 'case_sensitive') ?? true;
  let pm: PathMatchModel | null = null;
  const prefix = str(m, 'prefix');
  const exact = str(m, 'path');
  if (prefix !== undefined) pm = { kind: 'prefix', value: caseSensitive ? prefix : prefix.toLowerCase(), caseSensitive };
  else if (exact !== undefined) pm = { kind: 'path', value: caseSensitive ? exact : exact.toLowerCase(), caseSensitive };
  else if (m['safe_regex'] !== undefined) {
    const re = compileRegexMatcher(issues, msg(m, 'safe_regex'), joinPath(path, 'safe_regex'));
    if (re !== null) pm = { kind: 'regex', regex: re };
  } else if (issues.count === before) issues.add(path, 'one of prefix, path or safe_regex is required');
  const headers: HeaderMatcherModel[] = [];
  const hs = list(m, 'headers');
  for (let i = 0; i < hs.length; i++) {
    const h = compileHeaderMatcher(issues, hs[i]!, `${joinPath(path, 'headers')}[${i}]`);
    if (h !== null) headers.push(h);
  }
  const queryParameters: QueryParameterMatcherModel[] = [];
  const qs = list(m, 'query_parameters');
  for (let i = 0; i < qs.length; i++) {
    const q = compileQueryMatcher(issues, qs[i]!, `${joinPath(path, 'query_parameters')}[${i}]`);
    if (q !== null) queryParameters.push(q);
  }
  const grpc = msg(m, 'grpc');
  if (grpc !== undefined) onlyFields(issues, grpc, joinPath(path, 'grpc'), []);
  if (issues.count !== before || pm === null) return null;
  return { path: pm, headers, queryParameters, grpc: grpc !== undefined };
}

/** Compiles an `envoy.config.route.v3.HeaderMatcher` (routes, retry policies, filters that match headers). */
export function compileHeaderMatcher(issues: Issues, h: ProtoObject, path: string): HeaderMatcherModel | null {
  const before = issues.count;
  onlyFields(issues, h, path, [
    'name', 'exact_match', 'safe_regex_match', 'present_match', 'prefix_match', 'suffix_match', 'contains_match',
    'string_match', 'invert_match', 'treat_missing_header_as_empty',
  ]);
  const name = (str(h, 'name') ?? '').toLowerCase();
  if (name === '') issues.add(joinPath(path, 'name'), 'is required');
  let match: HeaderMatcherModel['match'] = null;
  let presentMatch = true;
  const direct = (kind: 'exact' | 'prefix' | 'suffix' | 'contains', field: string): void => {
    const v = str(h, field)!;
    if (kind !== 'exact' && v === '') issues.add(joinPath(path, field), 'must not be empty');
    match = { kind, value: v, ignoreCase: false };
  };
  if (h['exact_match'] !== undefined) direct('exact', 'exact_match');
  else if (h['prefix_match'] !== undefined) direct('prefix', 'prefix_match');
  else if (h['suffix_match'] !== undefined) direct('suffix', 'suffix_match');
  else if (h['contains_match'] !== undefined) direct('contains', 'contains_match');
  else if (h['safe_regex_match'] !== undefined) {
    const re = compileRegexMatcher(issues, msg(h, 'safe_regex_match'), joinPath(path, 'safe_regex_match'));
    if (re !== null) match = { kind: 'regex', regex: re };
  } else if (h['string_match'] !== undefined) {
    match = compileStringMatcher(issues, msg(h, 'string_match'), joinPath(path, 'string_match'));
  } else if (h['present_match'] !== undefined) {
    presentMatch = bool(h, 'present_match')!;
  }
  // No specifier at all: Envoy treats the matcher as a presence match.
  if (issues.count !== before) return null;
  return {
    name, match, presentMatch,
    invertMatch: bool(h, 'invert_match') ?? false,
    treatMissingAsEmpty: bool(h, 'treat_missing_header_as_empty') ?? false,
  };
}

function compileQueryMatcher(issues: Issues, q: ProtoObject, path: string): QueryParameterMatcherModel | null {
  const before = issues.count;
  onlyFields(issues, q, path, ['name', 'string_match', 'present_match']);
  const name = str(q, 'name') ?? '';
  if (name === '') issues.add(joinPath(path, 'name'), 'is required');
  let match = null;
  if (q['string_match'] !== undefined) match = compileStringMatcher(issues, msg(q, 'string_match'), joinPath(path, 'string_match'));
  else if (q['present_match'] === false) issues.add(joinPath(path, 'present_match'), 'present_match: false is not supported by Remora');
  if (issues.count !== before) return null;
  return { name, match };
}

/**
 * Compiles a RouteAction. `vhRetry` is the virtual host's compiled retry policy: a route-level
 * `retry_policy` replaces it entirely (no field merging, as Envoy), including `num_retries: 0`
 * which disables retries for the route.
 */
function compileRouteAction(issues: Issues, a: ProtoObject, path: string, vhRetry: RetryPolicyModel | null, vhRateLimits: readonly RateLimitDraft[]): RouteActionModel | null {
  const before = issues.count;
  onlyFields(issues, a, path, [
    'cluster', 'weighted_clusters', 'timeout', 'idle_timeout', 'prefix_rewrite', 'host_rewrite_literal', 'max_stream_duration',
    'retry_policy', 'hash_policy', 'rate_limits', 'include_vh_rate_limits',
  ]);
  const rrp = msg(a, 'retry_policy');
  const retryPolicy = rrp === undefined ? vhRetry : compileRetryPolicy(issues, rrp, joinPath(path, 'retry_policy'), compileHeaderMatcher);
  const hashPolicy = compileHashPolicies(issues, list(a, 'hash_policy'), path);
  const clusters: WeightedClusterModel[] = [];
  let totalWeight = 0;
  const cluster = str(a, 'cluster');
  if (cluster !== undefined) {
    if (cluster === '') issues.add(joinPath(path, 'cluster'), 'must not be empty');
    clusters.push({ name: cluster, weight: 1, headers: compileHeaderMutations(issues, {}, path) });
    totalWeight = 1;
  } else if (a['weighted_clusters'] !== undefined) {
    const wp = joinPath(path, 'weighted_clusters');
    const wc = msg(a, 'weighted_clusters')!;
    onlyFields(issues, wc, wp, ['clusters', 'total_weight']);
    const items = list(wc, 'clusters');
    if (items.length === 0) issues.add(joinPath(wp, 'clusters'), 'at least one cluster is required');
    let sum = 0;
    for (let i = 0; i < items.length; i++) {
      const cp = `${joinPath(wp, 'clusters')}[${i}]`;
      const c = items[i]!;
      onlyFields(issues, c, cp, ['name', 'weight', ...HEADER_MUTATION_FIELDS]);
      const name = str(c, 'name') ?? '';
      if (name === '') issues.add(joinPath(cp, 'name'), 'is required');
      const weight = wrapped<number>(c, 'weight') ?? 0;
      sum += weight;
      const headers = compileHeaderMutations(issues, c, cp);
      if (weight > 0) clusters.push({ name, weight, headers });
    }
    if (items.length > 0 && sum === 0) issues.add(joinPath(wp, 'clusters'), 'the sum of weights must be greater than 0');
    const declared = wrapped<number>(wc, 'total_weight');
    if (declared !== undefined && declared !== sum) issues.add(joinPath(wp, 'total_weight'), `must equal the sum of cluster weights (${sum})`);
    totalWeight = sum;
  } else if (issues.count === before) {
    issues.add(path, 'one of cluster or weighted_clusters is required');
  }
  const idle = msg(a, 'idle_timeout');
  if (idle !== undefined && Number(idle['seconds'] ?? 0) === 0 && Number(idle['nanos'] ?? 0) === 0) {
    issues.add(joinPath(path, 'idle_timeout'), '0s (disabled) is not supported by Remora; omit it to inherit stream_idle_timeout');
  }
  let grpcTimeoutHeaderMaxMs: number | null = null;
  let grpcTimeoutHeaderOffsetMs = 0;
  let maxStreamDurationMs: number | null = null;
  const msd = msg(a, 'max_stream_duration');
  if (msd !== undefined) {
    const mp = joinPath(path, 'max_stream_duration');
    onlyFields(issues, msd, mp, ['max_stream_duration', 'grpc_timeout_header_max', 'grpc_timeout_header_offset']);
    grpcTimeoutHeaderOffsetMs = optDurationMs(issues, msd, 'grpc_timeout_header_offset', mp, null, false) ?? 0;
    maxStreamDurationMs = optDurationMs(issues, msd, 'max_stream_duration', mp, null);
    grpcTimeoutHeaderMaxMs = optDurationMs(issues, msd, 'grpc_timeout_header_max', mp, null, false);
  }
  const route = {
    type: 'route' as const,
    clusters,
    totalWeight,
    timeoutMs: optDurationMs(issues, a, 'timeout', path, DEFAULT_ROUTE_TIMEOUT_MS),
    idleTimeoutMs: optDurationMs(issues, a, 'idle_timeout', path, null),
    prefixRewrite: str(a, 'prefix_rewrite') ?? null,
    hostRewriteLiteral: str(a, 'host_rewrite_literal') ?? null,
    grpcTimeoutHeaderMaxMs,
    grpcTimeoutHeaderOffsetMs,
    maxStreamDurationMs,
    retryPolicy,
    hashPolicy,
    rateLimits: routeRateLimits(issues, a, path, vhRateLimits, clusters, compileHeaderMatcher),
  };
  return issues.count === before ? route : null;
}

function compileRedirect(issues: Issues, r: ProtoObject, path: string): RouteActionModel | null {
  const before = issues.count;
  onlyFields(issues, r, path, ['https_redirect', 'scheme_redirect', 'host_redirect', 'port_redirect', 'path_redirect', 'prefix_rewrite', 'response_code', 'strip_query']);
  const code = str(r, 'response_code') ?? 'MOVED_PERMANENTLY';
  const status = REDIRECT_CODES[code];
  if (status === undefined) issues.add(joinPath(path, 'response_code'), `unsupported response code ${code}`);
  const port = num(r, 'port_redirect');
  if (port !== undefined && port > 65535) issues.add(joinPath(path, 'port_redirect'), 'must be in 0..65535');
  const pathRedirect = str(r, 'path_redirect') ?? null;
  if (pathRedirect !== null && !pathRedirect.startsWith('/')) issues.add(joinPath(path, 'path_redirect'), "must start with '/'");
  if (issues.count !== before) return null;
  return {
    type: 'redirect',
    status: status!,
    schemeRedirect: bool(r, 'https_redirect') === true ? 'https' : (str(r, 'scheme_redirect') ?? null),
    hostRedirect: str(r, 'host_redirect') ?? null,
    portRedirect: port === undefined || port === 0 ? null : port,
    pathRedirect,
    prefixRewrite: str(r, 'prefix_rewrite') ?? null,
    stripQuery: bool(r, 'strip_query') ?? false,
  };
}

function compileDirectResponse(issues: Issues, deps: CompileDeps, d: ProtoObject, path: string, maxBody: number): RouteActionModel | null {
  const before = issues.count;
  onlyFields(issues, d, path, ['status', 'body']);
  const status = num(d, 'status') ?? 0;
  if (status < 200 || status > 599) issues.add(joinPath(path, 'status'), 'must be in 200..599');
  let body: Buffer | null = null;
  if (d['body'] !== undefined) {
    body = compileDataSource(issues, deps, msg(d, 'body'), joinPath(path, 'body'));
    if (body !== null && body.length > maxBody) issues.add(joinPath(path, 'body'), `body is ${body.length} bytes, above max_direct_response_body_size_bytes (${maxBody})`);
  }
  if (issues.count !== before) return null;
  return { type: 'direct_response', status, body };
}
