/**
 * Compiles Envoy's route and virtual-host `rate_limits` (`envoy.config.route.v3.RateLimit`) into
 * `RateLimitModel[]`, the descriptor recipes the local rate limit filter matches against its
 * `descriptors`. Supported actions: `request_headers`, `remote_address`, `generic_key`,
 * `header_value_match` (its `headers` through the route `HeaderMatcher` compiler) and
 * `destination_cluster` on a route with a single `cluster` (it is then a constant, compiled to a
 * `generic_key` entry `destination_cluster=<cluster>`). Rejected with field paths: a non-zero `stage`
 * (the local rate limit filter only runs stage 0), `disable_key`, `limit` overrides, `source_cluster`
 * (Remora's compile does not know the local cluster name), `metadata`, `dynamic_metadata`,
 * `extension`, `masked_remote_address` and `query_parameter_value_match`.
 *
 * Virtual-host rate limits are compiled once (`compileRateLimitList`) and merged into each route by
 * `routeRateLimits`: the route's own `rate_limits` when it has any, else the virtual host's (Envoy's
 * `vh_rate_limits: OVERRIDE`, the local rate limit filter's default), or both, route first, with the
 * deprecated RouteAction `include_vh_rate_limits: true`.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-ratelimit
 */
import type { HeaderMatcherModel, RateLimitActionModel, RateLimitModel, WeightedClusterModel } from '../model';
import { bool, Issues, joinPath, list, msg, onlyFields, str, UNSUPPORTED, wrapped } from './context';
import type { ProtoObject } from './proto-json';

/** Compiles one `HeaderMatcher` (route-configuration.ts passes its `compileHeaderMatcher`). */
export type HeaderMatcherCompiler = (issues: Issues, h: ProtoObject, path: string) => HeaderMatcherModel | null;

/** `destination_cluster`, resolved per route (it depends on the route's cluster). */
interface DestinationClusterDraft {
  readonly kind: 'destination_cluster';
  /** Where it was configured, for the error when the route has no single cluster. */
  readonly path: string;
}

/** A compiled RateLimit whose `destination_cluster` actions are not resolved yet. @internal */
export interface RateLimitDraft {
  readonly actions: readonly (RateLimitActionModel | DestinationClusterDraft)[];
}

const HEADER_NAME_RE = /^:?[!#$%&'*+\-.^_`|~0-9a-z]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

const ACTION_KINDS = [
  'source_cluster', 'destination_cluster', 'request_headers', 'remote_address', 'generic_key', 'header_value_match',
  'dynamic_metadata', 'metadata', 'extension', 'masked_remote_address', 'query_parameter_value_match',
];
const SUPPORTED_ACTIONS = ['destination_cluster', 'request_headers', 'remote_address', 'generic_key', 'header_value_match', 'metadata'];

/** The one metadata the sidecar has for rate limiting: Istio's peer principal (`istio_authn` / `source.principal`). */
export const PEER_PRINCIPAL_METADATA = Object.freeze({ filter: 'istio_authn', key: 'source.principal' });

/** Descriptor keys and constant values end up in the filter's lookup keys, which use control characters as separators. */
function checkText(issues: Issues, v: string, path: string): void {
  if (CONTROL_RE.test(v)) issues.add(path, 'must not contain control characters');
}

function compileAction(issues: Issues, a: ProtoObject, path: string, compileHeaderMatcher: HeaderMatcherCompiler): RateLimitActionModel | DestinationClusterDraft | null {
  const before = issues.count;
  const kinds = ACTION_KINDS.filter((k) => a[k] !== undefined);
  onlyFields(issues, a, path, SUPPORTED_ACTIONS);
  if (kinds.length !== 1) {
    if (kinds.length === 0) issues.add(path, `exactly one of ${SUPPORTED_ACTIONS.join(', ')} is required`);
    else issues.add(path, `only one action may be set, got ${kinds.join(', ')}`);
    return null;
  }
  const kind = kinds[0];
  const p = joinPath(path, kind);
  const o = msg(a, kind) ?? {};
  switch (kind) {
    case 'request_headers': {
      onlyFields(issues, o, p, ['header_name', 'descriptor_key', 'skip_if_absent']);
      const headerName = (str(o, 'header_name') ?? '').toLowerCase();
      if (headerName === '') issues.add(joinPath(p, 'header_name'), 'is required');
      else if (!HEADER_NAME_RE.test(headerName)) issues.add(joinPath(p, 'header_name'), `invalid header name '${headerName}'`);
      const descriptorKey = str(o, 'descriptor_key') ?? '';
      if (descriptorKey === '') issues.add(joinPath(p, 'descriptor_key'), 'is required');
      checkText(issues, descriptorKey, joinPath(p, 'descriptor_key'));
      if (issues.count !== before) return null;
      return { kind: 'request_headers', headerName, descriptorKey, skipIfAbsent: bool(o, 'skip_if_absent') ?? false };
    }
    case 'remote_address':
      onlyFields(issues, o, p, []);
      return issues.count === before ? { kind: 'remote_address' } : null;
    case 'generic_key': {
      onlyFields(issues, o, p, ['descriptor_value', 'descriptor_key']);
      const descriptorValue = str(o, 'descriptor_value') ?? '';
      if (descriptorValue === '') issues.add(joinPath(p, 'descriptor_value'), 'is required');
      checkText(issues, descriptorValue, joinPath(p, 'descriptor_value'));
      const descriptorKey = str(o, 'descriptor_key') || 'generic_key';
      checkText(issues, descriptorKey, joinPath(p, 'descriptor_key'));
      return issues.count === before ? { kind: 'generic_key', descriptorKey, descriptorValue } : null;
    }
    case 'header_value_match': {
      onlyFields(issues, o, p, ['descriptor_key', 'descriptor_value', 'expect_match', 'headers']);
      const descriptorValue = str(o, 'descriptor_value') ?? '';
      if (descriptorValue === '') issues.add(joinPath(p, 'descriptor_value'), 'is required');
      checkText(issues, descriptorValue, joinPath(p, 'descriptor_value'));
      const descriptorKey = str(o, 'descriptor_key') || 'header_match';
      checkText(issues, descriptorKey, joinPath(p, 'descriptor_key'));
      const raw = list(o, 'headers');
      if (raw.length === 0) issues.add(joinPath(p, 'headers'), 'at least one header matcher is required');
      const headers: HeaderMatcherModel[] = [];
      for (let i = 0; i < raw.length; i++) {
        const h = compileHeaderMatcher(issues, raw[i], `${joinPath(p, 'headers')}[${i}]`);
        if (h !== null) headers.push(h);
      }
      if (issues.count !== before) return null;
      return { kind: 'header_value_match', descriptorKey, descriptorValue, expectMatch: wrapped<boolean>(o, 'expect_match') ?? true, headers };
    }
    case 'metadata': {
      // Only the mTLS peer principal (Istio's authn metadata) is available on the stream.
      onlyFields(issues, o, p, ['descriptor_key', 'metadata_key', 'source', 'skip_if_absent']);
      const descriptorKey = str(o, 'descriptor_key') ?? '';
      if (descriptorKey === '') issues.add(joinPath(p, 'descriptor_key'), 'is required');
      checkText(issues, descriptorKey, joinPath(p, 'descriptor_key'));
      const mk = msg(o, 'metadata_key') ?? {};
      const segs = list(mk, 'path');
      const segKey = segs.length === 1 ? str(segs[0]!, 'key') : undefined;
      if (str(mk, 'key') !== PEER_PRINCIPAL_METADATA.filter || segKey !== PEER_PRINCIPAL_METADATA.key) {
        issues.add(joinPath(p, 'metadata_key'), `only {key: ${PEER_PRINCIPAL_METADATA.filter}, path: [{key: ${PEER_PRINCIPAL_METADATA.key}}]} (the mTLS peer principal) is supported by Remora`);
      }
      if ((str(o, 'source') ?? 'DYNAMIC') !== 'DYNAMIC') issues.add(joinPath(p, 'source'), 'only DYNAMIC is supported by Remora');
      return issues.count === before ? { kind: 'source_principal', descriptorKey } : null;
    }
    case 'destination_cluster':
      onlyFields(issues, o, p, []);
      return issues.count === before ? { kind: 'destination_cluster', path: p } : null;
    case 'source_cluster':
      issues.add(p, `${UNSUPPORTED} (the local service cluster is not known to route compilation)`);
      return null;
    default:
      // onlyFields reported it as unsupported.
      return null;
  }
}

/**
 * Compiles a `rate_limits` list at `path` (`…rate_limits`). Entries with errors are reported and
 * dropped; the caller discards the whole config when `issues` grew.
 */
export function compileRateLimitList(issues: Issues, items: readonly ProtoObject[], path: string, compileHeaderMatcher: HeaderMatcherCompiler): RateLimitDraft[] {
  const out: RateLimitDraft[] = [];
  for (let i = 0; i < items.length; i++) {
    const rp = `${path}[${i}]`;
    const rl = items[i];
    const before = issues.count;
    onlyFields(issues, rl, rp, ['stage', 'actions']);
    const stage = wrapped<number>(rl, 'stage') ?? 0;
    if (stage !== 0) issues.add(joinPath(rp, 'stage'), `${UNSUPPORTED} (only stage 0, the local rate limit filter's stage)`);
    const raw = list(rl, 'actions');
    if (raw.length === 0) issues.add(joinPath(rp, 'actions'), 'at least one action is required');
    const actions: (RateLimitActionModel | DestinationClusterDraft)[] = [];
    for (let j = 0; j < raw.length; j++) {
      const a = compileAction(issues, raw[j], `${joinPath(rp, 'actions')}[${j}]`, compileHeaderMatcher);
      if (a !== null) actions.push(a);
    }
    if (issues.count === before) out.push({ actions });
  }
  return out;
}

function resolve(issues: Issues, drafts: readonly RateLimitDraft[], cluster: string | null, routePath: string, out: RateLimitModel[]): void {
  for (const d of drafts) {
    const actions: RateLimitActionModel[] = [];
    let ok = true;
    for (const a of d.actions) {
      if (a.kind !== 'destination_cluster') {
        actions.push(a);
      } else if (cluster === null) {
        ok = false;
        const where = a.path.startsWith(routePath) ? a.path : `${a.path} (for route ${routePath})`;
        issues.add(where, `${UNSUPPORTED} on a route with weighted_clusters (the cluster is picked after rate limiting)`);
      } else {
        actions.push({ kind: 'generic_key', descriptorKey: 'destination_cluster', descriptorValue: cluster });
      }
    }
    if (ok) out.push({ actions });
  }
}

/**
 * The `rateLimits` of the RouteAction `a` at `path`: its own `rate_limits` (compiled here), else
 * `vhDrafts`; both with `include_vh_rate_limits: true`. `clusters` are the route's compiled clusters
 * (`destination_cluster` needs exactly one).
 */
export function routeRateLimits(
  issues: Issues, a: ProtoObject, path: string, vhDrafts: readonly RateLimitDraft[], clusters: readonly WeightedClusterModel[],
  compileHeaderMatcher: HeaderMatcherCompiler,
): RateLimitModel[] {
  const rawOwn = list(a, 'rate_limits');
  const own = compileRateLimitList(issues, rawOwn, joinPath(path, 'rate_limits'), compileHeaderMatcher);
  const includeVh = wrapped<boolean>(a, 'include_vh_rate_limits') ?? false;
  const cluster = clusters.length === 1 ? clusters[0].name : null;
  const out: RateLimitModel[] = [];
  resolve(issues, own, cluster, path, out);
  if (rawOwn.length === 0 || includeVh) resolve(issues, vhDrafts, cluster, path, out);
  return out;
}
