/** Unit tests for the markdown tables. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadResult, LoadSpec } from './h2load';
import type { FeatureCounters } from './feature-counters';
import { median, renderLoadTable, renderResilienceSummary, renderTelemetrySummary, representative, type PathName, type PathOutcome, type Row } from './report';

const spec: LoadSpec = { id: 'closed-empty', title: 'Closed', clients: 16, streams: 8, rpsPerClient: null, bodyFile: '', replyFrameBytes: 7 };

const QUIET: FeatureCounters = {
  rateLimitAllowed: 800, rateLimitLimited: 0, retries: 0, retryOverflow: 0, retryLimitExceeded: 0, perTryTimeouts: 0, breakerOverflow: 0, ejections: 0,
};

function row(rps: number, p99: number, cpu: number | null, features: FeatureCounters | null = null): Row {
  const load: LoadResult = {
    seconds: 1, total: 0, started: 0, done: rps, succeeded: rps, failed: 0, errored: 0, timeout: 0,
    dataBytes: rps * 7, missingReplies: 0, logged: rps, non2xx: 0, rps, p50Ms: p99 / 2, p90Ms: p99, p99Ms: p99, maxMs: p99, argv: [],
  };
  const mb = cpu === null ? null : 10 * 1024 * 1024;
  return { load, proxyCpuUsPerReq: cpu, proxyRssIdle: mb, proxyRssPeak: mb, upstreamCpuUsPerReq: 100, upstreamRssPeak: 0, features };
}

test('table has a row per path, added p99 and both ratio rows', () => {
  const o = new Map<PathName, PathOutcome>([
    ['direct', { kind: 'row', row: row(1000, 2, null) }],
    ['remora', { kind: 'row', row: row(800, 4, 50) }],
    ['nginx', { kind: 'row', row: row(400, 6, 100) }],
  ]);
  const md = renderLoadTable(spec, o);
  assert.match(md, /\| direct \| 1000 \| 1\.00 \| 2\.00 \| - \| - \| - \| - \| 100\.0 \| 0 \|/);
  assert.match(md, /\| remora \| 800 \| 2\.00 \| 4\.00 \| 2\.00 \| 50\.0 \| 10\.0 \| 10\.0 \| 100\.0 \| 0 \|/);
  assert.match(md, /\| remora\/nginx \| 2\.00× \| 0\.67× \| 0\.67× \| 0\.50× \| 0\.50× \| 1\.00× \| 1\.00× \| \| \|/);
  assert.match(md, /\| remora\/direct \| 0\.80× \| 2\.00× \| 2\.00× \|/);
});

test('a skipped path shows its reason and no ratio rows', () => {
  const o = new Map<PathName, PathOutcome>([
    ['direct', { kind: 'row', row: row(1000, 2, null) }],
    ['remora', { kind: 'skipped', reason: 'not built\nlog tail' }],
  ]);
  const md = renderLoadTable(spec, o);
  assert.match(md, /\| remora \| skipped¹ \|/);
  assert.match(md, /¹ remora: not built ⏎ log tail$/m);
  assert.doesNotMatch(md, /remora\/direct/);
});

test('remora-resilience gets its own row and a ratio row against remora', () => {
  const o = new Map<PathName, PathOutcome>([
    ['direct', { kind: 'row', row: row(1000, 2, null) }],
    ['remora', { kind: 'row', row: row(800, 4, 50) }],
    ['remora-resilience', { kind: 'row', row: row(760, 5, 54, QUIET) }],
    ['nginx', { kind: 'row', row: row(400, 6, 100) }],
  ]);
  const md = renderLoadTable(spec, o);
  const order = ['| direct |', '| remora |', '| remora-resilience |', '| nginx |'].map((s) => md.indexOf(s));
  assert.deepEqual([...order].sort((a, b) => a - b), order, 'rows in PATHS order');
  assert.ok(order.every((i) => i >= 0));
  assert.match(md, /\| remora-resilience \| 760 \| 2\.50 \| 5\.00 \| 3\.00 \| 54\.0 \|/);
  assert.match(md, /\| remora-resilience\/remora \| 0\.95× \| 1\.25× \| 1\.25× \| 1\.50× \| 1\.08× \| 1\.00× \| 1\.00× \| \| \|/);
});

test('representative: the median-CPU round (req/s for direct), else the first outcome', () => {
  const rows = [row(800, 4, 60), row(810, 4, 50), row(790, 4, 70)];
  const pick = representative(rows.map((r) => ({ kind: 'row', row: r })));
  assert.equal(pick?.kind === 'row' ? pick.row.proxyCpuUsPerReq : null, 60);
  const even = representative([row(1, 1, 50), row(1, 1, 70)].map((r) => ({ kind: 'row' as const, row: r })));
  assert.equal(even?.kind === 'row' ? even.row.proxyCpuUsPerReq : null, 50, 'lower median: a real round, not a blend');
  const direct = representative([row(900, 2, null), row(1100, 2, null), row(1000, 2, null)].map((r) => ({ kind: 'row' as const, row: r })));
  assert.equal(direct?.kind === 'row' ? direct.row.load.rps : null, 1000);
  const mixed = representative([{ kind: 'skipped', reason: 'x' }, { kind: 'row', row: row(800, 4, 55) }]);
  assert.equal(mixed?.kind, 'row');
  assert.deepEqual(representative([{ kind: 'skipped', reason: 'x' }]), { kind: 'skipped', reason: 'x' });
  assert.equal(representative([]), undefined);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(median([]), null);
});

test('resilience summary: median of paired per-round CPU ratios against the 1.10× target, and what fired', () => {
  const spec2: LoadSpec = { ...spec, id: 'closed-1k' };
  const spec3: LoadSpec = { ...spec, id: 'open-1000rps' };
  const r = (x: Row): PathOutcome => ({ kind: 'row', row: x });
  const rounds = new Map<string, Map<PathName, PathOutcome[]>>([
    ['closed-empty', new Map<PathName, PathOutcome[]>([
      ['remora', [r(row(800, 4, 50)), r(row(800, 6, 100)), r(row(800, 5, 40))]],
      // ratios 1.04, 1.05, 1.25 (round 3 was disturbed): the median ignores the outlier
      ['remora-resilience', [r(row(790, 4, 52, QUIET)), r(row(790, 7, 105, QUIET)), r(row(790, 5, 50, QUIET))]],
    ])],
    ['closed-1k', new Map<PathName, PathOutcome[]>([
      ['remora', [r(row(800, 4, 50))]],
      ['remora-resilience', [r(row(700, 6, 60, { ...QUIET, retries: 3, ejections: 1 }))]],
    ])],
    ['open-1000rps', new Map<PathName, PathOutcome[]>([
      ['remora', [r(row(1000, 4, 50))]],
      ['remora-resilience', [{ kind: 'skipped', reason: 'sidecar exited' }]],
    ])],
  ]);
  const md = renderResilienceSummary([spec, spec2, spec3], rounds);
  assert.match(
    md,
    /\| closed-empty \| 3 \| 50\.0 \| 52\.0 \| 1\.05× \(\+5\.0 %\) \| 1\.04×, 1\.05×, 1\.25× \| 5\.00 \| 5\.00 \| met \| none fired \(rate limit checked 2400\) \|/,
  );
  assert.match(
    md,
    /\| closed-1k \| 1 \| 50\.0 \| 60\.0 \| 1\.20× \(\+20\.0 %\) \| 1\.20× \| 4\.00 \| 6\.00 \| \*\*not met\*\* \(invalid: a feature fired\) \| FIRED: retries 3, ejections 1 \(rate limit checked 800\) \|/,
  );
  assert.doesNotMatch(md, /\| open-1000rps \|/, 'no measured pair → no summary row');
  assert.match(md, /\*\*remora-resilience CPU\/req vs remora\*\*: closed-empty 1\.05×, closed-1k 1\.20× \(median of 3 paired rounds; target ≤ 1\.10×\)\./);
  assert.equal(renderResilienceSummary([spec3], rounds), '', 'nothing to compare → no section');
});

test('telemetry summaries: sampled against the 1.15× target, full measured without one', () => {
  const r = (x: Row): PathOutcome => ({ kind: 'row', row: x });
  const rounds = new Map<string, Map<PathName, PathOutcome[]>>([
    ['closed-empty', new Map<PathName, PathOutcome[]>([
      ['remora', [r(row(800, 4, 50)), r(row(800, 4, 40))]],
      ['remora-telemetry', [r(row(780, 5, 55)), r(row(780, 5, 44))]],
      ['remora-telemetry-full', [r(row(600, 9, 90)), r(row(600, 9, 80))]],
    ])],
  ]);
  const md = renderTelemetrySummary([spec], rounds);
  assert.match(md, /\| closed-empty \| 2 \| 45\.0 \| 49\.5 \| 1\.10× \(\+10\.0 %\) \| 1\.10×, 1\.10× \| 4\.00 \| 5\.00 \| met \|$/m);
  assert.match(md, /\| closed-empty \| 2 \| 45\.0 \| 85\.0 \| 1\.90× \(\+90\.0 %\) \| 1\.80×, 2\.00× \| 4\.00 \| 9\.00 \| measured \|$/m);
  assert.match(md, /target ≤ 1\.15×/);
  const table = renderLoadTable(spec, new Map<PathName, PathOutcome>([['remora', r(row(800, 4, 50))], ['remora-telemetry', r(row(780, 5, 60))]]));
  assert.match(table, /\| remora-telemetry\/remora \| 0\.97× \|.*\| 1\.20× \|/);
});
