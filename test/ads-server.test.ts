/**
 * The ADS server against real grpc-js ADS streams (FakeXdsClient) on 127.0.0.1:0: content-derived
 * versions, ACK/NACK bookkeeping in push status, legacy and explicit wildcard, full-state LDS/CDS,
 * RDS/EDS subscribed before they exist, stale nonces, resend on a new stream, make-before-break
 * push order, holding streams until the first snapshot, NACK isolation between nodes, Delta
 * UNIMPLEMENTED, and the admin endpoints with the xDS metrics.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { loadEnvoyProtos } from '../src/xds/protos';
import { TYPE_URL, type NodeIdentity, type XdsResourceSet } from '../src/control-plane/cache/resources';
import { AdsServer, type SnapshotProvider } from '../src/control-plane/server/ads-server';
import { loadAdsDefinition } from '../src/control-plane/server/ads-proto';
import { XdsMetrics } from '../src/control-plane/server/xds-metrics';
import { ControlPlaneAdmin } from '../src/control-plane/admin/control-plane-admin';
import { SnapshotCache } from '../src/control-plane/cache/snapshot-cache';
import { FakeXdsClient, type FakeResponse, apiListener, cla, edsCluster, resourceSet, routeConfig } from './fakes/fake-xds-client';
import { parseProm } from './fakes/prom';
import { waitFor } from './fakes/wait';

const root = loadEnvoyProtos();
const definition = loadAdsDefinition();
const { CLUSTER: CDS, ENDPOINT: EDS, LISTENER: LDS, ROUTE: RDS } = TYPE_URL;

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A mutable provider: one current set for everyone, or per node id. */
class Provider {
  all: XdsResourceSet | null = null;
  readonly perNode = new Map<string, XdsResourceSet>();
  readonly fn: SnapshotProvider = (node: NodeIdentity) => this.perNode.get(node.id) ?? this.all;
}

async function startServer(provider: Provider, extra: { metrics?: XdsMetrics; port?: number } = {}): Promise<AdsServer> {
  const server = new AdsServer({ root, provider: provider.fn, port: extra.port ?? 0, adsDefinition: definition, metrics: extra.metrics ?? null });
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

function client(server: AdsServer, nodeId: string, opts: { autoAck?: boolean; nackIf?: (r: FakeResponse) => string | null } = {}): FakeXdsClient {
  const c = new FakeXdsClient({ target: `127.0.0.1:${server.port}`, node: { id: nodeId, cluster: 'test', metadata: { NAMESPACE: 'default' } }, definition, ...opts });
  cleanups.push(() => c.close());
  return c;
}

function baseSet(timeout = 1): XdsResourceSet {
  return resourceSet({
    clusters: [edsCluster('a', timeout), edsCluster('b')],
    endpoints: [cla('a', [['127.0.0.1', 1001]]), cla('b', [['127.0.0.1', 1002]])],
    listeners: [apiListener('svc-a:80', 'route-a')],
    routes: [routeConfig('route-a', ['svc-a:80'], [['a', 1]])],
  });
}

const sorted = (xs: readonly string[]): string[] => xs.slice().sort();

test('versions are derived from content: equal across server instances, different for different content', async () => {
  const p = new Provider();
  p.all = baseSet();
  const s1 = await startServer(p);
  const s2 = await startServer(p);
  const c1 = client(s1, 'n1');
  const c2 = client(s2, 'n1');
  c1.subscribe(CDS, []);
  c2.subscribe(CDS, []);
  const r1 = await c1.waitForResponse((r) => r.typeUrl === CDS);
  const r2 = await c2.waitForResponse((r) => r.typeUrl === CDS);
  assert.match(r1.version, /^[0-9a-f]{12}$/);
  assert.equal(r1.version, r2.version);
  assert.notEqual(r1.nonce, '');
  p.all = baseSet(7);
  s1.notify();
  const r3 = await c1.waitForResponse((r) => r.typeUrl === CDS, r1.seq + 1);
  assert.notEqual(r3.version, r1.version);
});

test('ACK and NACK bookkeeping (by error_detail) shows in push status with the error text', async () => {
  const p = new Provider();
  p.all = baseSet();
  const s = await startServer(p);
  let nackEds = true;
  const c = client(s, 'nacker', { nackIf: (r) => (r.typeUrl === EDS && nackEds ? 'resource index 0: address is not an IP' : null) });
  c.subscribe(CDS, []);
  c.subscribe(EDS, ['a', 'b']);
  const cds = await c.waitForResponse((r) => r.typeUrl === CDS);
  const eds = await c.waitForResponse((r) => r.typeUrl === EDS);
  const status = await waitFor(() => {
    const st = s.pushStatus.forNode('nacker')[0];
    const e = st?.types.find((t) => t.type === 'eds');
    const k = st?.types.find((t) => t.type === 'cds');
    return e?.state === 'NACKED' && k?.state === 'SYNCED' ? st : null;
  }, { what: 'EDS NACKED and CDS SYNCED' });
  const e = status.types.find((t) => t.type === 'eds')!;
  assert.equal(e.versionSent, eds.version);
  assert.equal(e.versionAcked, null);
  assert.equal(e.lastNack?.message, 'resource index 0: address is not an IP');
  assert.equal(e.lastNack?.nonce, eds.nonce);
  const k = status.types.find((t) => t.type === 'cds')!;
  assert.equal(k.versionAcked, cds.version);
  assert.ok(k.pushAckLatencyMs !== null && k.pushAckLatencyMs >= 0);
  assert.deepEqual(sorted(e.resourceNames), ['a', 'b']);

  // The same state is not resent after a NACK; a fixed snapshot is pushed and ACKed.
  nackEds = false;
  p.all = resourceSet({
    clusters: [edsCluster('a'), edsCluster('b')],
    endpoints: [cla('a', [['127.0.0.1', 2001]]), cla('b', [['127.0.0.1', 1002]])],
    listeners: [apiListener('svc-a:80', 'route-a')],
    routes: [routeConfig('route-a', ['svc-a:80'], [['a', 1]])],
  });
  s.notify();
  const eds2 = await c.waitForResponse((r) => r.typeUrl === EDS, eds.seq + 1);
  assert.notEqual(eds2.version, eds.version);
  const after2 = await waitFor(() => {
    const t = s.pushStatus.forNode('nacker')[0]?.types.find((x) => x.type === 'eds');
    return t?.state === 'SYNCED' ? t : null;
  }, { what: 'EDS SYNCED after the fix' });
  assert.equal(after2.versionAcked, eds2.version);
  assert.equal(after2.lastNack?.message, 'resource index 0: address is not an IP', 'the last NACK stays visible');
  assert.equal(c.responses.filter((r) => r.typeUrl === EDS).length, 2, 'no resend of the NACKed state');
});

test('legacy wildcard, explicit names, explicit "*" and an empty list after naming', async () => {
  const p = new Provider();
  p.all = baseSet();
  const s = await startServer(p);
  const legacy = client(s, 'legacy');
  legacy.subscribe(CDS, []);
  assert.deepEqual(sorted((await legacy.waitForResponse((r) => r.typeUrl === CDS)).names), ['a', 'b']);

  const named = client(s, 'named');
  named.subscribe(CDS, ['a', 'missing']);
  const first = await named.waitForResponse((r) => r.typeUrl === CDS);
  assert.deepEqual(first.names, ['a']);
  named.subscribe(CDS, []); // after naming, empty = nothing (not the legacy wildcard)
  named.subscribe(CDS, ['*']);
  const third = await named.waitForResponse((r) => r.typeUrl === CDS, first.seq + 1);
  assert.equal(third.seq, first.seq + 1, 'the empty list after naming produced no response');
  assert.deepEqual(sorted(third.names), ['a', 'b']);

  // RDS has no legacy wildcard.
  const rds = client(s, 'rds');
  rds.subscribe(RDS, []);
  rds.subscribe(CDS, ['b']);
  const r = await rds.waitForResponse((x) => x.typeUrl === CDS);
  assert.equal(r.seq, 0, 'no RDS response for an empty RDS subscription');
});

test('LDS/CDS responses carry the full subscribed state; RDS/EDS only subscribed names that exist', async () => {
  const p = new Provider();
  p.all = baseSet();
  const s = await startServer(p);
  const c = client(s, 'full');
  c.subscribe(CDS, []);
  c.subscribe(EDS, ['a', 'b', 'nope']);
  const cds0 = await c.waitForResponse((r) => r.typeUrl === CDS);
  const eds0 = await c.waitForResponse((r) => r.typeUrl === EDS);
  assert.deepEqual(sorted(eds0.names), ['a', 'b']);
  // Only cluster b changes; the CDS response still lists a and b.
  p.all = resourceSet({
    clusters: [edsCluster('a'), edsCluster('b', 5)],
    endpoints: [cla('a', [['127.0.0.1', 1001]]), cla('b', [['127.0.0.1', 1002]])],
    listeners: [apiListener('svc-a:80', 'route-a')],
    routes: [routeConfig('route-a', ['svc-a:80'], [['a', 1]])],
  });
  s.notify();
  const cds1 = await c.waitForResponse((r) => r.typeUrl === CDS, cds0.seq + 1);
  assert.deepEqual(sorted(cds1.names), ['a', 'b']);
  assert.equal(c.responses.filter((r) => r.typeUrl === EDS).length, 1, 'EDS unchanged, not resent');
});

test('RDS/EDS subscribed before they exist are pushed when they appear (no empty response before)', async () => {
  const p = new Provider();
  p.all = baseSet();
  const s = await startServer(p);
  const c = client(s, 'early');
  c.subscribe(EDS, ['late']);
  c.subscribe(RDS, ['route-late']);
  c.subscribe(CDS, []);
  await c.waitForResponse((r) => r.typeUrl === CDS);
  assert.equal(c.responses.filter((r) => r.typeUrl === EDS || r.typeUrl === RDS).length, 0);
  p.all = resourceSet({
    clusters: [edsCluster('a'), edsCluster('b'), edsCluster('late')],
    endpoints: [cla('a', [['127.0.0.1', 1001]]), cla('b', [['127.0.0.1', 1002]]), cla('late', [['127.0.0.1', 1003]])],
    listeners: [apiListener('svc-a:80', 'route-a')],
    routes: [routeConfig('route-a', ['svc-a:80'], [['a', 1]]), routeConfig('route-late', ['late'], [['late', 1]])],
  });
  s.notify();
  const eds = await c.waitForResponse((r) => r.typeUrl === EDS);
  const rds = await c.waitForResponse((r) => r.typeUrl === RDS);
  assert.deepEqual(eds.names, ['late']);
  assert.deepEqual(rds.names, ['route-late']);
});

test('a stale nonce gets no response, but its subscription change is honoured', async () => {
  const p = new Provider();
  p.all = baseSet();
  const s = await startServer(p);
  const c = client(s, 'stale', { autoAck: false });
  c.subscribe(CDS, []);
  const r1 = await c.waitForResponse((r) => r.typeUrl === CDS);
  c.ack(r1);
  p.all = baseSet(9);
  s.notify();
  const r2 = await c.waitForResponse((r) => r.typeUrl === CDS, r1.seq + 1);
  // A request answering the superseded response r1, narrowing the subscription to ['b'].
  c.sendRaw({ type_url: CDS, response_nonce: r1.nonce, version_info: r1.version, resource_names: ['b'] });
  // Barrier: the server handles one stream's requests in order.
  c.subscribe(EDS, ['a']);
  const eds = await c.waitForResponse((r) => r.typeUrl === EDS);
  assert.equal(eds.seq, r2.seq + 1, 'no response to the stale request');
  // The narrowed subscription is in effect for the next push.
  p.all = resourceSet({
    clusters: [edsCluster('a', 3), edsCluster('b', 3)],
    endpoints: [cla('a', [['127.0.0.1', 1001]]), cla('b', [['127.0.0.1', 1002]])],
    listeners: [apiListener('svc-a:80', 'route-a')],
    routes: [routeConfig('route-a', ['svc-a:80'], [['a', 1]])],
  });
  s.notify();
  const r3 = await c.waitForResponse((r) => r.typeUrl === CDS, eds.seq + 1);
  assert.deepEqual(r3.names, ['b']);
});

test('a new stream gets everything again; identical state is never resent on a stream', async () => {
  const p = new Provider();
  p.all = baseSet();
  const s = await startServer(p);
  const c1 = client(s, 'again');
  c1.subscribe(CDS, []);
  c1.subscribe(LDS, ['svc-a:80']);
  const cds1 = await c1.waitForResponse((r) => r.typeUrl === CDS);
  await c1.waitForResponse((r) => r.typeUrl === LDS);
  // Same content again (new objects): no response.
  p.all = baseSet();
  s.notify();
  c1.subscribe(EDS, ['a']);
  const eds = await c1.waitForResponse((r) => r.typeUrl === EDS);
  assert.equal(eds.seq, 2, 'nothing resent for identical content');
  c1.close();
  await waitFor(() => s.connectedStreams === 0, { what: 'stream closed' });

  const c2 = client(s, 'again');
  c2.sendRaw({ type_url: CDS, version_info: cds1.version, resource_names: [] });
  const cds2 = await c2.waitForResponse((r) => r.typeUrl === CDS);
  assert.equal(cds2.version, cds1.version);
  assert.deepEqual(sorted(cds2.names), ['a', 'b']);
});

test('a snapshot change is pushed CDS → EDS → LDS → RDS, with LDS/CDS deletions last', async () => {
  const p = new Provider();
  p.all = resourceSet({
    clusters: [edsCluster('a'), edsCluster('old')],
    endpoints: [cla('a', [['127.0.0.1', 1001]]), cla('old', [['127.0.0.1', 1009]])],
    listeners: [apiListener('svc-a:80', 'route-a'), apiListener('old:80', 'route-a')],
    routes: [routeConfig('route-a', ['svc-a:80'], [['a', 1]])],
  });
  const s = await startServer(p);
  const c = client(s, 'order');
  c.subscribe(LDS, []);
  c.subscribe(CDS, []);
  c.subscribe(RDS, ['route-a']);
  c.subscribe(EDS, ['a', 'new']);
  await c.waitForResponse((r) => r.typeUrl === RDS);
  await c.waitForResponse((r) => r.typeUrl === EDS);
  const mark = c.responses.length;

  // Additions and changes only.
  p.all = resourceSet({
    clusters: [edsCluster('a'), edsCluster('old'), edsCluster('new')],
    endpoints: [cla('a', [['127.0.0.1', 1001]]), cla('old', [['127.0.0.1', 1009]]), cla('new', [['127.0.0.1', 1005]])],
    listeners: [apiListener('svc-a:80', 'route-a'), apiListener('old:80', 'route-a'), apiListener('svc-new:80', 'route-a')],
    routes: [routeConfig('route-a', ['svc-a:80'], [['a', 1], ['new', 1]])],
  });
  s.notify();
  await c.waitForResponse((r) => r.typeUrl === RDS, mark);
  assert.deepEqual(c.responses.slice(mark).map((r) => r.typeUrl), [CDS, EDS, LDS, RDS]);

  // Removing 'old' (cluster and listener) while the route changes: LDS/CDS deletions come after
  // RDS, listeners before clusters. The client already holds the union, so no transitional LDS/CDS.
  const mark2 = c.responses.length;
  p.all = resourceSet({
    clusters: [edsCluster('a'), edsCluster('new')],
    endpoints: [cla('a', [['127.0.0.1', 1001]]), cla('new', [['127.0.0.1', 1006]])],
    listeners: [apiListener('svc-a:80', 'route-a'), apiListener('svc-new:80', 'route-a')],
    routes: [routeConfig('route-a', ['svc-a:80'], [['new', 1]])],
  });
  s.notify();
  const last = await c.waitForResponse((r) => r.typeUrl === CDS, mark2);
  let seq = c.responses.slice(mark2, last.seq + 1);
  assert.deepEqual(seq.map((r) => r.typeUrl), [EDS, RDS, LDS, CDS]);
  assert.deepEqual(sorted(seq[2]!.names), ['svc-a:80', 'svc-new:80']);
  assert.deepEqual(sorted(seq[3]!.names), ['a', 'new']);
  assert.equal(seq[3]!.version, s.cache.get('order')!.version(CDS));

  // Replacing cluster 'new' by 'next' while the route moves to it: the transitional CDS carries
  // both, then EDS, LDS, RDS, and the final CDS drops 'new'.
  const mark3 = c.responses.length;
  c.subscribe(EDS, ['a', 'new', 'next']);
  p.all = resourceSet({
    clusters: [edsCluster('a'), edsCluster('next')],
    endpoints: [cla('a', [['127.0.0.1', 1001]]), cla('next', [['127.0.0.1', 1007]])],
    listeners: [apiListener('svc-a:80', 'route-a'), apiListener('svc-new:80', 'route-next')],
    routes: [routeConfig('route-a', ['svc-a:80'], [['next', 1]])],
  });
  s.notify();
  const final = await c.waitForResponse((r) => r.typeUrl === CDS && !r.names.includes('new'), mark3);
  seq = c.responses.slice(mark3, final.seq + 1);
  assert.deepEqual(seq.map((r) => r.typeUrl), [CDS, EDS, LDS, RDS, CDS]);
  assert.deepEqual(sorted(seq[0]!.names), ['a', 'new', 'next']);
  assert.notEqual(seq[0]!.version, final.version);
  assert.deepEqual(sorted(final.names), ['a', 'next']);
  await waitFor(() => {
    const st = s.pushStatus.forNode('order')[0];
    return st !== undefined && st.types.every((t) => t.state === 'SYNCED');
  }, { what: 'all types SYNCED after the final responses' });
});

test('nothing is served before the first snapshot; held requests are answered once it exists', async () => {
  const p = new Provider();
  const s = await startServer(p);
  const c = client(s, 'waiting');
  c.subscribe(CDS, []);
  c.subscribe(LDS, ['svc-a:80']);
  await waitFor(() => s.pushStatus.forNode('waiting')[0]?.types.length === 2, { what: 'subscriptions recorded' });
  assert.equal(c.responses.length, 0);
  assert.equal(s.pushStatus.forNode('waiting')[0]!.types[0]!.state, 'NOT_SENT');
  s.notify(); // provider still has nothing
  p.all = baseSet();
  s.notify();
  const first = await c.waitForResponse(() => true);
  assert.equal(first.typeUrl, CDS);
  await c.waitForResponse((r) => r.typeUrl === LDS);
});

test("one node's NACKs do not block another node", async () => {
  const p = new Provider();
  p.all = baseSet();
  const s = await startServer(p);
  const bad = client(s, 'bad', { nackIf: () => 'rejecting everything' });
  const good = client(s, 'good');
  for (const c of [bad, good]) c.subscribe(CDS, []);
  await bad.waitForResponse((r) => r.typeUrl === CDS);
  const g0 = await good.waitForResponse((r) => r.typeUrl === CDS);
  p.all = baseSet(4);
  s.notify();
  const g1 = await good.waitForResponse((r) => r.typeUrl === CDS, g0.seq + 1);
  await waitFor(() => good.ackedVersion(CDS) === g1.version, { what: 'good ACKed' });
  await waitFor(() => s.pushStatus.forNode('good')[0]?.types[0]?.state === 'SYNCED', { what: 'good SYNCED' });
  await waitFor(() => s.pushStatus.forNode('bad')[0]?.types[0]?.state === 'NACKED', { what: 'bad NACKED' });
  assert.equal(s.pushStatus.forNode('good')[0]!.types[0]!.versionAcked, g1.version);
});

test('DeltaAggregatedResources answers UNIMPLEMENTED; a first request without node is rejected', async () => {
  const p = new Provider();
  p.all = baseSet();
  const s = await startServer(p);
  const raw = new definition.Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
  cleanups.push(() => raw.close());
  const delta = (raw as unknown as Record<string, () => grpc.ClientDuplexStream<unknown, unknown>>)['DeltaAggregatedResources']!.call(raw);
  const code = await new Promise<number>((resolve) => {
    delta.on('error', (e: grpc.ServiceError) => resolve(e.code));
    delta.on('data', () => {});
    delta.write({ type_url: CDS });
  });
  assert.equal(code, grpc.status.UNIMPLEMENTED);
  const sotw = (raw as unknown as Record<string, () => grpc.ClientDuplexStream<unknown, unknown>>)['StreamAggregatedResources']!.call(raw);
  const code2 = await new Promise<number>((resolve) => {
    sotw.on('error', (e: grpc.ServiceError) => resolve(e.code));
    sotw.on('data', () => {});
    sotw.write({ type_url: CDS, resource_names: [] });
  });
  assert.equal(code2, grpc.status.INVALID_ARGUMENT);
});

test('admin: /ready, /stats/prometheus with xDS metrics, /debug/syncz, /debug/config', async () => {
  const registry = new Registry();
  const metrics = new XdsMetrics(registry);
  const p = new Provider();
  p.all = baseSet();
  const s = await startServer(p, { metrics });
  let ready = false;
  const admin = new ControlPlaneAdmin({
    port: 0,
    registry,
    ready: () => ready,
    syncz: () => s.pushStatus.list(),
    config: () => ({ version: 'v1', lastRejected: { errors: [{ path: 'spec.hosts', message: 'required' }] } }),
  });
  await admin.start();
  cleanups.push(() => admin.stop());
  const base = `http://127.0.0.1:${admin.port}`;
  assert.equal((await fetch(`${base}/ready`)).status, 503);
  ready = true;
  assert.equal((await fetch(`${base}/ready`)).status, 200);

  const c = client(s, 'metrics', { nackIf: (r) => (r.typeUrl === EDS ? 'bad endpoint' : null) });
  c.subscribe(CDS, []);
  c.subscribe(EDS, ['a']);
  await waitFor(() => s.pushStatus.forNode('metrics')[0]?.types.find((t) => t.type === 'eds')?.state === 'NACKED', { what: 'NACK recorded' });
  await waitFor(() => s.pushStatus.forNode('metrics')[0]?.types.find((t) => t.type === 'cds')?.state === 'SYNCED', { what: 'ACK recorded' });

  const samples = parseProm(await (await fetch(`${base}/stats/prometheus`)).text());
  const value = (name: string, labels: Record<string, string> = {}): number =>
    samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);
  assert.equal(value('remora_xds_connected_streams'), 1);
  assert.equal(value('remora_xds_pushes_total', { type: 'cds' }), 1);
  assert.equal(value('remora_xds_pushes_total', { type: 'eds' }), 1);
  assert.equal(value('remora_xds_nacks_total', { type: 'eds' }), 1);
  assert.equal(value('remora_xds_push_ack_latency_seconds_count', { type: 'cds' }), 1);

  const syncz = (await (await fetch(`${base}/debug/syncz`)).json()) as Array<{ nodeId: string; types: Array<{ type: string; state: string; lastNack: { message: string } | null }> }>;
  assert.equal(syncz.length, 1);
  assert.equal(syncz[0]!.nodeId, 'metrics');
  assert.equal(syncz[0]!.types.find((t) => t.type === 'eds')!.lastNack!.message, 'bad endpoint');
  const config = (await (await fetch(`${base}/debug/config`)).json()) as { version: string };
  assert.equal(config.version, 'v1');
  assert.equal((await fetch(`${base}/nope`)).status, 404);

  c.close();
  await waitFor(() => s.connectedStreams === 0, { what: 'stream closed' });
  const after = parseProm(await (await fetch(`${base}/stats/prometheus`)).text());
  assert.equal(after.find((x) => x.name === 'remora_xds_connected_streams')!.value, 0);
});

test('SnapshotCache: identical sets keep the snapshot and notify nobody; encoding errors keep the old one', () => {
  const cache = new SnapshotCache(root);
  const events: string[] = [];
  cache.onChange((key) => events.push(key));
  const first = cache.setSnapshot('k', baseSet());
  assert.equal(first.changed, true);
  assert.equal(cache.setSnapshot('k', baseSet()).changed, false);
  const second = cache.setSnapshot('k', baseSet(2));
  assert.equal(second.changed, true);
  assert.notEqual(second.snapshot.version(CDS), first.snapshot.version(CDS));
  assert.equal(second.snapshot.version(LDS), first.snapshot.version(LDS), 'unchanged types keep their version');
  assert.deepEqual(events, ['k', 'k']);
  const bad = resourceSet({ clusters: [{ name: 'x', transport_socket: { name: 't', typed_config: { '@type': 'type.googleapis.com/no.such.Type' } } }] });
  assert.throws(() => cache.setSnapshot('k', bad), /cannot encode .*Cluster 'x'/);
  assert.equal(cache.get('k'), second.snapshot);
  assert.deepEqual(Array.from(cache.get('k')!.type(CDS)!.resources.keys()).sort(), ['a', 'b'], 'the previous snapshot keeps serving');
});
