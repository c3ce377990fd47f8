/**
 * Throwaway PKI for TLS tests, built with node-forge into an mkdtemp directory: a CA, a server
 * certificate for `localhost`/127.0.0.1 and a client certificate (SPIFFE URI SAN) signed by it, plus
 * a second, unrelated CA with its own client certificate. Keys come from node:crypto (fast); `cleanup()`
 * removes the directory.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import forge from 'node-forge';

export interface CertPair {
  /** PEM file paths. */
  readonly certPath: string;
  readonly keyPath: string;
  /** PEM contents. */
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: CertPair;
  readonly server: CertPair;
  readonly client: CertPair;
  readonly otherCa: CertPair;
  /** Client certificate signed by `otherCa` (untrusted by listeners that trust `ca`). */
  readonly otherClient: CertPair;
  cleanup(): void;
}

interface Issued {
  cert: forge.pki.Certificate;
  key: forge.pki.PrivateKey;
}

let serial = 1;

function newKey(): { privateKey: forge.pki.PrivateKey; publicKey: forge.pki.PublicKey } {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const fk = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { privateKey: fk, publicKey: forge.pki.setRsaPublicKey(fk.n, fk.e) };
}

function baseCert(cn: string, publicKey: forge.pki.PublicKey): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = (serial++).toString(16).padStart(2, '0') + crypto.randomBytes(8).toString('hex');
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now.getTime() + 24 * 60 * 60 * 1000);
  cert.setSubject([{ name: 'commonName', value: cn }, { name: 'organizationName', value: 'Remora Tests' }]);
  return cert;
}

function makeCa(cn: string): Issued {
  const keys = newKey();
  const cert = baseCert(cn, keys.publicKey);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert, key: keys.privateKey };
}

function issue(ca: Issued, cn: string, kind: 'server' | 'client', altNames: object[]): Issued {
  const keys = newKey();
  const cert = baseCert(cn, keys.publicKey);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: kind === 'server', clientAuth: kind === 'client' },
    { name: 'subjectAltName', altNames },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.key as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert, key: keys.privateKey };
}

function write(dir: string, name: string, issued: Issued): CertPair {
  const cert = Buffer.from(forge.pki.certificateToPem(issued.cert));
  const key = Buffer.from(forge.pki.privateKeyToPem(issued.key as forge.pki.rsa.PrivateKey));
  const certPath = path.join(dir, `${name}.pem`);
  const keyPath = path.join(dir, `${name}-key.pem`);
  fs.writeFileSync(certPath, cert);
  fs.writeFileSync(keyPath, key, { mode: 0o600 });
  return { certPath, keyPath, cert, key };
}

/** Creates the whole PKI in a fresh temp directory. */
export function createTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-pki-'));
  const ca = makeCa('Remora Test CA');
  const server = issue(ca, 'localhost', 'server', [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }]);
  const client = issue(ca, 'client', 'client', [{ type: 6, value: 'spiffe://cluster.local/ns/default/sa/client' }]);
  const otherCa = makeCa('Unrelated CA');
  const otherClient = issue(otherCa, 'client', 'client', [{ type: 6, value: 'spiffe://cluster.local/ns/default/sa/client' }]);
  return {
    dir,
    ca: write(dir, 'ca', ca),
    server: write(dir, 'server', server),
    client: write(dir, 'client', client),
    otherCa: write(dir, 'other-ca', otherCa),
    otherClient: write(dir, 'other-client', otherClient),
    cleanup() { fs.rmSync(dir, { recursive: true, force: true }); },
  };
}
