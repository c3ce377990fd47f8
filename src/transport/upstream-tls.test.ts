import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { UpstreamTlsModel } from '../config/model';
import { buildUpstreamTlsOptions } from './upstream-tls';
import { TestPki, type TestCa, type TestLeaf } from '../../test/fakes/openssl-pki';

let pki: TestPki;
let caA: TestCa;
let caB: TestCa;
let serverLeaf: TestLeaf;
let clientLeaf: TestLeaf;
let server: tls.Server;
let port: number;
const seen: Array<{ servername: string | false; clientCert: boolean; clientAuthorized: boolean }> = [];

before(async () => {
  pki = new TestPki();
  caA = pki.createCa('ca-a');
  caB = pki.createCa('ca-b');
  serverLeaf = pki.issue(caA, 'backend', ['DNS:backend.test', 'URI:spiffe://td/ns/a/sa/backend']);
  clientLeaf = pki.issue(caA, 'client', ['URI:spiffe://td/ns/a/sa/client']);
  server = tls.createServer({ cert: serverLeaf.cert, key: serverLeaf.key, ca: caA.cert, requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] }, (s) => {
    seen.push({ servername: (s as tls.TLSSocket & { servername: string | false }).servername, clientCert: Object.keys(s.getPeerCertificate()).length > 0, clientAuthorized: s.authorized });
    s.end('hi');
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  pki.cleanup();
});

function model(over: Partial<UpstreamTlsModel>): UpstreamTlsModel {
  return {
    certChain: null, privateKey: null, certificateSdsName: null, validationSdsName: null, trustedCa: null, sni: null, matchSubjectAltNames: [], alpnProtocols: [],
    minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', cipherSuites: null, ...over,
  };
}

type Outcome = { ok: true; alpn: string | false | null } | { ok: false; err: Error & { code?: string } };

function connect(opts: tls.ConnectionOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = tls.connect({ ...opts, host: '127.0.0.1', port });
    s.once('secureConnect', () => {
      const alpn = s.alpnProtocol;
      s.on('data', () => {});
      s.once('end', () => { s.destroy(); resolve({ ok: true, alpn }); });
    });
    s.once('error', (err) => { s.destroy(); resolve({ ok: false, err }); });
  });
}

test('trusted CA verifies the chain but not the host name (Envoy semantics)', async () => {
  const r = await connect(buildUpstreamTlsOptions(model({ trustedCa: caA.cert }), ['h2']));
  assert.equal(r.ok, true); // host is 127.0.0.1, the cert only names backend.test: still accepted
  assert.equal(r.ok && r.alpn, 'h2');
});

test('a certificate from another CA is rejected', async () => {
  const r = await connect(buildUpstreamTlsOptions(model({ trustedCa: caB.cert }), ['h2']));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? String(r.err.code) : '', /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
});

test('without a trusted CA any certificate is accepted', async () => {
  const opts = buildUpstreamTlsOptions(model({}), ['h2']);
  assert.equal(opts.rejectUnauthorized, false);
  const r = await connect(opts);
  assert.equal(r.ok, true);
});

test('SAN matchers: match accepts, mismatch rejects with a typed error', async () => {
  const good = await connect(buildUpstreamTlsOptions(model({
    trustedCa: caA.cert,
    matchSubjectAltNames: [{ type: 'URI', matcher: { kind: 'exact', value: 'spiffe://td/ns/a/sa/backend', ignoreCase: false } }],
  }), ['h2']));
  assert.equal(good.ok, true);
  const bad = await connect(buildUpstreamTlsOptions(model({
    trustedCa: caA.cert,
    matchSubjectAltNames: [{ type: 'URI', matcher: { kind: 'exact', value: 'spiffe://td/ns/a/sa/other', ignoreCase: false } },
      { type: 'DNS', matcher: { kind: 'exact', value: 'spiffe://td/ns/a/sa/backend', ignoreCase: false } }],
  }), ['h2']));
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.err.code, 'REMORA_ERR_UPSTREAM_SAN_MISMATCH');
});

test('SAN matchers without a trusted CA fail closed (Node default roots)', async () => {
  const r = await connect(buildUpstreamTlsOptions(model({
    matchSubjectAltNames: [{ type: 'URI', matcher: { kind: 'prefix', value: 'spiffe://', ignoreCase: false } }],
  }), ['h2']));
  assert.equal(r.ok, false);
});

test('SNI is sent only when configured; client certificate is presented; model ALPN wins', async () => {
  seen.length = 0;
  const r1 = await connect(buildUpstreamTlsOptions(model({ sni: 'backend.test', trustedCa: caA.cert, certChain: clientLeaf.cert, privateKey: clientLeaf.key, alpnProtocols: ['http/1.1'] }), ['h2']));
  const r2 = await connect(buildUpstreamTlsOptions(model({ trustedCa: caA.cert }), ['h2']));
  assert.equal(r1.ok && r1.alpn, 'http/1.1');
  assert.equal(r2.ok, true);
  assert.deepEqual(seen, [
    { servername: 'backend.test', clientCert: true, clientAuthorized: true },
    { servername: false, clientCert: false, clientAuthorized: false },
  ]);
});

test('min/max version and ciphers are passed through', () => {
  const o = buildUpstreamTlsOptions(model({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', cipherSuites: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), ['h2']);
  assert.equal(o.minVersion, 'TLSv1.3');
  assert.equal(o.maxVersion, 'TLSv1.3');
  assert.equal(o.ciphers, 'ECDHE-ECDSA-AES128-GCM-SHA256');
  assert.equal(o.servername, undefined);
});
