/**
 * Unit tests of the pickers: round-robin order and exact weighted proportions, least-request
 * choice and its weighted EDF schedule with `active_request_bias`, weighted random distribution
 * (seeded), priority fallback, the healthy panic threshold, unhealthy endpoints skipped, and
 * `exclude` honoured on retries. RING_HASH specifics are in ring-hash.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom, type RandomSource } from '../../core/clock';
import type { EndpointModel, LbPolicy } from '../../config/model';
import { Endpoint, HealthFlag } from '../endpoint';
import { buildPicker } from './build-picker';
import { FailPicker, selectHosts, type PickContext, type Picker, type PickerBuildOptions, type PickResult } from './picker';
import { smoothWeightedSchedule } from './round-robin';

function ep(port: number, over: Partial<EndpointModel> = {}): Endpoint {
  return new Endpoint({ host: '10.0.0.1', port, weight: 1, priority: 0, healthStatus: 'HEALTHY', metadata: null, ...over });
}

function ctx(random: RandomSource = seededRandom(1), exclude: Endpoint | null = null): PickContext {
  return { random, exclude, hash: null };
}

function build(policy: LbPolicy, eps: Endpoint[], seed = 7, choiceCount = 2, extra: Partial<PickerBuildOptions> = {}): Picker {
  return buildPicker(policy, eps, { clusterName: 'c', random: seededRandom(seed), choiceCount, healthyPanicThresholdPercent: 0, ...extra });
}

const POLICIES = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH'] as const;

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

test('least request with unequal weights follows weight / (active + 1)^bias (EDF)', () => {
  const heavy = ep(1, { weight: 4 });
  const light = ep(2, { weight: 1 });
  heavy.active = 2;
  light.active = 0;
  // bias 1: effective weights 4/3 and 1 → heavy gets 4/7 of the picks.
  // bias 0: plain weights 4:1 → 4/5. bias 2: 4/9 and 1 → 4/13.
  for (const [bias, share] of [[1, 4 / 7], [0, 4 / 5], [2, 4 / 13], [0.5, 4 / Math.sqrt(3) / (4 / Math.sqrt(3) + 1)]] as const) {
    const p = build('LEAST_REQUEST', [heavy, light], 7, 2, { activeRequestBias: bias });
    const counts = countPicks(p, 7000, ctx(seededRandom(1)));
    const got = (counts.get(1) ?? 0) / 7000;
    assert.ok(Math.abs(got - share) < 0.005, `bias ${bias}: heavy share ${got}, expected ${share}`);
  }
});

test('least request EDF reacts to load: a busy heavy endpoint yields to an idle light one', () => {
  const heavy = ep(1, { weight: 3 });
  const light = ep(2, { weight: 1 });
  const p = build('LEAST_REQUEST', [heavy, light]);
  // Idle: 3:1 interleaved.
  const idle = countPicks(p, 400, ctx());
  assert.deepEqual([idle.get(1), idle.get(2)], [300, 100]);
  // The heavy endpoint now has 11 requests in flight: effective 3/12 vs 1 → it gets ~1/5.
  heavy.active = 11;
  countPicks(p, 10, ctx()); // let the schedule absorb the new load
  const busy = countPicks(p, 1000, ctx());
  assert.ok(Math.abs((busy.get(1) ?? 0) / 1000 - 0.2) < 0.01, `busy heavy got ${busy.get(1)}`);
});

test('least request EDF start is randomised per picker', () => {
  const eps = [ep(1, { weight: 2 }), ep(2, { weight: 3 }), ep(3, { weight: 5 })];
  const starts = new Set<number>();
  for (let seed = 1; seed <= 20; seed++) starts.add(picked(build('LEAST_REQUEST', eps, seed).pick(ctx())).port);
  assert.ok(starts.size > 1);
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
  for (const policy of POLICIES) {
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
  for (const policy of POLICIES) {
    const p = build(policy, [...eps, unknown, healthy]);
    assert.deepEqual(p.endpoints, [unknown]);
    const none = build(policy, [...eps, healthy]);
    assert.ok(none instanceof FailPicker);
    const r = none.pick(ctx());
    assert.equal(r.type, 'fail');
    assert.equal(r.type === 'fail' && r.error.code, 'REMORA_ERR_NO_HEALTHY_UPSTREAM');
  }
});

test('panic threshold: below it, every endpoint of the level is used regardless of health', () => {
  for (const policy of POLICIES) {
    const eps = [ep(1), ep(2), ep(3), ep(4)];
    for (let i = 1; i < 4; i++) eps[i].setFlag(HealthFlag.FAILED_OUTLIER_CHECK, true);
    // 1 of 4 routable (25%) < 50%: panic, picks spread over all 4.
    const p = build(policy, eps, 7, 2, { healthyPanicThresholdPercent: 50 });
    assert.equal(p.panic, true, policy);
    assert.equal(p.endpoints.length, 4);
    const counts = countPicks(p, 2000, ctx(seededRandom(3)));
    for (let port = 1; port <= 4; port++) assert.ok((counts.get(port) ?? 0) > 200, `${policy}: ${[...counts]}`);
    // Threshold 0 disables panic: only the routable one.
    const off = build(policy, eps, 7, 2, { healthyPanicThresholdPercent: 0 });
    assert.equal(off.panic, false);
    assert.deepEqual(countPicks(off, 100, ctx(seededRandom(3))), new Map([[1, 100]]));
    // 25% ≥ 20%: no panic.
    const low = build(policy, eps, 7, 2, { healthyPanicThresholdPercent: 20 });
    assert.equal(low.panic, false);
    assert.deepEqual(low.endpoints, [eps[0]]);
  }
});

test('panic threshold: at exactly the threshold there is no panic; the default is 50%', () => {
  const eps = [ep(1), ep(2)];
  eps[1].setFlag(HealthFlag.FAILED_ACTIVE_HC, true);
  const p = buildPicker('ROUND_ROBIN', eps, { clusterName: 'c', random: seededRandom(1), choiceCount: 2 });
  assert.equal(p.panic, false);
  assert.deepEqual(p.endpoints, [eps[0]]);
  const three = [ep(1), ep(2), ep(3)];
  three[1].setFlag(HealthFlag.FAILED_ACTIVE_HC, true);
  three[2].setFlag(HealthFlag.FAILED_ACTIVE_HC, true);
  assert.equal(buildPicker('ROUND_ROBIN', three, { clusterName: 'c', random: seededRandom(1), choiceCount: 2 }).panic, true);
});

test('panic threshold: nothing routable → all endpoints of the first level instead of failing', () => {
  const eps = [ep(1, { priority: 1 }), ep(2, { priority: 0, healthStatus: 'UNHEALTHY' }), ep(3, { priority: 0 })];
  eps[2].setFlag(HealthFlag.FAILED_OUTLIER_CHECK, true);
  eps[0].setFlag(HealthFlag.FAILED_OUTLIER_CHECK, true);
  const p = build('RANDOM', eps, 7, 2, { healthyPanicThresholdPercent: 50 });
  assert.equal(p.panic, true);
  assert.deepEqual(p.endpoints, [eps[1], eps[2]]);
  assert.ok(build('RANDOM', eps) instanceof FailPicker);
  assert.ok(build('RANDOM', [], 7, 2, { healthyPanicThresholdPercent: 50 }) instanceof FailPicker);
});

test('panic threshold with priorities: a level in panic is skipped for a healthy later level', () => {
  const p0 = [ep(1), ep(2), ep(3), ep(4)];
  for (let i = 1; i < 4; i++) p0[i].setFlag(HealthFlag.FAILED_OUTLIER_CHECK, true);
  const p1 = [ep(5, { priority: 1 }), ep(6, { priority: 1 })];
  let sel = selectHosts([...p0, ...p1], 50);
  assert.deepEqual(sel, { hosts: p1, panic: false });
  // Both levels below the threshold: the first level with a routable endpoint, in panic.
  p1[0].setFlag(HealthFlag.FAILED_ACTIVE_HC, true);
  p1[1].setFlag(HealthFlag.FAILED_ACTIVE_HC, true);
  sel = selectHosts([...p0, ...p1], 50);
  assert.deepEqual(sel, { hosts: p0, panic: true });
  // Disabled: old behaviour (routable endpoints of the first level that has any).
  assert.deepEqual(selectHosts([...p0, ...p1], 0), { hosts: [p0[0]], panic: false });
});

test('exclude is honoured when another endpoint exists, for every policy', () => {
  for (const policy of POLICIES) {
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
  for (const policy of POLICIES) {
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
