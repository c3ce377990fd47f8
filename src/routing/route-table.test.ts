import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../core/clock';
import type {
  HeaderMatcherModel, HeaderMutationsModel, PathMatchModel, RouteActionModel, RouteConfigModel, RouteModel,
  RouteRedirectModel, VirtualHostModel, WeightedClusterModel,
} from '../config/model';
import { applyHeaderMutationLevels, type MutableHeaders } from './header-mutations';
import { RouteTable, type RouteRequest } from './route-table';
import { Re2Regex } from '../config/re2-regex';

// ------------------------------------------------------------------ builders

const NO_HEADERS: HeaderMutationsModel = { requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };

function cluster(name: string, weight = 1): WeightedClusterModel {
  return { name, weight, headers: NO_HEADERS };
}

function forward(clusters: WeightedClusterModel[], prefixRewrite: string | null = null): RouteActionModel {
  return {
    type: 'route', clusters, totalWeight: clusters.reduce((s, c) => s + c.weight, 0), timeoutMs: 15000, idleTimeoutMs: null,
    prefixRewrite, hostRewriteLiteral: null, grpcTimeoutHeaderMaxMs: null, grpcTimeoutHeaderOffsetMs: 0, maxStreamDurationMs: null,
    retryPolicy: null, hashPolicy: [], rateLimits: [],
  };
}

function redirect(over: Partial<RouteRedirectModel>): RouteRedirectModel {
  return { type: 'redirect', status: 301, schemeRedirect: null, hostRedirect: null, portRedirect: null, pathRedirect: null, prefixRewrite: null, stripQuery: false, ...over };
}

interface RouteOpts {
  headers?: HeaderMatcherModel[];
  query?: RouteModel['match']['queryParameters'];
  grpc?: boolean;
  action?: RouteActionModel;
  mutations?: HeaderMutationsModel;
}

function route(name: string, path: PathMatchModel, o: RouteOpts = {}): RouteModel {
  return {
    name,
    match: { path, headers: o.headers ?? [], queryParameters: o.query ?? [], grpc: o.grpc ?? false },
    action: o.action ?? forward([cluster(name)]),
    headers: o.mutations ?? NO_HEADERS,
    perFilterConfig: {},
  };
}

const prefix = (value: string, caseSensitive = true): PathMatchModel => ({ kind: 'prefix', value, caseSensitive });
const exactPath = (value: string, caseSensitive = true): PathMatchModel => ({ kind: 'path', value, caseSensitive });

function vhost(name: string, domains: string[], routes: RouteModel[] = [route(name, prefix('/'))], headers = NO_HEADERS): VirtualHostModel {
  return { name, domains, routes, headers };
}

function table(virtualHosts: VirtualHostModel[], stripAnyHostPort = false, headers = NO_HEADERS): RouteTable {
  const model: RouteConfigModel = { name: 'rc', virtualHosts, headers };
  return RouteTable.compile(model, { stripAnyHostPort });
}

function req(path: string, headers: Record<string, string | string[]> = {}, o: { authority?: string; isGrpc?: boolean } = {}): RouteRequest {
  const authority = o.authority ?? 'svc';
  return {
    authority, path, method: 'GET', isGrpc: o.isGrpc ?? false,
    headers: { ':method': 'GET', ':path': path, ':authority': authority, ':scheme': 'http', ...headers },
  };
}

const hm = (name: string, over: Partial<HeaderMatcherModel>): HeaderMatcherModel =>
  ({ name, match: null, presentMatch: true, invertMatch: false, treatMissingAsEmpty: false, ...over });

// ------------------------------------------------------------------ virtual hosts

test('domain precedence: exact, then longest suffix wildcard, then longest prefix wildcard, then *', () => {
  const t = table([
    vhost('default', ['*']),
    vhost('prefix-short', ['foo.*']),
    vhost('prefix-long', ['foo.bar.*']),
    vhost('suffix-short', ['*.foo.com']),
    vhost('suffix-long', ['*-bar.foo.com']),
    vhost('exact', ['www.foo.com', 'api.example.com:8443']),
  ]);
  const pick = (a: string) => t.selectVirtualHost(a)?.name;
  assert.equal(pick('www.foo.com'), 'exact');
  assert.equal(pick('WWW.Foo.COM'), 'exact', 'case-insensitive');
  assert.equal(pick('baz-bar.foo.com'), 'suffix-long');
  assert.equal(pick('baz.foo.com'), 'suffix-short');
  assert.equal(pick('-bar.foo.com'), 'suffix-short', 'a wildcard never matches the empty string');
  assert.equal(pick('.foo.com'), 'default');
  assert.equal(pick('foo.bar.baz'), 'prefix-long');
  assert.equal(pick('foo.qux'), 'prefix-short');
  assert.equal(pick('foo.'), 'default');
  assert.equal(pick('other'), 'default');
  // Suffix wildcards beat prefix wildcards.
  assert.equal(pick('foo.x.foo.com'), 'suffix-short');
  // The one-entry memo answers repeats (equal content, different string objects) consistently.
  const copy = (s: string) => Buffer.from(s, 'latin1').toString('latin1');
  assert.equal(pick(copy('baz.foo.com')), 'suffix-short');
  assert.equal(pick(copy('baz.foo.com')), 'suffix-short');
  assert.equal(pick(copy('other')), 'default');
  assert.equal(pick(copy('www.foo.com')), 'exact');
});

test('ports: matched as given by default, stripped (IPv6 aware) with stripAnyHostPort', () => {
  const hosts = [vhost('exact', ['www.foo.com']), vhost('with-port', ['api.example.com:8443']), vhost('v6', ['[::1]']), vhost('wild', ['*.foo.com'])];
  const keep = table(hosts);
  assert.equal(keep.selectVirtualHost('www.foo.com:80'), null, 'no automatic retry without the port');
  assert.equal(keep.selectVirtualHost('api.example.com:8443')?.name, 'with-port');
  assert.equal(keep.selectVirtualHost('a.foo.com:80'), null);
  const strip = table(hosts, true);
  assert.equal(strip.selectVirtualHost('www.foo.com:80')?.name, 'exact');
  assert.equal(strip.selectVirtualHost('[::1]:15001')?.name, 'v6');
  assert.equal(strip.selectVirtualHost('[::1]')?.name, 'v6');
  assert.equal(strip.selectVirtualHost('a.foo.com:80')?.name, 'wild');
  assert.equal(strip.selectVirtualHost('api.example.com:8443'), null);
});

test('many wildcards of one length go through the map path', () => {
  const t = table([vhost('a', ['*.aaa.com']), vhost('b', ['*.bbb.com']), vhost('c', ['ccc.*']), vhost('d', ['ddd.*'])]);
  assert.equal(t.selectVirtualHost('x.bbb.com')?.name, 'b');
  assert.equal(t.selectVirtualHost('x.aaa.com')?.name, 'a');
  assert.equal(t.selectVirtualHost('ddd.x')?.name, 'd');
  assert.equal(t.selectVirtualHost('x.ccc.com'), null);
});

test('more than 16 domains of one length are looked up through a map, case-insensitively', () => {
  const hosts = Array.from({ length: 20 }, (_, i) => vhost('h' + i, [`h${String(i).padStart(2, '0')}.example`, `*.w${String(i).padStart(2, '0')}.example`]));
  const t = table(hosts, true);
  assert.equal(t.selectVirtualHost('H07.Example:80')?.name, 'h7');
  assert.equal(t.selectVirtualHost('x.W13.example')?.name, 'h13');
  assert.equal(t.selectVirtualHost('h99.example'), null);
});

test('only * short-circuits; no virtual host gives null', () => {
  const t = table([vhost('all', ['*'])]);
  assert.equal(t.match(req('/x', {}, { authority: 'anything:1' }))?.name, 'all');
  assert.equal(table([]).match(req('/')), null);
});

// ------------------------------------------------------------------ paths

test('routes are tried in order, first match wins; path excludes the query string', () => {
  const t = table([vhost('v', ['*'], [
    route('exact', exactPath('/a/b')),
    route('prefix', prefix('/a/')),
    route('root', prefix('/')),
  ])]);
  assert.equal(t.match(req('/a/b'))?.name, 'exact');
  assert.equal(t.match(req('/a/b?x=1'))?.name, 'exact');
  assert.equal(t.match(req('/a/b/c'))?.name, 'prefix');
  assert.equal(t.match(req('/a'))?.name, 'root');
  const q = table([vhost('v', ['*'], [route('p', prefix('/a?x'))])]);
  assert.equal(q.match(req('/a?x=1')), null, 'a prefix cannot reach into the query');
});

test('case_sensitive: false compares ASCII case-insensitively', () => {
  const t = table([vhost('v', ['*'], [
    route('exact-ci', exactPath('/Foo/Bar', false)),
    route('prefix-ci', prefix('/API/', false)),
    route('prefix-cs', prefix('/Svc/')),
  ])]);
  assert.equal(t.match(req('/foo/BAR'))?.name, 'exact-ci');
  assert.equal(t.match(req('/FOO/bar?q'))?.name, 'exact-ci');
  assert.equal(t.match(req('/api/x'))?.name, 'prefix-ci');
  assert.equal(t.match(req('/Svc/x'))?.name, 'prefix-cs');
  assert.equal(t.match(req('/svc/x')), null);
});

test('safe_regex is a full match on the path without query', () => {
  const t = table([vhost('v', ['*'], [route('re', { kind: 'regex', regex: Re2Regex.compile('/v\\d+/items') })])]);
  assert.equal(t.match(req('/v1/items'))?.name, 're');
  assert.equal(t.match(req('/v12/items?page=2'))?.name, 're');
  assert.equal(t.match(req('/v1/items/3')), null, 'partial match is not a match');
  assert.equal(t.match(req('/x/v1/items')), null);
});

// ------------------------------------------------------------------ headers, query, grpc

test('header matchers: present, absent, invert, multi-value join, missing-as-empty', () => {
  const mk = (h: HeaderMatcherModel) => table([vhost('v', ['*'], [route('r', prefix('/'), { headers: [h] })])]);
  const present = mk(hm('x-a', {}));
  assert.ok(present.match(req('/', { 'x-a': '' })));
  assert.equal(present.match(req('/')), null);
  const absent = mk(hm('x-a', { presentMatch: false }));
  assert.ok(absent.match(req('/')));
  assert.equal(absent.match(req('/', { 'x-a': '1' })), null);
  const presentInverted = mk(hm('x-a', { invertMatch: true }));
  assert.ok(presentInverted.match(req('/')));
  assert.equal(presentInverted.match(req('/', { 'x-a': '1' })), null);

  const exact = mk(hm('x-v', { match: { kind: 'exact', value: 'a,b', ignoreCase: false } }));
  assert.ok(exact.match(req('/', { 'x-v': ['a', 'b'] })), 'values joined with ","');
  assert.equal(exact.match(req('/', { 'x-v': 'a' })), null);

  const inverted = mk(hm('x-v', { match: { kind: 'regex', regex: Re2Regex.compile('\\d{3}') }, invertMatch: true }));
  assert.ok(inverted.match(req('/', { 'x-v': '1234' })));
  assert.equal(inverted.match(req('/', { 'x-v': '123' })), null);
  assert.equal(inverted.match(req('/')), null, 'a missing header never matches a value matcher, even inverted');

  const empty = mk(hm('x-v', { match: { kind: 'regex', regex: Re2Regex.compile('^$') }, treatMissingAsEmpty: true }));
  assert.ok(empty.match(req('/')));
  const emptyStrict = mk(hm('x-v', { match: { kind: 'regex', regex: Re2Regex.compile('^$') } }));
  assert.equal(emptyStrict.match(req('/')), null);

  const pseudo = mk(hm(':method', { match: { kind: 'exact', value: 'GET', ignoreCase: false } }));
  assert.ok(pseudo.match(req('/')));
});

test('all header matchers must match; later routes are tried on failure', () => {
  const t = table([vhost('v', ['*'], [
    route('both', prefix('/'), { headers: [hm('a', {}), hm('b', { match: { kind: 'prefix', value: 'v', ignoreCase: true } })] }),
    route('fallback', prefix('/')),
  ])]);
  assert.equal(t.match(req('/', { a: '1', b: 'V2' }))?.name, 'both');
  assert.equal(t.match(req('/', { a: '1', b: 'x' }))?.name, 'fallback');
  assert.equal(t.match(req('/', { b: 'v' }))?.name, 'fallback');
});

test('query parameter matchers with percent-encoding and repeated names', () => {
  const t = table([vhost('v', ['*'], [
    route('debug', prefix('/'), { query: [{ name: 'debug', match: null }] }),
    route('user', prefix('/'), { query: [{ name: 'user name', match: { kind: 'exact', value: 'José', ignoreCase: false } }] }),
    route('other', prefix('/')),
  ])]);
  assert.equal(t.match(req('/x?debug'))?.name, 'debug');
  assert.equal(t.match(req('/x?a=1&debug=0'))?.name, 'debug');
  assert.equal(t.match(req('/x?user%20name=Jos%C3%A9'))?.name, 'user');
  assert.equal(t.match(req('/x?user%20name=bob&user%20name=Jos%C3%A9'))?.name, 'other', 'first value only');
  assert.equal(t.match(req('/x'))?.name, 'other');
});

test('grpc: {} matches only gRPC requests', () => {
  const t = table([vhost('v', ['*'], [route('grpc', prefix('/'), { grpc: true }), route('http', prefix('/'))])]);
  assert.equal(t.match(req('/pkg.Svc/M', {}, { isGrpc: true }))?.name, 'grpc');
  assert.equal(t.match(req('/pkg.Svc/M'))?.name, 'http');
});

// ------------------------------------------------------------------ actions

test('pickCluster: single cluster fast path and weighted distribution', () => {
  const t = table([vhost('v', ['*'], [
    route('one', prefix('/one')),
    route('w', prefix('/w'), { action: forward([cluster('a', 10), cluster('zero', 0), cluster('b', 30), cluster('c', 60)]) }),
    route('many', prefix('/m'), { action: forward(Array.from({ length: 20 }, (_, i) => cluster('c' + i, i + 1))) }),
  ])]);
  const throwing = { next(): number { throw new Error('random must not be used'); } };
  assert.equal(t.match(req('/one'))!.pickCluster(throwing).name, 'one');

  const rnd = seededRandom(42);
  const w = t.match(req('/w'))!;
  const counts: Record<string, number> = {};
  const N = 100_000;
  for (let i = 0; i < N; i++) {
    const c = w.pickCluster(rnd).name;
    counts[c] = (counts[c] ?? 0) + 1;
  }
  assert.equal(counts.zero, undefined);
  assert.ok(Math.abs(counts.a / N - 0.1) < 0.01, JSON.stringify(counts));
  assert.ok(Math.abs(counts.b / N - 0.3) < 0.01, JSON.stringify(counts));
  assert.ok(Math.abs(counts.c / N - 0.6) < 0.01, JSON.stringify(counts));

  // Binary-search path: 20 clusters with weights 1..20 (sum 210).
  const m = t.match(req('/m'))!;
  const mc = new Map<string, number>();
  for (let i = 0; i < N; i++) {
    const c = m.pickCluster(rnd).name;
    mc.set(c, (mc.get(c) ?? 0) + 1);
  }
  for (let i = 0; i < 20; i++) {
    const share = (mc.get('c' + i) ?? 0) / N;
    assert.ok(Math.abs(share - (i + 1) / 210) < 0.01, `c${i}: ${share}`);
  }
  // Edge draws land on the first and the last cluster.
  assert.equal(m.pickCluster({ next: () => 0 }).name, 'c0');
  assert.equal(m.pickCluster({ next: () => 0.9999999 }).name, 'c19');
});

test('rewritePath: prefix replaces the matched prefix, path replaces the path, query kept', () => {
  const t = table([vhost('v', ['*'], [
    route('p', prefix('/API/v1/', false), { action: forward([cluster('a')], '/internal/') }),
    route('e', exactPath('/old'), { action: forward([cluster('a')], '/new') }),
    route('n', prefix('/')),
  ])]);
  assert.equal(t.match(req('/api/V1/items?x=1'))!.rewritePath('/api/V1/items?x=1'), '/internal/items?x=1');
  assert.equal(t.match(req('/old?y'))!.rewritePath('/old?y'), '/new?y');
  const none = t.match(req('/z'))!;
  assert.equal(none.rewritePath('/z'), '/z');
});

test('redirectLocation follows Envoy newPath', () => {
  const mk = (over: Partial<RouteRedirectModel>, p: PathMatchModel = prefix('/')) =>
    table([vhost('v', ['*'], [route('r', p, { action: redirect(over) })])]);
  const loc = (t: RouteTable, path: string, authority: string, scheme = 'http', xfp?: string) => {
    const r = req(path, xfp === undefined ? {} : { 'x-forwarded-proto': xfp }, { authority });
    return t.match(r)!.redirectLocation(r, scheme);
  };
  assert.equal(loc(mk({}), '/a?b', 'foo.com'), 'http://foo.com/a?b');
  assert.equal(loc(mk({ schemeRedirect: 'https' }), '/a', 'foo.com:80'), 'https://foo.com/a', 'default http port dropped on scheme change');
  assert.equal(loc(mk({ schemeRedirect: 'https' }), '/a', 'foo.com:8080'), 'https://foo.com:8080/a');
  assert.equal(loc(mk({ schemeRedirect: 'http' }), '/a', 'foo.com:443', 'https'), 'http://foo.com/a');
  assert.equal(loc(mk({ portRedirect: 8443 }), '/a', 'foo.com:80'), 'http://foo.com:8443/a');
  assert.equal(loc(mk({ portRedirect: 8443 }), '/a', '[::1]:80'), 'http://[::1]:8443/a');
  assert.equal(loc(mk({ portRedirect: 8443 }), '/a', '[::1]'), 'http://[::1]:8443/a');
  assert.equal(loc(mk({ hostRedirect: 'bar.com' }), '/a', 'foo.com:80'), 'http://bar.com/a');
  assert.equal(loc(mk({ pathRedirect: '/new' }), '/old?q=1', 'h'), 'http://h/new?q=1', 'request query kept');
  assert.equal(loc(mk({ pathRedirect: '/new?z=2' }), '/old?q=1', 'h'), 'http://h/new?z=2', 'redirect query wins');
  assert.equal(loc(mk({ pathRedirect: '/new?z=2', stripQuery: true }), '/old?q=1', 'h'), 'http://h/new?z=2');
  assert.equal(loc(mk({ pathRedirect: '/new', stripQuery: true }), '/old?q=1', 'h'), 'http://h/new');
  assert.equal(loc(mk({ prefixRewrite: '/v2/' }, prefix('/v1/')), '/v1/x?q', 'h'), 'http://h/v2/x?q');
  assert.equal(loc(mk({ prefixRewrite: 'v2' }, prefix('/v1')), '/v1', 'h'), 'http://h/v2', 'leading slash added');
  assert.equal(loc(mk({ schemeRedirect: 'https' }), '/a', 'foo.com:80', 'https', 'http'), 'https://foo.com/a', 'x-forwarded-proto decides the request protocol');
});

test('pickCluster / redirectLocation on the wrong action type throw', () => {
  const t = table([vhost('v', ['*'], [
    route('direct', prefix('/d'), { action: { type: 'direct_response', status: 200, body: null } }),
    route('fwd', prefix('/'))])]);
  const d = t.match(req('/d'))!;
  assert.throws(() => d.pickCluster(seededRandom(1)), TypeError);
  assert.throws(() => t.match(req('/x'))!.redirectLocation(req('/x'), 'http'), TypeError);
});

test('header mutations apply route, then virtual host, then route configuration (outer wins)', () => {
  const level = (v: string, extra: Partial<HeaderMutationsModel> = {}): HeaderMutationsModel => ({
    ...NO_HEADERS,
    requestHeadersToAdd: [
      { key: 'x-level', value: v, action: 'OVERWRITE_IF_EXISTS_OR_ADD', keepEmptyValue: false },
      { key: 'x-' + v, value: '1', action: 'APPEND_IF_EXISTS_OR_ADD', keepEmptyValue: false },
    ],
    responseHeadersToAdd: [{ key: 'x-resp', value: v, action: 'APPEND_IF_EXISTS_OR_ADD', keepEmptyValue: false }],
    ...extra,
  });
  const t = table(
    [vhost('v', ['*'], [route('r', prefix('/'), { mutations: level('route') })], level('vhost', { requestHeadersToRemove: ['x-route'] }))],
    false,
    level('global'),
  );
  const r = t.match(req('/'))!;
  assert.equal(r.virtualHost.name, 'v');
  const h: MutableHeaders = { 'x-level': 'client' };
  applyHeaderMutationLevels(h, r.requestHeaderMutations);
  assert.equal(h['x-level'], 'global');
  assert.equal(h['x-route'], undefined, 'the virtual host removed what the route added');
  assert.equal(h['x-vhost'], '1');
  assert.equal(h['x-global'], '1');
  const resp: MutableHeaders = {};
  applyHeaderMutationLevels(resp, r.responseHeaderMutations);
  assert.deepEqual(resp['x-resp'], ['route', 'vhost', 'global']);
  assert.equal(r.responseHeaderMutations.length, 1, 'independent levels are merged');
});

test('routes without mutations carry no levels', () => {
  const r = table([vhost('v', ['*'])]).match(req('/'))!;
  assert.equal(r.requestHeaderMutations.length, 0);
  assert.equal(r.responseHeaderMutations.length, 0);
});
