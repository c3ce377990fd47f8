/**
 * HTTP/1.1 proxying to an HTTP/1.1 backend: keep-alive on both sides (one upstream connection reused
 * across sequential requests), hop-by-hop headers stripped both ways, x-forwarded-for/-proto set,
 * x-request-id generated when absent and preserved when present, request bodies (fixed and chunked)
 * forwarded intact, and the downstream metrics.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { HttpBackend, type BackendEcho } from './fakes/http-backend';
import { httpRequest } from './fakes/http-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { simpleProxy } from './fakes/bootstrap';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

describe('HTTP/1.1 proxy', { timeout: 60_000 }, () => {
  let backend: HttpBackend;
  let sidecar: SidecarHarness;
  let port: number;
  let agent: http.Agent;

  before(async () => {
    backend = await HttpBackend.start('h1');
    sidecar = await SidecarHarness.start(simpleProxy({
      listener: 'http',
      port: backend.port,
      http2: false,
      hcm: { use_remote_address: true, preserve_external_request_id: true },
    }));
    port = sidecar.port('http');
    agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  });

  after(async () => {
    agent?.destroy();
    await sidecar?.close();
    await backend?.close();
  });

  it('reuses one client and one backend connection across sequential keep-alive requests', { timeout: 20_000 }, async () => {
    const connsBefore = backend.connections;
    const sockets = new Set<unknown>();
    for (let i = 0; i < 10; i++) {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: `/seq/${i}`, agent }, resolve);
        req.on('socket', (s) => sockets.add(s));
        req.on('error', reject);
        req.end();
      });
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      assert.equal(res.statusCode, 200);
      const echo = JSON.parse(Buffer.concat(chunks).toString()) as BackendEcho;
      assert.equal(echo.url, `/seq/${i}`);
      assert.equal(echo.httpVersion, '1.1');
    }
    assert.equal(sockets.size, 1, 'the sidecar must keep the downstream connection alive');
    assert.equal(backend.connections - connsBefore, 1, 'the sidecar must reuse one upstream connection');
  });

  it('strips hop-by-hop request headers (incl. those named in Connection) and keeps end-to-end ones', { timeout: 20_000 }, async () => {
    const res = await httpRequest(port, {
      path: '/hop',
      headers: {
        connection: 'keep-alive, x-custom-hop',
        'keep-alive': 'timeout=5',
        'x-custom-hop': 'drop-me',
        'proxy-connection': 'keep-alive',
        'x-end-to-end': 'keep-me',
        // A name that is only a substring of a Connection token is end-to-end, not hop-by-hop.
        'x-custom': 'keep-me-too',
      },
    });
    assert.equal(res.status, 200);
    const echo = res.json<BackendEcho>();
    assert.equal(echo.headers['x-custom'], 'keep-me-too');
    assert.equal(echo.headers['keep-alive'], undefined);
    assert.equal(echo.headers['x-custom-hop'], undefined);
    assert.equal(echo.headers['proxy-connection'], undefined);
    assert.equal(echo.headers['x-end-to-end'], 'keep-me');
  });

  it('strips hop-by-hop response headers from the backend', { timeout: 20_000 }, async () => {
    const res = await httpRequest(port, { path: '/hop-response' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-backend-id'], 'h1');
    assert.equal(res.headers['x-backend-hop'], undefined, 'header named in the backend Connection header must be removed');
    assert.equal(res.headers['keep-alive'], undefined);
  });

  it('sets x-forwarded-for and x-forwarded-proto', { timeout: 20_000 }, async () => {
    const echo = (await httpRequest(port, { path: '/xff' })).json<BackendEcho>();
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.match(String(echo.headers['x-forwarded-for']), /(^|,\s*)127\.0\.0\.1$/);
  });

  it('generates x-request-id when absent and preserves it when present', { timeout: 20_000 }, async () => {
    const a = (await httpRequest(port, { path: '/rid' })).json<BackendEcho>();
    const b = (await httpRequest(port, { path: '/rid' })).json<BackendEcho>();
    assert.match(String(a.headers['x-request-id']), UUID);
    assert.match(String(b.headers['x-request-id']), UUID);
    assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
    const c = (await httpRequest(port, { path: '/rid', headers: { 'x-request-id': 'my-own-id-42' } })).json<BackendEcho>();
    assert.equal(c.headers['x-request-id'], 'my-own-id-42');
  });

  it('forwards request bodies, fixed-length and chunked', { timeout: 20_000 }, async () => {
    const body = Buffer.alloc(1024 * 1024, 0x61);
    const fixed = await httpRequest(port, { method: 'POST', path: '/upload', body, headers: { 'content-length': String(body.length) } });
    assert.equal(fixed.json<BackendEcho>().bodyLength, body.length);
    const chunked = await new Promise<BackendEcho>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: '/chunked', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write(Buffer.alloc(1000, 0x62));
      req.end();
    });
    assert.equal(chunked.method, 'PUT');
    assert.equal(chunked.bodyLength, 10_000);
  });

  it('passes non-2xx backend statuses and counts them by status class', { timeout: 20_000 }, async () => {
    const before = await sidecar.metrics();
    const res = await httpRequest(port, { path: '/missing', headers: { 'x-backend-status': '404' } });
    assert.equal(res.status, 404);
    assert.equal(res.headers['x-backend-id'], 'h1');
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_downstream_requests_total', { listener: 'http', status_class: '4xx' })
      - before.sum('remora_downstream_requests_total', { listener: 'http', status_class: '4xx' }), 1);
    assert.equal(m.sum('remora_local_replies_total') - before.sum('remora_local_replies_total'), 0, 'a backend 404 is not a local reply');
  });
});
