import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { once } from 'node:events';
import pino from 'pino';
import { Registry } from 'prom-client';
import { OverflowError, ProxyError, UpstreamConnectError } from '../core/errors';
import { seededRandom, systemClock } from '../core/clock';
import type { Runtime } from '../core/runtime';
import { Timers } from '../core/timers';
import { buildUpstreamTlsOptions } from '../transport/upstream-tls';
import { TestPki } from '../../test/fakes/openssl-pki';
import type { UpstreamTlsModel } from '../config/model';
import { H2Pool, H2_POOL_MAX_PENDING, type H2PoolOptions, type H2PoolRequest } from './h2-pool';

function testRuntime(): Runtime {
  return {
    clock: systemClock, random: seededRandom(1), timers: new Timers(), logger: pino({ level: 'silent' }),
    metrics: new Registry(), trace: new Set(),
  };
}

/** Every test fails instead of hanging when the pool never calls back. */
const T = { timeout: 20_000 };

const BASE: H2PoolOptions = {
  connectTimeoutMs: 5000, tls: null, maxConcurrentStreams: 2147483647, initialStreamWindowSize: 1 << 20,
  initialConnectionWindowSize: 1 << 24, idleTimeoutMs: null, maxRequestsPerConnection: null,
};

/** A request whose outcome is a promise: the opened stream, or the pool's error. */
class TestRequest implements H2PoolRequest {
  readonly upstreamHeaders: http2.OutgoingHttpHeaders;
  readonly upstreamEndStream: boolean = true;
  readonly done: Promise<http2.ClientHttp2Stream>;
  calls = 0;
  private resolve!: (s: http2.ClientHttp2Stream) => void;
  private reject!: (e: ProxyError) => void;
  constructor(path = '/') {
    this.upstreamHeaders = { ':method': 'GET', ':path': path, ':authority': 'upstream.test', ':scheme': 'http' };
    this.done = new Promise((res, rej) => { this.resolve = res; this.reject = rej; });
    this.done.catch(() => {});
  }
  onUpstreamStream(stream: http2.ClientHttp2Stream): void {
    this.calls++;
    stream.on('error', () => {});
    this.resolve(stream);
  }
  onUpstreamConnectError(err: ProxyError): void {
    this.calls++;
    this.reject(err);
  }
}

/** Reads a full response: status and body. */
async function readResponse(stream: http2.ClientHttp2Stream): Promise<{ status: number; body: string }> {
  const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  let body = '';
  stream.setEncoding('utf8');
  for await (const chunk of stream) body += chunk;
  if (!stream.closed) await new Promise((r) => stream.on('close', r));
  return { status: Number(headers[':status']), body };
}

async function get(pool: H2Pool, path = '/'): Promise<{ status: number; body: string; session: http2.ClientHttp2Session }> {
  const req = new TestRequest(path);
  pool.request(req);
  const stream = await req.done;
  const session = stream.session as http2.ClientHttp2Session;
  return { ...(await readResponse(stream)), session };
}

interface TestServer {
  server: http2.Http2Server | http2.Http2SecureServer;
  port: number;
  sessions: http2.ServerHttp2Session[];
}

async function startServer(
  t: { after(fn: () => unknown): void },
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, srv: TestServer) => void,
  settings: http2.Settings = {},
  secure: http2.SecureServerOptions | null = null,
): Promise<TestServer> {
  const server = secure === null ? http2.createServer({ settings }) : http2.createSecureServer({ ...secure, settings });
  const srv: TestServer = { server, port: 0, sessions: [] };
  server.on('session', (s) => { srv.sessions.push(s); s.on('error', () => {}); });
  server.on('stream', (stream, headers) => { stream.on('error', () => {}); onStream(stream, headers, srv); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  srv.port = (server.address() as net.AddressInfo).port;
  t.after(async () => {
    for (const s of srv.sessions) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return srv;
}

function ok(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  stream.respond({ ':status': 200 });
  stream.end(String(headers[':path']));
}

test('reuses one session for many sequential and concurrent streams', T, async (t) => {
  const srv = await startServer(t, ok);
  const pool = new H2Pool('127.0.0.1', srv.port, BASE, testRuntime());
  t.after(() => pool.destroy());
  for (let i = 0; i < 5; i++) assert.deepEqual((await get(pool, `/s${i}`)).body, `/s${i}`);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => get(pool, `/c${i}`)));
  assert.deepEqual(results.map((r) => r.body), Array.from({ length: 20 }, (_, i) => `/c${i}`));
  assert.equal(srv.sessions.length, 1);
  const st = pool.stats();
  assert.equal(st.sessionsCreated, 1);
  assert.equal(st.streamsTotal, 25);
  assert.equal(st.activeStreams, 0);
  assert.equal(st.pending, 0);
  await pool.close();
  assert.equal(pool.stats().sessions, 0);
});

test('respects the peer max concurrent streams: 5 slow streams over limit 2 → 3 sessions', T, async (t) => {
  const held: Array<[http2.ServerHttp2Stream, http2.IncomingHttpHeaders]> = [];
  const srv = await startServer(t, (stream, headers) => {
    held.push([stream, headers]);
    if (held.length === 5) for (const [s, h] of held) ok(s, h); // answer only once all 5 are open at once
  }, { maxConcurrentStreams: 2 });
  const pool = new H2Pool('127.0.0.1', srv.port, BASE, testRuntime());
  t.after(() => pool.destroy());
  const results = await Promise.all(Array.from({ length: 5 }, (_, i) => get(pool, `/slow${i}`)));
  assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 200]);
  assert.equal(srv.sessions.length, 3);
  assert.equal(new Set(results.map((r) => r.session)).size, 3);
});

test('1000 concurrent streams fit an upstream allowing 100 per session', T, async (t) => {
  const held: Array<[http2.ServerHttp2Stream, http2.IncomingHttpHeaders]> = [];
  const srv = await startServer(t, (stream, headers) => {
    held.push([stream, headers]);
    if (held.length === 1000) for (const [s, h] of held) ok(s, h);
  }, { maxConcurrentStreams: 100 });
  const pool = new H2Pool('127.0.0.1', srv.port, BASE, testRuntime());
  t.after(() => pool.destroy());
  const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => get(pool, `/${i}`)));
  assert.equal(results.filter((r) => r.status === 200).length, 1000);
  assert.equal(srv.sessions.length, 10);
  assert.equal(pool.stats().activeStreams, 0);
});

test('our own maxConcurrentStreams cap also applies', T, async (t) => {
  const held: Array<[http2.ServerHttp2Stream, http2.IncomingHttpHeaders]> = [];
  const srv = await startServer(t, (stream, headers) => {
    held.push([stream, headers]);
    if (held.length === 4) for (const [s, h] of held) ok(s, h);
  });
  const pool = new H2Pool('127.0.0.1', srv.port, { ...BASE, maxConcurrentStreams: 1 }, testRuntime());
  t.after(() => pool.destroy());
  await Promise.all(Array.from({ length: 4 }, () => get(pool)));
  assert.equal(srv.sessions.length, 4);
});

test('connect refused → UpstreamConnectError for every waiting request', T, async (t) => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const pool = new H2Pool('127.0.0.1', port, BASE, testRuntime());
  t.after(() => pool.destroy());
  const reqs = [new TestRequest(), new TestRequest(), new TestRequest()];
  for (const r of reqs) pool.request(r);
  for (const r of reqs) {
    await assert.rejects(r.done, (err: unknown) => err instanceof UpstreamConnectError && (err.cause as { code?: string }).code === 'ECONNREFUSED');
    assert.equal(r.calls, 1);
  }
  assert.equal(pool.stats().connectFailures, 1);
  assert.equal(pool.stats().sessions, 0);
});

test('connect timeout against a server that accepts TCP but never speaks h2', T, async (t) => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(async () => { for (const s of sockets) s.destroy(); await new Promise<void>((r) => silent.close(() => r())); });
  const pool = new H2Pool('127.0.0.1', (silent.address() as net.AddressInfo).port, { ...BASE, connectTimeoutMs: 100 }, testRuntime());
  t.after(() => pool.destroy());
  const req = new TestRequest();
  pool.request(req);
  await assert.rejects(req.done, (err: unknown) => err instanceof UpstreamConnectError && /connect timeout/.test(String((err.cause as Error).message)));
  assert.equal(req.calls, 1);
  assert.equal(pool.stats().sessions, 0);
});

test('a GOAWAY retires the session: the next request uses a fresh one', T, async (t) => {
  const srv = await startServer(t, ok);
  const pool = new H2Pool('127.0.0.1', srv.port, BASE, testRuntime());
  t.after(() => pool.destroy());
  const first = await get(pool, '/a');
  const goaway = once(first.session, 'goaway');
  srv.sessions[0].close(); // graceful server shutdown: GOAWAY(NO_ERROR)
  await goaway;
  const second = await get(pool, '/b');
  assert.equal(second.body, '/b');
  assert.notEqual(second.session, first.session);
  assert.equal(srv.sessions.length, 2);
  await pool.close(); // must not wait forever on the drained session (a Node server never closes it)
  assert.equal(pool.stats().sessions, 0);
});

test('a stream above the GOAWAY last-stream-id is refused (rstCode 7) and the pool moves on', T, async (t) => {
  let firstStream: http2.ServerHttp2Stream | null = null;
  const srv = await startServer(t, (stream, headers, s) => {
    const firstSession = stream.session === s.sessions[0];
    if (firstSession && stream.id === 1) { firstStream = stream; return; }
    if (firstSession && stream.id === 3 && stream.session !== undefined) {
      stream.session.goaway(http2.constants.NGHTTP2_NO_ERROR, 1); // only stream 1 will be processed
      ok(firstStream!, { ':path': '/first' });
      return;
    }
    ok(stream, headers);
  });
  const pool = new H2Pool('127.0.0.1', srv.port, BASE, testRuntime());
  t.after(() => pool.destroy());
  const r1 = new TestRequest('/first');
  const r2 = new TestRequest('/second');
  pool.request(r1);
  pool.request(r2);
  const s1 = await r1.done;
  const s2 = await r2.done;
  assert.equal(s1.session, s2.session);
  const refused = new Promise((r) => s2.on('close', r));
  const res1 = await readResponse(s1);
  await refused;
  assert.equal(res1.body, '/first');
  assert.equal(s2.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM);
  const third = await get(pool, '/third');
  assert.equal(third.body, '/third');
  assert.notEqual(third.session, s1.session);
  await pool.close();
  assert.equal(pool.stats().sessions, 0);
});

test('idle timeout closes a session with no streams', T, async (t) => {
  const srv = await startServer(t, ok);
  const pool = new H2Pool('127.0.0.1', srv.port, { ...BASE, idleTimeoutMs: 30 }, testRuntime());
  t.after(() => pool.destroy());
  const r = await get(pool);
  assert.equal(r.status, 200);
  await once(srv.sessions[0], 'close');
  assert.equal(pool.stats().sessions, 0);
  assert.equal((await get(pool)).status, 200); // a new session is made on demand
  assert.equal(srv.sessions.length, 2);
});

test('maxRequestsPerConnection drains a session after N streams', T, async (t) => {
  const srv = await startServer(t, ok);
  const pool = new H2Pool('127.0.0.1', srv.port, { ...BASE, maxRequestsPerConnection: 2 }, testRuntime());
  t.after(() => pool.destroy());
  for (let i = 0; i < 5; i++) assert.equal((await get(pool)).status, 200);
  assert.equal(srv.sessions.length, 3);
});

test('pending queue is bounded: overflow is reported synchronously; destroy fails the rest', T, async (t) => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(async () => { for (const s of sockets) s.destroy(); await new Promise<void>((r) => silent.close(() => r())); });
  const pool = new H2Pool('127.0.0.1', (silent.address() as net.AddressInfo).port, BASE, testRuntime());
  const reqs = Array.from({ length: H2_POOL_MAX_PENDING }, () => new TestRequest());
  for (const r of reqs) pool.request(r);
  assert.equal(pool.stats().pending, H2_POOL_MAX_PENDING);
  const extra = new TestRequest();
  pool.request(extra);
  assert.equal(extra.calls, 1);
  await assert.rejects(extra.done, OverflowError);
  assert.equal(pool.cancel(reqs[5]), true);
  assert.equal(pool.cancel(reqs[5]), false);
  pool.destroy();
  for (let i = 0; i < reqs.length; i++) {
    if (i === 5) { assert.equal(reqs[i].calls, 0); continue; }
    assert.equal(reqs[i].calls, 1);
    await assert.rejects(reqs[i].done, UpstreamConnectError);
  }
});

test('close() lets open streams finish, then resolves; later requests fail fast', T, async (t) => {
  let held: http2.ServerHttp2Stream | null = null;
  const srv = await startServer(t, (stream) => { held = stream; });
  const pool = new H2Pool('127.0.0.1', srv.port, BASE, testRuntime());
  t.after(() => pool.destroy());
  const req = new TestRequest('/slow');
  pool.request(req);
  const stream = await req.done;
  while (held === null) await new Promise((r) => setImmediate(r));
  let closed = false;
  const closing = pool.close().then(() => { closed = true; });
  const late = new TestRequest();
  pool.request(late);
  await assert.rejects(late.done, UpstreamConnectError);
  ok(held, { ':path': '/slow' });
  const res = await readResponse(stream);
  assert.equal(res.body, '/slow');
  await closing;
  assert.equal(closed, true);
});

test('request() never throws: headers Node rejects become a BadRequestError', T, async (t) => {
  const srv = await startServer(t, ok);
  const pool = new H2Pool('127.0.0.1', srv.port, BASE, testRuntime());
  t.after(() => pool.destroy());
  await get(pool);
  const bad = new TestRequest();
  (bad.upstreamHeaders as Record<string, unknown>)['connection'] = 'keep-alive';
  pool.request(bad);
  await assert.rejects(bad.done, (e: unknown) => ProxyError.is(e) && e.code === 'REMORA_ERR_BAD_REQUEST');
  assert.equal((await get(pool)).status, 200); // the session is still in use
  assert.equal(srv.sessions.length, 1);
});

test('TLS h2 (ALPN h2) with a test CA; a wrong CA is a connect error', T, async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const ca = pki.createCa('ca');
  const other = pki.createCa('other');
  const leaf = pki.issue(ca, 'backend', ['DNS:backend.test']);
  const srv = await startServer(t, (stream, headers) => {
    const sock = stream.session?.socket as unknown as { alpnProtocol?: string; servername?: string | false };
    stream.respond({ ':status': 200 });
    stream.end(`${String(headers[':path'])} ${sock.alpnProtocol} ${sock.servername}`);
  }, {}, { cert: leaf.cert, key: leaf.key });
  const model: UpstreamTlsModel = {
    certChain: null, privateKey: null, certificateSdsName: null, validationSdsName: null, trustedCa: ca.cert, sni: null,
    matchSubjectAltNames: [{ type: 'DNS', matcher: { kind: 'exact', value: 'backend.test', ignoreCase: false } }],
    alpnProtocols: [], minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', cipherSuites: null,
  };
  const pool = new H2Pool('127.0.0.1', srv.port, { ...BASE, tls: buildUpstreamTlsOptions(model, ['h2']) }, testRuntime());
  t.after(() => pool.destroy());
  const r = await get(pool, '/tls');
  assert.equal(r.body, '/tls h2 false'); // ALPN h2, no SNI
  const sniPool = new H2Pool('127.0.0.1', srv.port, { ...BASE, tls: buildUpstreamTlsOptions({ ...model, sni: 'backend.test' }, ['h2']) }, testRuntime());
  t.after(() => sniPool.destroy());
  assert.equal((await get(sniPool, '/sni')).body, '/sni h2 backend.test');
  const badPool = new H2Pool('127.0.0.1', srv.port, { ...BASE, tls: buildUpstreamTlsOptions({ ...model, trustedCa: other.cert }, ['h2']) }, testRuntime());
  t.after(() => badPool.destroy());
  const bad = new TestRequest();
  badPool.request(bad);
  await assert.rejects(bad.done, UpstreamConnectError);
});

test('a real grpc-js server with grpc.max_concurrent_streams=2: 4 held calls spread over 2 sessions', T, async (t) => {
  const grpc = await import('@grpc/grpc-js');
  const identity = (b: Buffer): Buffer => b;
  const service = {
    Echo: {
      path: '/test.Echo/Echo', requestStream: false, responseStream: false, originalName: 'Echo',
      requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
    },
  } as unknown as import('@grpc/grpc-js').ServiceDefinition;
  const held: Array<() => void> = [];
  const server = new grpc.Server({ 'grpc.max_concurrent_streams': 2 });
  server.addService(service, {
    Echo(call: { request: Buffer }, cb: (err: null, res: Buffer) => void) {
      held.push(() => cb(null, call.request));
      if (held.length === 4) for (const release of held) release();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.after(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  const pool = new H2Pool('127.0.0.1', port, BASE, testRuntime());
  t.after(() => pool.destroy());

  class GrpcRequest extends TestRequest {
    override readonly upstreamEndStream = false;
    constructor() {
      super('/test.Echo/Echo');
      Object.assign(this.upstreamHeaders, { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' });
    }
  }
  const call = async (i: number): Promise<{ status: string; body: Buffer; session: http2.ClientHttp2Session }> => {
    const req = new GrpcRequest();
    pool.request(req);
    const stream = await req.done;
    const payload = Buffer.from(`msg${i}`);
    const frame = Buffer.alloc(5 + payload.length);
    frame.writeUInt32BE(payload.length, 1);
    payload.copy(frame, 5);
    stream.end(frame);
    const trailers = new Promise<http2.IncomingHttpHeaders>((r) => stream.on('trailers', r));
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return { status: String((await trailers)['grpc-status']), body: Buffer.concat(chunks).subarray(5), session: stream.session as http2.ClientHttp2Session };
  };
  const results = await Promise.all([0, 1, 2, 3].map(call));
  assert.deepEqual(results.map((r) => [r.status, r.body.toString()]), [['0', 'msg0'], ['0', 'msg1'], ['0', 'msg2'], ['0', 'msg3']]);
  assert.equal(new Set(results.map((r) => r.session)).size, 2);
  assert.equal(pool.stats().sessionsCreated, 2);
});
