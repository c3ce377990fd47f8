/**
 * PushStatus.summaries(): who is connected, with the identity `list()` renders, for every open stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeMetadataKey } from '../../config/node-metadata';
import { PushStatus } from './push-status';

test('summaries list every open stream with the identity list() shows, and forget closed ones', () => {
  let now = Date.parse('2030-01-01T00:00:00Z');
  const ps = new PushStatus({ now: () => now, monotonic: () => now });
  const md = { [NodeMetadataKey.WorkloadName]: 'w1', [NodeMetadataKey.Namespace]: 'ns', [NodeMetadataKey.AdminAddress]: '127.0.0.1:15000' };
  ps.streamOpened(1, { id: 'n1', cluster: 'c', metadata: md }, 'ua', 'k1');
  ps.streamOpened(2, { id: 'n2', cluster: 'c', metadata: {} }, 'ua', 'k2');
  ps.sent(1, 'type.googleapis.com/envoy.config.cluster.v3.Cluster', 'v1', '1', ['a']);
  now += 5;
  assert.equal(ps.acked(1, 'type.googleapis.com/envoy.config.cluster.v3.Cluster'), 0.005);
  const pick = (s: { streamId: number; nodeId: string; namespace: string | null; workload: string | null; adminAddress: string | null }) =>
    [s.streamId, s.nodeId, s.namespace, s.workload, s.adminAddress];
  assert.deepEqual(ps.summaries().map(pick), [[1, 'n1', 'ns', 'w1', '127.0.0.1:15000'], [2, 'n2', null, null, null]]);
  assert.deepEqual(ps.list().map(pick), ps.summaries().map(pick));
  assert.equal(ps.list()[0]!.types[0]!.state, 'SYNCED');
  ps.streamClosed(1);
  assert.deepEqual(ps.summaries().map((s) => s.nodeId), ['n2']);
});
