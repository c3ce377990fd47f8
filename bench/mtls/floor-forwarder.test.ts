/**
 * Tests for the bench's node:http2 floor forwarder: real grpc-js Echo calls through h2c → h2c and
 * through the mTLS pair shape (h2c → A → TLS 1.3 with SANs → B → h2c), a trailers-only gRPC error
 * passed through, a wrong SAN pin failing the call, and the argument parser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadBenchService } from '../macro/proto';
import { issueBenchCertificates, type BenchCertFiles, type WorkloadCertFiles } from './certs';
import { FloorForwarder, hasUriSan, parseForwarderArgs, startFloorForwarder, type FloorTlsFiles } from './floor-forwarder';

interface EchoRequest {
  payload: Buffer;
}
interface EchoReply {
  payload_size: number;
}

/** A grpc-js Echo upstream: replies payload_size, or NOT_FOUND (trailers-only) for the payload "fail". */
async function startUpstream(t: { after(fn: () => void | Promise<void>): void }): Promise<number> {
  const server = new grpc.Server();
  server.addService(loadBenchService().service, {
    Echo(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) {
      if (call.request.payload.toString() === 'fail') cb({ code: grpc.status.NOT_FOUND, details: 'no such echo' });
      else cb(null, { payload_size: call.request.payload.length });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err !== null ? reject(err) : resolve(p))),
  );
  t.after(() => {
    server.forceShutdown();
  });
  return port;
}

async function startForwarder(t: { after(fn: () => void | Promise<void>): void }, fwd: FloorForwarder): Promise<number> {
  t.after(() => fwd.close());
  return fwd.listen();
}

function echo(port: number, payload: Buffer): Promise<EchoReply> {
  const Bench = loadBenchService();
  const client = new Bench(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<EchoReply>((resolve, reject) => {
    client.Echo({ payload }, { deadline: new Date(Date.now() + 5000) }, (err: grpc.ServiceError | null, reply: EchoReply) => {
      client.close();
      if (err !== null) reject(err);
      else resolve(reply);
    });
  });
}

function tlsFiles(w: WorkloadCertFiles, certs: BenchCertFiles): FloorTlsFiles {
  return { cert: fs.readFileSync(w.certFile), key: fs.readFileSync(w.keyFile), ca: fs.readFileSync(certs.rootCaFile) };
}

function tmpCerts(t: { after(fn: () => void): void }): BenchCertFiles {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floor-fwd-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return issueBenchCertificates(dir);
}

const plain = { serverTls: null, clientSan: null, upstreamTls: null, upstreamSan: null, upstreamHost: '127.0.0.1' } as const;

test('h2c → floor forwarder → grpc-js: unary Echo (1 KiB) and a trailers-only error pass through', async (t) => {
  const up = await startUpstream(t);
  const port = await startForwarder(t, new FloorForwarder({ ...plain, listenPort: 0, upstreamPort: up }));
  assert.deepEqual(await echo(port, Buffer.alloc(1024, 0x61)), { payload_size: 1024 });
  // Several calls share the one upstream session.
  const replies = await Promise.all([1, 2, 3, 4].map((n) => echo(port, Buffer.alloc(n * 100))));
  assert.deepEqual(replies.map((r) => r.payload_size), [100, 200, 300, 400]);
  await assert.rejects(echo(port, Buffer.from('fail')), (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.NOT_FOUND);
    assert.equal(e.details, 'no such echo');
    return true;
  });
});

/**
 * The pair h2c → A → TLS 1.3 → B → grpc-js Echo. B requires `clientSan` from its clients (null: any
 * certificate of the mesh CA), A pins `upstreamSan` on B. Returns A's port.
 */
async function startPair(
  t: { after(fn: () => void | Promise<void>): void },
  sans: (certs: BenchCertFiles) => { clientSan: string | null; upstreamSan: string },
): Promise<number> {
  const certs = tmpCerts(t);
  const { clientSan, upstreamSan } = sans(certs);
  const up = await startUpstream(t);
  const bPort = await startForwarder(t, new FloorForwarder({ ...plain, listenPort: 0, upstreamPort: up, serverTls: tlsFiles(certs.b, certs), clientSan }));
  return startForwarder(t, new FloorForwarder({ ...plain, listenPort: 0, upstreamPort: bPort, upstreamTls: tlsFiles(certs.a, certs), upstreamSan }));
}

test('floor pair: h2c → A → TLS 1.3 mTLS (SAN pinned) → B → grpc-js', async (t) => {
  const aPort = await startPair(t, (c) => ({ clientSan: c.a.spiffeId, upstreamSan: c.b.spiffeId }));
  assert.deepEqual(await echo(aPort, Buffer.alloc(1024, 0x62)), { payload_size: 1024 });
  await assert.rejects(echo(aPort, Buffer.from('fail')), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
});

test('floor pair: A refuses B when B does not carry the pinned SAN (the call fails)', async (t) => {
  // A pins a's identity, but B presents b's certificate.
  const aPort = await startPair(t, (c) => ({ clientSan: null, upstreamSan: c.a.spiffeId }));
  await assert.rejects(echo(aPort, Buffer.from('x')), (e: grpc.ServiceError) => e.code !== grpc.status.OK);
});

test('floor pair: B drops A when the client certificate lacks the required SAN (the call fails)', async (t) => {
  // B requires b's identity from its clients, but A presents a's certificate.
  const aPort = await startPair(t, (c) => ({ clientSan: c.b.spiffeId, upstreamSan: c.b.spiffeId }));
  await assert.rejects(echo(aPort, Buffer.from('x')), (e: grpc.ServiceError) => e.code !== grpc.status.OK);
});

test('hasUriSan matches whole URI entries only', () => {
  assert.equal(hasUriSan('URI:spiffe://td/ns/a/sa/b', 'spiffe://td/ns/a/sa/b'), true);
  assert.equal(hasUriSan('DNS:x, URI:spiffe://td/ns/a/sa/b', 'spiffe://td/ns/a/sa/b'), true);
  assert.equal(hasUriSan('URI:spiffe://td/ns/a/sa/bb', 'spiffe://td/ns/a/sa/b'), false);
  assert.equal(hasUriSan(undefined, 'spiffe://td/ns/a/sa/b'), false);
});

test('parseForwarderArgs: h2c, mTLS sets and their consistency rules', (t) => {
  const certs = tmpCerts(t);
  const o = parseForwarderArgs(['--listen', '0', '--upstream', '127.0.0.1:9']);
  assert.equal(o.listenPort, 0);
  assert.equal(o.upstreamHost, '127.0.0.1');
  assert.equal(o.upstreamPort, 9);
  assert.equal(o.serverTls, null);
  assert.equal(o.upstreamTls, null);
  const b = parseForwarderArgs([
    '--listen', '1234', '--upstream', 'localhost:80', '--tls-cert', certs.b.certFile, '--tls-key', certs.b.keyFile, '--tls-ca', certs.rootCaFile,
    '--require-client-cert', '--client-san', certs.a.spiffeId,
  ]);
  assert.ok(b.serverTls !== null && b.serverTls.cert.toString().includes('BEGIN CERTIFICATE'));
  assert.equal(b.clientSan, certs.a.spiffeId);
  const a = parseForwarderArgs([
    '--listen', '0', '--upstream', '127.0.0.1:1', '--upstream-tls-cert', certs.a.certFile, '--upstream-tls-key', certs.a.keyFile,
    '--upstream-tls-ca', certs.rootCaFile, '--upstream-san', certs.b.spiffeId,
  ]);
  assert.equal(a.upstreamSan, certs.b.spiffeId);
  assert.throws(() => parseForwarderArgs(['--listen', '0']), /--upstream: expected host:port/);
  assert.throws(() => parseForwarderArgs(['--listen', 'x', '--upstream', 'h:1']), /--listen: expected a port/);
  assert.throws(() => parseForwarderArgs(['--listen', '0', '--upstream', 'h:1', '--tls-cert', certs.b.certFile]), /go together/);
  assert.throws(
    () => parseForwarderArgs(['--listen', '0', '--upstream', 'h:1', '--tls-cert', certs.b.certFile, '--tls-key', certs.b.keyFile, '--tls-ca', certs.rootCaFile]),
    /must --require-client-cert/,
  );
  assert.throws(
    () => parseForwarderArgs(['--listen', '0', '--upstream', 'h:1', '--upstream-tls-cert', certs.a.certFile, '--upstream-tls-key', certs.a.keyFile, '--upstream-tls-ca', certs.rootCaFile]),
    /--upstream-san goes with/,
  );
  assert.throws(() => parseForwarderArgs(['--listen', '0', '--upstream', 'h:1', '--bogus', 'x']), /unknown argument --bogus/);
});

test('startFloorForwarder: the script forks, reports its port over IPC, forwards, and exits on SIGTERM', async (t) => {
  const up = await startUpstream(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floor-fwd-proc-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const p = await startFloorForwarder((c) => c, ['--listen', '0', '--upstream', `127.0.0.1:${up}`], path.join(dir, 'fwd.log'));
  t.after(() => {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  });
  assert.deepEqual(await echo(p.port, Buffer.alloc(10)), { payload_size: 10 });
  const exited = new Promise<number | null>((resolve) => p.child.once('exit', (code) => resolve(code)));
  p.child.kill('SIGTERM');
  assert.equal(await exited, 0);
  await assert.rejects(
    startFloorForwarder((c) => c, ['--listen', '0'], path.join(dir, 'bad.log')),
    /exited \(2\) during startup[\s\S]*--upstream: expected host:port/,
  );
});
