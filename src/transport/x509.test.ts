/**
 * X.509 building blocks: roots and leaves parse and verify with node:crypto and openssl, carry the
 * SPIFFE/Istio profile (extensions, serial, validity), and work in a real TLS 1.3 handshake with
 * mutual authentication; CSR verification accepts good CSRs and names what is wrong with bad ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { createCsr, createRootCa, generateKeyPair, issueLeafCertificate, parseAndVerifyCsr, randomSerial, toPem, type SigningMaterial } from './x509';

const NOW = Date.now();
const ID_A = 'spiffe://cluster.local/ns/default/sa/client';
const ID_B = 'spiffe://cluster.local/ns/default/sa/server';

function root(keyType: 'ec' | 'rsa'): SigningMaterial {
  return createRootCa({ trustDomain: 'cluster.local', keyType, notBefore: new Date(NOW - 60_000), notAfter: new Date(NOW + 86_400_000), serial: randomSerial() });
}

function leaf(issuer: SigningMaterial, spiffeId: string, keyType: 'ec' | 'rsa' = 'ec'): { certPem: string; keyPem: string; der: Buffer } {
  const kp = generateKeyPair(keyType);
  const der = issueLeafCertificate({ issuer, subjectPublicKey: kp.publicKey, spiffeId, notBefore: new Date(NOW - 60_000), notAfter: new Date(NOW + 3_600_000), serial: randomSerial() });
  return { der, certPem: toPem('CERTIFICATE', der), keyPem: kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

for (const keyType of ['ec', 'rsa'] as const) {
  test(`${keyType} root is a self-signed CA that node:crypto and openssl accept, and its leaves verify`, (t) => {
    const ca = root(keyType);
    assert.equal(ca.cert.ca, true);
    assert.equal(ca.cert.subject, 'O=cluster.local\nCN=Remora Mesh Root CA');
    assert.equal(ca.cert.verify(ca.cert.publicKey), true);
    assert.equal(ca.cert.publicKey.asymmetricKeyType, keyType);
    const l = leaf(ca, ID_A);
    const x = new crypto.X509Certificate(l.der);
    assert.equal(x.subjectAltName, `URI:${ID_A}`);
    assert.equal(x.ca, false);
    assert.equal(x.verify(ca.cert.publicKey), true);
    assert.equal(x.checkIssued(ca.cert), true);
    assert.equal(x.verify(root(keyType).cert.publicKey), false, 'must not verify against an unrelated root');
    assert.deepEqual(x.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-x509-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'root.pem'), ca.certPem);
    fs.writeFileSync(path.join(dir, 'leaf.pem'), l.certPem);
    const out = execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', path.join(dir, 'root.pem'), path.join(dir, 'leaf.pem')]).toString();
    assert.match(out, /leaf\.pem: OK/);
    const text = execFileSync('openssl', ['x509', '-in', path.join(dir, 'leaf.pem'), '-noout', '-text']).toString();
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(text, /Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/client\n/);
    assert.match(text, /Subject Key Identifier/);
    assert.match(text, /Authority Key Identifier/);
  });
}

test('serials are positive, ~128 bits and distinct', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const s = randomSerial();
    assert.ok(s.length === 16 || (s.length === 17 && s[0] === 0 && (s[1]! & 0x80) !== 0));
    assert.notEqual(s[0], s.length === 16 ? 0 : 1);
    seen.add(s.toString('hex'));
  }
  assert.equal(seen.size, 200);
  // An all-high-bits draw gets a leading zero octet (positive INTEGER).
  assert.equal(randomSerial(() => Buffer.alloc(16, 0xff)).toString('hex'), '00' + 'ff'.repeat(16));
  assert.equal(randomSerial(() => Buffer.alloc(16, 0))[0], 1);
});

for (const keyType of ['ec', 'rsa'] as const) {
  test(`mutual TLS 1.3 handshake with ${keyType} CA-issued leaves`, async (t) => {
    const ca = root(keyType);
    const server = leaf(ca, ID_B, keyType);
    const client = leaf(ca, ID_A, keyType);
    let serverSawPeer: string | null = null;
    const srv = tls.createServer({ key: server.keyPem, cert: server.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (sock) => {
      serverSawPeer = sock.getPeerCertificate().subjectaltname ?? null;
      sock.end('ok');
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    t.after(() => srv.close());
    const port = (srv.address() as { port: number }).port;
    const got = await new Promise<{ data: string; protocol: string | null; authorized: boolean; peer: string | undefined }>((resolve, reject) => {
      const sock = tls.connect({
        host: '127.0.0.1', port, key: client.keyPem, cert: client.certPem, ca: ca.certPem, minVersion: 'TLSv1.3',
        // Mesh peers check the SPIFFE ID, not a host name.
        checkServerIdentity: (_host, cert) => (cert.subjectaltname === `URI:${ID_B}` ? undefined : new Error(`unexpected peer ${cert.subjectaltname}`)),
      });
      let data = '';
      sock.on('data', (d) => { data += d.toString(); });
      sock.on('end', () => resolve({ data, protocol: sock.getProtocol(), authorized: sock.authorized, peer: sock.getPeerCertificate().subjectaltname }));
      sock.on('error', reject);
    });
    assert.equal(got.data, 'ok');
    assert.equal(got.protocol, 'TLSv1.3');
    assert.equal(got.authorized, true);
    assert.equal(got.peer, `URI:${ID_B}`);
    assert.equal(serverSawPeer, `URI:${ID_A}`);
  });
}

test('a client certificate from another CA fails the mutual handshake', async (t) => {
  const ca = root('ec');
  const server = leaf(ca, ID_B);
  const stranger = leaf(root('ec'), ID_A);
  const srv = tls.createServer({ key: server.keyPem, cert: server.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (sock) => sock.end('ok'));
  srv.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => srv.close());
  const port = (srv.address() as { port: number }).port;
  const outcome = await new Promise<string>((resolve) => {
    const sock = tls.connect({ host: '127.0.0.1', port, key: stranger.keyPem, cert: stranger.certPem, ca: ca.certPem, checkServerIdentity: () => undefined });
    let data = '';
    sock.on('data', (d) => { data += d.toString(); });
    sock.on('error', (err) => resolve(`error: ${err.message}`));
    sock.on('close', () => resolve(data === '' ? 'closed' : `data: ${data}`));
  });
  assert.doesNotMatch(outcome, /data: ok/);
});

test('CSR round trip: EC and RSA CSRs verify and report the identities they ask for', () => {
  const ec = generateKeyPair('ec');
  const parsed = parseAndVerifyCsr(createCsr({ ...ec, uris: [ID_A], dnsNames: ['evil.example'], commonName: 'hello' }));
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  assert.equal(parsed.csr.keyDescription, 'EC P-256');
  assert.deepEqual(parsed.csr.uris, [ID_A]);
  assert.deepEqual(parsed.csr.dnsNames, ['evil.example']);
  assert.equal(parsed.csr.commonName, 'hello');
  assert.equal(parsed.csr.publicKey.export({ type: 'spki', format: 'der' }).equals(ec.publicKey.export({ type: 'spki', format: 'der' })), true);

  const rsa = generateKeyPair('rsa', 3072);
  const r = parseAndVerifyCsr(createCsr({ ...rsa }));
  assert.ok(r.ok);
  assert.equal(r.csr.keyDescription, 'RSA 3072');
  assert.deepEqual(r.csr.uris, []);
  assert.equal(r.csr.commonName, null);
});

test('an openssl-made CSR is accepted', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-csr-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const key = generateKeyPair('ec').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  fs.writeFileSync(path.join(dir, 'k.pem'), key);
  const csr = execFileSync('openssl', ['req', '-new', '-key', path.join(dir, 'k.pem'), '-subj', '/CN=x', '-addext', `subjectAltName=URI:${ID_A}`]).toString();
  const parsed = parseAndVerifyCsr(csr);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  assert.deepEqual(parsed.csr.uris, [ID_A]);
});

test('malformed CSRs are refused with a message naming the problem', () => {
  const ec = generateKeyPair('ec');
  const good = createCsr({ ...ec, uris: [ID_A], commonName: 'aaaaaaaa' });
  const der = Buffer.from(good.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const tampered = Buffer.from(der);
  const at = tampered.indexOf(Buffer.from('aaaaaaaa'));
  assert.ok(at > 0);
  tampered.write('bbbbbbbb', at);
  const p384 = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const rsa1024 = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ed = crypto.generateKeyPairSync('ed25519');
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /empty/],
    ['not PEM', 'hello world', /not PEM/],
    ['wrong PEM label', toPem('CERTIFICATE', der), /'CERTIFICATE', not 'CERTIFICATE REQUEST'/],
    ['two blocks', good + good, /2 PEM blocks/],
    ['bad base64', '-----BEGIN CERTIFICATE REQUEST-----\n@@@@\n-----END CERTIFICATE REQUEST-----\n', /not valid base64/],
    ['truncated DER', toPem('CERTIFICATE REQUEST', der.subarray(0, der.length - 20)), /not a valid PKCS#10/],
    ['garbage DER', toPem('CERTIFICATE REQUEST', Buffer.from('0123456789abcdef')), /not a valid PKCS#10/],
    ['tampered', toPem('CERTIFICATE REQUEST', tampered), /signature does not verify/],
    ['P-384 key', createCsrUnchecked(p384), /curve secp384r1; only P-256/],
    ['RSA 1024 key', createCsrUnchecked(rsa1024), /RSA 1024 bits; at least 2048/],
    ['too large', 'x'.repeat(20_000), /over the 16384-byte limit/],
  ];
  for (const [name, pem, re] of cases) {
    const r = parseAndVerifyCsr(pem);
    assert.equal(r.ok, false, name);
    if (!r.ok) assert.match(r.error, re, name);
  }
  // ed25519 cannot be signed by createCsr's algorithm table; its SPKI alone must be refused.
  assert.throws(() => createCsr({ ...ed }), /unsupported signing key type ed25519/);
});

/** createCsr with keys the CA refuses (it signs them fine; the parser must refuse). */
function createCsrUnchecked(kp: crypto.KeyPairKeyObjectResult): string {
  return createCsr({ privateKey: kp.privateKey, publicKey: kp.publicKey, uris: [ID_A] });
}
