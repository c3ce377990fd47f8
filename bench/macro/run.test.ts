/** Unit tests for the harness's argv parsing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions } from './run';

test('defaults run every path for 10 s', () => {
  const o = parseOptions([]);
  assert.equal(o.duration, 10);
  assert.deepEqual(o.paths, ['direct', 'remora', 'remora-resilience', 'remora-telemetry', 'remora-telemetry-full', 'nginx']);
  assert.equal(o.cpuProf, false);
  assert.equal(o.remoraBin, null);
  assert.equal(o.rounds, 1);
});

test('flags and --x=y forms', () => {
  const o = parseOptions(['--duration=5', '--skip-nginx', '--cpu-prof', '--remora-bin', '/tmp/d', '--warmup', '0']);
  assert.equal(o.duration, 5);
  assert.equal(o.warmup, 0);
  assert.deepEqual(o.paths, ['direct', 'remora', 'remora-resilience', 'remora-telemetry', 'remora-telemetry-full']);
  assert.equal(o.cpuProf, true);
  assert.equal(o.remoraBin, '/tmp/d');
  assert.deepEqual(parseOptions(['--only', 'remora']).paths, ['remora']);
  assert.deepEqual(parseOptions(['--only', 'nginx,direct']).paths, ['direct', 'nginx']);
  // issue 5: the resilience path alone or next to plain remora, always in run order remora first
  assert.deepEqual(parseOptions(['--only', 'remora-resilience,remora']).paths, ['remora', 'remora-resilience']);
  // issue 7: the telemetry paths run after plain remora
  assert.deepEqual(parseOptions(['--only', 'remora-telemetry-full,remora-telemetry,remora']).paths, ['remora', 'remora-telemetry', 'remora-telemetry-full']);
  assert.equal(parseOptions(['--rounds', '3']).rounds, 3);
  assert.equal(parseOptions(['--rounds=5']).rounds, 5);
});

test('bad input is rejected', () => {
  assert.throws(() => parseOptions(['--duration', '0']), /duration/);
  assert.throws(() => parseOptions(['--duration']), /needs a value/);
  assert.throws(() => parseOptions(['--only', 'envoy']), /unknown path envoy \(direct, remora, remora-resilience, remora-telemetry, remora-telemetry-full, nginx\)/);
  assert.throws(() => parseOptions(['--bogus']), /unknown argument/);
  assert.throws(() => parseOptions(['--rounds', '0']), /--rounds: expected an integer 1\.\.20/);
  assert.throws(() => parseOptions(['--rounds', '1.5']), /--rounds/);
});
