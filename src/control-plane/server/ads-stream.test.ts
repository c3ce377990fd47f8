/**
 * Response planning shortcuts: a snapshot keeps the TypeSnapshot of an unchanged type, a stream
 * that was sent a type snapshot plans nothing for it again, streams with the same subscription share
 * one plan, and a repeated request list (an ACK) is not a subscription change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadEnvoyProtos } from '../../xds/protos';
import { TYPE_URL } from '../cache/resources';
import { SnapshotCache } from '../cache/snapshot-cache';
import { PlanMemo, responseFor, TypeSubscription } from './ads-stream';
import { cla, edsCluster, resourceSet } from '../../../test/fakes/fake-xds-client';

const root = loadEnvoyProtos();
const { CLUSTER: CDS, ENDPOINT: EDS } = TYPE_URL;
const set = (port: number) => resourceSet({ clusters: [edsCluster('a'), edsCluster('b')], endpoints: [cla('a', [['127.0.0.1', port]]), cla('b', [['127.0.0.1', 2]])] });

test('an unchanged type keeps its TypeSnapshot object; a changed one gets a new one', () => {
  const cache = new SnapshotCache(root);
  const first = cache.setSnapshot('k', set(1)).snapshot;
  cache.nextGeneration();
  const second = cache.setSnapshot('k', set(9)).snapshot;
  assert.equal(second.type(CDS), first.type(CDS));
  assert.notEqual(second.type(EDS), first.type(EDS));
  assert.notEqual(second.version(EDS), first.version(EDS));
});

test('planning: nothing new after a send from the same type snapshot, shared plans, forgetSent resends', () => {
  const cache = new SnapshotCache(root);
  const snap = cache.setSnapshot('k', set(1)).snapshot;
  const memo = new PlanMemo();
  const a = new TypeSubscription(EDS);
  const b = new TypeSubscription(EDS);
  assert.equal(a.update(['a', 'b']), true);
  assert.equal(b.update(['a', 'b']), true);
  const pa = responseFor(a, snap, memo)!;
  const pb = responseFor(b, snap, memo)!;
  assert.equal(pa, pb);
  assert.deepEqual(pa.resources.map((r) => r.name), ['a', 'b']);
  assert.deepEqual(responseFor(a, snap), pa === null ? null : { ...pa }); // same plan without the memo
  a.recordSent(new Map(pa.resources.map((r) => [r.name, r])), pa.from);
  assert.equal(responseFor(a, snap, memo), null);
  a.forgetSent();
  assert.equal(responseFor(a, snap, memo), pa);
  // The same list again (an ACK) or the same set in another order is no change; a new name is.
  a.recordSent(new Map(pa.resources.map((r) => [r.name, r])), pa.from);
  assert.equal(a.update(['a', 'b']), false);
  assert.equal(a.update(['b', 'a']), false);
  assert.equal(responseFor(a, snap, memo), null);
  assert.equal(a.update(['a']), true);
  assert.deepEqual(responseFor(a, snap, memo)!.resources.map((r) => r.name), ['a']);
});

test('an explicit empty-string name is not the same subscription as no names', () => {
  const cache = new SnapshotCache(root);
  const snap = cache.setSnapshot('k', set(1)).snapshot;
  const memo = new PlanMemo();
  const none = new TypeSubscription(CDS);
  none.update(['a']);
  none.update([]); // named before: an empty list now means "nothing", not the legacy wildcard
  const empty = new TypeSubscription(CDS);
  empty.update(['']);
  assert.equal(responseFor(none, snap, memo), null);
  const p = responseFor(empty, snap, memo);
  assert.notEqual(p, null); // full-state type: an (empty) response for a name that does not exist
  assert.deepEqual(p!.resources, []);
});
