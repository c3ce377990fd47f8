/**
 * HTTP connection manager limits: request header count and size (431 over HTTP/1.1 and HTTP/2,
 * RESOURCE_EXHAUSTED-style local reply for gRPC, with the header_overflow metric), the advertised and
 * enforced `http2_protocol_options.max_concurrent_streams`, and stream idle / request timeouts
 * (short configured values; the test asserts the outcome, never the elapsed time).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { EchoServer } from './fakes/echo-server';
import { ECHO_CONTROL } from './fakes/echo-proto';
import { createEchoClient, md, unary } from './fakes/echo-client';
import { HttpBackend } from './fakes/http-backend';
import { httpRequest } from './fakes/http-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { routeTo } from './fakes/bootstrap';
import { withTimeout } from './fakes/wait';

const LIMITS = {
  max_request_headers_kb: 8,
  common_http_protocol_options: { max_headers_count: 20 },
  http2_protocol_options: { max_concurrent_streams: 5 },
};

function manyHeaders(n: number): Record<string, string> {
  const h: Record<string, string> = {};
  for (let i = 0; i < n; i++) h[`x-many-${i}`] = 'v';
  return h;
}

/** One HTTP/2 request on a fresh session; resolves with the :status (or rejects on reset). */
async function h2Get(port: number, headers: http2.OutgoingHttpHeaders, path = '/h'): Promise<number> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => { /* surfaced through the stream */ });
  try {
    return await withTimeout(new Promise<number>((resolve, reject) => {
      const req = session.request({ ':method': 'GET', ':path': path, ...headers });
      req.on('response', (h) => { resolve(Number(h[':status'])); req.resume(); });
      req.on('error', reject);
      req.on('close', () => reject(new Error(`stream closed without a response (rst ${req.rstCode})`)));
      req.end();
    }), 10_000, 'h2 response');
  } finally {
    session.destroy();
  }
}

describe('HCM limits', { timeout: 60_000 }, () => {
  let backend: HttpBackend;
  let echo: EchoServer;
  let sidecar: SidecarHarness;

  before(async () => {
    backend = await HttpBackend.start('limits');
    echo = await EchoServer.start({ id: 'limits' });
    sidecar = await SidecarHarness.start({
      listeners: [
        { name: 'http', routes: [routeTo('backend')], hcm: LIMITS },
        { name: 'grpc', routes: [routeTo('echo', { prefix: '/' }, { timeout: '0s' })], hcm: LIMITS },
      ],
      clusters: [
        { name: 'backend', endpoints: [{ host: '127.0.0.1', port: backend.port }] },
        { name: 'echo', endpoints: [{ host: '127.0.0.1', port: echo.port }], http2: true },
      ],
    });
  });

  after(async () => {
    await sidecar?.close();
    await backend?.close();
    await echo?.close();
  });

  it('HTTP/1.1: too many headers → 431, counted as header_overflow, backend untouched', { timeout: 20_000 }, async () => {
    const before = await sidecar.metrics();
    const reqsBefore = backend.requests;
    const res = await httpRequest(sidecar.port('http'), { path: '/h', headers: manyHeaders(30) });
    assert.equal(res.status, 431);
    assert.equal(backend.requests, reqsBefore);
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_local_replies_total', { reason: 'header_overflow' }) - before.sum('remora_local_replies_total', { reason: 'header_overflow' }), 1);
    // Under the limit still works.
    assert.equal((await httpRequest(sidecar.port('http'), { path: '/h', headers: manyHeaders(10) })).status, 200);
  });

  it('HTTP/1.1: headers larger than max_request_headers_kb → 431', { timeout: 20_000 }, async () => {
    const res = await httpRequest(sidecar.port('http'), { path: '/h', headers: { 'x-big': 'a'.repeat(12 * 1024) } });
    assert.equal(res.status, 431);
    assert.equal((await httpRequest(sidecar.port('http'), { path: '/h', headers: { 'x-big': 'a'.repeat(4 * 1024) } })).status, 200);
  });

  it('HTTP/2: too many headers → 431', { timeout: 20_000 }, async () => {
    assert.equal(await h2Get(sidecar.port('http'), manyHeaders(30)), 431);
    assert.equal(await h2Get(sidecar.port('http'), manyHeaders(10)), 200);
  });

  it('HTTP/2: headers larger than max_request_headers_kb → 431', { timeout: 20_000 }, async () => {
    assert.equal(await h2Get(sidecar.port('http'), { 'x-big': 'a'.repeat(12 * 1024) }), 431);
  });

  it('gRPC: oversized metadata is refused locally and never reaches the upstream', { timeout: 20_000 }, async () => {
    const client = createEchoClient(sidecar.target('grpc'));
    try {
      const startedBefore = echo.started;
      const r = await unary(client, { message: 'x' }, { metadata: md({ 'x-big': 'a'.repeat(12 * 1024) }) });
      assert.ok(r.error, 'the call must fail');
      assert.equal(r.error.code, grpc.status.RESOURCE_EXHAUSTED, `${r.error.code}: ${r.error.details}`);
      assert.equal(echo.started, startedBefore);
    } finally {
      client.close();
    }
  });

  it('HTTP/2: advertises max_concurrent_streams and the upstream never sees more at once', { timeout: 20_000 }, async () => {
    const session = http2.connect(`http://127.0.0.1:${sidecar.port('grpc')}`);
    session.on('error', () => { /* ignore */ });
    try {
      const settings = await withTimeout(new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve)), 5000, 'SETTINGS');
      assert.equal(settings.maxConcurrentStreams, 5);
    } finally {
      session.destroy();
    }
    const client = createEchoClient(sidecar.target('grpc'));
    try {
      const maxBefore = echo.maxInflight;
      echo.maxInflight = 0;
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
        unary(client, { message: `c${i}` }, { metadata: md({ [ECHO_CONTROL.delayMs]: '50' }), deadlineMs: 20_000 })));
      assert.deepEqual(results.filter((r) => r.error !== null).map((r) => r.error!.details), []);
      assert.ok(echo.maxInflight <= 5, `upstream saw ${echo.maxInflight} concurrent calls from one downstream connection`);
      echo.maxInflight = Math.max(maxBefore, echo.maxInflight);
    } finally {
      client.close();
    }
  });

  /** A sidecar with one listener whose HCM has `hcm`, routing to the backend with no route timeout. */
  async function timeoutSidecar(hcm: Record<string, unknown>): Promise<SidecarHarness> {
    return SidecarHarness.start({
      listeners: [{ name: 'http', routes: [routeTo('backend', { prefix: '/' }, { timeout: '0s' })], hcm }],
      clusters: [{ name: 'backend', endpoints: [{ host: '127.0.0.1', port: backend.port }] }],
    });
  }

  it('stream_idle_timeout ends a stream whose upstream never answers (408/504, not a hang)', { timeout: 20_000 }, async (t) => {
    const h = await timeoutSidecar({ stream_idle_timeout: '0.3s' });
    t.after(() => h.close());
    // Over HTTP/2 (h2c); the upstream is HTTP/1.1 and never answers.
    const status = await h2Get(h.port('http'), { 'x-backend-delay-ms': '30000' }, '/slow');
    assert.ok(status === 408 || status === 504, `expected 408 or 504, got ${status}`);
  });

  it('request_timeout ends a request whose body never completes (408)', { timeout: 20_000 }, async (t) => {
    const h = await timeoutSidecar({ request_timeout: '0.3s' });
    t.after(() => h.close());
    const port = h.port('http');
    const status = await withTimeout(new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload', agent: false,
        headers: { 'content-length': '1000000' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      req.write('partial body that never finishes');
    }), 10_000, 'a response to the stalled request');
    assert.equal(status, 408);
  });
});
