/**
 * `remora ca init|issue` end to end: the CLI (spawned, and called in-process) creates a root
 * outside the repository with a 0600 key, refuses directories inside a git work tree, issues
 * workload certificates that openssl verifies and that complete a mutual TLS 1.3 handshake, and
 * reports bad input with exit code 2. Also the issue's CA cases through the CLI-made root: a CSR
 * for another service account and a malformed CSR are refused over gRPC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { caCommand } from '../src/cli/ca-command';
import { UsageError } from '../src/cli/args';
import { systemClock } from '../src/core/clock';
import { CaServer, MeshCa, TokenFileAuthenticator, createCsr, generateKeyPair, loadCaDefinition, loadRoot } from '../src/control-plane/ca';
import { runCli } from './fakes/sidecar-process';
import { repoPath } from './fakes/paths';

function tmpDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-ca-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function io(): { stdout: PassThrough; stderr: PassThrough; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d) => { o += d; });
  stderr.on('data', (d) => { e += d; });
  return { stdout, stderr, out: () => o, err: () => e };
}

test('remora ca init + issue (spawned CLI): files, modes, openssl verify, SPIFFE SAN', async (t) => {
  const dir = path.join(tmpDir(t), 'ca');
  const init = await runCli(['ca', 'init', '--dir', dir, '--trust-domain', 'example.org', '--ttl', '8760h']);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /created ECDSA P-256 root CA for trust domain example\.org/);
  const certPath = path.join(dir, 'root-cert.pem');
  const keyPath = path.join(dir, 'root-key.pem');
  assert.equal(fs.statSync(keyPath).mode & 0o777, 0o600);
  assert.equal(fs.statSync(dir).mode & 0o077, 0, 'CA directory is private');
  const root = new crypto.X509Certificate(fs.readFileSync(certPath));
  assert.equal(root.ca, true);
  assert.match(root.subject, /O=example\.org/);
  const lifetime = Date.parse(root.validTo) - Date.parse(root.validFrom);
  assert.ok(Math.abs(lifetime - (8760 * 3_600_000 + 60_000)) < 2000, `root lifetime ${lifetime}`);

  const out = path.join(dir, 'sleep');
  const issue = await runCli(['ca', 'issue', '--dir', dir, '--ns', 'default', '--sa', 'sleep', '--ttl', '2h', '--out', out]);
  assert.equal(issue.code, 0, issue.stderr);
  assert.match(issue.stdout, /issued spiffe:\/\/example\.org\/ns\/default\/sa\/sleep/);
  assert.equal(fs.statSync(`${out}-key.pem`).mode & 0o777, 0o600);
  const leaf = new crypto.X509Certificate(fs.readFileSync(`${out}-cert.pem`));
  assert.equal(leaf.subjectAltName, 'URI:spiffe://example.org/ns/default/sa/sleep');
  assert.equal(leaf.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(`${out}-key.pem`))), true);
  const ttl = Date.parse(leaf.validTo) - Date.now();
  assert.ok(ttl > 2 * 3_600_000 - 60_000 && ttl <= 2 * 3_600_000, `leaf ttl ${ttl}`);
  assert.equal(fs.readFileSync(`${out}-chain.pem`, 'utf8').match(/BEGIN CERTIFICATE/g)?.length, 2);
  assert.match(execFileSync('openssl', ['verify', '-CAfile', certPath, `${out}-cert.pem`]).toString(), /OK/);
  assert.match(execFileSync('openssl', ['verify', '-CAfile', certPath, '-untrusted', `${out}-chain.pem`, `${out}-chain.pem`]).toString(), /OK/);
});

test('remora ca: bad input exits 2 with a clear message (spawned CLI)', async (t) => {
  const dir = tmpDir(t);
  const cases: Array<[string[], RegExp]> = [
    [['ca', 'init'], /--dir is required/],
    [['ca', 'init', '--dir', path.join(dir, 'x'), '--key-type', 'dsa'], /--key-type: expected ec or rsa, got 'dsa'/],
    [['ca', 'init', '--dir', path.join(dir, 'x'), '--ttl', 'forever'], /--ttl: expected a duration/],
    [['ca', 'init', '--dir', path.join(dir, 'x'), '--bogus'], /Unknown option '--bogus'/],
    [['ca', 'issue', '--dir', path.join(dir, 'nothing'), '--ns', 'a', '--sa', 'b', '--out', path.join(dir, 'o')], /root-cert\.pem: no such file \(run 'remora ca init --dir/],
    [['ca', 'frobnicate'], /unknown ca command 'frobnicate'/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
});

test('remora ca init refuses a directory inside a git work tree unless --allow-in-git', async (t) => {
  const inRepo = repoPath('.remora-ca-test-should-not-exist');
  t.after(() => fs.rmSync(inRepo, { recursive: true, force: true }));
  const s = io();
  await assert.rejects(caCommand(['init', '--dir', inRepo], s), (err: Error) => {
    assert.ok(err instanceof UsageError);
    assert.match(err.message, /is inside the git work tree .*CA keys must not live in a repository/);
    return true;
  });
  assert.equal(fs.existsSync(inRepo), false, 'nothing written');

  // A fake work tree elsewhere: allowed with the flag, with a warning.
  const fakeRepo = tmpDir(t);
  fs.mkdirSync(path.join(fakeRepo, '.git'));
  const s2 = io();
  await caCommand(['init', '--dir', path.join(fakeRepo, 'pki'), '--allow-in-git'], s2);
  assert.match(s2.err(), /warning: writing CA keys inside the git work tree/);
  assert.equal(fs.existsSync(path.join(fakeRepo, 'pki', 'root-key.pem')), true);
});

test('remora ca init refuses to overwrite an existing root without --force; RSA roots work', async (t) => {
  const dir = tmpDir(t);
  await caCommand(['init', '--dir', dir, '--key-type', 'rsa'], io());
  const first = fs.readFileSync(path.join(dir, 'root-cert.pem'), 'utf8');
  assert.equal(new crypto.X509Certificate(first).publicKey.asymmetricKeyType, 'rsa');
  await assert.rejects(caCommand(['init', '--dir', dir], io()), /already holds a CA .*--force/);
  assert.equal(fs.readFileSync(path.join(dir, 'root-cert.pem'), 'utf8'), first);
  await caCommand(['init', '--dir', dir, '--force'], io());
  assert.notEqual(fs.readFileSync(path.join(dir, 'root-cert.pem'), 'utf8'), first);
  await assert.rejects(caCommand(['issue', '--dir', dir, '--ns', 'Bad/NS', '--sa', 'x', '--out', path.join(dir, 'o')], io()), /invalid namespace 'Bad\/NS'/);
  await assert.rejects(caCommand(['init', '--dir', path.join(dir, 'r'), '--key-type', 'rsa', '--rsa-bits', '1024'], io()), /at least 2048/);
});

test('certificates from `remora ca issue` complete a mutual TLS 1.3 handshake (server with DNS/IP SANs)', async (t) => {
  const dir = tmpDir(t);
  await caCommand(['init', '--dir', dir], io());
  await caCommand(['issue', '--dir', dir, '--ns', 'default', '--sa', 'server', '--dns', 'localhost', '--ip', '127.0.0.1', '--out', path.join(dir, 'server')], io());
  await caCommand(['issue', '--dir', dir, '--ns', 'default', '--sa', 'client', '--key-type', 'rsa', '--out', path.join(dir, 'client')], io());
  const read = (f: string) => fs.readFileSync(path.join(dir, f));
  let peer: string | undefined;
  const srv = tls.createServer({ key: read('server-key.pem'), cert: read('server-cert.pem'), ca: read('root-cert.pem'), requestCert: true, rejectUnauthorized: true }, (sock) => {
    peer = sock.getPeerCertificate().subjectaltname;
    sock.end('hi');
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => srv.close());
  const port = (srv.address() as { port: number }).port;
  const result = await new Promise<{ data: string; protocol: string | null }>((resolve, reject) => {
    // Default host-name checking: the server certificate carries IP:127.0.0.1.
    const sock = tls.connect({ host: '127.0.0.1', port, key: read('client-key.pem'), cert: read('client-cert.pem'), ca: read('root-cert.pem') });
    let data = '';
    sock.on('data', (d) => { data += d; });
    sock.on('end', () => resolve({ data, protocol: sock.getProtocol() }));
    sock.on('error', reject);
  });
  assert.deepEqual(result, { data: 'hi', protocol: 'TLSv1.3' });
  assert.equal(peer, 'URI:spiffe://cluster.local/ns/default/sa/client');
});

test('a CA loaded from `remora ca init` output refuses another SA and a malformed CSR over gRPC', async (t) => {
  const dir = tmpDir(t);
  await caCommand(['init', '--dir', dir], io());
  const ca = new MeshCa({ trustDomain: 'cluster.local', clock: systemClock, root: loadRoot(read(dir, 'root-cert.pem'), read(dir, 'root-key.pem')) });
  const token = 'reviews-token-0123456789abcdef';
  const server = await CaServer.start({ ca, authenticator: new TokenFileAuthenticator({ [token]: { namespace: 'bookinfo', serviceAccount: 'reviews' } }) });
  t.after(() => server.close());
  const definition = loadCaDefinition();
  const client = new definition.Client(server.address, grpc.credentials.createSsl(Buffer.from(ca.trustBundlePem())));
  t.after(() => client.close());
  const md = new grpc.Metadata();
  md.add('authorization', `Bearer ${token}`);
  const create = (csr: string) => new Promise<{ cert_chain: string[] }>((resolve, reject) => {
    (client as unknown as { CreateCertificate: (r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: { cert_chain: string[] }) => void) => void })
      .CreateCertificate({ csr }, md, (err, res) => (err ? reject(err) : resolve(res)));
  });
  const key = generateKeyPair('ec');
  const ok = await create(createCsr({ ...key, uris: ['spiffe://cluster.local/ns/bookinfo/sa/reviews'] }));
  assert.equal(new crypto.X509Certificate(ok.cert_chain[0]!).subjectAltName, 'URI:spiffe://cluster.local/ns/bookinfo/sa/reviews');
  await assert.rejects(create(createCsr({ ...key, uris: ['spiffe://cluster.local/ns/bookinfo/sa/ratings'] })), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.PERMISSION_DENIED);
    assert.match(err.details, /asks for identity 'spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/ratings' but the caller is authenticated as 'spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/reviews'/);
    return true;
  });
  await assert.rejects(create('-----BEGIN CERTIFICATE REQUEST-----\nMIIBAA==\n-----END CERTIFICATE REQUEST-----\n'), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /^malformed CSR: the CSR is not a valid PKCS#10 structure/);
    return true;
  });
});

function read(dir: string, f: string): Buffer {
  return fs.readFileSync(path.join(dir, f));
}
