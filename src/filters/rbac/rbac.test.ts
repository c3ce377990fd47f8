/**
 * Unit tests of the RBAC filter: config validation with field paths (unsupported rules rejected,
 * bad CIDRs, empty policies), address parsing and CIDR ranges, each permission and principal kind
 * against synthetic streams (peer identity and request principal set directly), ALLOW / DENY /
 * LOG semantics, shadow rules only counted, the per-route override and disable, and the counters.
 */
import { RecordingDownstream } from '../../../test/fakes/recording-downstream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime } from '../../core/runtime';
import { SidecarMetrics } from '../../observability/metrics';
import type { CompiledRoute } from '../../routing/route-table';
import type { PeerIdentity, RequestPrincipal } from '../../transport/peer-identity';
import { FilterStatus } from '../filter';
import { StreamContext } from '../stream-context';
import { compileRbac, compileRbacPerRoute, rbacRegistration, RBAC_NAME, type RbacConfig } from './config';
import { authorityPort, RbacFactory } from './filter';
import { CidrRange, IpScratch } from './ip-address';


function peer(spiffeId: string | null, dns: string[] = []): PeerIdentity {
  return {
    spiffeId, principal: spiffeId === null ? null : spiffeId.slice('spiffe://'.length), trustDomain: null, namespace: null, serviceAccount: null,
    uriSans: spiffeId === null ? [] : [spiffeId], dnsSans: dns, subject: 'CN=x', certSha256: '',
  };
}

function rp(iss: string, sub: string, claims: Record<string, unknown> = {}, aud: string[] = []): RequestPrincipal {
  return { issuer: iss, subject: sub, principal: `${iss}/${sub}`, audiences: aud, claims: { iss, sub, ...claims } };
}

interface Req {
  method?: string; path?: string; authority?: string; headers?: Record<string, string>; remote?: string;
  peer?: PeerIdentity | null; principal?: RequestPrincipal | null; grpc?: boolean; perRoute?: unknown;
}

function setup(): { runtime: Runtime; stats: ReturnType<SidecarMetrics['forListener']> } {
  const runtime = createRuntime({ logLevel: 'silent' });
  return { runtime, stats: new SidecarMetrics(runtime.metrics, false).forListener('l1') };
}

function ctxFor(stats: ReturnType<SidecarMetrics['forListener']>, r: Req): { ctx: StreamContext; ds: RecordingDownstream } {
  const ds = new RecordingDownstream();
  const method = r.method ?? 'GET';
  const path = r.path ?? '/';
  const authority = r.authority ?? 'svc:8080';
  const headers = { ':method': method, ':path': path, ':authority': authority, ...(r.headers ?? {}) };
  const ctx = new StreamContext(ds, stats, method, path, authority, 'http', headers, r.grpc ?? false, r.remote ?? '10.0.0.1', 0, 0);
  ctx.peer = r.peer ?? null;
  ctx.requestPrincipal = r.principal ?? null;
  if (r.perRoute !== undefined) ctx.route = { model: { perFilterConfig: { [RBAC_NAME]: r.perRoute } } } as unknown as CompiledRoute;
  return { ctx, ds };
}

function cfg(o: Record<string, unknown>): RbacConfig {
  const r = compileRbac(o, 'rbac');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

function rules(action: string, policies: Record<string, unknown>): Record<string, unknown> {
  return { rules: { action, policies } };
}

/** A policy with `permissions` and `principals` ([any] when omitted). */
function pol(perms: unknown[] | null, ids: unknown[] | null): Record<string, unknown> {
  return { permissions: perms ?? [{ any: true }], principals: ids ?? [{ any: true }] };
}

/** Runs one request through a fresh factory for `config`; returns allowed + the factory's runtime. */
function run(config: RbacConfig, r: Req): { allowed: boolean; ds: RecordingDownstream; runtime: Runtime } {
  const { runtime, stats } = setup();
  const f = new RbacFactory(config, { runtime, listenerName: 'l1', filterName: RBAC_NAME });
  const { ctx, ds } = ctxFor(stats, r);
  const st = f.createFilter().onRequestHeaders(ctx);
  return { allowed: st === FilterStatus.Continue, ds, runtime };
}

async function metricValue(runtime: Runtime, name: string, labels: Record<string, string>): Promise<number> {
  const m = runtime.metrics.getSingleMetric(name);
  if (m === undefined) return 0;
  const v = (await m.get()).values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

test('IpScratch parses IPv4, IPv6, mapped and rejects garbage', () => {
  const s = new IpScratch();
  assert.equal(s.parse('10.1.2.3'), 4);
  assert.equal(s.words[0], (10 << 24 | 1 << 16 | 2 << 8 | 3) >>> 0);
  assert.equal(s.parse('::ffff:10.1.2.3'), 4);
  assert.equal(s.words[0], (10 << 24 | 1 << 16 | 2 << 8 | 3) >>> 0);
  assert.equal(s.parse('::1'), 6);
  assert.deepEqual([...s.words], [0, 0, 0, 1]);
  assert.equal(s.parse('2001:db8::8:800:200c:417a'), 6);
  assert.deepEqual([...s.words], [0x20010db8, 0, 0x00080800, 0x200c417a]);
  assert.equal(s.parse('fe80::1%eth0'), 6);
  for (const bad of ['', '1.2.3', '1.2.3.256', '01.2.3.4', 'a.b.c.d', ':::', '1::2::3', '12345::', 'host.example', '1:2:3:4:5:6:7:8:9']) {
    assert.equal(s.parse(bad), 0, bad);
  }
});

test('CidrRange matches IPv4 and IPv6 prefixes', () => {
  const s = new IpScratch();
  const v4 = CidrRange.parse('10.0.0.0/8') as CidrRange;
  s.parse('10.200.1.1');
  assert.ok(v4.contains(s));
  s.parse('::ffff:10.9.9.9');
  assert.ok(v4.contains(s));
  s.parse('11.0.0.1');
  assert.ok(!v4.contains(s));
  const v6 = CidrRange.parse('fd00::/8') as CidrRange;
  s.parse('fd12::1');
  assert.ok(v6.contains(s));
  s.parse('fe80::1');
  assert.ok(!v6.contains(s));
  assert.ok(!v6.contains((s.parse('10.0.0.1'), s)));
  const all = CidrRange.parse('0.0.0.0/0') as CidrRange;
  assert.ok(all.contains((s.parse('1.2.3.4'), s)));
  assert.equal(typeof CidrRange.parse('10.0.0.0/33'), 'string');
  assert.equal(typeof CidrRange.parse('10.0.0/8'), 'string');
  assert.equal(typeof CidrRange.parse('10.0.0.0/x'), 'string');
});

test('authorityPort', () => {
  assert.equal(authorityPort('svc:8080', 80), 8080);
  assert.equal(authorityPort('svc', 80), 80);
  assert.equal(authorityPort('[::1]:9000', 80), 9000);
  assert.equal(authorityPort('[::1]', 443), 443);
  assert.equal(authorityPort('svc:', 80), 80);
  assert.equal(authorityPort('svc:x1', 80), 80);
});

test('config errors carry field paths', () => {
  const r = compileRbac({
    rules: {
      action: 'MAYBE',
      policies: {
        a: { permissions: [{ destination_ip: { address_prefix: '1.2.3.4', prefix_len: { value: 32 } } }], principals: [{ any: true }] },
        b: { permissions: [{ any: true }], principals: [{ direct_remote_ip: { address_prefix: '1.2.3', prefix_len: { value: 8 } } }] },
        c: { permissions: [], principals: [{ any: true }] },
        d: { permissions: [{ metadata: { filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'x' }], value: { string_match: { exact: 'y' } } } }], principals: [{ any: true }] },
        e: { permissions: [{ and_rules: { rules: [] } }], principals: [{ filter_state: { key: 'k' } }] },
        f: { permissions: [{ any: true }], principals: [{ remote_ip: { address_prefix: '10.0.0.0', prefix_len: { value: 40 } } }] },
      },
    },
    matcher: {},
  }, 'f');
  assert.equal(r.ok, false);
  const paths = r.ok ? [] : r.errors.map((e) => e.path);
  for (const p of [
    'f.rules.action', 'f.rules.policies["a"].permissions[0].destination_ip', 'f.rules.policies["b"].principals[0].direct_remote_ip.address_prefix',
    'f.rules.policies["c"].permissions', 'f.rules.policies["d"].permissions[0].metadata.filter', 'f.rules.policies["d"].permissions[0].metadata.path',
    'f.rules.policies["e"].permissions[0].and_rules.rules', 'f.rules.policies["e"].principals[0].filter_state',
    'f.rules.policies["f"].principals[0].remote_ip.prefix_len', 'f.matcher',
  ]) assert.ok(paths.includes(p), `${p} in ${JSON.stringify(paths)}`);
});

test('no rules: every request passes', () => {
  assert.ok(run(cfg({}), {}).allowed);
});

test('ALLOW with no policies denies everything with 403 RBAC: access denied', async () => {
  const { allowed, ds, runtime } = run(cfg(rules('ALLOW', {})), {});
  assert.equal(allowed, false);
  assert.equal(ds.status, 403);
  assert.equal(await metricValue(runtime, 'remora_rbac_denied_total', { listener: 'l1', action: 'allow' }), 1);
});

test('gRPC denial is PERMISSION_DENIED', () => {
  const { allowed, ds } = run(cfg(rules('ALLOW', {})), { grpc: true });
  assert.equal(allowed, false);
  assert.equal(ds.status, 200);
  assert.equal(ds.headers['grpc-status'], '7');
  assert.equal(ds.headers['grpc-message'], 'RBAC: access denied');
});

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const OTHER = 'spiffe://cluster.local/ns/other/sa/x';

const CASES: { name: string; perm?: unknown; id?: unknown; req: Req; match: boolean }[] = [
  { name: 'principal exact', id: { authenticated: { principal_name: { exact: SLEEP } } }, req: { peer: peer(SLEEP) }, match: true },
  { name: 'principal exact, other peer', id: { authenticated: { principal_name: { exact: SLEEP } } }, req: { peer: peer(OTHER) }, match: false },
  { name: 'principal, plaintext', id: { authenticated: { principal_name: { exact: SLEEP } } }, req: {}, match: false },
  { name: 'authenticated without name, any cert', id: { authenticated: {} }, req: { peer: peer(OTHER) }, match: true },
  { name: 'principal falls back to DNS SAN', id: { authenticated: { principal_name: { exact: 'api.example.com' } } }, req: { peer: peer(null, ['api.example.com']) }, match: true },
  { name: 'namespace regex', id: { authenticated: { principal_name: { safe_regex: { regex: '.*/ns/default/.*' } } } }, req: { peer: peer(SLEEP) }, match: true },
  { name: 'namespace regex, other ns', id: { authenticated: { principal_name: { safe_regex: { regex: '.*/ns/default/.*' } } } }, req: { peer: peer(OTHER) }, match: false },
  { name: 'not_id', id: { not_id: { authenticated: { principal_name: { exact: SLEEP } } } }, req: { peer: peer(OTHER) }, match: true },
  { name: 'direct_remote_ip in', id: { direct_remote_ip: { address_prefix: '10.0.0.0', prefix_len: { value: 8 } } }, req: { remote: '10.3.3.3' }, match: true },
  { name: 'direct_remote_ip out', id: { direct_remote_ip: { address_prefix: '10.0.0.0', prefix_len: { value: 8 } } }, req: { remote: '192.168.0.1' }, match: false },
  { name: 'remote_ip mapped', id: { remote_ip: { address_prefix: '127.0.0.1', prefix_len: { value: 32 } } }, req: { remote: '::ffff:127.0.0.1' }, match: true },
  { name: 'header principal', id: { header: { name: 'x-team', string_match: { exact: 'a' } } }, req: { headers: { 'x-team': 'a' } }, match: true },
  { name: 'metadata principal', id: { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { string_match: { exact: 'iss/alice' } } } }, req: { principal: rp('iss', 'alice') }, match: true },
  { name: 'metadata principal, no JWT', id: { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { string_match: { safe_regex: { regex: '.+' } } } } }, req: {}, match: false },
  { name: 'claims list one_of', id: { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'groups' }], value: { list_match: { one_of: { string_match: { exact: 'admin' } } } } } }, req: { principal: rp('i', 's', { groups: ['dev', 'admin'] }) }, match: true },
  { name: 'nested claim', id: { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'a' }, { key: 'b' }], value: { list_match: { one_of: { string_match: { exact: 'v' } } } } } }, req: { principal: rp('i', 's', { a: { b: 'v' } }) }, match: true },
  { name: 'audiences list', id: { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.audiences' }], value: { string_match: { exact: 'api' } } } }, req: { principal: rp('i', 's', {}, ['web', 'api']) }, match: true },
  { name: 'invert metadata', id: { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.presenter' }], value: { string_match: { exact: 'x' } }, invert: true } }, req: { principal: rp('i', 's', { azp: 'y' }) }, match: true },
  { name: 'url_path exact ignores query', perm: { url_path: { path: { exact: '/a' } } }, req: { path: '/a?x=1' }, match: true },
  { name: 'url_path prefix', perm: { url_path: { path: { prefix: '/pkg.Svc/' } } }, req: { path: '/pkg.Svc/Get' }, match: true },
  { name: 'url_path miss', perm: { url_path: { path: { prefix: '/admin' } } }, req: { path: '/public' }, match: false },
  { name: 'method header', perm: { header: { name: ':method', string_match: { exact: 'POST' } } }, req: { method: 'POST' }, match: true },
  { name: 'authority ignore case', perm: { header: { name: ':authority', string_match: { exact: 'svc:8080', ignore_case: true } } }, req: { authority: 'SVC:8080' }, match: true },
  { name: 'destination_port', perm: { destination_port: 8080 }, req: { authority: 'svc:8080' }, match: true },
  { name: 'destination_port miss', perm: { destination_port: 9090 }, req: { authority: 'svc:8080' }, match: false },
  { name: 'destination_port_range', perm: { destination_port_range: { start: 8000, end: 8100 } }, req: { authority: 'svc:8080' }, match: true },
  { name: 'and_rules', perm: { and_rules: { rules: [{ header: { name: ':method', string_match: { exact: 'GET' } } }, { url_path: { path: { exact: '/x' } } }] } }, req: { path: '/x' }, match: true },
  { name: 'and_rules one fails', perm: { and_rules: { rules: [{ header: { name: ':method', string_match: { exact: 'GET' } } }, { url_path: { path: { exact: '/x' } } }] } }, req: { path: '/y' }, match: false },
  { name: 'or_rules', perm: { or_rules: { rules: [{ url_path: { path: { exact: '/y' } } }, { url_path: { path: { exact: '/x' } } }] } }, req: { path: '/x' }, match: true },
  { name: 'not_rule', perm: { not_rule: { url_path: { path: { exact: '/x' } } } }, req: { path: '/x' }, match: false },
];

for (const c of CASES) {
  test(`matcher: ${c.name}`, () => {
    const p = pol(c.perm === undefined ? null : [c.perm], c.id === undefined ? null : [c.id]);
    assert.equal(run(cfg(rules('ALLOW', { p })), c.req).allowed, c.match, 'ALLOW');
    assert.equal(run(cfg(rules('DENY', { p })), c.req).allowed, !c.match, 'DENY');
  });
}

test('LOG never denies and counts matches', async () => {
  const c = cfg(rules('LOG', { p: pol([{ url_path: { path: { exact: '/x' } } }], null) }));
  const hit = run(c, { path: '/x' });
  assert.ok(hit.allowed);
  assert.equal(await metricValue(hit.runtime, 'remora_rbac_logged_total', { listener: 'l1' }), 1);
  const miss = run(c, { path: '/y' });
  assert.ok(miss.allowed);
  assert.equal(await metricValue(miss.runtime, 'remora_rbac_logged_total', { listener: 'l1' }), 0);
});

test('shadow rules are only counted', async () => {
  const c = cfg({ shadow_rules: { action: 'DENY', policies: { all: pol(null, null) } } });
  const r = run(c, {});
  assert.ok(r.allowed);
  assert.equal(await metricValue(r.runtime, 'remora_rbac_shadow_denied_total', { listener: 'l1', action: 'deny' }), 1);
});

test('per-route RBACPerRoute overrides or disables the listener rules', () => {
  const denyAll = cfg(rules('ALLOW', {}));
  const off = compileRbacPerRoute({}, 'r');
  assert.ok(off.ok);
  assert.ok(run(denyAll, { perRoute: off.ok ? off.value : null }).allowed);
  const allowAll = compileRbacPerRoute({ rbac: rules('ALLOW', { all: pol(null, null) }) }, 'r');
  assert.ok(allowAll.ok);
  assert.ok(run(denyAll, { perRoute: allowAll.ok ? allowAll.value : null }).allowed);
  assert.equal(run(denyAll, {}).allowed, false);
});

test('registration compiles through the ProtoObject entry point', () => {
  const r = rbacRegistration.compile({ '@type': rbacRegistration.typeUrl, rules: { action: 'DENY', policies: {} } }, 'x', (f) => { throw new Error(`unexpected read of ${f}`); });
  assert.ok(r.ok);
});
