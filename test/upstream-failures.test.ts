/**
 * Upstream failures become local replies in the client's protocol, with the right metric reason and
 * no upstream internals in the message: a cluster pointing at a closed port (connect failure →
 * UNAVAILABLE / 503), an upstream that resets the stream (→ INTERNAL per the RST mapping), and an
 * upstream that dies while a call is in flight.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { EchoServer } from './fakes/echo-server';
import { ECHO_CONTROL } from './fakes/echo-proto';
import { createEchoClient, md, unary, type EchoClient } from './fakes/echo-client';
import { httpRequest } from './fakes/http-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { routeTo } from './fakes/bootstrap';

/** A port that was just bound and released, so nothing listens on it. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('upstream failures', { timeout: 60_000 }, () => {
  let deadPort: number;
  let resetServer: http2.Http2Server;
  let dying: EchoServer;
  let sidecar: SidecarHarness;
  let client: EchoClient;

  before(async () => {
    deadPort = await closedPort();
    resetServer = http2.createServer();
    resetServer.on('stream', (stream) => {
      stream.on('error', () => { /* our own reset */ });
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
    await new Promise<void>((resolve) => resetServer.listen(0, '127.0.0.1', resolve));
    dying = await EchoServer.start({ id: 'dying' });
    sidecar = await SidecarHarness.start({
      listeners: [
        {
          name: 'grpc',
          routes: [
            routeTo('dead', { prefix: '/', headers: [{ name: 'x-target', string_match: { exact: 'dead' } }] }),
            routeTo('reset', { prefix: '/', headers: [{ name: 'x-target', string_match: { exact: 'reset' } }] }),
            routeTo('dying', { prefix: '/', headers: [{ name: 'x-target', string_match: { exact: 'dying' } }] }, { timeout: '0s' }),
          ],
        },
        { name: 'http', routes: [routeTo('dead-h1')] },
      ],
      clusters: [
        { name: 'dead', endpoints: [{ host: '127.0.0.1', port: deadPort }], http2: true, connectTimeout: '1s' },
        { name: 'dead-h1', endpoints: [{ host: '127.0.0.1', port: deadPort }], connectTimeout: '1s' },
        { name: 'reset', endpoints: [{ host: '127.0.0.1', port: (resetServer.address() as net.AddressInfo).port }], http2: true },
        { name: 'dying', endpoints: [{ host: '127.0.0.1', port: dying.port }], http2: true },
      ],
    });
    client = createEchoClient(sidecar.target('grpc'));
  });

  after(async () => {
    client?.close();
    await sidecar?.close();
    await dying?.close();
    await new Promise<void>((resolve) => (resetServer ? resetServer.close(() => resolve()) : resolve()));
  });

  it('gRPC: upstream down → UNAVAILABLE without leaking the address, and upstream_connect_failure counted', { timeout: 20_000 }, async () => {
    const before = await sidecar.metrics();
    const r = await unary(client, { message: 'x' }, { metadata: md({ 'x-target': 'dead' }), deadlineMs: 10_000 });
    assert.ok(r.error);
    assert.equal(r.error.code, grpc.status.UNAVAILABLE, r.error.details);
    assert.ok(!r.error.details.includes(String(deadPort)), `grpc-message leaks the upstream port: ${r.error.details}`);
    assert.ok(!r.error.details.includes('127.0.0.1'), `grpc-message leaks the upstream address: ${r.error.details}`);
    const m = await sidecar.metrics();
    assert.ok(m.sum('remora_local_replies_total', { reason: 'upstream_connect_failure' })
      - before.sum('remora_local_replies_total', { reason: 'upstream_connect_failure' }) >= 1);
    assert.equal(m.sum('remora_downstream_requests_total', { listener: 'grpc', grpc_status: '14' })
      - before.sum('remora_downstream_requests_total', { listener: 'grpc', grpc_status: '14' }), 1);
  });

  it('HTTP/1.1: upstream down → 503 and upstream_connect_failure counted', { timeout: 20_000 }, async () => {
    const before = await sidecar.metrics();
    const res = await httpRequest(sidecar.port('http'), { path: '/x' });
    assert.equal(res.status, 503);
    assert.ok(!res.text().includes(String(deadPort)), 'body must not leak the upstream port');
    const m = await sidecar.metrics();
    assert.ok(m.sum('remora_local_replies_total', { reason: 'upstream_connect_failure' })
      - before.sum('remora_local_replies_total', { reason: 'upstream_connect_failure' }) >= 1);
  });

  it('upstream RST_STREAM(INTERNAL_ERROR) → INTERNAL, counted as upstream_reset', { timeout: 20_000 }, async () => {
    const before = await sidecar.metrics();
    const r = await unary(client, { message: 'x' }, { metadata: md({ 'x-target': 'reset' }) });
    assert.ok(r.error);
    assert.equal(r.error.code, grpc.status.INTERNAL, r.error.details);
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_local_replies_total', { reason: 'upstream_reset' }) - before.sum('remora_local_replies_total', { reason: 'upstream_reset' }), 1);
  });

  it('upstream dies mid-call → the client gets a failure status, not a hang', { timeout: 20_000 }, async () => {
    const call = unary(client, { message: 'x' }, { metadata: md({ 'x-target': 'dying', [ECHO_CONTROL.delayMs]: '30000' }), deadlineMs: 20_000 });
    await dying.waitForStarted(1);
    await dying.close();
    const r = await call;
    assert.ok(r.error);
    assert.ok(r.error.code === grpc.status.UNAVAILABLE || r.error.code === grpc.status.INTERNAL,
      `expected UNAVAILABLE or INTERNAL, got ${r.error.code}: ${r.error.details}`);
  });
});
