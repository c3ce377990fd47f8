/**
 * MeshCa policy: issues exactly the bound SPIFFE identity, refuses CSRs for anything else, honours
 * and caps TTLs (max TTL, root expiry), verifies renewal certificates, and rotates roots with an
 * overlapping trust bundle. Time comes from a fake Clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import type { Clock } from '../../core/clock';
import { CaError } from './ca-errors';
import { CLOCK_SKEW_MS, MeshCa, createSelfSignedRoot } from './mesh-ca';
import { createCsr, generateKeyPair, pemCertificates } from '../../transport/x509';

class FakeClock implements Clock {
  constructor(public t: number) {}
  now(): number { return this.t; }
  monotonic(): number { return this.t; }
}

const HOUR = 3_600_000;
const SLEEP = { namespace: 'default', serviceAccount: 'sleep' };
const SLEEP_ID = 'spiffe://cluster.local/ns/default/sa/sleep';
// One EC key for all CSRs: keygen is not what these tests are about.
const KEY = generateKeyPair('ec');

function csrFor(opts: { uris?: string[]; dnsNames?: string[]; commonName?: string } = { uris: [SLEEP_ID] }): string {
  return createCsr({ ...KEY, ...opts });
}

function caError(fn: () => unknown): CaError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CaError, `expected CaError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a CaError');
}

test('sign issues only the bound identity, with the CSR public key, chained to the root', () => {
  const clock = new FakeClock(Date.parse('2030-01-01T00:00:00Z'));
  const ca = MeshCa.createSelfSigned({ clock });
  const issued = ca.sign(csrFor({ uris: [SLEEP_ID], commonName: 'anything' }), SLEEP);
  assert.equal(issued.spiffeId, SLEEP_ID);
  assert.equal(issued.certChainPem.length, 2);
  assert.equal(issued.certChainPem[1], ca.activeRootPem());
  const x = new crypto.X509Certificate(issued.certPem);
  assert.equal(x.subjectAltName, `URI:${SLEEP_ID}`);
  assert.ok(x.subject === undefined || x.subject === '', 'the CSR subject is never copied (empty subject)');
  assert.equal(x.verify(new crypto.X509Certificate(ca.activeRootPem()).publicKey), true);
  assert.equal(x.publicKey.export({ type: 'spki', format: 'der' }).equals(KEY.publicKey.export({ type: 'spki', format: 'der' })), true);
  assert.equal(x.serialNumber, issued.serialHex);
  // A CSR without any SAN gets the bound identity too.
  assert.equal(new crypto.X509Certificate(ca.sign(csrFor({}), SLEEP).certPem).subjectAltName, `URI:${SLEEP_ID}`);
  // notBefore is backdated for clock skew; default TTL is 24h.
  assert.equal(issued.notBefore.getTime(), clock.t - CLOCK_SKEW_MS);
  assert.equal(issued.notAfter.getTime(), clock.t + 24 * HOUR);
  assert.equal(Date.parse(x.validFrom), clock.t - CLOCK_SKEW_MS);
  assert.equal(Date.parse(x.validTo), clock.t + 24 * HOUR);
});

test('a CSR asking for another identity is refused with permission-denied', () => {
  const ca = MeshCa.createSelfSigned({ clock: new FakeClock(Date.now()) });
  const cases: Array<[string, string, RegExp]> = [
    ['other SA', csrFor({ uris: ['spiffe://cluster.local/ns/default/sa/admin'] }), /asks for identity 'spiffe:\/\/cluster\.local\/ns\/default\/sa\/admin' but the caller is authenticated as 'spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep'/],
    ['other namespace', csrFor({ uris: ['spiffe://cluster.local/ns/prod/sa/sleep'] }), /asks for identity 'spiffe:\/\/cluster\.local\/ns\/prod\/sa\/sleep'/],
    ['other trust domain', csrFor({ uris: ['spiffe://evil.example/ns/default/sa/sleep'] }), /asks for identity 'spiffe:\/\/evil\.example/],
    ['own plus another', csrFor({ uris: [SLEEP_ID, 'spiffe://cluster.local/ns/default/sa/admin'] }), /sa\/admin/],
    ['DNS SAN', csrFor({ uris: [SLEEP_ID], dnsNames: ['admin.default.svc'] }), /asks for DNS:admin\.default\.svc; the mesh CA issues only the caller's SPIFFE identity/],
    ['SPIFFE ID in the subject', csrFor({ commonName: 'spiffe://cluster.local/ns/default/sa/admin' }), /CSR subject asks for identity/],
  ];
  for (const [name, csr, re] of cases) {
    const err = caError(() => ca.sign(csr, SLEEP));
    assert.equal(err.kind, 'permission-denied', name);
    assert.equal(err.code, 'REMORA_ERR_CA_IDENTITY_DENIED', name);
    assert.match(err.message, re, name);
  }
});

test('a malformed CSR is invalid-argument with the parse error in the message', () => {
  const ca = MeshCa.createSelfSigned({ clock: new FakeClock(Date.now()) });
  const err = caError(() => ca.sign('not a csr', SLEEP));
  assert.equal(err.kind, 'invalid-argument');
  assert.match(err.message, /^malformed CSR: the CSR is not PEM/);
  assert.equal(caError(() => ca.sign(csrFor(), { namespace: 'a/b', serviceAccount: 'x' })).kind, 'invalid-argument');
  assert.equal(caError(() => ca.sign(csrFor(), SLEEP, -5)).kind, 'invalid-argument');
});

test('TTL: requested honoured, capped by max TTL and by the root notAfter', () => {
  const clock = new FakeClock(Date.parse('2030-01-01T00:00:00Z'));
  const ca = MeshCa.createSelfSigned({ clock, rootTtlMs: 100 * HOUR, defaultTtlMs: 2 * HOUR, maxTtlMs: 48 * HOUR });
  assert.equal(ca.sign(csrFor(), SLEEP).notAfter.getTime(), clock.t + 2 * HOUR, 'default');
  assert.equal(ca.sign(csrFor(), SLEEP, 0).notAfter.getTime(), clock.t + 2 * HOUR, '0 means default');
  assert.equal(ca.sign(csrFor(), SLEEP, 10_000).notAfter.getTime(), clock.t + 10_000, 'seconds-scale TTL for tests');
  assert.equal(ca.sign(csrFor(), SLEEP, 1000 * HOUR).notAfter.getTime(), clock.t + 48 * HOUR, 'capped by max TTL');
  clock.t += 90 * HOUR; // root expires at start + 100h
  const capped = ca.sign(csrFor(), SLEEP, 48 * HOUR);
  assert.equal(capped.notAfter.getTime(), Date.parse(new crypto.X509Certificate(ca.activeRootPem()).validTo), 'never outlives the root');
  clock.t += 11 * HOUR;
  const err = caError(() => ca.sign(csrFor(), SLEEP));
  assert.equal(err.kind, 'failed-precondition');
  assert.match(err.message, /root expired/);
});

test('verifyWorkloadCertificate accepts its own valid leaves only', () => {
  const clock = new FakeClock(Date.parse('2030-01-01T00:00:00Z'));
  const ca = MeshCa.createSelfSigned({ clock });
  const other = MeshCa.createSelfSigned({ clock });
  const otherTd = MeshCa.createSelfSigned({ clock, trustDomain: 'other.local' });
  const mine = pemCertificates(ca.sign(csrFor(), SLEEP, HOUR).certPem)[0]!;
  assert.deepEqual(ca.verifyWorkloadCertificate(mine), SLEEP);
  assert.equal(ca.verifyWorkloadCertificate(pemCertificates(other.sign(csrFor(), SLEEP).certPem)[0]!), null, 'another CA');
  assert.equal(ca.verifyWorkloadCertificate(pemCertificates(ca.activeRootPem())[0]!), null, 'the root itself');
  assert.equal(ca.verifyWorkloadCertificate(Buffer.from('junk')), null, 'junk');
  assert.equal(otherTd.verifyWorkloadCertificate(pemCertificates(otherTd.sign(csrFor({}), SLEEP).certPem)[0]!)?.serviceAccount, 'sleep');
  clock.t += 2 * HOUR;
  assert.equal(ca.verifyWorkloadCertificate(mine), null, 'expired');
});

test('root rotation: overlap bundle holds both roots; new root signs; old leaves still verify until retired', () => {
  const clock = new FakeClock(Date.parse('2030-01-01T00:00:00Z'));
  const ca = MeshCa.createSelfSigned({ clock });
  const oldRoot = new crypto.X509Certificate(ca.activeRootPem());
  const oldLeaf = pemCertificates(ca.sign(csrFor(), SLEEP).certPem)[0]!;
  const next = createSelfSignedRoot({ trustDomain: 'cluster.local', keyType: 'ec', ttlMs: 1000 * HOUR, clock });

  ca.addRoot(next);
  assert.equal(pemCertificates(ca.trustBundlePem()).length, 2, 'overlap: both roots');
  assert.equal(ca.activeRootPem(), oldRoot.toString(), 'still signing with the old root');
  ca.activateRoot(next.cert.fingerprint256);
  const bundle = pemCertificates(ca.trustBundlePem()).map((d) => new crypto.X509Certificate(d).fingerprint256);
  assert.deepEqual(bundle, [next.cert.fingerprint256, oldRoot.fingerprint256], 'active first, old still trusted');
  assert.deepEqual(ca.roots().map((r) => [r.active, r.hasKey]), [[true, true], [false, true]]);

  const newLeaf = new crypto.X509Certificate(ca.sign(csrFor(), SLEEP).certPem);
  assert.equal(newLeaf.verify(next.cert.publicKey), true, 'signed by the new root');
  assert.equal(newLeaf.verify(oldRoot.publicKey), false);
  assert.deepEqual(ca.verifyWorkloadCertificate(oldLeaf), SLEEP, 'old leaves renew during the overlap');

  assert.throws(() => ca.retireRoot(next.cert.fingerprint256), /cannot retire the active root/);
  assert.equal(ca.retireRoot(oldRoot.fingerprint256), true);
  assert.equal(pemCertificates(ca.trustBundlePem()).length, 1);
  assert.equal(ca.verifyWorkloadCertificate(oldLeaf), null, 'old leaves stop verifying after retirement');
  assert.throws(() => ca.activateRoot('00:11'), /no trusted root/);

  // A trust-only root (no key) joins the bundle but cannot sign.
  const foreign = createSelfSignedRoot({ trustDomain: 'cluster.local', keyType: 'ec', ttlMs: HOUR, clock });
  ca.addTrustedRootPem(foreign.certPem);
  assert.equal(pemCertificates(ca.trustBundlePem()).length, 2);
  assert.throws(() => ca.activateRoot(foreign.cert.fingerprint256), /does not hold the key/);
});
