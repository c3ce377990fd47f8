/**
 * The CA over real gRPC (TLS on 127.0.0.1:0): bootstrap-token authentication, identity binding
 * (PERMISSION_DENIED for another SA), CSR validation (INVALID_ARGUMENT), validity_duration, mTLS
 * renewal without a token, refusal of foreign client certificates, metrics, and the token file.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createRuntime } from '../../core/runtime';
import type { Clock } from '../../core/clock';
import { CaTokenFileError, TokenFileAuthenticator } from './ca-authenticator';
import { loadCaDefinition, type WireCertificateResponse } from './ca-proto';
import { CaServer } from './ca-service';
import { MeshCa } from './mesh-ca';
import { createCsr, generateKeyPair } from '../../transport/x509';

const clock: Clock = { now: () => NOW, monotonic: () => 0 };
const NOW = Date.now();
const SLEEP_TOKEN = 'sleep-token-0123456789abcdef';
const HTTPBIN_TOKEN = 'httpbin-token-0123456789abcdef';
const SLEEP_ID = 'spiffe://cluster.local/ns/default/sa/sleep';
const KEY = generateKeyPair('ec');
const KEY_PEM = KEY.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const definition = loadCaDefinition();
const runtime = createRuntime({ logLevel: 'silent' });
const ca = MeshCa.createSelfSigned({ clock, maxTtlMs: 48 * 3_600_000 });
const authenticator = new TokenFileAuthenticator({
  [SLEEP_TOKEN]: { namespace: 'default', serviceAccount: 'sleep' },
  [HTTPBIN_TOKEN]: { namespace: 'default', serviceAccount: 'httpbin' },
});
let server: CaServer;
const clients: grpc.Client[] = [];

after(async () => {
  for (const c of clients) c.close();
  await server?.close();
});

async function start(): Promise<CaServer> {
  if (server === undefined) server = await CaServer.start({ ca, authenticator, runtime, definition });
  return server;
}

function client(identity: { keyPem: string; certPem: string } | null = null, bundle = ca.trustBundlePem()): grpc.Client {
  const creds = identity === null
    ? grpc.credentials.createSsl(Buffer.from(bundle))
    : grpc.credentials.createSsl(Buffer.from(bundle), Buffer.from(identity.keyPem), Buffer.from(identity.certPem));
  const c = new definition.Client(server.address, creds);
  clients.push(c);
  return c;
}

function call(c: grpc.Client, req: { csr: string; validity_duration?: number | string }, token: string | null): Promise<WireCertificateResponse> {
  const md = new grpc.Metadata();
  if (token !== null) md.add('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    (c as unknown as { CreateCertificate: (r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: WireCertificateResponse) => void) => void })
      .CreateCertificate(req, md, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

async function refused(p: Promise<unknown>, code: grpc.status, details: RegExp): Promise<void> {
  await assert.rejects(p, (err: grpc.ServiceError) => {
    assert.equal(err.code, code, `expected ${grpc.status[code]}, got ${grpc.status[err.code]}: ${err.details}`);
    assert.match(err.details, details);
    return true;
  });
}

test('a bootstrap token gets a certificate for its own service account', async () => {
  await start();
  const res = await call(client(), { csr: createCsr({ ...KEY, uris: [SLEEP_ID] }) }, SLEEP_TOKEN);
  assert.equal(res.cert_chain.length, 2);
  const leaf = new crypto.X509Certificate(res.cert_chain[0]!);
  const root = new crypto.X509Certificate(res.cert_chain[1]!);
  assert.equal(leaf.subjectAltName, `URI:${SLEEP_ID}`);
  assert.equal(leaf.verify(root.publicKey), true);
  assert.equal(root.fingerprint256, new crypto.X509Certificate(ca.activeRootPem()).fingerprint256);
  assert.equal(Date.parse(leaf.validTo), Math.floor((NOW + 24 * 3_600_000) / 1000) * 1000, 'default TTL 24h');
  const metrics = await runtime.metrics.getSingleMetricAsString('remora_ca_certificates_issued_total');
  assert.match(metrics, /remora_ca_certificates_issued_total\{method="token"\} [1-9]/);
});

test('unknown, missing and malformed credentials are UNAUTHENTICATED', async () => {
  await start();
  const c = client();
  const csr = createCsr({ ...KEY, uris: [SLEEP_ID] });
  await refused(call(c, { csr }, 'not-a-real-token-but-long-enough'), grpc.status.UNAUTHENTICATED, /unknown or expired bearer token/);
  await refused(call(c, { csr }, null), grpc.status.UNAUTHENTICATED, /missing credentials/);
  const md = new grpc.Metadata();
  md.add('authorization', `Basic ${SLEEP_TOKEN}`);
  await assert.rejects(new Promise((resolve, reject) => {
    (c as unknown as { CreateCertificate: (r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void })
      .CreateCertificate({ csr }, md, (err, res) => (err ? reject(err) : resolve(res)));
  }), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED && /malformed authorization/.test(err.details));
  const m = await runtime.metrics.getSingleMetricAsString('remora_ca_requests_refused_total');
  assert.match(m, /reason="UNAUTHENTICATED"\} [3-9]/);
});

test("a CSR for another service account is PERMISSION_DENIED, with the reason", async () => {
  await start();
  await refused(
    call(client(), { csr: createCsr({ ...KEY, uris: ['spiffe://cluster.local/ns/default/sa/httpbin'] }) }, SLEEP_TOKEN),
    grpc.status.PERMISSION_DENIED,
    /the CSR asks for identity 'spiffe:\/\/cluster\.local\/ns\/default\/sa\/httpbin' but the caller is authenticated as 'spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep'/,
  );
});

test('a malformed CSR is INVALID_ARGUMENT naming the problem', async () => {
  await start();
  const c = client();
  await refused(call(c, { csr: 'garbage' }, SLEEP_TOKEN), grpc.status.INVALID_ARGUMENT, /^malformed CSR: the CSR is not PEM/);
  await refused(call(c, { csr: '' }, SLEEP_TOKEN), grpc.status.INVALID_ARGUMENT, /the CSR is empty/);
  const good = createCsr({ ...KEY, uris: [SLEEP_ID], commonName: 'aaaaaaaa' });
  const der = Buffer.from(good.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der.write('bbbbbbbb', der.indexOf(Buffer.from('aaaaaaaa')));
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await refused(call(c, { csr: tampered }, SLEEP_TOKEN), grpc.status.INVALID_ARGUMENT, /signature does not verify/);
  await refused(call(c, { csr: good, validity_duration: -5 }, SLEEP_TOKEN), grpc.status.INVALID_ARGUMENT, /must not be negative/);
});

test('validity_duration is honoured up to the max TTL', async () => {
  await start();
  const c = client();
  const csr = createCsr({ ...KEY, uris: [SLEEP_ID] });
  const short = new crypto.X509Certificate((await call(c, { csr, validity_duration: 30 }, SLEEP_TOKEN)).cert_chain[0]!);
  assert.equal(Date.parse(short.validTo), Math.floor((NOW + 30_000) / 1000) * 1000);
  const capped = new crypto.X509Certificate((await call(c, { csr, validity_duration: '999999999999' }, SLEEP_TOKEN)).cert_chain[0]!);
  assert.equal(Date.parse(capped.validTo), Math.floor((NOW + 48 * 3_600_000) / 1000) * 1000);
});

test('mTLS renewal: a workload certificate from this CA renews its own identity without a token', async () => {
  await start();
  const first = await call(client(), { csr: createCsr({ ...KEY, uris: [SLEEP_ID] }) }, SLEEP_TOKEN);
  const mtls = client({ keyPem: KEY_PEM, certPem: first.cert_chain[0]! });
  const next = generateKeyPair('ec');
  const renewed = await call(mtls, { csr: createCsr({ ...next, uris: [SLEEP_ID] }) }, null);
  const leaf = new crypto.X509Certificate(renewed.cert_chain[0]!);
  assert.equal(leaf.subjectAltName, `URI:${SLEEP_ID}`);
  assert.equal(leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(next.publicKey.export({ type: 'spki', format: 'der' })), true);
  // The certificate binds the identity: renewing as someone else is refused.
  await refused(call(mtls, { csr: createCsr({ ...next, uris: ['spiffe://cluster.local/ns/default/sa/httpbin'] }) }, null),
    grpc.status.PERMISSION_DENIED, /authenticated as 'spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep'/);
  const m = await runtime.metrics.getSingleMetricAsString('remora_ca_certificates_issued_total');
  assert.match(m, /method="mtls"\} 1/);
});

test('a client certificate from another CA proves nothing', async () => {
  await start();
  const stranger = MeshCa.createSelfSigned({ clock });
  const foreign = stranger.sign(createCsr({ ...KEY, uris: [SLEEP_ID] }), { namespace: 'default', serviceAccount: 'sleep' });
  const c = client({ keyPem: KEY_PEM, certPem: foreign.certPem });
  // The handshake completes (client certificates are optional), but an unverified certificate
  // yields no auth context, so the call carries no credentials at all.
  await refused(call(c, { csr: createCsr({ ...KEY, uris: [SLEEP_ID] }) }, null), grpc.status.UNAUTHENTICATED, /missing credentials/);
});

test('plaintext transport works for mounting next to the insecure xDS port', async (t) => {
  const plain = await CaServer.start({ ca, authenticator, transport: 'insecure', definition });
  t.after(() => plain.close());
  const c = new definition.Client(plain.address, grpc.credentials.createInsecure());
  t.after(() => c.close());
  const res = await call(c, { csr: createCsr({ ...KEY, uris: [SLEEP_ID] }) }, SLEEP_TOKEN);
  assert.equal(new crypto.X509Certificate(res.cert_chain[0]!).subjectAltName, `URI:${SLEEP_ID}`);
  await refused(call(c, { csr: createCsr({ ...KEY, uris: [SLEEP_ID] }) }, null), grpc.status.UNAUTHENTICATED, /missing credentials/);
});

test('token file: YAML and JSON load; weak tokens and bad entries are refused by name, not by token', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-tokens-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const yamlFile = path.join(dir, 'tokens.yaml');
  fs.writeFileSync(yamlFile, `${SLEEP_TOKEN}:\n  namespace: default\n  serviceAccount: sleep\n`);
  const a = TokenFileAuthenticator.fromFile(yamlFile);
  assert.deepEqual(a.authenticateToken(SLEEP_TOKEN), { namespace: 'default', serviceAccount: 'sleep' });
  assert.equal(a.authenticateToken(SLEEP_TOKEN.slice(0, -1)), null);
  assert.equal(a.authenticateToken(''), null);
  const jsonFile = path.join(dir, 'tokens.json');
  fs.writeFileSync(jsonFile, JSON.stringify({ [HTTPBIN_TOKEN]: { namespace: 'default', serviceAccount: 'httpbin' } }));
  a.reload(jsonFile);
  assert.equal(a.authenticateToken(SLEEP_TOKEN), null, 'reload replaces the tokens');
  assert.equal(a.authenticateToken(HTTPBIN_TOKEN)?.serviceAccount, 'httpbin');

  const bad: Array<[string, RegExp]> = [
    ['short: {namespace: a, serviceAccount: b}\n', /entry #1: token is 5 characters; at least 16/],
    [`${SLEEP_TOKEN}: {namespace: a, serviceAccount: b, extra: 1}\n`, /entry #1\.extra: unknown field/],
    [`${SLEEP_TOKEN}: {namespace: A/B, serviceAccount: b}\n`, /entry #1\.namespace: expected a Kubernetes-style name/],
    [`${SLEEP_TOKEN}: {namespace: a}\n`, /entry #1\.serviceAccount/],
    ['- a\n- b\n', /expected a map of token/],
    ['{{{', /not valid YAML/],
  ];
  for (const [text, re] of bad) {
    fs.writeFileSync(yamlFile, text);
    assert.throws(() => TokenFileAuthenticator.fromFile(yamlFile), (err: Error) => {
      assert.ok(err instanceof CaTokenFileError);
      assert.match(err.message, re);
      assert.ok(!err.message.includes(SLEEP_TOKEN), 'never echo a token');
      return true;
    });
  }
  assert.throws(() => TokenFileAuthenticator.fromFile(path.join(dir, 'missing.yaml')), /missing\.yaml: no such file/);
});
