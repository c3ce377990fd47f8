import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutlierDetectionModel } from '../config/model';
import type { Clock } from '../core/clock';
import type { Runtime } from '../core/runtime';
import { endpointModel, testRuntime } from '../../test/fakes/upstream-fakes';
import { Endpoint, HealthFlag, type HealthFlagBit } from './endpoint';
import { EjectionType, OutlierDetector, type OutlierTarget } from './outlier-detector';
import { UpstreamOutcome } from './outcome';

class ManualClock implements Clock {
  t = 1_000;
  now(): number { return this.t; }
  monotonic(): number { return this.t; }
}

/** A cluster stand-in: an endpoint array and flag setting that records calls. */
class FakeTarget implements OutlierTarget {
  eps: readonly Endpoint[];
  readonly flagCalls: { key: string; flag: HealthFlagBit; failed: boolean }[] = [];
  constructor(n: number) {
    const eps: Endpoint[] = [];
    for (let i = 0; i < n; i++) eps.push(new Endpoint(endpointModel('10.0.0.' + (i + 1), 80)));
    this.eps = Object.freeze(eps);
  }
  endpoints(): readonly Endpoint[] { return this.eps; }
  setHealthFlag(ep: Endpoint, flag: HealthFlagBit, failed: boolean): void {
    if (!this.eps.includes(ep)) return;
    this.flagCalls.push({ key: ep.key, flag, failed });
    ep.setFlag(flag, failed);
  }
}

function model(over: Partial<OutlierDetectionModel> = {}): OutlierDetectionModel {
  return {
    consecutive5xx: 5,
    consecutiveGatewayFailure: 5,
    consecutiveLocalOriginFailure: 5,
    splitExternalLocalOriginErrors: false,
    intervalMs: 10_000,
    baseEjectionTimeMs: 30_000,
    maxEjectionTimeMs: 300_000,
    maxEjectionPercent: 100,
    enforcingConsecutive5xx: 100,
    enforcingConsecutiveGatewayFailure: 0,
    enforcingConsecutiveLocalOriginFailure: 100,
    ...over,
  };
}

function setup(n: number, over: Partial<OutlierDetectionModel> = {}, opts = {}) {
  const clock = new ManualClock();
  const runtime: Runtime = { ...testRuntime(), clock };
  const target = new FakeTarget(n);
  const od = new OutlierDetector(model(over), target, runtime, opts);
  return { clock, target, od, eps: target.eps };
}

function fail(od: OutlierDetector, ep: Endpoint, n: number, outcome = UpstreamOutcome.Http5xx): void {
  for (let i = 0; i < n; i++) od.report(ep, outcome);
}

const ejected = (ep: Endpoint) => (ep.healthFlags & HealthFlag.FAILED_OUTLIER_CHECK) !== 0;

test('five consecutive 5xx eject the endpoint; four do not', (t) => {
  const { od, eps } = setup(4);
  t.after(() => od.close());
  fail(od, eps[0], 4);
  assert.equal(ejected(eps[0]), false);
  fail(od, eps[0], 1);
  assert.equal(ejected(eps[0]), true);
  assert.equal(od.ejectionsTotal, 1);
  assert.equal(od.activeEjections, 1);
  assert.equal(od.ejectionsEnforcedByType[EjectionType.Consecutive5xx], 1);
  assert.equal(ejected(eps[1]), false);
});

test('a success resets the consecutive counters', (t) => {
  const { od, eps } = setup(2);
  t.after(() => od.close());
  fail(od, eps[0], 4);
  od.report(eps[0], UpstreamOutcome.Success);
  fail(od, eps[0], 4);
  assert.equal(ejected(eps[0]), false);
  assert.equal(od.ejectionsDetectedTotal, 0);
  fail(od, eps[0], 1);
  assert.equal(ejected(eps[0]), true);
});

test('gateway errors and local-origin failures count as 5xx without the split', (t) => {
  const { od, eps } = setup(2);
  t.after(() => od.close());
  fail(od, eps[0], 2, UpstreamOutcome.GatewayError);
  fail(od, eps[0], 3, UpstreamOutcome.LocalOriginFailure);
  assert.equal(ejected(eps[0]), true);
  // Gateway-failure detection fired too, but enforcing_consecutive_gateway_failure defaults to 0.
  assert.equal(od.ejectionsEnforcedByType[EjectionType.ConsecutiveGatewayFailure], 0);
  assert.equal(od.ejectionsDetectedTotal, 2);
});

test('consecutive gateway failures eject when enforced; a plain 5xx breaks the gateway streak', (t) => {
  const { od, eps } = setup(2, { consecutive5xx: 100, consecutiveGatewayFailure: 3, enforcingConsecutiveGatewayFailure: 100 });
  t.after(() => od.close());
  fail(od, eps[0], 2, UpstreamOutcome.GatewayError);
  od.report(eps[0], UpstreamOutcome.Http5xx);
  fail(od, eps[0], 2, UpstreamOutcome.GatewayError);
  assert.equal(ejected(eps[0]), false);
  od.report(eps[0], UpstreamOutcome.GatewayError);
  assert.equal(ejected(eps[0]), true);
  assert.equal(od.ejectionsEnforcedByType[EjectionType.ConsecutiveGatewayFailure], 1);
});

test('with split_external_local_origin_errors local failures have their own counter', (t) => {
  const { od, eps } = setup(2, { splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 3 });
  t.after(() => od.close());
  // Local-origin failures do not charge the 5xx counter: 4 of them + 4 5xx do not reach 5.
  fail(od, eps[0], 2, UpstreamOutcome.LocalOriginFailure);
  fail(od, eps[0], 4, UpstreamOutcome.Http5xx); // an upstream response resets the local streak
  fail(od, eps[0], 2, UpstreamOutcome.LocalOriginFailure);
  assert.equal(ejected(eps[0]), false);
  fail(od, eps[0], 1, UpstreamOutcome.LocalOriginFailure);
  assert.equal(ejected(eps[0]), true);
  assert.equal(od.ejectionsEnforcedByType[EjectionType.ConsecutiveLocalOriginFailure], 1);
});

test('enforcing 0 detects but never ejects', (t) => {
  const { od, eps } = setup(2, { enforcingConsecutive5xx: 0 });
  t.after(() => od.close());
  fail(od, eps[0], 50);
  assert.equal(ejected(eps[0]), false);
  assert.equal(od.ejectionsTotal, 0);
  assert.equal(od.ejectionsDetectedTotal, 10);
});

test('an enforcing percentage ejects a fraction of detections', (t) => {
  const { od, eps } = setup(1, { enforcingConsecutive5xx: 50, consecutive5xx: 1 });
  t.after(() => od.close());
  let ejections = 0;
  for (let i = 0; i < 400; i++) {
    od.report(eps[0], UpstreamOutcome.Http5xx);
    if (od.isEjected(eps[0])) {
      ejections++;
      od.onHealthCheckPassed(eps[0]); // reinstate at once for the next round
    }
  }
  assert.ok(ejections > 140 && ejections < 260, `~50% of 400 enforced, got ${ejections}`);
});

test('max_ejection_percent caps ejections ((ejected+1)/n ≤ max, as current Envoy)', (t) => {
  const { od, eps } = setup(10, { maxEjectionPercent: 20 });
  t.after(() => od.close());
  for (let i = 0; i < 4; i++) fail(od, eps[i], 5);
  assert.deepEqual(eps.map(ejected), [true, true, false, false, false, false, false, false, false, false]);
  assert.equal(od.activeEjections, 2);
  assert.equal(od.ejectionsOverflowTotal, 2);
});

test('max_ejection_percent below one endpoint ejects nothing unless alwaysEjectOneHost', (t) => {
  const a = setup(3, { maxEjectionPercent: 10 });
  t.after(() => a.od.close());
  fail(a.od, a.eps[0], 5);
  assert.equal(ejected(a.eps[0]), false);
  assert.equal(a.od.ejectionsOverflowTotal, 1);

  const b = setup(3, { maxEjectionPercent: 10 }, { alwaysEjectOneHost: true });
  t.after(() => b.od.close());
  fail(b.od, b.eps[0], 5);
  fail(b.od, b.eps[1], 5);
  assert.equal(ejected(b.eps[0]), true);
  assert.equal(ejected(b.eps[1]), false);
});

test('ejected endpoints are reinstated by time, and each ejection lasts longer (capped)', (t) => {
  const { od, eps, clock, target } = setup(2, { baseEjectionTimeMs: 30_000, maxEjectionTimeMs: 70_000, intervalMs: 10_000 });
  t.after(() => od.close());
  const ep = eps[0];
  const ejectionLength = (): number => {
    fail(od, ep, 5);
    assert.equal(ejected(ep), true);
    const start = clock.t;
    while (ejected(ep)) {
      clock.t += 10_000;
      od.sweep();
      assert.ok(clock.t - start <= 200_000, 'never reinstated');
    }
    return clock.t - start;
  };
  assert.equal(ejectionLength(), 30_000);
  assert.equal(ejectionLength(), 60_000);
  assert.equal(ejectionLength(), 70_000); // 90 s capped at max_ejection_time
  assert.equal(od.numEjections(ep), 3);
  assert.equal(od.activeEjections, 0);
  assert.equal(od.unejectionsTotal, 3);
  assert.deepEqual(target.flagCalls.map((c) => c.failed), [true, false, true, false, true, false]);
});

test('the ejection multiplier decays while the endpoint stays healthy', (t) => {
  const { od, eps, clock } = setup(2, { baseEjectionTimeMs: 30_000, maxEjectionTimeMs: 300_000, intervalMs: 10_000 });
  t.after(() => od.close());
  const ep = eps[0];
  const ejectAndWait = (): number => {
    fail(od, ep, 5);
    const start = clock.t;
    while (ejected(ep)) { clock.t += 10_000; od.sweep(); }
    return clock.t - start;
  };
  assert.equal(ejectAndWait(), 30_000);
  assert.equal(ejectAndWait(), 60_000);
  // Healthy for two sweeps at least one interval after reinstatement: backoff 2 → 0.
  clock.t += 10_000; od.sweep();
  clock.t += 10_000; od.sweep();
  assert.equal(ejectAndWait(), 30_000);
});

test('removed endpoints free their ejection slot and are not ejected again', (t) => {
  const { od, eps, target } = setup(4, { maxEjectionPercent: 25 });
  t.after(() => od.close());
  fail(od, eps[0], 5);
  assert.equal(od.activeEjections, 1);
  fail(od, eps[1], 5);
  assert.equal(ejected(eps[1]), false); // 2/4 > 25%
  target.eps = Object.freeze([eps[1], eps[2], eps[3], new Endpoint(endpointModel('10.0.0.9', 80))]);
  assert.equal(od.activeEjections, 0);
  fail(od, eps[0], 5); // a late report for the removed endpoint
  assert.equal(od.ejectionsDetectedTotal, 2); // eps[0] and the overflowed eps[1] only
  fail(od, eps[1], 5);
  assert.equal(ejected(eps[1]), true);
});

test('a passing active health check reinstates an ejected endpoint', (t) => {
  const { od, eps } = setup(2);
  t.after(() => od.close());
  fail(od, eps[0], 5);
  assert.equal(ejected(eps[0]), true);
  od.onHealthCheckPassed(eps[0]);
  assert.equal(ejected(eps[0]), false);
  assert.equal(od.activeEjections, 0);
});

test('after close() reports are ignored', () => {
  const { od, eps } = setup(2);
  od.close();
  fail(od, eps[0], 10);
  assert.equal(ejected(eps[0]), false);
});
