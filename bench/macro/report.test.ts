/** Unit tests for the markdown tables. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadResult, LoadSpec } from './h2load';
import { renderLoadTable, type PathName, type PathOutcome, type Row } from './report';

const spec: LoadSpec = { id: 'closed-empty', title: 'Closed', clients: 16, streams: 8, rpsPerClient: null, bodyFile: '', replyFrameBytes: 7 };

function row(rps: number, p99: number, cpu: number | null): Row {
  const load: LoadResult = {
    seconds: 1, total: 0, started: 0, done: rps, succeeded: rps, failed: 0, errored: 0, timeout: 0,
    dataBytes: rps * 7, missingReplies: 0, logged: rps, non2xx: 0, rps, p50Ms: p99 / 2, p90Ms: p99, p99Ms: p99, maxMs: p99, argv: [],
  };
  const mb = cpu === null ? null : 10 * 1024 * 1024;
  return { load, proxyCpuUsPerReq: cpu, proxyRssIdle: mb, proxyRssPeak: mb, upstreamCpuUsPerReq: 100, upstreamRssPeak: 0 };
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
