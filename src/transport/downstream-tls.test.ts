import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { DownstreamTlsModel } from '../config/model';
import { X509Certificate, createHash } from 'node:crypto';
import type { SecretModel } from '../config/model';
import {
  buildDownstreamTlsServerOptions, checkDownstreamPeer, localUriSans, peerIdentityFromCertificate, requestsClientCertificate, resolveDownstreamTls,
} from './downstream-tls';
import type { SecretSource } from './secret-source';
import { TestPki, type TestCa, type TestLeaf } from '../../test/fakes/openssl-pki';
import { Re2Regex } from '../config/re2-regex';

let pki: TestPki;
let caA: TestCa;
let caB: TestCa;
let serverLeaf: TestLeaf;
let goodClient: TestLeaf;
let otherSaClient: TestLeaf;
let foreignClient: TestLeaf;

before(() => {
  pki = new TestPki();
  caA = pki.createCa('ca-a');
  caB = pki.createCa('ca-b');
  serverLeaf = pki.issue(caA, 'sidecar', ['DNS:sidecar.test']);
  goodClient = pki.issue(caA, 'frontend', ['URI:spiffe://td/ns/default/sa/frontend']);
  otherSaClient = pki.issue(caA, 'intruder', ['URI:spiffe://td/ns/default/sa/intruder']);
  foreignClient = pki.issue(caB, 'frontend', ['URI:spiffe://td/ns/default/sa/frontend']);
});
after(() => pki.cleanup());

function model(over: Partial<DownstreamTlsModel>): DownstreamTlsModel {
  return {
    certChain: serverLeaf.cert, privateKey: serverLeaf.key, certificateSdsName: null, validationSdsName: null, trustedCa: null, requireClientCertificate: false,
    matchSubjectAltNames: [], alpnProtocols: ['h2', 'http/1.1'], minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3',
    cipherSuites: null, ...over,
  };
}

/** Starts a TLS server applying the model like a listener would; returns per-connection verdicts. */
async function startServer(t: { after(fn: () => unknown): void }, m: DownstreamTlsModel): Promise<{ port: number; verdicts: Array<string | null> }> {
  const verdicts: Array<string | null> = [];
  const server = tls.createServer(buildDownstreamTlsServerOptions(m), (s) => {
    const reason = checkDownstreamPeer(s, m);
    verdicts.push(reason);
    if (reason !== null) s.destroy();
    else s.end('ok');
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as AddressInfo).port, verdicts };
}

/** Resolves 'ok' when the server's greeting arrives, else 'refused'. */
function dial(port: number, leaf: TestLeaf | null): Promise<'ok' | 'refused'> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: caA.cert, checkServerIdentity: () => undefined,
      ...(leaf === null ? {} : { cert: leaf.cert, key: leaf.key }) });
    let data = '';
    s.on('data', (d: Buffer) => { data += d.toString(); });
    s.on('error', () => {});
    s.on('close', () => resolve(data === 'ok' ? 'ok' : 'refused'));
  });
}

test('no validation context: no certificate requested, everyone accepted', async (t) => {
  const m = model({});
  const o = buildDownstreamTlsServerOptions(m);
  assert.equal(o.requestCert, false);
  assert.equal(o.rejectUnauthorized, false);
  assert.equal(o.honorCipherOrder, true);
  assert.deepEqual(o.ALPNProtocols, ['h2', 'http/1.1']);
  const { port, verdicts } = await startServer(t, m);
  assert.equal(await dial(port, null), 'ok');
  assert.equal(await dial(port, foreignClient), 'ok');
  assert.deepEqual(verdicts, [null, null]);
});

test('validation context without require: no cert allowed, bad cert refused', async (t) => {
  const m = model({ trustedCa: caA.cert });
  const { port, verdicts } = await startServer(t, m);
  assert.equal(await dial(port, null), 'ok');
  assert.equal(await dial(port, goodClient), 'ok');
  assert.equal(await dial(port, foreignClient), 'refused');
  assert.equal(verdicts.length, 3);
  assert.deepEqual(verdicts.slice(0, 2), [null, null]);
  assert.match(String(verdicts[2]), /not authorized/);
});

test('require_client_certificate: the handshake fails without a valid cert', async (t) => {
  const m = model({ trustedCa: caA.cert, requireClientCertificate: true });
  const { port, verdicts } = await startServer(t, m);
  assert.equal(await dial(port, null), 'refused');
  assert.equal(await dial(port, foreignClient), 'refused');
  assert.equal(await dial(port, goodClient), 'ok');
  assert.deepEqual(verdicts, [null]); // only the good client completed a handshake
});

test('SAN matchers refuse a valid certificate with the wrong identity', async (t) => {
  const m = model({
    trustedCa: caA.cert, requireClientCertificate: true,
    matchSubjectAltNames: [{ type: 'URI', matcher: { kind: 'regex', regex: Re2Regex.compile('spiffe://td/ns/default/sa/front.*') } }],
  });
  const { port, verdicts } = await startServer(t, m);
  assert.equal(await dial(port, goodClient), 'ok');
  assert.equal(await dial(port, otherSaClient), 'refused');
  assert.deepEqual(verdicts, [null, 'client certificate subject alt names do not match']);
});

function secretsOf(list: SecretModel[]): SecretSource {
  const map = new Map(list.map((x) => [x.name, x]));
  return {
    get: (name) => map.get(name) ?? null,
    onChange: () => () => {},
    whenReady: (name) => (map.has(name) ? Promise.resolve(map.get(name)!) : new Promise(() => {})),
  };
}

test('resolveDownstreamTls: inline models pass through; SDS names are filled from the secret source', () => {
  const inline = model({ trustedCa: caA.cert });
  assert.equal(resolveDownstreamTls(inline, null), inline);
  const sds = model({ certChain: null, privateKey: null, certificateSdsName: 'default', validationSdsName: 'ROOTCA', requireClientCertificate: true,
    matchSubjectAltNames: [{ type: 'URI', matcher: { kind: 'prefix', value: 'spiffe://td/', ignoreCase: false } }] });
  assert.equal(requestsClientCertificate(sds), true);
  assert.equal(buildDownstreamTlsServerOptions(sds).rejectUnauthorized, true);
  assert.equal(resolveDownstreamTls(sds, null), null, 'no secret source');
  const cert = { name: 'default', tlsCertificate: { certChain: serverLeaf.cert, privateKey: serverLeaf.key }, validationContext: null };
  assert.equal(resolveDownstreamTls(sds, secretsOf([cert])), null, 'trust bundle still missing');
  const ca: SecretModel = { name: 'ROOTCA', tlsCertificate: null,
    validationContext: { trustedCa: caA.cert, matchSubjectAltNames: [{ type: 'DNS', matcher: { kind: 'exact', value: 'x', ignoreCase: false } }] } };
  const r = resolveDownstreamTls(sds, secretsOf([cert, ca]))!;
  assert.equal(r.certChain, serverLeaf.cert);
  assert.equal(r.privateKey, serverLeaf.key);
  assert.equal(r.trustedCa, caA.cert);
  assert.deepEqual(r.matchSubjectAltNames.map((x) => x.type), ['URI', 'DNS'], 'inline matchers first, then the secret\'s');
});

test('peerIdentityFromCertificate: SPIFFE parts, SANs, RFC 2253 subject, SHA-256 hash', () => {
  const x509 = new X509Certificate(goodClient.cert);
  const p = peerIdentityFromCertificate(x509);
  assert.equal(p.spiffeId, 'spiffe://td/ns/default/sa/frontend');
  assert.equal(p.principal, 'td/ns/default/sa/frontend');
  assert.equal(p.trustDomain, 'td');
  assert.equal(p.namespace, 'default');
  assert.equal(p.serviceAccount, 'frontend');
  assert.deepEqual(p.uriSans, ['spiffe://td/ns/default/sa/frontend']);
  assert.deepEqual(p.dnsSans, []);
  assert.equal(p.subject, 'CN=frontend');
  assert.equal(p.certSha256, createHash('sha256').update(x509.raw).digest('hex'));
  const server = peerIdentityFromCertificate(new X509Certificate(serverLeaf.cert));
  assert.equal(server.spiffeId, null);
  assert.equal(server.principal, null);
  assert.deepEqual(server.dnsSans, ['sidecar.test']);
  assert.deepEqual(localUriSans(goodClient.cert), ['spiffe://td/ns/default/sa/frontend']);
  assert.deepEqual(localUriSans(serverLeaf.cert), []);
  assert.deepEqual(localUriSans(null), []);
});
