/**
 * Unit tests of the RING_HASH picker: stable key → endpoint mapping (across pickers and endpoint
 * orders), minimal remapping when endpoints are added or removed, weight-proportional shares, ring
 * sizing (budget, Envoy fallback), random points without a hash, and the retry walk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../core/clock';
import type { EndpointModel } from '../../config/model';
import { Endpoint } from '../endpoint';
import { buildPicker } from './build-picker';
import type { PickContext, PickerBuildOptions, PickResult } from './picker';
import { hash32, pointCounts, RingHashPicker } from './ring-hash';

function ep(i: number, over: Partial<EndpointModel> = {}): Endpoint {
  return new Endpoint({ host: `10.0.0.${i}`, port: 8080, weight: 1, priority: 0, healthStatus: 'HEALTHY', metadata: null, ...over });
}

function eps(n: number): Endpoint[] {
  return Array.from({ length: n }, (_, i) => ep(i + 1));
}

const OPTIONS: PickerBuildOptions = { clusterName: 'c', random: seededRandom(1), choiceCount: 2, healthyPanicThresholdPercent: 0 };

function ring(endpoints: Endpoint[], over: Partial<PickerBuildOptions> = {}): RingHashPicker {
  const p = buildPicker('RING_HASH', endpoints, { ...OPTIONS, ...over });
  assert.ok(p instanceof RingHashPicker);
  return p;
}

function keyHash(k: number): number {
  return hash32(`user-${k}`);
}

function pickKey(p: RingHashPicker, k: number, exclude: Endpoint | null = null): string {
  const r: PickResult = p.pick({ random: seededRandom(k), exclude, hash: keyHash(k) });
  assert.equal(r.type, 'complete');
  return (r as Extract<PickResult, { type: 'complete' }>).endpoint.key;
}

const KEYS = 10_000;

function assignment(p: RingHashPicker): string[] {
  const out: string[] = [];
  for (let k = 0; k < KEYS; k++) out.push(pickKey(p, k));
  return out;
}

test('the same key always lands on the same endpoint, independent of endpoint order and picker instance', () => {
  const a = ring(eps(6));
  const b = ring(eps(6).reverse());
  for (let k = 0; k < 2000; k++) {
    const first = pickKey(a, k);
    assert.equal(pickKey(a, k), first);
    assert.equal(pickKey(b, k), first, `key ${k}`);
  }
  // Every endpoint owns some keys.
  assert.equal(new Set(assignment(a)).size, 6);
});

test('adding a 5th endpoint to 4 moves about 1/5 of the keys, all of them to the new endpoint', () => {
  const four = eps(4);
  const before = assignment(ring(four));
  const added = ep(5);
  const after = assignment(ring([...four, added]));
  let moved = 0;
  for (let k = 0; k < KEYS; k++) {
    if (before[k] !== after[k]) {
      moved++;
      assert.equal(after[k], added.key, `key ${k} moved between old endpoints`);
    }
  }
  const share = moved / KEYS;
  assert.ok(share > 0.1 && share < 0.3, `moved ${share}`);
});

test('adding an endpoint moves about 1/N of keys for other sizes too (3→4, 10→11)', () => {
  for (const n of [3, 10]) {
    const before = assignment(ring(eps(n)));
    const after = assignment(ring(eps(n + 1)));
    let moved = 0;
    for (let k = 0; k < KEYS; k++) if (before[k] !== after[k]) moved++;
    const expected = 1 / (n + 1);
    assert.ok(moved / KEYS > expected * 0.5 && moved / KEYS < expected * 1.5, `${n}→${n + 1}: moved ${moved / KEYS}`);
  }
});

test('removing an endpoint moves only the keys it owned', () => {
  const five = eps(5);
  const before = assignment(ring(five));
  const removed = five[2];
  const after = assignment(ring(five.filter((e) => e !== removed)));
  let owned = 0;
  for (let k = 0; k < KEYS; k++) {
    if (before[k] === removed.key) owned++;
    else assert.equal(after[k], before[k], `key ${k} moved although its endpoint stayed`);
  }
  assert.ok(owned > 1000 && owned < 3000, `removed endpoint owned ${owned}`);
});

test('a weighted ring distributes keys roughly in proportion to the weights', () => {
  const weighted = [ep(1, { weight: 1 }), ep(2, { weight: 2 }), ep(3, { weight: 3 }), ep(4, { weight: 4 })];
  const p = ring(weighted);
  const n = 40_000;
  const counts = new Map<string, number>();
  for (let k = 0; k < n; k++) {
    const key = pickKey(p, k);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const e of weighted) {
    const share = (counts.get(e.key) ?? 0) / n;
    assert.ok(Math.abs(share - e.weight / 10) < 0.03, `${e.key} weight ${e.weight}: ${share}`);
  }
});

test('ring size: points per weight unit start at the minimum ring size and halve to fit the budget', () => {
  assert.equal(ring(eps(1)).ringSize, 1024);
  assert.equal(ring(eps(4)).ringSize, 4096);
  assert.equal(ring(eps(64)).ringSize, 65536);
  assert.equal(ring(eps(65)).ringSize, 65 * 512);
  const sizes = { minimumRingSize: 16, maximumRingSize: 1 << 20 };
  assert.deepEqual(Array.from(pointCounts(eps(3), sizes)), [16, 16, 16]);
  // A budget (here the maximum, 16) smaller than the endpoint count: each endpoint keeps one point.
  assert.deepEqual(Array.from(new Set(pointCounts(eps(400), { minimumRingSize: 4, maximumRingSize: 16 }))), [1]);
  // A large minimum: the budget is twice the minimum.
  assert.deepEqual(Array.from(pointCounts(eps(3), { minimumRingSize: 100_000, maximumRingSize: 1 << 23 })), [50_000, 50_000, 50_000]);
  // Every ring is at least the minimum size.
  for (const n of [1, 2, 3, 5, 7, 9, 17, 33, 100, 129]) {
    const size = ring(eps(n)).ringSize;
    assert.ok(size >= 1024 && size <= 65536 + n, `${n} endpoints: ${size}`);
  }
});

test('ring size: maximum below twice the minimum uses Envoy\'s scaling and honours both bounds', () => {
  const counts = pointCounts(eps(4), { minimumRingSize: 6, maximumRingSize: 6 });
  // Envoy's own example: 4 hosts, scale 6 → 1.5 points each handed out as 2,1,2,1.
  assert.deepEqual(Array.from(counts), [2, 1, 2, 1]);
  const p = ring(eps(3), { ringHash: { minimumRingSize: 1000, maximumRingSize: 1500 } });
  assert.ok(p.ringSize >= 1000 && p.ringSize <= 1500, `size ${p.ringSize}`);
  const w = pointCounts([ep(1, { weight: 1 }), ep(2, { weight: 3 })], { minimumRingSize: 100, maximumRingSize: 100 });
  assert.deepEqual(Array.from(w), [25, 75]);
});

test('without a hash, picks go to random points (spread over every endpoint)', () => {
  const p = ring(eps(4));
  const c: PickContext = { random: seededRandom(9), exclude: null, hash: null };
  const counts = new Map<string, number>();
  for (let i = 0; i < 4000; i++) {
    const r = p.pick(c) as Extract<PickResult, { type: 'complete' }>;
    counts.set(r.endpoint.key, (counts.get(r.endpoint.key) ?? 0) + 1);
  }
  assert.equal(counts.size, 4);
  for (const v of counts.values()) assert.ok(v > 700, `${[...counts]}`);
});

test('on a retry the walk continues to the next endpoint, as if the excluded one were not on the ring', () => {
  const all = eps(5);
  const p = ring(all);
  for (let k = 0; k < 500; k++) {
    const first = pickKey(p, k);
    const excluded = all.find((e) => e.key === first)!;
    const retry = pickKey(p, k, excluded);
    assert.notEqual(retry, first);
    assert.equal(retry, pickKey(ring(all.filter((e) => e !== excluded)), k), `key ${k}`);
    // Excluding an endpoint the key does not map to changes nothing.
    const other = all.find((e) => e.key !== first)!;
    assert.equal(pickKey(p, k, other), first);
  }
  // A single endpoint is returned even when excluded.
  const one = ring([all[0]]);
  assert.equal(pickKey(one, 1, all[0]), all[0].key);
});

test('hash32 is stable (fixed vectors) and spreads similar keys', () => {
  assert.equal(hash32(''), hash32(''));
  const v = [hash32('10.0.0.1:8080_0'), hash32('10.0.0.1:8080_1'), hash32('10.0.0.1:8080_2')];
  assert.equal(new Set(v).size, 3);
  // Pinned values: a change would remap every key of every deployed ring.
  assert.deepEqual([hash32('a'), hash32('10.0.0.1:8080_0')], [PINNED_A, PINNED_POINT]);
  // Top bits vary for keys differing in the last character.
  const tops = new Set<number>();
  for (let i = 0; i < 64; i++) tops.add(hash32(`k_${i}`) >>> 28);
  assert.ok(tops.size >= 12, `top nibbles ${tops.size}`);
});

const PINNED_A = 444641715;
const PINNED_POINT = 3333706757;
