/**
 * The rotation-under-load test at full length: a 10-second certificate TTL over 60 seconds
 * of continuous calls through a sidecar whose upstream cluster originates mTLS with the SDS
 * `default` / `ROOTCA` secrets gives zero failed calls and at least 5 observed rotations; then a
 * root rotation with overlap, also with zero failed calls. Same rig as the short
 * test/workload-rotation.test.ts (TTL 2 s, 10 s); run this one on its own (it takes ~70 s).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RotationRig } from './fakes/rotation-rig';

const TTL_MS = 10_000;
const LOAD_MS = 60_000;
const CONCURRENCY = 16;
const MIN_ROTATIONS = 5;

describe('rotation under load (10 s TTL, 60 s)', { timeout: 180_000 }, () => {
  let rig: RotationRig;
  before(async () => { rig = await RotationRig.start({ ttlMs: TTL_MS, maxRequestsPerConnection: 100 }); });
  after(async () => { await rig?.close(); });

  it(`zero failed calls and at least ${MIN_ROTATIONS} rotations`, async () => {
    const id = rig.sidecar.workloadIdentity!;
    const before = id.rotations;
    const result = await rig.runLoad(LOAD_MS, CONCURRENCY);
    const rotations = id.rotations - before;
    assert.deepEqual(result.errors, []);
    assert.equal(result.failed, 0);
    assert.ok(rotations >= MIN_ROTATIONS, `only ${rotations} rotations`);
    assert.ok(rig.clientSerials.size >= MIN_ROTATIONS, `the upstream saw only ${rig.clientSerials.size} client certificates`);
  });

  it('root rotation with overlap: zero failed calls', async () => {
    const result = await rig.runLoad(5000, CONCURRENCY, () => rig.rotateRoot());
    assert.deepEqual(result.errors, []);
    assert.equal(result.failed, 0);
    assert.ok(rig.sidecarSignedBy(rig.ca.activeRootPem()));
    assert.equal(rig.sidecarRootCount(), 1);
  });
});
