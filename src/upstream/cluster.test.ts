/**
 * Unit tests of Cluster: endpoint identity across setEndpoints, picker replacement, lazy pools with
 * per-cluster TLS options, warming per discovery type, health flags, STRICT_DNS resolution and
 * refresh (real `localhost` lookup and an injected lookup), close, and the admin dumps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { seededRandom } from '../core/clock';
import { Cluster } from './cluster';
import type { LookupAddress, LookupFn } from './dns-resolver';
import { HealthFlag, type Endpoint } from './endpoint';
import type { PickContext, PickResult } from './lb/picker';
import {
  clusterModel, endpointModel, RecordingFactories, testRuntime, upstreamTlsModel, type FakeH1Pool, type FakeH2Pool,
} from '../../test/fakes/upstream-fakes';

const ctx: PickContext = { random: seededRandom(3), exclude: null, hash: null };

function picked(r: PickResult): Endpoint {
  assert.equal(r.type, 'complete');
  return (r as Extract<PickResult, { type: 'complete' }>).endpoint;
}

/**
 * The DNS refresh timer is unref'd (as in production), so while a test awaits a refresh nothing
 * else may hold the event loop open; this ref'd timer does, until the test ends.
 */
function keepEventLoopAlive(t: { after(fn: () => void): void }): void {
  const h = setInterval(() => {}, 60_000);
  t.after(() => clearInterval(h));
}

function pickedKeys(c: Cluster, n: number): Set<string> {
  const keys = new Set<string>();
  for (let i = 0; i < n; i++) keys.add(picked(c.pick(ctx)).key);
  return keys;
}

test('STATIC cluster is warm at construction and round-robins its endpoints', async (t) => {
  const f = new RecordingFactories();
  const c = new Cluster(clusterModel('s', {
    endpoints: [endpointModel('127.0.0.1', 1001), endpointModel('127.0.0.1', 1002)],
  }), testRuntime(), { factories: f });
  t.after(() => c.close());
  assert.equal(c.warm, true);
  await c.whenWarm();
  assert.deepEqual(pickedKeys(c, 4), new Set(['127.0.0.1:1001', '127.0.0.1:1002']));
});

test('setEndpoints keeps Endpoint identity (and pools) for unchanged addresses, closes removed ones, publishes a new picker', async (t) => {
  const f = new RecordingFactories();
  const c = new Cluster(clusterModel('s', {
    endpoints: [endpointModel('10.0.0.1', 80), endpointModel('10.0.0.2', 80)],
  }), testRuntime(), { factories: f });
  t.after(() => c.close());
  const [a, b] = c.endpoints();
  a.active = 3;
  const poolA = c.h2PoolFor(a);
  const poolB = c.h2PoolFor(b);
  const oldPicker = c.pickerForTest();
  let updates = 0;
  c.on('update', () => updates++);

  c.setEndpoints([endpointModel('10.0.0.1', 80, { weight: 7 }), endpointModel('10.0.0.3', 80), endpointModel('10.0.0.1', 80)]);
  assert.equal(updates, 1);
  assert.notEqual(c.pickerForTest(), oldPicker);
  const eps = c.endpoints();
  assert.equal(eps.length, 2, 'duplicate address collapsed');
  assert.equal(eps[0], a, 'unchanged address keeps its Endpoint');
  assert.equal(eps[0].weight, 7, 'weight updated in place');
  assert.equal(eps[0].active, 3, 'counters survive');
  assert.equal(c.h2PoolFor(a), poolA, 'pool survives');
  assert.equal(eps[1].key, '10.0.0.3:80');
  assert.equal(c.endpoint('10.0.0.2:80'), undefined);
  assert.equal(b.closed, true);
  assert.equal((poolB as unknown as FakeH2Pool).closeCalls, 1, 'removed endpoint pool closed gracefully');
  assert.equal((poolA as unknown as FakeH2Pool).closeCalls, 0);
  assert.deepEqual(pickedKeys(c, 16), new Set(['10.0.0.1:80', '10.0.0.3:80']));
});

test('pools are created lazily once per endpoint; TLS options are built once per cluster with the right ALPN', async (t) => {
  const f = new RecordingFactories();
  const c = new Cluster(clusterModel('tls', {
    protocol: 'downstream',
    tls: upstreamTlsModel(),
    connectTimeoutMs: 1234,
    http2MaxConcurrentStreams: 100,
    maxRequestsPerConnection: 50,
    endpoints: [endpointModel('10.0.0.1', 443), endpointModel('10.0.0.2', 443)],
  }), testRuntime(), { factories: f });
  t.after(() => c.close());
  const [a, b] = c.endpoints();
  assert.equal(f.h2Pools.length, 0);
  const p1 = c.h2PoolFor(a);
  assert.equal(c.h2PoolFor(a), p1);
  c.h2PoolFor(b);
  assert.equal(f.h2Pools.length, 2);
  const opts = f.h2Pools[0].options;
  assert.equal(opts.connectTimeoutMs, 1234);
  assert.equal(opts.maxConcurrentStreams, 100);
  assert.equal(opts.maxRequestsPerConnection, 50);
  assert.deepEqual(opts.tls?.ALPNProtocols, ['h2']);
  assert.equal(f.h2Pools[1].options, opts, 'one options object per cluster');
  const h1 = c.h1PoolFor(a);
  assert.equal(c.h1PoolFor(a), h1);
  c.h1PoolFor(b);
  assert.equal(f.h1Pools.length, 2);
  assert.deepEqual(f.h1Pools[0].tls?.ALPNProtocols, ['http/1.1']);
  assert.deepEqual(f.tlsBuilds, [['h2'], ['http/1.1']], 'TLS built once per protocol');
});

test('plaintext cluster passes null TLS to both pools', async (t) => {
  const f = new RecordingFactories();
  const c = new Cluster(clusterModel('plain', { endpoints: [endpointModel('10.0.0.1', 80)] }), testRuntime(), { factories: f });
  t.after(() => c.close());
  c.h2PoolFor(c.endpoints()[0]);
  c.h1PoolFor(c.endpoints()[0]);
  assert.equal(f.h2Pools[0].options.tls, null);
  assert.equal(f.h1Pools[0].tls, null);
  assert.equal(f.tlsBuilds.length, 0);
});

test('EDS cluster fails picks until its first assignment, then is warm', async (t) => {
  const c = new Cluster(clusterModel('e', { type: 'EDS' }), testRuntime(), { factories: new RecordingFactories() });
  t.after(() => c.close());
  assert.equal(c.warm, false);
  const r = c.pick(ctx);
  assert.equal(r.type, 'fail');
  assert.equal(r.type === 'fail' && r.error.code, 'REMORA_ERR_NO_HEALTHY_UPSTREAM');
  const warm = c.whenWarm();
  c.setEndpoints([endpointModel('10.0.0.9', 9000)]);
  await warm;
  assert.equal(c.warm, true);
  assert.equal(picked(c.pick(ctx)).key, '10.0.0.9:9000');
});

test('setHealthFlag republishes the picker: an ejected endpoint is skipped and returns when cleared', async (t) => {
  const c = new Cluster(clusterModel('h', {
    endpoints: [endpointModel('10.0.0.1', 80), endpointModel('10.0.0.2', 80)],
  }), testRuntime(), { factories: new RecordingFactories() });
  t.after(() => c.close());
  const [a] = c.endpoints();
  c.setHealthFlag(a, HealthFlag.FAILED_OUTLIER_CHECK, true);
  assert.deepEqual(pickedKeys(c, 8), new Set(['10.0.0.2:80']));
  assert.equal(a.healthFlagsText(), '/failed_outlier_check');
  c.setHealthFlag(a, HealthFlag.FAILED_OUTLIER_CHECK, false);
  assert.deepEqual(pickedKeys(c, 8), new Set(['10.0.0.1:80', '10.0.0.2:80']));
});

test('close() closes every pool gracefully and fails later picks', async () => {
  const f = new RecordingFactories();
  const c = new Cluster(clusterModel('x', { endpoints: [endpointModel('10.0.0.1', 80)] }), testRuntime(), { factories: f });
  const ep = c.endpoints()[0];
  c.h2PoolFor(ep);
  c.h1PoolFor(ep);
  await c.close();
  assert.equal(f.h2Pools[0].closeCalls, 1);
  assert.equal((f.h1Pools[0] as FakeH1Pool).closeCalls, 1);
  assert.equal(c.pick(ctx).type, 'fail');
  c.setEndpoints([endpointModel('10.0.0.2', 80)]);
  assert.equal(c.pick(ctx).type, 'fail', 'ignored after close');
});

test('STRICT_DNS resolves localhost to 127.0.0.1 and keeps refreshing', async (t) => {
  keepEventLoopAlive(t);
  const c = new Cluster(clusterModel('dns', {
    type: 'STRICT_DNS',
    dnsRefreshRateMs: 5,
    endpoints: [endpointModel('localhost', 8080, { weight: 3, priority: 0 })],
  }), testRuntime(), { factories: new RecordingFactories() });
  t.after(() => c.close());
  assert.equal(c.warm, false);
  const [failures] = (await once(c, 'dns')) as [number];
  assert.equal(failures, 0);
  assert.equal(c.warm, true);
  const eps = c.endpoints();
  assert.deepEqual(eps.map((e) => e.key), ['127.0.0.1:8080']);
  assert.equal(eps[0].weight, 3);
  const first = eps[0];
  await once(c, 'dns'); // a refresh round
  assert.ok(c.dnsRounds() >= 2);
  assert.equal(c.endpoints()[0], first, 'identity kept across refreshes');
});

test('STRICT_DNS keeps the last good addresses on failure and applies the family preference', async (t) => {
  keepEventLoopAlive(t);
  const answers: (LookupAddress[] | Error)[] = [
    [{ address: '::1', family: 6 }, { address: '10.0.0.1', family: 4 }, { address: '10.0.0.2', family: 4 }],
    new Error('ENOTFOUND'),
    [{ address: '::2', family: 6 }],
  ];
  const calls: { host: string; family: number }[] = [];
  const lookup: LookupFn = async (host, opts) => {
    calls.push({ host, family: opts.family });
    const a = answers.shift() ?? [{ address: '10.9.9.9', family: 4 }];
    if (a instanceof Error) throw a;
    return a;
  };
  const c = new Cluster(clusterModel('dns2', {
    type: 'STRICT_DNS',
    dnsRefreshRateMs: 1,
    endpoints: [endpointModel('svc.example', 9000)],
  }), testRuntime(), { factories: new RecordingFactories(), lookup });
  t.after(() => c.close());
  await once(c, 'dns');
  assert.deepEqual(c.endpoints().map((e) => e.key), ['10.0.0.1:9000', '10.0.0.2:9000'], 'v4 preferred');
  const [failures] = (await once(c, 'dns')) as [number];
  assert.equal(failures, 1);
  assert.deepEqual(c.endpoints().map((e) => e.key), ['10.0.0.1:9000', '10.0.0.2:9000'], 'last good kept');
  await once(c, 'dns');
  assert.deepEqual(c.endpoints().map((e) => e.key), ['[::2]:9000'], 'v6 used when no v4');
  assert.deepEqual(calls[0], { host: 'svc.example', family: 0 });
});

test('STRICT_DNS is warm after a first round that failed, with no endpoints', async (t) => {
  keepEventLoopAlive(t);
  const lookup: LookupFn = async () => { throw new Error('ENOTFOUND'); };
  const c = new Cluster(clusterModel('dns3', {
    type: 'STRICT_DNS',
    dnsLookupFamily: 'V4_ONLY',
    endpoints: [endpointModel('nope.invalid', 1)],
  }), testRuntime(), { factories: new RecordingFactories(), lookup });
  t.after(() => c.close());
  await c.whenWarm();
  assert.equal(c.endpoints().length, 0);
  assert.equal(c.pick(ctx).type, 'fail');
});

test('dump and dumpText render Envoy-style host stats', async (t) => {
  const f = new RecordingFactories();
  const c = new Cluster(clusterModel('d', {
    endpoints: [endpointModel('10.0.0.1', 80, { weight: 2 }), endpointModel('10.0.0.2', 80, { healthStatus: 'DRAINING' })],
  }), testRuntime(), { factories: f });
  t.after(() => c.close());
  const [a] = c.endpoints();
  a.active = 4;
  a.requestsTotal = 10;
  a.requestErrors = 1;
  c.h2PoolFor(a);
  const text = c.dumpText();
  assert.match(text, /^d::10\.0\.0\.1:80::rq_active::4$/m);
  assert.match(text, /^d::10\.0\.0\.1:80::rq_total::10$/m);
  assert.match(text, /^d::10\.0\.0\.1:80::rq_error::1$/m);
  assert.match(text, /^d::10\.0\.0\.1:80::cx_active::1$/m);
  assert.match(text, /^d::10\.0\.0\.1:80::weight::2$/m);
  assert.match(text, /^d::10\.0\.0\.1:80::health_flags::healthy$/m);
  assert.match(text, /^d::10\.0\.0\.2:80::health_flags::\/eds_status_draining$/m);
  const json = c.dump() as { name: string; host_statuses: { address: unknown; stats: { name: string; value: number }[]; pool: { h2: unknown } }[] };
  assert.equal(json.name, 'd');
  assert.deepEqual(json.host_statuses[0].address, { socket_address: { address: '10.0.0.1', port_value: 80 } });
  assert.equal(json.host_statuses[0].stats.find((s) => s.name === 'rq_active')?.value, 4);
  assert.deepEqual(json.host_statuses[0].pool.h2, { sessions: 1, activeStreams: 0, pending: 0 });
  JSON.stringify(json);
});

test('an identical endpoint set keeps the current picker; a changed weight republishes', async (t) => {
  const c = new Cluster(clusterModel('same', {
    endpoints: [endpointModel('10.0.0.1', 80), endpointModel('10.0.0.2', 80)],
  }), testRuntime(), { factories: new RecordingFactories() });
  t.after(() => c.close());
  const p = c.pickerForTest();
  c.setEndpoints([endpointModel('10.0.0.1', 80), endpointModel('10.0.0.2', 80)]);
  assert.equal(c.pickerForTest(), p);
  c.setEndpoints([endpointModel('10.0.0.1', 80), endpointModel('10.0.0.2', 80, { weight: 2 })]);
  assert.notEqual(c.pickerForTest(), p);
  const q = c.pickerForTest();
  c.setEndpoints([endpointModel('10.0.0.2', 80, { weight: 2 }), endpointModel('10.0.0.1', 80)]);
  assert.notEqual(c.pickerForTest(), q, 'reordering republishes');
});
