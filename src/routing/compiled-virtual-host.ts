/**
 * One virtual host of a route table, compiled once per config update: its routes in order, and the
 * per-request route walk (first match wins). The walk checks the cheap conditions first (path
 * literal, `grpc`, headers) and parses the query string at most once, only when a route that got
 * that far has query parameter matchers; the regex path view (path without query) is sliced at most
 * once too. Nothing is allocated when no route needs the query or a regex on a path with a query.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-virtualhost
 */
import type { HeaderMutationsModel, VirtualHostModel } from '../config/model';
import type { Re2Regex } from '../config/re2-regex';
import { CompiledRoute } from './compiled-route';
import { QueryParams } from './query-params';
import { pathEndIndex, type RouteRequest } from './route-request';

export class CompiledVirtualHost {
  readonly model: VirtualHostModel;
  readonly name: string;
  /** Name of the route configuration this virtual host belongs to. */
  readonly routeConfigName: string;
  readonly routes: readonly CompiledRoute[];

  /** @internal built by `RouteTable.compile`. */
  constructor(model: VirtualHostModel, routeConfigName: string, routeConfigHeaders: HeaderMutationsModel) {
    this.model = model;
    this.name = model.name;
    this.routeConfigName = routeConfigName;
    const routes: CompiledRoute[] = [];
    for (let i = 0; i < model.routes.length; i++) routes.push(new CompiledRoute(model.routes[i], this, i, routeConfigHeaders));
    this.routes = Object.freeze(routes);
  }

  /**
   * The first route whose matchers all accept `req`, or null. Synchronous, never throws; allocates
   * only for query parsing, multi-valued headers and regex paths followed by a query.
   */
  match(req: RouteRequest): CompiledRoute | null {
    const path = req.path;
    const pathEnd = pathEndIndex(path);
    const routes = this.routes;
    let pathOnly: string | null = null;
    let query: QueryParams | null = null;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i];
      if (r.isRegexPath) {
        if (pathOnly === null) pathOnly = pathEnd === path.length ? path : path.slice(0, pathEnd);
        if (!(r.pathRegex as Re2Regex).fullMatch(pathOnly)) continue;
      } else if (!r.matchesPathLiteral(path, pathEnd)) {
        continue;
      }
      if (r.grpcOnly && !req.isGrpc) continue;
      if (r.headerMatchers !== null && !r.matchesHeaders(req.headers)) continue;
      if (r.queryMatchers !== null) {
        if (query === null) query = QueryParams.parse(path, pathEnd);
        if (!r.matchesQuery(query)) continue;
      }
      return r;
    }
    return null;
  }
}
