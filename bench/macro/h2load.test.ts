/** Unit tests for h2load argv building and output parsing (no h2load process needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { h2loadArgs, parseRun, percentile, type LoadSpec } from './h2load';

const SUMMARY = `finished in 2.00s, 1500.00 req/s, 60.00KB/s
requests: 3001 total, 3005 started, 3000 done, 2998 succeeded, 2 failed, 1 errored, 0 timeout
status codes: 2998 2xx, 0 3xx, 1 4xx, 0 5xx
traffic: 50.00KB (51200) total, 680B (680) headers (space savings 95.11%), 20.45KB (20944) data
`;

test('percentile is nearest-rank over a sorted array', () => {
  const a = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(percentile(a, 50), 5);
  assert.equal(percentile(a, 99), 10);
  assert.equal(percentile(a, 10), 1);
  assert.equal(percentile(Float64Array.from([7]), 99), 7);
});

test('parseRun takes counts from the summary and latency/throughput from the log', () => {
  const rows: string[] = [];
  for (let i = 1; i <= 100; i++) rows.push(`1700000000000000\t200\t${i * 1000}`); // 1..100 ms
  rows.push('1700000000000000\t503\t5');
  const r = parseRun(SUMMARY, `${rows.join('\n')}\n`, ['h2load'], 7);
  assert.equal(r.seconds, 2);
  assert.deepEqual([r.total, r.started, r.done, r.succeeded, r.failed, r.errored, r.timeout], [3001, 3005, 3000, 2998, 2, 1, 0]);
  assert.equal(r.dataBytes, 20944);
  assert.equal(r.missingReplies, 6); // 2998 succeeded, 20944 / 7 = 2992 replies carried data
  assert.equal(r.logged, 101);
  assert.equal(r.non2xx, 1);
  assert.equal(r.rps, 50); // 100 ok rows / 2 s
  assert.equal(r.p50Ms, 50);
  assert.equal(r.p99Ms, 99);
  assert.equal(r.maxMs, 100);
});

test('parseRun handles ms durations and an empty log', () => {
  const r = parseRun(SUMMARY.replace('2.00s', '250.5ms').replace('(20944)', '(99999)'), '', [], 7);
  assert.equal(r.seconds, 0.2505);
  assert.equal(r.p50Ms, null);
  assert.equal(r.rps, 0);
  assert.equal(r.missingReplies, 0);
});

test('h2loadArgs builds a bounded gRPC POST, open loop only with rps', () => {
  const spec: LoadSpec = { id: 'x', title: 'x', clients: 10, streams: 8, rpsPerClient: 100, bodyFile: '/tmp/b', replyFrameBytes: 7 };
  const args = h2loadArgs(spec, 'http://127.0.0.1:1/p', 5, '/tmp/log');
  assert.deepEqual(args.slice(0, 8), ['-c', '10', '-m', '8', '-t', '1', '-D', '5']);
  assert.ok(args.includes('--rps') && args.includes('content-type: application/grpc') && args.includes('te: trailers'));
  assert.equal(args[args.indexOf('--log-file') + 1], '/tmp/log');
  assert.equal(args[args.length - 1], 'http://127.0.0.1:1/p');
  const closed = h2loadArgs({ ...spec, rpsPerClient: null }, 'u', 5, null);
  assert.ok(!closed.includes('--rps') && !closed.includes('--log-file'));
});
