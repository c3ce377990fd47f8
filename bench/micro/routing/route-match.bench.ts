/**
 * Micro benchmark of `RouteTable.match()` (virtual host selection + route walk), the per-request
 * routing hot path. Parameterised by the number of routes in the virtual host (1/10/50; the request
 * matches the last one, the worst case of a linear walk) and the header matchers on each route
 * (0/1/10 exact matchers, all satisfied on the matching route). Plain `process.hrtime.bigint()` loop,
 * no dependencies. Run: `node --import tsx bench/micro/routing/route-match.bench.ts`.
 */
import type { HeaderMatcherModel, HeaderMutationsModel, RouteConfigModel, RouteModel } from '../../../src/config/model';
import { RouteTable, type RouteRequest } from '../../../src/routing/route-table';

const NO_HEADERS: HeaderMutationsModel = { requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };

function buildTable(routeCount: number, headerCount: number): RouteTable {
  const routes: RouteModel[] = [];
  for (let i = 0; i < routeCount; i++) {
    const headers: HeaderMatcherModel[] = [];
    for (let j = 0; j < headerCount; j++) {
      headers.push({ name: `x-h${j}`, match: { kind: 'exact', value: `v${j}`, ignoreCase: false }, presentMatch: true, invertMatch: false, treatMissingAsEmpty: false });
    }
    routes.push({
      name: `r${i}`,
      match: { path: { kind: 'prefix', value: `/pkg.Service${i}/`, caseSensitive: true }, headers, queryParameters: [], grpc: false },
      action: { type: 'route', clusters: [{ name: `c${i}`, weight: 1, headers: NO_HEADERS }], totalWeight: 1, timeoutMs: 15000, idleTimeoutMs: null, prefixRewrite: null, hostRewriteLiteral: null, grpcTimeoutHeaderMaxMs: null, maxStreamDurationMs: null },
      headers: NO_HEADERS,
      perFilterConfig: {},
    });
  }
  const model: RouteConfigModel = {
    name: 'bench',
    virtualHosts: [
      { name: 'other', domains: ['other.svc.cluster.local', '*.other.svc'], routes: [], headers: NO_HEADERS },
      { name: 'svc', domains: ['svc.default.svc.cluster.local', 'svc.default.svc.cluster.local:8080', 'svc'], routes, headers: NO_HEADERS },
    ],
    headers: NO_HEADERS,
  };
  return RouteTable.compile(model, { stripAnyHostPort: true });
}

function buildRequest(routeCount: number, headerCount: number): RouteRequest {
  const path = `/pkg.Service${routeCount - 1}/Method`;
  const headers: Record<string, string> = {
    ':method': 'POST', ':path': path, ':authority': 'svc.default.svc.cluster.local:8080', ':scheme': 'http',
    'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'grpc-node-js/1.14.7',
  };
  for (let j = 0; j < headerCount; j++) headers[`x-h${j}`] = `v${j}`;
  return { authority: 'svc.default.svc.cluster.local:8080', path, method: 'POST', headers, isGrpc: true };
}

function measure(table: RouteTable, req: RouteRequest, iterations: number): number {
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += table.match(req) === null ? 0 : 1; // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink += table.match(req) === null ? 0 : 1;
  const ns = Number(process.hrtime.bigint() - start);
  if (sink === 0) throw new Error('route did not match');
  return ns / iterations;
}

const ITERATIONS = 1_000_000;
console.log(`node ${process.version}, ${ITERATIONS} iterations each, request matches the last route`);
console.log('routes  header-matchers  ns/op');
for (const routeCount of [1, 10, 50]) {
  for (const headerCount of [0, 1, 10]) {
    const table = buildTable(routeCount, headerCount);
    const req = buildRequest(routeCount, headerCount);
    const best = Math.min(measure(table, req, ITERATIONS), measure(table, req, ITERATIONS), measure(table, req, ITERATIONS));
    console.log(`${String(routeCount).padStart(6)}  ${String(headerCount).padStart(15)}  ${best.toFixed(1).padStart(6)}`);
  }
}
