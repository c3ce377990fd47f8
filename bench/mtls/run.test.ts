/** Unit tests for the mTLS bench's command line and load shape. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions, pairLoad } from './run';

test('parseOptions: defaults, both flag forms, bounds', () => {
  assert.deepEqual(parseOptions([]), { duration: 10, warmup: 2, rounds: 1, remoraBin: null });
  assert.deepEqual(parseOptions(['--duration', '3', '--warmup=1', '--rounds', '5', '--remora-bin', '/tmp/x']), {
    duration: 3, warmup: 1, rounds: 5, remoraBin: '/tmp/x',
  });
  assert.equal(parseOptions(['--warmup', '0']).warmup, 0);
  assert.throws(() => parseOptions(['--duration', '0']), /--duration: expected an integer 1\.\.600/);
  assert.throws(() => parseOptions(['--rounds', '21']), /--rounds: expected an integer 1\.\.20/);
  assert.throws(() => parseOptions(['--duration']), /--duration needs a value/);
  assert.throws(() => parseOptions(['--skip-nginx']), /unknown argument --skip-nginx/);
});

test('pairLoad: open loop, 10 connections × 100 req/s = 1,000 req/s, 1 KiB reply size', () => {
  const s = pairLoad('/tmp/body');
  assert.equal(s.clients * (s.rpsPerClient ?? 0), 1000);
  assert.equal(s.streams, 8);
  assert.equal(s.bodyFile, '/tmp/body');
  // EchoReply{payload_size: 1024}: tag + 2-byte varint, plus the 5-byte gRPC frame header.
  assert.equal(s.replyFrameBytes, 5 + 3);
});
