/**
 * One route of a virtual host, compiled once per config update from a `RouteModel`: its path matcher
 * (kind + lowercased pattern or anchored regex), header and query matchers, the flattened header
 * mutation levels (route → virtual host → route configuration, Envoy's default
 * `most_specific_header_mutations_wins: false`, so the outer levels run last and win), the cumulative
 * weights of its weighted clusters, and the request-time helpers the router filter calls after a
 * match: cluster pick, `prefix_rewrite` and redirect `Location`. Matching itself is driven by
 * `CompiledVirtualHost.match()`, which shares per-request work (query parsing) across routes.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-route
 */
import type { RandomSource } from '../core/clock';
import type { HeaderMutationsModel, RouteModel, RouteRedirectModel, WeightedClusterModel } from '../config/model';
import type { Re2Regex } from '../config/re2-regex';
import { CompiledHeaderMatcher, type RequestHeaders } from './header-matcher';
import { compileMutationLevels, type HeaderMutationLevel } from './header-mutations';
import { CompiledQueryParameterMatcher, type QueryParams } from './query-params';
import { pathEndIndex, type RouteRequest } from './route-request';
import { asciiLowerCase, hasAsciiLetter, regionMatchesIgnoreCase } from './string-matcher';
import type { CompiledVirtualHost } from './compiled-virtual-host';
import { CompiledHashPolicy } from './hash-policy';
import { CompiledRetryPolicy } from './retry-policy';
import { CompiledRateLimits } from './rate-limit-descriptors';

/** @internal path matcher kinds. */
export const PATH_ANY = 0;
export const PATH_PREFIX = 1;
export const PATH_PREFIX_IGNORE_CASE = 2;
export const PATH_EXACT = 3;
export const PATH_EXACT_IGNORE_CASE = 4;
export const PATH_REGEX = 5;

/** Linear scan up to this many weighted clusters, binary search beyond. */
const LINEAR_PICK_MAX = 8;

export class CompiledRoute {
  readonly model: RouteModel;
  readonly name: string;
  readonly virtualHost: CompiledVirtualHost;
  /** Position in the virtual host's route list. */
  readonly index: number;
  /**
   * Request header mutations in application order (route, then virtual host, then route
   * configuration; adjacent levels merged where that cannot change the result; empty levels dropped).
   * Weighted-cluster mutations (`WeightedClusterModel.headers`) are more specific still: the caller
   * applies the picked cluster's mutations first, then these.
   */
  readonly requestHeaderMutations: readonly HeaderMutationLevel[];
  /** Response header mutations, same order and caveat as `requestHeaderMutations`. */
  readonly responseHeaderMutations: readonly HeaderMutationLevel[];

  /** @internal one of the PATH_* kinds. */
  readonly pathKind: number;
  /** @internal prefix/path value (ASCII-lowercased for the ignore-case kinds), '' for regex. */
  readonly pathValue: string;
  /** @internal the anchored path regex, or null. */
  readonly pathRegex: Re2Regex | null;
  /** @internal `pathKind === PATH_REGEX`, read by the virtual host's route walk. */
  readonly isRegexPath: boolean;
  /** @internal null when the route has no header matchers. */
  readonly headerMatchers: readonly CompiledHeaderMatcher[] | null;
  /** @internal null when the route has no query parameter matchers. */
  readonly queryMatchers: readonly CompiledQueryParameterMatcher[] | null;
  /** @internal `grpc: {}` */
  readonly grpcOnly: boolean;
  /** The route's `retry_policy`, compiled; null when the route does not retry (or is not a forward). */
  readonly retryPolicy: CompiledRetryPolicy | null;
  /** The route's `hash_policy`, compiled; null when it has none. */
  readonly hashPolicy: CompiledHashPolicy | null;
  /** The route's `rate_limits` (descriptor producers for the local rate limit filter); null when it has none. */
  readonly rateLimits: CompiledRateLimits | null;

  /** The cluster when there is exactly one with a positive weight; null otherwise. */
  private readonly singleCluster: WeightedClusterModel | null;
  /** Clusters with positive weights, and their running weight sums; null for non-forward routes. */
  private readonly pickClusters: readonly WeightedClusterModel[] | null;
  private readonly cumulativeWeights: Float64Array | null;
  private readonly weightSum: number;
  /** `prefix_rewrite` of the forward or redirect action, or null. */
  private readonly prefixRewrite: string | null;
  /** Characters `prefix_rewrite` replaces: the prefix length, or -1 for "the path before the query". */
  private readonly rewriteLength: number;
  private readonly redirect: RouteRedirectModel | null;

  /** @internal built by `CompiledVirtualHost`. */
  constructor(model: RouteModel, virtualHost: CompiledVirtualHost, index: number, routeConfigHeaders: HeaderMutationsModel) {
    this.model = model;
    this.name = model.name;
    this.virtualHost = virtualHost;
    this.index = index;
    const vh = virtualHost.model.headers;
    this.requestHeaderMutations = compileMutationLevels([
      { adds: model.headers.requestHeadersToAdd, removes: model.headers.requestHeadersToRemove },
      { adds: vh.requestHeadersToAdd, removes: vh.requestHeadersToRemove },
      { adds: routeConfigHeaders.requestHeadersToAdd, removes: routeConfigHeaders.requestHeadersToRemove },
    ]);
    this.responseHeaderMutations = compileMutationLevels([
      { adds: model.headers.responseHeadersToAdd, removes: model.headers.responseHeadersToRemove },
      { adds: vh.responseHeadersToAdd, removes: vh.responseHeadersToRemove },
      { adds: routeConfigHeaders.responseHeadersToAdd, removes: routeConfigHeaders.responseHeadersToRemove },
    ]);

    const pm = model.match.path;
    let rewriteLength = -1;
    if (pm.kind === 'regex') {
      this.pathKind = PATH_REGEX;
      this.pathValue = '';
      this.pathRegex = pm.regex;
    } else if (pm.kind === 'prefix') {
      rewriteLength = pm.value.length;
      this.pathRegex = null;
      if (pm.value.length === 0) {
        this.pathKind = PATH_ANY;
        this.pathValue = '';
      } else if (pm.caseSensitive || !hasAsciiLetter(pm.value)) {
        this.pathKind = PATH_PREFIX;
        this.pathValue = pm.value;
      } else {
        this.pathKind = PATH_PREFIX_IGNORE_CASE;
        this.pathValue = asciiLowerCase(pm.value);
      }
    } else {
      this.pathRegex = null;
      if (pm.caseSensitive || !hasAsciiLetter(pm.value)) {
        this.pathKind = PATH_EXACT;
        this.pathValue = pm.value;
      } else {
        this.pathKind = PATH_EXACT_IGNORE_CASE;
        this.pathValue = asciiLowerCase(pm.value);
      }
    }
    this.headerMatchers = model.match.headers.length === 0
      ? null : Object.freeze(model.match.headers.map((h) => new CompiledHeaderMatcher(h)));
    this.queryMatchers = model.match.queryParameters.length === 0
      ? null : Object.freeze(model.match.queryParameters.map((q) => new CompiledQueryParameterMatcher(q)));
    this.grpcOnly = model.match.grpc;

    const action = model.action;
    if (action.type === 'route') {
      const positive = action.clusters.filter((c) => c.weight > 0);
      // A single `cluster` may carry weight 0 or 1 depending on the compiler; it is always picked.
      const list = positive.length > 0 ? positive : action.clusters.slice(0, 1);
      const cumulative = new Float64Array(list.length);
      let sum = 0;
      for (let i = 0; i < list.length; i++) {
        sum += list[i].weight > 0 ? list[i].weight : 1;
        cumulative[i] = sum;
      }
      this.singleCluster = list.length === 1 ? list[0] : null;
      this.pickClusters = Object.freeze(list);
      this.cumulativeWeights = cumulative;
      this.weightSum = sum;
      this.prefixRewrite = action.prefixRewrite;
      this.redirect = null;
      this.retryPolicy = action.retryPolicy === null ? null : new CompiledRetryPolicy(action.retryPolicy);
      this.hashPolicy = CompiledHashPolicy.compile(action.hashPolicy);
      this.rateLimits = CompiledRateLimits.compile(action.rateLimits);
    } else {
      this.retryPolicy = null;
      this.hashPolicy = null;
      this.rateLimits = null;
      this.singleCluster = null;
      this.pickClusters = null;
      this.cumulativeWeights = null;
      this.weightSum = 0;
      this.prefixRewrite = action.type === 'redirect' ? action.prefixRewrite : null;
      this.redirect = action.type === 'redirect' ? action : null;
    }
    this.rewriteLength = rewriteLength;
    this.isRegexPath = this.pathKind === PATH_REGEX;
  }

  /**
   * True when the path proper (`path[0, pathEnd)`, without query and fragment) satisfies this route's
   * `prefix` / `path` matcher. Regex routes are handled by the caller, which slices the path once.
   * @internal
   */
  matchesPathLiteral(path: string, pathEnd: number): boolean {
    const v = this.pathValue;
    switch (this.pathKind) {
      case PATH_ANY: return true;
      case PATH_PREFIX: return v.length <= pathEnd && startsWithBackwards(path, v);
      case PATH_PREFIX_IGNORE_CASE: return v.length <= pathEnd && regionMatchesIgnoreCase(path, 0, v);
      case PATH_EXACT: return v.length === pathEnd && startsWithBackwards(path, v);
      case PATH_EXACT_IGNORE_CASE: return v.length === pathEnd && regionMatchesIgnoreCase(path, 0, v);
      default: return false;
    }
  }

  /** True when every header matcher matches (vacuously true without any). @internal */
  matchesHeaders(headers: RequestHeaders): boolean {
    const hm = this.headerMatchers;
    if (hm === null) return true;
    for (let i = 0; i < hm.length; i++) if (!hm[i].matches(headers)) return false;
    return true;
  }

  /** True when every query parameter matcher matches. @internal */
  matchesQuery(params: QueryParams): boolean {
    const qm = this.queryMatchers;
    if (qm === null) return true;
    for (let i = 0; i < qm.length; i++) if (!qm[i].matches(params)) return false;
    return true;
  }

  /**
   * Picks the upstream cluster of a forward (`type: 'route'`) action: the single cluster without
   * touching `random`, else one draw of `random.next()` scaled to the weight sum and located in the
   * cumulative weights (cluster i gets weight_i / sum of the draws). Synchronous, allocation-free.
   * Calling it on a redirect or direct-response route (or a forward action without clusters, which
   * validation rejects) is a programming error and throws a TypeError.
   */
  pickCluster(random: RandomSource): WeightedClusterModel {
    const single = this.singleCluster;
    if (single !== null) return single;
    const cum = this.cumulativeWeights;
    const clusters = this.pickClusters;
    if (cum === null || clusters === null || cum.length === 0) throw new TypeError(`route ${this.name}: pickCluster on a route without clusters`);
    const x = random.next() * this.weightSum;
    const n = cum.length;
    if (n <= LINEAR_PICK_MAX) {
      for (let i = 0; i < n - 1; i++) if (x < cum[i]) return clusters[i];
      return clusters[n - 1];
    }
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (x < cum[mid]) hi = mid;
      else lo = mid + 1;
    }
    return clusters[lo];
  }

  /**
   * Applies `prefix_rewrite` (of a forward or redirect action) to the request `path`: for a `prefix`
   * match the matched prefix is replaced, for `path` and `safe_regex` matches the whole path before the
   * query; the query string is kept. Returns `path` itself when there is no rewrite. Only meaningful
   * for a path this route matched.
   */
  rewritePath(path: string): string {
    const rewrite = this.prefixRewrite;
    if (rewrite === null) return path;
    if (this.rewriteLength >= 0) return rewrite + path.slice(this.rewriteLength);
    return rewrite + path.slice(pathEndIndex(path));
  }

  /**
   * The `Location` of a redirect action, as Envoy's `RouteEntryImplBase::newPath`: scheme =
   * `scheme_redirect` or `scheme` (the request's scheme); host = `host_redirect`, else the request
   * authority with its port dropped when `port_redirect` is set or when the scheme changes away from
   * the request protocol's default port (`:80` for http, `:443` for https; the request protocol is
   * `x-forwarded-proto` when present, else `scheme`); then `:port_redirect`; path = `path_redirect`
   * (keeping the request query unless the redirect has its own), else the path after `prefix_rewrite`;
   * `strip_query` drops the query unless `path_redirect` has one. Throws on a non-redirect route
   * (programming error).
   */
  redirectLocation(req: RouteRequest, scheme: string): string {
    const r = this.redirect;
    if (r === null) throw new TypeError(`route ${this.name}: redirectLocation on a non-redirect route`);
    const finalScheme = r.schemeRedirect !== null ? r.schemeRedirect : scheme;
    const finalPort = r.portRedirect !== null ? ':' + r.portRedirect : '';
    let host: string;
    if (r.hostRedirect !== null) {
      host = r.hostRedirect;
    } else {
      const xfp = req.headers['x-forwarded-proto'];
      host = requestHostForRedirect(req.authority, finalScheme, finalPort, typeof xfp === 'string' ? xfp : scheme);
    }
    let path: string;
    let redirectHasQuery = false;
    if (r.pathRedirect !== null) {
      redirectHasQuery = r.pathRedirect.includes('?');
      if (redirectHasQuery) {
        path = r.pathRedirect;
      } else {
        const q = req.path.indexOf('?');
        path = q === -1 ? r.pathRedirect : r.pathRedirect + req.path.slice(q);
      }
    } else {
      path = this.rewritePath(req.path);
    }
    if (!path.startsWith('/')) path = '/' + path;
    if (r.stripQuery && !redirectHasQuery) {
      const q = path.indexOf('?');
      if (q !== -1) path = path.slice(0, q);
    }
    return finalScheme + '://' + host + finalPort + path;
  }
}

/**
 * `path.startsWith(v)` (caller checked the length), comparing from the end: sibling routes usually
 * share a leading `/package.` and differ near the end, so a miss is found on the first compare, and a
 * char loop is cheaper than the `startsWith` builtin call at these lengths.
 */
function startsWithBackwards(path: string, v: string): boolean {
  for (let i = v.length - 1; i >= 0; i--) if (path.charCodeAt(i) !== v.charCodeAt(i)) return false;
  return true;
}

/** Envoy's `processRequestHost`: the request host, minus its port when the redirect calls for it. */
function requestHostForRedirect(authority: string, newScheme: string, newPort: string, requestProtocol: string): string {
  if (authority.length === 0) return authority;
  let hostEnd: number;
  if (authority.charCodeAt(0) === 0x5b /* [ */) {
    hostEnd = authority.lastIndexOf(']:');
    if (hostEnd !== -1) hostEnd += 1;
  } else {
    hostEnd = authority.lastIndexOf(':');
  }
  if (hostEnd === -1) return authority;
  const port = authority.slice(hostEnd);
  let remove = newPort.length > 0;
  if (newScheme !== requestProtocol) {
    remove ||= (requestProtocol === 'https' && port === ':443') || (requestProtocol === 'http' && port === ':80');
  }
  return remove ? authority.slice(0, hostEnd) : authority;
}
