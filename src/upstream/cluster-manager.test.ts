/**
 * Unit tests of ClusterManager: identity of unchanged clusters across updates, replacement and
 * graceful retirement of changed ones, removal, EDS assignment (including the cache applied to
 * replacements), warming of replacements before they take over, warm tracking and admin dumps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../core/clock';
import { ClusterManager } from './cluster-manager';
import type { PickContext, PickResult } from './lb/picker';
import { clusterModel, endpointModel, RecordingFactories, testRuntime } from '../../test/fakes/upstream-fakes';

const ctx: PickContext = { random: seededRandom(3), exclude: null, hash: null };

function manager(f = new RecordingFactories()): ClusterManager {
  return new ClusterManager(testRuntime(), { factories: f });
}

function pickedKey(r: PickResult): string {
  assert.equal(r.type, 'complete');
  return r.type === 'complete' ? r.endpoint.key : '';
}

test('update keeps unchanged clusters, replaces changed ones and removes missing ones', async (t) => {
  const f = new RecordingFactories();
  const cm = manager(f);
  t.after(() => cm.close());
  cm.update([
    clusterModel('a', { endpoints: [endpointModel('10.0.0.1', 80)] }),
    clusterModel('b', { endpoints: [endpointModel('10.0.0.2', 80)] }),
    clusterModel('c', { endpoints: [endpointModel('10.0.0.3', 80)] }),
  ]);
  const ca = cm.get('a')!;
  const cb = cm.get('b')!;
  const cc = cm.get('c')!;
  cb.h2PoolFor(cb.endpoints()[0]);

  // Equal but distinct model objects count as unchanged.
  cm.update([
    clusterModel('a', { endpoints: [endpointModel('10.0.0.1', 80)] }),
    clusterModel('b', { endpoints: [endpointModel('10.0.0.2', 80)], lbPolicy: 'RANDOM' }),
  ]);
  assert.equal(cm.get('a'), ca, 'unchanged model keeps the same Cluster object');
  const nb = cm.get('b')!;
  assert.notEqual(nb, cb, 'changed model builds a new Cluster');
  assert.equal(nb.model.lbPolicy, 'RANDOM');
  assert.equal(cm.get('c'), undefined, 'missing cluster removed');
  assert.deepEqual(cm.all().map((x) => x.name), ['a', 'b']);
  // The replaced and removed clusters stop serving new picks and close their pools gracefully.
  assert.equal(cb.pick(ctx).type, 'fail');
  assert.equal(cc.pick(ctx).type, 'fail');
  await cm.close();
  assert.equal(f.h2Pools[0].closeCalls, 1);
  assert.equal(ca.pick(ctx).type, 'fail');
});

test('addOrUpdate and remove (the CDS path)', async (t) => {
  const cm = manager();
  t.after(() => cm.close());
  const m = clusterModel('x', { endpoints: [endpointModel('10.0.0.1', 80)] });
  const c1 = cm.addOrUpdate(m);
  assert.equal(c1.addedViaApi, true);
  assert.equal(cm.addOrUpdate(m), c1);
  assert.equal(cm.remove('x'), true);
  assert.equal(cm.remove('x'), false);
  assert.equal(cm.get('x'), undefined);
});

test('EDS: assignment warms the cluster; allWarm and whenAllWarm track it', async (t) => {
  const cm = manager();
  t.after(() => cm.close());
  cm.update([
    clusterModel('static', { endpoints: [endpointModel('10.0.0.1', 80)] }),
    clusterModel('eds', { type: 'EDS', edsServiceName: 'svc' }),
  ]);
  assert.equal(cm.allWarm(), false);
  let resolved = false;
  const all = cm.whenAllWarm().then(() => { resolved = true; });
  assert.equal(cm.get('eds')!.pick(ctx).type, 'fail');
  cm.setClusterLoadAssignment({ clusterName: 'other', endpoints: [endpointModel('10.1.1.1', 1)] });
  await Promise.resolve();
  assert.equal(resolved, false);
  cm.setClusterLoadAssignment({ clusterName: 'svc', endpoints: [endpointModel('10.0.0.5', 8080)] });
  await all;
  assert.equal(cm.allWarm(), true);
  assert.equal(pickedKey(cm.get('eds')!.pick(ctx)), '10.0.0.5:8080');
});

test('whenAllWarm resolves when the last cold cluster is removed', async (t) => {
  const cm = manager();
  t.after(() => cm.close());
  cm.update([clusterModel('eds', { type: 'EDS' })]);
  const all = cm.whenAllWarm();
  cm.update([]);
  await all;
  assert.equal(cm.allWarm(), true);
});

test('a changed EDS cluster reuses the cached assignment and takes over warm', async (t) => {
  const cm = manager();
  t.after(() => cm.close());
  const old = cm.addOrUpdate(clusterModel('eds', { type: 'EDS', edsServiceName: 'svc' }));
  cm.setClusterLoadAssignment({ clusterName: 'svc', endpoints: [endpointModel('10.0.0.5', 8080)] });
  const next = cm.addOrUpdate(clusterModel('eds', { type: 'EDS', edsServiceName: 'svc', lbPolicy: 'RANDOM' }));
  assert.notEqual(next, old);
  assert.equal(next.warm, true);
  assert.equal(cm.get('eds'), next);
  assert.equal(pickedKey(next.pick(ctx)), '10.0.0.5:8080');
});

test('a cold replacement waits beside the active cluster and is promoted when warm', async (t) => {
  const cm = manager();
  t.after(() => cm.close());
  const old = cm.addOrUpdate(clusterModel('e', { type: 'EDS', edsServiceName: 'svc-a' }));
  cm.setClusterLoadAssignment({ clusterName: 'svc-a', endpoints: [endpointModel('10.0.0.1', 80)] });
  const next = cm.addOrUpdate(clusterModel('e', { type: 'EDS', edsServiceName: 'svc-b' }));
  assert.equal(next.warm, false);
  assert.equal(cm.get('e'), old, 'old cluster keeps serving while the replacement warms');
  assert.equal(pickedKey(old.pick(ctx)), '10.0.0.1:80');
  // Same model again while warming: no third object.
  assert.equal(cm.addOrUpdate(clusterModel('e', { type: 'EDS', edsServiceName: 'svc-b' })), next);
  cm.setClusterLoadAssignment({ clusterName: 'svc-b', endpoints: [endpointModel('10.0.0.2', 80)] });
  assert.equal(cm.get('e'), next, 'promoted once warm');
  assert.equal(pickedKey(cm.get('e')!.pick(ctx)), '10.0.0.2:80');
  assert.equal(old.pick(ctx).type, 'fail', 'old cluster retired');
});

test('dump and dumpText cover every active cluster', async (t) => {
  const cm = manager();
  t.after(() => cm.close());
  cm.update([
    clusterModel('one', { endpoints: [endpointModel('10.0.0.1', 80)] }),
    clusterModel('two', { endpoints: [endpointModel('10.0.0.2', 81)] }),
  ]);
  cm.get('two')!.endpoints()[0].active = 2;
  const text = cm.dumpText();
  assert.match(text, /^one::added_via_api::false$/m);
  assert.match(text, /^one::10\.0\.0\.1:80::rq_active::0$/m);
  assert.match(text, /^two::10\.0\.0\.2:81::rq_active::2$/m);
  const json = cm.dump() as { name: string }[];
  assert.deepEqual(json.map((c) => c.name), ['one', 'two']);
});
