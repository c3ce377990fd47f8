/** Unit tests for the mTLS bench's command line and load shape. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { issueBenchCertificates } from './certs';
import { parseForwarderArgs } from './floor-forwarder';
import { floorAArgs, floorBArgs, floorLaunch, parseOptions, pairLoad } from './run';
import type { BenchCertFiles } from './certs';

test('parseOptions: defaults, both flag forms, bounds', () => {
  assert.deepEqual(parseOptions([]), { duration: 10, warmup: 2, rounds: 1, remoraBin: null, floor: true });
  assert.deepEqual(parseOptions(['--duration', '3', '--warmup=1', '--rounds', '5', '--remora-bin', '/tmp/x', '--no-floor']), {
    duration: 3, warmup: 1, rounds: 5, remoraBin: '/tmp/x', floor: false,
  });
  assert.throws(() => parseOptions(['--no-floor=1']), /--no-floor takes no value/);
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

test('floor command lines: B requires the SAN of a over mTLS, A pins the SAN of b; both parse', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-run-test-'));
  try {
    const certs: BenchCertFiles = issueBenchCertificates(dir);
    const b = parseForwarderArgs(floorBArgs(certs, 7001));
    assert.equal(b.upstreamPort, 7001);
    assert.equal(b.upstreamTls, null);
    assert.ok(b.serverTls !== null);
    assert.equal(b.clientSan, certs.a.spiffeId);
    const a = parseForwarderArgs(floorAArgs(certs, 7002));
    assert.equal(a.upstreamPort, 7002);
    assert.equal(a.serverTls, null);
    assert.ok(a.upstreamTls !== null);
    assert.equal(a.upstreamSan, certs.b.spiffeId);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('floorLaunch: compiled forwarder from a tsc outDir when present, else this .ts under the harness flags', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-run-launch-'));
  try {
    const self = floorLaunch(dir, ['--max-semi-space-size=16']);
    assert.match(self.script, /floor-forwarder\.(ts|js)$/);
    assert.deepEqual(self.execArgv, [...process.execArgv, '--max-semi-space-size=16']);
    assert.equal(floorLaunch(null, []).script, self.script);
    const js = path.join(dir, 'bench', 'mtls', 'floor-forwarder.js');
    fs.mkdirSync(path.dirname(js), { recursive: true });
    fs.writeFileSync(js, '');
    const compiled = floorLaunch(dir, ['--max-semi-space-size=16']);
    assert.equal(compiled.script, js);
    assert.deepEqual(compiled.execArgv, ['--max-semi-space-size=16'], 'no tsx loader for compiled JS');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
