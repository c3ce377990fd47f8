/**
 * Micro benchmark of `RouteTable.match()` (virtual host selection + route walk), the per-request
 * routing hot path. Parameterised by the number of routes in the virtual host (1/10/50; the request
 * matches the last one, the worst case of a linear walk) and the header matchers on each route
 * (0/1/10 exact matchers, all satisfied on the matching route). The requests cycle through 64 copies
 * whose strings are distinct objects, as decoded headers are. Plain `process.hrtime.bigint()` loop,
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
      action: { type: 'route', clusters: [{ name: `c${i}`, weight: 1, headers: NO_HEADERS }], totalWeight: 1, timeoutMs: 15000, idleTimeoutMs: null, prefixRewrite: null, hostRewriteLiteral: null, grpcTimeoutHeaderMaxMs: null, grpcTimeoutHeaderOffsetMs: 0, maxStreamDurationMs: null, retryPolicy: null, hashPolicy: [], rateLimits: [] },
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

/** A fresh (non-interned) copy of `s`, as a decoded request header would be. */
function fresh(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** REQUEST_COPIES distinct request objects whose strings are all distinct copies, as on the wire. */
function buildRequests(routeCount: number, headerCount: number): RouteRequest[] {
  const out: RouteRequest[] = [];
  for (let k = 0; k < REQUEST_COPIES; k++) {
    const path = fresh(`/pkg.Service${routeCount - 1}/Method`);
    const authority = fresh('svc.default.svc.cluster.local:8080');
    const headers: Record<string, string> = Object.create(null);
    headers[':method'] = fresh('POST');
    headers[':path'] = path;
    headers[':authority'] = authority;
    headers[':scheme'] = fresh('http');
    headers['content-type'] = fresh('application/grpc');
    headers.te = fresh('trailers');
    headers['user-agent'] = fresh('grpc-node-js/1.14.7');
    for (let j = 0; j < headerCount; j++) headers[`x-h${j}`] = fresh(`v${j}`);
    out.push({ authority, path, method: headers[':method'], headers, isGrpc: true });
  }
  return out;
}

const REQUEST_COPIES = 64;

function measure(table: RouteTable, reqs: RouteRequest[], iterations: number): number {
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += table.match(reqs[i & (REQUEST_COPIES - 1)]) === null ? 0 : 1; // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink += table.match(reqs[i & (REQUEST_COPIES - 1)]) === null ? 0 : 1;
  const ns = Number(process.hrtime.bigint() - start);
  if (sink === 0) throw new Error('route did not match');
  return ns / iterations;
}

/** Calibration for this machine: the same loop reading one field, so figures can be compared across hosts. */
function measureBaseline(reqs: RouteRequest[], iterations: number): number {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink += reqs[i & (REQUEST_COPIES - 1)].path.length;
  const ns = Number(process.hrtime.bigint() - start);
  if (sink === 0) throw new Error('unreachable');
  return ns / iterations;
}

const ITERATIONS = 1_000_000;
console.log(`node ${process.version}, best of 3 x ${ITERATIONS} iterations, ${REQUEST_COPIES} distinct request copies, request matches the last route`);
{
  const reqs = buildRequests(1, 0);
  const base = Math.min(measureBaseline(reqs, ITERATIONS), measureBaseline(reqs, ITERATIONS), measureBaseline(reqs, ITERATIONS));
  console.log(`baseline loop (read req.path.length): ${base.toFixed(1)} ns/op`);
}
console.log('routes  header-matchers  ns/op');
for (const routeCount of [1, 10, 50]) {
  for (const headerCount of [0, 1, 10]) {
    const table = buildTable(routeCount, headerCount);
    const reqs = buildRequests(routeCount, headerCount);
    const best = Math.min(measure(table, reqs, ITERATIONS), measure(table, reqs, ITERATIONS), measure(table, reqs, ITERATIONS));
    console.log(`${String(routeCount).padStart(6)}  ${String(headerCount).padStart(15)}  ${best.toFixed(1).padStart(6)}`);
  }
}
