/**
 * Unit tests of the workload identity pieces against S1's in-process MeshCa (no sockets): the CSR is
 * accepted by an independent parser, the identity obtains and renews its certificate on a schedule
 * driven by the Runtime timers, a failing CA keeps the current certificate and retries, a response
 * for the wrong key or identity is refused, and the SecretManager serves `default`/`ROOTCA`
 * (merging SDS and CA roots) with change notifications.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import pino from 'pino';
import { Registry } from 'prom-client';
import { systemClock, seededRandom } from '../../core/clock';
import { Timers } from '../../core/timers';
import type { Runtime } from '../../core/runtime';
import { MeshCa } from '../../control-plane/ca/mesh-ca';
import { parseAndVerifyCsr } from '../x509';
import type { CertificateSigner } from './ca-client';
import { createCsrPem } from './csr';
import { mergePemBundles, splitPemCertificates } from './pem';
import { SecretManager } from './secret-manager';
import { WorkloadIdentity } from './workload-identity';
import { generateWorkloadKey } from './workload-key';

/** Runtime timers are unref'd: hold the event loop open while a test waits for them. */
function keepAlive(t: { after(fn: () => void): void }): void {
  const h = setInterval(() => {}, 1000);
  t.after(() => clearInterval(h));
}

function runtime(): Runtime {
  return {
    clock: systemClock, random: seededRandom(7), timers: new Timers(), logger: pino({ level: 'silent' }),
    metrics: new Registry(), trace: new Set(),
  };
}

/** A signer over an in-process MeshCa for one fixed identity, with switchable failures. */
class InProcessSigner implements CertificateSigner {
  fail = 0;
  calls = 0;
  constructor(readonly ca: MeshCa, readonly ns: string, readonly sa: string, readonly bundle = false) {}
  async sign(csr: string, seconds: number): Promise<readonly string[]> {
    this.calls++;
    if (this.fail > 0) {
      this.fail--;
      throw new Error('CA unavailable');
    }
    const issued = this.ca.sign(csr, { namespace: this.ns, serviceAccount: this.sa }, seconds * 1000);
    return this.bundle ? [issued.certPem, this.ca.trustBundlePem()] : issued.certChainPem;
  }
  close(): void {}
}

describe('csr', () => {
  it('builds a signed PKCS#10 request with the SPIFFE URI SAN that the CA parser accepts', () => {
    const key = generateWorkloadKey();
    const pem = createCsrPem({ spiffeId: 'spiffe://td.test/ns/a/sa/b', privateKey: key.privateKey, publicKey: key.publicKey });
    const theirs = parseAndVerifyCsr(pem);
    assert.ok(theirs.ok, theirs.ok ? '' : theirs.error);
    assert.deepEqual(theirs.csr.uris, ['spiffe://td.test/ns/a/sa/b']);
    assert.equal(theirs.csr.keyDescription, 'EC P-256');
  });

  it('refuses a tampered request with a clear error', () => {
    const key = generateWorkloadKey();
    const pem = createCsrPem({ spiffeId: 'spiffe://td.test/ns/a/sa/b', privateKey: key.privateKey, publicKey: key.publicKey });
    const der = Buffer.from(pem.split('\n').filter((l) => !l.startsWith('-----')).join(''), 'base64');
    der[der.length - 80] ^= 0xff; // inside the SAN
    const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const r = parseAndVerifyCsr(bad);
    assert.equal(r.ok, false);
    assert.equal(parseAndVerifyCsr('not a csr').ok, false);
  });
});

describe('WorkloadIdentity', () => {
  it('obtains a certificate for its SPIFFE ID and renews it at about half its lifetime', async (t) => {
    const rt = runtime();
    keepAlive(t);
    const ca = MeshCa.createSelfSigned({ trustDomain: 'td.test', clock: systemClock });
    const signer = new InProcessSigner(ca, 'ns1', 'sa1');
    const id = new WorkloadIdentity({ trustDomain: 'td.test', namespace: 'ns1', serviceAccount: 'sa1', signer, runtime: rt, ttlMs: 2000 });
    t.after(() => { id.close(); rt.timers.close(); });
    const seen: string[] = [];
    id.onChange((c) => seen.push(c.serialNumber));
    const first = await id.start();
    const leaf = new X509Certificate(first.certChain);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://td.test/ns/ns1/sa/sa1');
    assert.ok(leaf.checkPrivateKey(require('node:crypto').createPrivateKey(first.privateKey)));
    assert.equal(splitPemCertificates(first.roots).length, 1);
    const gauge = async (name: string) => (await rt.metrics.getSingleMetric(name)!.get()).values[0]!.value;
    assert.equal(await gauge('remora_workload_cert_expiry_timestamp_seconds'), Math.floor(first.notAfter / 1000));
    const rootNotAfter = Date.parse(new X509Certificate(splitPemCertificates(first.roots)[0]!).validTo);
    assert.equal(await gauge('remora_workload_root_cert_expiry_timestamp_seconds'), Math.floor(rootNotAfter / 1000));
    // Renewals arrive on their own (TTL 2 s → about every second).
    await new Promise<void>((resolve) => {
      const off = id.onChange(() => { if (id.rotations >= 2) { off(); resolve(); } });
    });
    assert.ok(id.rotations >= 2);
    assert.equal(new Set(seen).size, seen.length, 'every renewal is a new certificate');
    const issued = (await rt.metrics.getSingleMetric('remora_workload_cert_rotations_total')!.get()).values[0]!.value;
    assert.ok(issued >= 2);
  });

  it('keeps the current certificate while the CA fails and retries with backoff', async (t) => {
    const rt = runtime();
    keepAlive(t);
    const ca = MeshCa.createSelfSigned({ trustDomain: 'td.test', clock: systemClock });
    const signer = new InProcessSigner(ca, 'ns1', 'sa1');
    signer.fail = 2; // the first two requests fail
    const id = new WorkloadIdentity({ trustDomain: 'td.test', namespace: 'ns1', serviceAccount: 'sa1', signer, runtime: rt, ttlMs: 3600_000, retryBaseMs: 20, retryMaxMs: 50 });
    t.after(() => { id.close(); rt.timers.close(); });
    const first = await id.start();
    assert.equal(id.failures, 2);
    assert.equal(signer.calls, 3);
    signer.fail = 3;
    await id.rotateNow(); // fails: keeps the certificate
    assert.equal(id.current(), first);
    await new Promise<void>((resolve) => { id.onChange(() => resolve()); });
    assert.notEqual(id.current(), first);
    assert.equal(id.failures, 5);
  });

  it('refuses a certificate for another identity', async (t) => {
    const rt = runtime();
    keepAlive(t);
    const ca = MeshCa.createSelfSigned({ trustDomain: 'td.test', clock: systemClock });
    const wrong: CertificateSigner = {
      sign: async () => ca.issueWithNewKey({ namespace: 'ns1', serviceAccount: 'other' }).certChainPem,
      close: () => {},
    };
    const id = new WorkloadIdentity({ trustDomain: 'td.test', namespace: 'ns1', serviceAccount: 'sa1', signer: wrong, runtime: rt, retryBaseMs: 10_000 });
    t.after(() => { id.close(); rt.timers.close(); });
    void id.start().catch(() => {});
    await id.rotateNow();
    assert.equal(id.current(), null);
    assert.ok(id.failures >= 1);
  });
});

describe('SecretManager', () => {
  it('serves default and ROOTCA from the identity, merges SDS roots, and notifies changes', async (t) => {
    const rt = runtime();
    keepAlive(t);
    const ca = MeshCa.createSelfSigned({ trustDomain: 'td.test', clock: systemClock });
    const other = MeshCa.createSelfSigned({ trustDomain: 'td.test', clock: systemClock });
    const id = new WorkloadIdentity({ trustDomain: 'td.test', namespace: 'ns1', serviceAccount: 'sa1', signer: new InProcessSigner(ca, 'ns1', 'sa1'), runtime: rt, ttlMs: 3600_000 });
    t.after(() => { id.close(); rt.timers.close(); });
    const sm = new SecretManager();
    const changed: string[] = [];
    sm.onChange((n) => changed.push(n));
    const pending = sm.whenReady('default');
    sm.attachIdentity(id);
    assert.equal(sm.get('default'), null);
    await id.start();
    const d = await pending;
    assert.ok(d.tlsCertificate !== null);
    assert.deepEqual(changed.sort(), ['ROOTCA', 'default']);
    assert.equal(splitPemCertificates(sm.get('ROOTCA')!.validationContext!.trustedCa).length, 1);
    // SDS ROOTCA with the old and a new root: union, deduplicated.
    sm.applySds([{ name: 'ROOTCA', tlsCertificate: null, validationContext: { trustedCa: mergePemBundles([ca.activeRootPem(), other.activeRootPem()]), matchSubjectAltNames: [] } }], []);
    assert.equal(splitPemCertificates(sm.get('ROOTCA')!.validationContext!.trustedCa).length, 2);
    assert.equal(sm.changeCount('ROOTCA'), 2);
    // Re-applying the same value is not a change.
    sm.applySds([{ name: 'ROOTCA', tlsCertificate: null, validationContext: { trustedCa: mergePemBundles([other.activeRootPem(), ca.activeRootPem()]), matchSubjectAltNames: [] } }], []);
    assert.equal(sm.changeCount('ROOTCA'), 2);
    // An SDS `default` never overrides the workload's own key.
    sm.applySds([{ name: 'default', tlsCertificate: { certChain: Buffer.from('x'), privateKey: Buffer.from('y') }, validationContext: null }], []);
    assert.equal(sm.get('default'), d);
    // Other names are SDS-only.
    sm.applySds([{ name: 'custom', tlsCertificate: { certChain: Buffer.from('x'), privateKey: Buffer.from('y') }, validationContext: null }], []);
    assert.equal(sm.get('custom')!.tlsCertificate!.certChain.toString(), 'x');
    await id.rotateNow();
    assert.notEqual(sm.get('default'), d);
    assert.equal(sm.changeCount('default'), 2);
  });
});
