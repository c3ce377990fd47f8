/**
 * Batched pushes: a snapshot change pushes to `pushBatchSize` streams in the same turn and queues the
 * rest, which are pushed in later turns with the snapshot current then. Every stream still ends on
 * the latest version, a queued stream skips a version superseded before its turn, and a stream
 * closed while queued is skipped.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadEnvoyProtos } from '../../xds/protos';
import { TYPE_URL, type XdsResourceSet } from '../cache/resources';
import { AdsServer } from './ads-server';
import { loadAdsDefinition } from './ads-proto';
import { FakeXdsClient, cla, edsCluster, resourceSet } from '../../../test/fakes/fake-xds-client';
import { waitFor } from '../../../test/fakes/wait';

const root = loadEnvoyProtos();
const definition = loadAdsDefinition();
const CDS = TYPE_URL.CLUSTER;
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const set = (timeout: number): XdsResourceSet => resourceSet({ clusters: [edsCluster('a', timeout)], endpoints: [cla('a', [['127.0.0.1', 1001]])] });

test('a push beyond the batch size is queued and sends the latest snapshot to every stream', async () => {
  let current = set(1);
  const server = new AdsServer({ root, provider: () => current, port: 0, adsDefinition: definition, nodeKey: () => 'all', pushBatchSize: 2 });
  await server.start();
  cleanups.push(() => server.stop());
  const clients: FakeXdsClient[] = [];
  for (let i = 0; i < 5; i++) {
    const c = new FakeXdsClient({ target: `127.0.0.1:${server.port}`, node: { id: `n${i}`, cluster: 'test', metadata: {} }, definition });
    cleanups.push(() => c.close());
    c.subscribe(CDS, []);
    await c.waitForResponse((r) => r.typeUrl === CDS);
    clients.push(c);
  }
  const v1 = clients[0]!.latest(CDS)!.version;
  // Two changes in one turn: the first two streams get both, the queued three only the second.
  current = set(2);
  server.notify();
  const v2 = server.cache.get('all')!.version(CDS);
  current = set(3);
  server.notify();
  const v3 = server.cache.get('all')!.version(CDS);
  assert.ok(v1 !== v2 && v2 !== v3 && v1 !== v3);
  for (const c of clients) await c.waitForResponse((r) => r.typeUrl === CDS && r.version === v3);
  const sawV2 = clients.filter((c) => c.responses.some((r) => r.version === v2)).length;
  assert.equal(sawV2, 2);
  await waitFor(() => server.pushStatus.list().every((n) => n.types.every((t) => t.state === 'SYNCED' && t.versionAcked === v3)), { what: 'all streams ACKed v3' });

  // A stream closed while queued is skipped; the others still get the change.
  current = set(4);
  server.notify();
  clients[4]!.close();
  const v4 = server.cache.get('all')!.version(CDS);
  for (const c of clients.slice(0, 4)) await c.waitForResponse((r) => r.typeUrl === CDS && r.version === v4);
});
