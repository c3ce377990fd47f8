/** Unit tests for the mTLS pair's summary (per-round differences, medians, sums) and markdown. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadResult } from '../macro/h2load';
import { failureCount, renderFloorComparison, renderFloorTable, renderPairReport, summarize, type FloorOutcome, type PairRound, type RoundOutcome } from './report';

function load(p50: number, p99: number, extra: Partial<LoadResult> = {}): LoadResult {
  return {
    seconds: 10, total: 10000, started: 10000, done: 10000, succeeded: 10000, failed: 0, errored: 0, timeout: 0,
    dataBytes: 70000, missingReplies: 0, logged: 10000, non2xx: 0, rps: 1000, p50Ms: p50, p90Ms: p99, p99Ms: p99, maxMs: p99, argv: [],
    ...extra,
  };
}

function round(directP99: number, pairP99: number, cpuA: number, cpuB: number, handshakes: number | null, floor: FloorOutcome | null = null): RoundOutcome {
  const r: PairRound = {
    floor,
    direct: load(3, directP99),
    pair: load(4, pairP99, { failed: 1, timeout: 1 }),
    a: { cpuUsPerReq: cpuA, rssIdle: 80 * 1024 * 1024, rssPeak: 100 * 1024 * 1024 },
    b: { cpuUsPerReq: cpuB, rssIdle: 81 * 1024 * 1024, rssPeak: 101 * 1024 * 1024 },
    upstreamCpuUsPerReqDirect: 200,
    upstreamCpuUsPerReqPair: 150,
    handshakesMeasured: handshakes === null ? null : { accepted: handshakes, rejected: 0 },
    handshakesLifetime: { accepted: 1, rejected: 0 },
  };
  return { kind: 'round', round: r };
}

test('summarize: added is the median of per-round differences, not the difference of medians', () => {
  // direct p99: 5, 1, 9 (median 5); pair p99: 6, 10, 10 (median 10) → per round +1, +9, +1 → median 1, not 5.
  const s = summarize([round(5, 6, 300, 280, 0), round(1, 10, 310, 290, 1), round(9, 10, 320, 300, 0)]);
  assert.equal(s.rounds, 3);
  assert.equal(s.directP99Ms, 5);
  assert.equal(s.pairP99Ms, 10);
  assert.equal(s.p99AddedMs, 1);
  assert.equal(s.p50AddedMs, 1);
  assert.equal(s.cpuAUsPerReq, 310);
  assert.equal(s.cpuBUsPerReq, 290);
  assert.equal(s.handshakesMeasured, 1, 'summed over rounds');
  assert.equal(s.failuresDirect, 0);
  assert.equal(s.failuresPair, 6, 'failed + timeout, summed');
});

test('summarize: failed rounds are left out; unknown handshakes make the sum unknown; none measured → nulls', () => {
  const s = summarize([{ kind: 'failed', reason: 'x' }, round(2, 2.5, 300, 300, null)]);
  assert.equal(s.rounds, 1);
  assert.equal(s.p99AddedMs, 0.5);
  assert.equal(s.handshakesMeasured, null);
  const none = summarize([{ kind: 'failed', reason: 'x' }]);
  assert.equal(none.rounds, 0);
  assert.equal(none.p99AddedMs, null);
  assert.equal(none.handshakesMeasured, null);
});

test('failureCount adds trailers-only replies to failed and timed-out requests', () => {
  assert.equal(failureCount(load(1, 1, { failed: 2, timeout: 3, missingReplies: 4 })), 9);
});

test('renderPairReport: a row per round, a median row, footnoted failures and the verdict', () => {
  const md = renderPairReport('T', [round(5, 5.5, 300, 280, 0), { kind: 'failed', reason: 'sidecar A exited\nboom' }, round(5, 5.9, 320, 300, 0)]);
  const lines = md.split('\n');
  assert.equal(lines[0], '### T');
  assert.match(md, /^\| 1 \| 1000 \| 3\.00 \| 5\.00 \| 1000 \| 4\.00 \| 5\.50 \| 1\.00 \| 0\.50 \| 300\.0 \| 280\.0 \| 80\.0 \/ 100\.0 \| 81\.0 \/ 101\.0 \| 200\.0 \/ 150\.0 \| 0 \(1\) \| 0 \/ 2 \|$/m);
  assert.match(md, /^\| 2 \| failed¹ \|/m);
  assert.match(md, /^¹ round 2: sidecar A exited ⏎ boom$/m);
  assert.match(md, /^\| \*\*median\*\* \|.*\| 0\.70 \| 310\.0 \| 290\.0 \|/m);
  assert.match(md, /p99 added ≤ 1 ms for the pair → 0\.70 ms \(median of 2 rounds\): met\./);
  assert.match(md, /handshakes during the measured windows: 0 \(every request rode/);
  const bad = renderPairReport('T', [round(1, 3, 300, 300, 2)]);
  assert.match(bad, /→ 2\.00 ms: not met\./);
  assert.doesNotMatch(bad, /median\*\*/, 'no median row for a single round');
  assert.match(bad, /handshakes during the measured windows: 2\./);
  assert.doesNotMatch(bad, /saturated/);
  const slow = round(1, 3, 300, 300, 0);
  if (slow.kind === 'round') (slow.round as { pair: LoadResult }).pair = load(4, 3, { rps: 700 });
  assert.match(renderPairReport('T', [slow]), /completed only 700 of the offered 1000 req\/s: it was saturated/);
});

function floor(p50: number, p99: number, cpuA: number, cpuB: number, extra: Partial<LoadResult> = {}): FloorOutcome {
  return {
    kind: 'measured',
    floor: {
      load: load(p50, p99, extra),
      a: { cpuUsPerReq: cpuA, rssIdle: 50 * 1024 * 1024, rssPeak: 60 * 1024 * 1024 },
      b: { cpuUsPerReq: cpuB, rssIdle: 51 * 1024 * 1024, rssPeak: 62 * 1024 * 1024 },
      upstreamCpuUsPerReq: 140,
    },
  };
}

test('summarize: floor medians are per-round differences over the floor-measured rounds; ratios against Remora', () => {
  // direct p50 3 in every round; direct p99 5, 1, 9; floor p99 5.5, 2, 9.2 → floor added +0.5, +1, +0.2 → median 0.5.
  // pair p99 6, 10, 10 → added 1, 9, 1 → median 1; pair − floor p99 per round: 0.5, 8, 0.8 → median 0.8.
  const s = summarize([
    round(5, 6, 300, 280, 0, floor(3.25, 5.5, 100, 90)),
    round(1, 10, 310, 290, 1, floor(3.5, 2, 110, 95, { failed: 2 })),
    round(9, 10, 320, 300, 0, floor(3.75, 9.2, 120, 100)),
    round(9, 10, 320, 300, 0, { kind: 'failed', reason: 'floor B exited' }),
  ]);
  assert.equal(s.rounds, 4);
  assert.equal(s.floorRounds, 3);
  assert.equal(s.floorP99Ms, 5.5);
  assert.equal(s.floorP50Ms, 3.5);
  assert.equal(s.floorP50AddedMs, 0.5);
  assert.ok(Math.abs((s.floorP99AddedMs ?? NaN) - 0.5) < 1e-9);
  assert.ok(Math.abs((s.p99OverFloorMs ?? NaN) - 0.8) < 1e-9);
  assert.equal(s.floorCpuAUsPerReq, 110);
  assert.equal(s.floorCpuBUsPerReq, 95);
  assert.equal(s.failuresFloor, 2);
  // Remora: median added over all 4 rounds (1, 9, 1, 1) = 1; CPU medians 315 + 295 = 610 vs floor 110 + 95 = 205.
  assert.equal(s.p99AddedMs, 1);
  assert.ok(Math.abs((s.p99AddedRatio ?? NaN) - 2) < 1e-9);
  assert.ok(Math.abs((s.cpuRatio ?? NaN) - 610 / 205) < 1e-9);
  const none = summarize([round(5, 6, 300, 280, 0)]);
  assert.equal(none.floorRounds, 0);
  assert.equal(none.floorP99AddedMs, null);
  assert.equal(none.p99AddedRatio, null);
  assert.equal(none.cpuRatio, null);
  // A floor that added nothing (or less than nothing) gives no ratio rather than a division by ≤ 0.
  assert.equal(summarize([round(5, 6, 300, 280, 0, floor(3, 4, 100, 90))]).p99AddedRatio, null);
});

test('renderPairReport: the floor table sits next to Remora per round, with a median row, footnoted failures and the comparison', () => {
  const md = renderPairReport('T', [
    round(5, 6, 300, 280, 0, floor(3.25, 5.5, 100, 90)),
    round(1, 10, 310, 290, 1, { kind: 'failed', reason: 'floor A exited\nboom' }),
    round(9, 10, 320, 300, 0, floor(3.75, 9.2, 120, 100)),
  ]);
  // The Remora table keeps its columns.
  assert.match(md, /^\| 1 \| 1000 \| 3\.00 \| 5\.00 \| 1000 \| 4\.00 \| 6\.00 \| 1\.00 \| 1\.00 \| 300\.0 \| 280\.0 \|/m);
  assert.match(md, /^#### node:http2 floor/m);
  assert.match(md, /^\| 1 \| 1000 \| 3\.25 \| 5\.50 \| 0\.25 \| 0\.50 \| 1\.00 \| 100\.0 \| 90\.0 \| 580\.0 \| 190\.0 \| 60\.0 \/ 62\.0 \| 140\.0 \| 0 \|$/m);
  assert.match(md, /^\| 2 \| failed² \| \| \| \| \| 9\.00 \| \| \| 600\.0 \|/m);
  assert.match(md, /^² round 2 floor: floor A exited ⏎ boom$/m);
  assert.match(md, /^\| \*\*median\*\* \| 1000 \| 3\.50 \| 7\.35 \| 0\.50 \| 0\.35 \| 1\.00 \| 110\.0 \| 95\.0 \| 600\.0 \| 205\.0 \| \| \| 0 \(sum\) \|$/m);
  // Verdict unchanged, then the comparison line.
  assert.match(md, /p99 added ≤ 1 ms for the pair → 1\.00 ms \(median of 3 rounds\): met\./);
  assert.match(md, /\*\*Remora pair vs node:http2 floor \(medians of 2 rounds\): p99 added 1\.00 ms vs 0\.35 ms \(×2\.9; Remora's p99 − floor's p99 0\.65 ms\); CPU per request A\+B 600\.0 µs vs 205\.0 µs \(×2\.9\)\.\*\*/);
  assert.ok(md.indexOf('#### node:http2 floor') < md.indexOf('**Target'), 'floor table before the verdict');
  // Skipped everywhere (--no-floor): no floor table, no comparison line.
  const skipped = renderPairReport('T', [round(5, 6, 300, 280, 0)]);
  assert.doesNotMatch(skipped, /node:http2 floor/);
  assert.equal(renderFloorTable([round(5, 6, 300, 280, 0)]), null);
  assert.match(renderFloorComparison(summarize([round(5, 6, 300, 280, 0)])), /not measured in any round/);
  const slow = renderPairReport('T', [round(5, 6, 300, 280, 0, floor(3, 7, 100, 90, { rps: 600 }))]);
  assert.match(slow, /the floor completed only 600 req\/s \(saturated\)/);
  assert.match(slow, /^\| 1 \| 600 \|/m);
});
