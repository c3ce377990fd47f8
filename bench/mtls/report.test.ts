/** Unit tests for the mTLS pair's summary (per-round differences, medians, sums) and markdown. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadResult } from '../macro/h2load';
import { failureCount, renderPairReport, summarize, type PairRound, type RoundOutcome } from './report';

function load(p50: number, p99: number, extra: Partial<LoadResult> = {}): LoadResult {
  return {
    seconds: 10, total: 10000, started: 10000, done: 10000, succeeded: 10000, failed: 0, errored: 0, timeout: 0,
    dataBytes: 70000, missingReplies: 0, logged: 10000, non2xx: 0, rps: 1000, p50Ms: p50, p90Ms: p99, p99Ms: p99, maxMs: p99, argv: [],
    ...extra,
  };
}

function round(directP99: number, pairP99: number, cpuA: number, cpuB: number, handshakes: number | null): RoundOutcome {
  const r: PairRound = {
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
