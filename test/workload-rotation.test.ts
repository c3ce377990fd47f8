/**
 * Workload identity end to end, short version (TTL 2 s, ~10 s of calls; the 60-second issue test
 * is test/rotation-under-load.test.ts on the same rig): the sidecar gets its SPIFFE certificate
 * from the mesh CA over gRPC before reporting ready, rotates it several times, and upstream mTLS
 * calls through a cluster using SDS `default` + `ROOTCA` keep working across rotations with zero
 * failed calls, while new connections present the new certificates. Then a root rotation with
 * overlap (old+new roots served together, the signing root switched, the old one retired) under
 * load, again with zero failed calls.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { RotationRig } from './fakes/rotation-rig';
import { httpRequest } from './fakes/http-client';
import { splitPemCertificates } from '../src/transport/identity/pem';

const TTL_MS = 2000;
const LOAD_MS = 10_000;
const CONCURRENCY = 8;

describe('workload certificate rotation under load (short)', () => {
  let rig: RotationRig;
  before(async () => { rig = await RotationRig.start({ ttlMs: TTL_MS, maxRequestsPerConnection: 20 }); });
  after(async () => { await rig?.close(); });

  it('is ready only with a certificate for its SPIFFE ID, issued by the mesh CA', async () => {
    const id = rig.sidecar.workloadIdentity!;
    const cur = id.current()!;
    const leaf = new X509Certificate(splitPemCertificates(cur.certChain)[0]!);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/frontend/sa/client');
    assert.ok(leaf.verify(new X509Certificate(rig.ca.activeRootPem()).publicKey));
    assert.equal((await httpRequest(rig.sidecar.adminUrl(), { path: '/ready' })).status, 200);
  });

  it('rotates several times with zero failed calls; new connections use the new certificates', async () => {
    const id = rig.sidecar.workloadIdentity!;
    const rotationsBefore = id.rotations;
    const result = await rig.runLoad(LOAD_MS, CONCURRENCY);
    const rotations = id.rotations - rotationsBefore;
    assert.deepEqual(result.errors, []);
    assert.equal(result.failed, 0);
    assert.ok(result.ok > 100, `only ${result.ok} calls completed`);
    assert.ok(rotations >= 5, `only ${rotations} rotations in ${LOAD_MS} ms with a ${TTL_MS} ms TTL`);
    assert.ok(rig.sidecar.secrets.changeCount('default') >= rotations);
    assert.ok(rig.clientSerials.size >= 3, `the upstream saw only ${rig.clientSerials.size} client certificates`);
    const metrics = await httpRequest(rig.sidecar.adminUrl(), { path: '/stats/prometheus' });
    assert.match(metrics.body.toString(), /remora_workload_cert_rotations_total \d+/);
  });

  it('root rotation with overlap: zero failed calls', async () => {
    const oldRoot = rig.ca.activeRootPem();
    const result = await rig.runLoad(2000, CONCURRENCY, async () => {
      await rig.rotateRoot();
      // Keep calling for a while on the new root only (new handshakes included).
      await new Promise((r) => setTimeout(r, 1500));
    });
    assert.deepEqual(result.errors, []);
    assert.equal(result.failed, 0);
    assert.notEqual(rig.ca.activeRootPem(), oldRoot);
    assert.ok(rig.sidecarSignedBy(rig.ca.activeRootPem()));
    assert.equal(rig.sidecarRootCount(), 1);
  });
});
