/**
 * Unit tests of the pickers: round-robin order and exact weighted proportions, least-request
 * choice, weighted random distribution (seeded), priority fallback, unhealthy endpoints skipped,
 * and `exclude` honoured on retries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom, type RandomSource } from '../../core/clock';
import type { EndpointModel, LbPolicy } from '../../config/model';
import { Endpoint, HealthFlag } from '../endpoint';
import { buildPicker } from './build-picker';
import { FailPicker, type PickContext, type Picker, type PickResult } from './picker';
import { smoothWeightedSchedule } from './round-robin';

function ep(port: number, over: Partial<EndpointModel> = {}): Endpoint {
  return new Endpoint({ host: '10.0.0.1', port, weight: 1, priority: 0, healthStatus: 'HEALTHY', ...over });
}

function ctx(random: RandomSource = seededRandom(1), exclude: Endpoint | null = null): PickContext {
  return { random, exclude, hash: null };
}

function build(policy: LbPolicy, eps: Endpoint[], seed = 7, choiceCount = 2): Picker {
  return buildPicker(policy, eps, { clusterName: 'c', random: seededRandom(seed), choiceCount });
}

function picked(r: PickResult): Endpoint {
  assert.equal(r.type, 'complete');
  return (r as Extract<PickResult, { type: 'complete' }>).endpoint;
}

function countPicks(p: Picker, n: number, c: PickContext): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const port = picked(p.pick(c)).port;
    counts.set(port, (counts.get(port) ?? 0) + 1);
  }
  return counts;
}

test('round robin with equal weights rotates through every endpoint in order', () => {
  const eps = [ep(1), ep(2), ep(3)];
  const p = build('ROUND_ROBIN', eps);
  const c = ctx();
  const first = picked(p.pick(c)).port;
  const seq = [first];
  for (let i = 0; i < 8; i++) seq.push(picked(p.pick(c)).port);
  for (let i = 1; i < seq.length; i++) assert.equal(seq[i], (seq[i - 1] % 3) + 1, `sequence ${seq.join(',')}`);
});

test('round robin start position is randomised', () => {
  const eps = [ep(1), ep(2), ep(3), ep(4), ep(5), ep(6), ep(7), ep(8)];
  const starts = new Set<number>();
  for (let seed = 1; seed <= 20; seed++) starts.add(picked(build('ROUND_ROBIN', eps, seed).pick(ctx())).port);
  assert.ok(starts.size > 1, 'all pickers started at the same endpoint');
});

test('weighted round robin gives exact proportions over one full cycle, interleaved', () => {
  const eps = [ep(1, { weight: 5 }), ep(2, { weight: 1 }), ep(3, { weight: 2 })];
  const p = build('ROUND_ROBIN', eps);
  const counts = countPicks(p, 8, ctx());
  assert.deepEqual([counts.get(1), counts.get(2), counts.get(3)], [5, 1, 2]);
  // Three cycles from an arbitrary position: still exact.
  const more = countPicks(p, 24, ctx());
  assert.deepEqual([more.get(1), more.get(2), more.get(3)], [15, 3, 6]);
  // Smooth: the heavy endpoint never runs more than 2 slots in a row for 5:1:2.
  const sched = Array.from(smoothWeightedSchedule(eps));
  assert.deepEqual(sched, [0, 2, 0, 0, 1, 0, 2, 0]);
  let run = 0;
  let maxRun = 0;
  for (const i of sched) { run = i === 0 ? run + 1 : 0; maxRun = Math.max(maxRun, run); }
  assert.ok(maxRun <= 2, `schedule ${sched.join(',')}`);
});

test('weighted round robin reduces weights by their gcd', () => {
  const eps = [ep(1, { weight: 300 }), ep(2, { weight: 100 })];
  assert.equal(smoothWeightedSchedule(eps).length, 4);
  const counts = countPicks(build('ROUND_ROBIN', eps), 4, ctx());
  assert.deepEqual([counts.get(1), counts.get(2)], [3, 1]);
});

test('least request picks the less loaded of two endpoints', () => {
  const a = ep(1);
  const b = ep(2);
  const p = build('LEAST_REQUEST', [a, b]);
  a.active = 5;
  b.active = 1;
  for (let i = 0; i < 50; i++) assert.equal(picked(p.pick(ctx(seededRandom(i)))), b);
  b.active = 9;
  for (let i = 0; i < 50; i++) assert.equal(picked(p.pick(ctx(seededRandom(i)))), a);
});

test('least request with two choices among many never picks the most loaded when two are drawn distinct', () => {
  const eps = [ep(1), ep(2), ep(3), ep(4), ep(5)];
  eps.forEach((e, i) => { e.active = i * 10; });
  const p = build('LEAST_REQUEST', eps);
  const counts = countPicks(p, 2000, ctx(seededRandom(3)));
  // P2C with replacement: endpoint i wins when it is drawn and the other draw is not lower.
  // Expected shares: (2(n-i)-1)/n^2 → 9,7,5,3,1 /25.
  assert.ok((counts.get(1) ?? 0) > (counts.get(3) ?? 0));
  assert.ok((counts.get(3) ?? 0) > (counts.get(5) ?? 0));
  assert.ok((counts.get(5) ?? 0) < 200, `most loaded picked ${counts.get(5)} times`);
});

test('least request with unequal weights compares (active + 1) / weight', () => {
  const heavy = ep(1, { weight: 4 });
  const light = ep(2, { weight: 1 });
  const p = build('LEAST_REQUEST', [heavy, light]);
  heavy.active = 2; // 3/4 < 1/1
  light.active = 0;
  for (let i = 0; i < 20; i++) assert.equal(picked(p.pick(ctx(seededRandom(i)))), heavy);
  heavy.active = 4; // 5/4 > 1/1
  for (let i = 0; i < 20; i++) assert.equal(picked(p.pick(ctx(seededRandom(i)))), light);
});

test('least request full scan breaks ties randomly', () => {
  const eps = [ep(1), ep(2), ep(3)];
  const p = build('LEAST_REQUEST', eps, 7, 3);
  const counts = countPicks(p, 300, ctx(seededRandom(11)));
  assert.equal(counts.size, 3);
});

test('random picker follows weights within tolerance (seeded)', () => {
  const eps = [ep(1, { weight: 1 }), ep(2, { weight: 3 }), ep(3, { weight: 6 })];
  const p = build('RANDOM', eps);
  const n = 20000;
  const counts = countPicks(p, n, ctx(seededRandom(42)));
  const expected = [0.1, 0.3, 0.6];
  for (let i = 0; i < 3; i++) {
    const share = (counts.get(i + 1) ?? 0) / n;
    assert.ok(Math.abs(share - expected[i]) < 0.02, `endpoint ${i + 1}: ${share}`);
  }
});

test('random picker with equal weights is uniform within tolerance', () => {
  const eps = [ep(1), ep(2), ep(3), ep(4)];
  const counts = countPicks(build('RANDOM', eps), 8000, ctx(seededRandom(5)));
  for (let i = 1; i <= 4; i++) assert.ok(Math.abs((counts.get(i) ?? 0) / 8000 - 0.25) < 0.03);
});

test('lowest priority with routable endpoints is used; fallback when it has none', () => {
  for (const policy of ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'] as const) {
    const p0 = ep(1, { priority: 0 });
    const p1a = ep(2, { priority: 1 });
    const p1b = ep(3, { priority: 1 });
    const eps = [p1a, p0, p1b];
    let p = build(policy, eps);
    assert.deepEqual(p.endpoints, [p0], policy);
    for (let i = 0; i < 10; i++) assert.equal(picked(p.pick(ctx(seededRandom(i)))), p0);
    p0.setFlag(HealthFlag.FAILED_OUTLIER_CHECK, true);
    p = build(policy, eps);
    assert.deepEqual(p.endpoints, [p1a, p1b], policy);
    const counts = countPicks(p, 100, ctx(seededRandom(9)));
    assert.equal(counts.get(1), undefined);
    assert.ok((counts.get(2) ?? 0) > 0 && (counts.get(3) ?? 0) > 0, policy);
  }
});

test('unhealthy declared statuses and runtime flags are skipped; none routable → fail', () => {
  const statuses = ['UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'] as const;
  const eps = statuses.map((s, i) => ep(10 + i, { healthStatus: s }));
  const unknown = ep(1, { healthStatus: 'UNKNOWN' });
  const healthy = ep(2);
  healthy.setFlag(HealthFlag.FAILED_ACTIVE_HC, true);
  for (const policy of ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'] as const) {
    const p = build(policy, [...eps, unknown, healthy]);
    assert.deepEqual(p.endpoints, [unknown]);
    const none = build(policy, [...eps, healthy]);
    assert.ok(none instanceof FailPicker);
    const r = none.pick(ctx());
    assert.equal(r.type, 'fail');
    assert.equal(r.type === 'fail' && r.error.code, 'REMORA_ERR_NO_HEALTHY_UPSTREAM');
  }
});

test('exclude is honoured when another endpoint exists, for every policy', () => {
  for (const policy of ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'] as const) {
    for (const weights of [[1, 1, 1], [5, 1, 2]]) {
      const eps = weights.map((w, i) => ep(i + 1, { weight: w }));
      eps[1].active = 0;
      eps[0].active = 3;
      eps[2].active = 3;
      const p = build(policy, eps);
      for (let i = 0; i < 200; i++) {
        const excluded = eps[i % 3];
        assert.notEqual(picked(p.pick(ctx(seededRandom(i), excluded))), excluded, `${policy} ${weights}`);
      }
    }
    // A single endpoint is returned even when excluded.
    const only = ep(1);
    assert.equal(picked(build(policy, [only]).pick(ctx(seededRandom(1), only))), only);
  }
});

test('pick allocates no result objects: the same frozen result is returned per endpoint', () => {
  for (const policy of ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'] as const) {
    const eps = [ep(1), ep(2)];
    const p = build(policy, eps);
    const seen = new Map<Endpoint, PickResult>();
    const c = ctx(seededRandom(2));
    for (let i = 0; i < 50; i++) {
      const r = p.pick(c);
      const e = picked(r);
      const prev = seen.get(e);
      if (prev !== undefined) assert.equal(r, prev);
      seen.set(e, r);
      assert.ok(Object.isFrozen(r));
    }
  }
});
