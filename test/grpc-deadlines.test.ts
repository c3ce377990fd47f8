/**
 * Deadlines and cancellation through the sidecar: a client deadline shorter than the server's work,
 * a route timeout shorter than the client's deadline, `max_stream_duration.grpc_timeout_header_max`,
 * and a client cancelling a server stream. In every case the upstream must observe the cancellation
 * (the sidecar resets the upstream stream), and sidecar-made replies must not leak upstream addresses.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { EchoServer } from './fakes/echo-server';
import { ECHO_CONTROL } from './fakes/echo-proto';
import { createEchoClient, md, unary, type EchoClient, type EchoMsg } from './fakes/echo-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { routeTo } from './fakes/bootstrap';
import { withTimeout } from './fakes/wait';

describe('gRPC deadlines and cancellation', { timeout: 60_000 }, () => {
  let echo: EchoServer;
  let sidecar: SidecarHarness;
  let client: EchoClient;

  before(async () => {
    echo = await EchoServer.start({ id: 'slow' });
    sidecar = await SidecarHarness.start({
      listeners: [{
        name: 'ingress',
        routes: [
          // Route timeout (300 ms) far below the client deadline used against it.
          routeTo('echo', { prefix: '/remora.test.v1.Echo/Unary', headers: [{ name: 'x-route', string_match: { exact: 'short-timeout' } }] }, { timeout: '0.3s' }),
          // No route timeout; the client's grpc-timeout is capped at 300 ms.
          routeTo('echo', { prefix: '/remora.test.v1.Echo/Unary', headers: [{ name: 'x-route', string_match: { exact: 'capped' } }] },
            { timeout: '0s', max_stream_duration: { grpc_timeout_header_max: '0.3s' } }),
          // No route timeout; the client's grpc-timeout is shortened by 4.7 s.
          routeTo('echo', { prefix: '/remora.test.v1.Echo/Unary', headers: [{ name: 'x-route', string_match: { exact: 'offset' } }] },
            { timeout: '0s', max_stream_duration: { grpc_timeout_header_offset: '4.7s' } }),
          routeTo('echo', { prefix: '/' }, { timeout: '0s' }),
        ],
      }],
      clusters: [{ name: 'echo', endpoints: [{ host: '127.0.0.1', port: echo.port }], http2: true }],
    });
    client = createEchoClient(sidecar.target('ingress'));
  });

  after(async () => {
    client?.close();
    await sidecar?.close();
    await echo?.close();
  });

  it('client deadline shorter than the server work → DEADLINE_EXCEEDED and the server sees the cancel', { timeout: 20_000 }, async () => {
    const cancelsBefore = echo.cancellations;
    const r = await unary(client, { message: 'slow' }, { deadlineMs: 300, metadata: md({ [ECHO_CONTROL.delayMs]: '20000' }) });
    assert.ok(r.error);
    assert.equal(r.error.code, grpc.status.DEADLINE_EXCEEDED);
    await echo.waitForCancellations(cancelsBefore + 1);
  });

  it('route timeout shorter than the client deadline → DEADLINE_EXCEEDED from the sidecar, upstream cancelled', { timeout: 20_000 }, async () => {
    const cancelsBefore = echo.cancellations;
    const before = await sidecar.metrics();
    const r = await unary(client, { message: 'slow' }, {
      deadlineMs: 20_000,
      metadata: md({ 'x-route': 'short-timeout', [ECHO_CONTROL.delayMs]: '20000' }),
    });
    assert.ok(r.error);
    assert.equal(r.error.code, grpc.status.DEADLINE_EXCEEDED, r.error.details);
    assert.doesNotMatch(r.error.details, /127\.0\.0\.1|:\d{4,5}\b/, 'grpc-message must not leak upstream addresses');
    await echo.waitForCancellations(cancelsBefore + 1);
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_local_replies_total', { reason: 'upstream_timeout' })
      - before.sum('remora_local_replies_total', { reason: 'upstream_timeout' }), 1);
  });

  it('grpc_timeout_header_max caps a long client deadline → DEADLINE_EXCEEDED, upstream cancelled', { timeout: 20_000 }, async () => {
    const cancelsBefore = echo.cancellations;
    const r = await unary(client, { message: 'slow' }, {
      deadlineMs: 20_000,
      metadata: md({ 'x-route': 'capped', [ECHO_CONTROL.delayMs]: '20000' }),
    });
    assert.ok(r.error);
    assert.equal(r.error.code, grpc.status.DEADLINE_EXCEEDED, r.error.details);
    await echo.waitForCancellations(cancelsBefore + 1);
  });

  it('grpc_timeout_header_offset shortens the client deadline: the sidecar answers DEADLINE_EXCEEDED first', { timeout: 20_000 }, async () => {
    const before = await sidecar.metrics();
    const cancelsBefore = echo.cancellations;
    const r = await unary(client, { message: 'slow' }, {
      deadlineMs: 5_000,
      metadata: md({ 'x-route': 'offset', [ECHO_CONTROL.delayMs]: '20000' }),
    });
    assert.equal(r.error?.code, grpc.status.DEADLINE_EXCEEDED, r.error?.details);
    const after = await sidecar.metrics();
    assert.equal(after.sum('remora_local_replies_total', { reason: 'upstream_timeout' })
      - before.sum('remora_local_replies_total', { reason: 'upstream_timeout' }), 1, 'the sidecar, not the client, ended the call');
    await echo.waitForCancellations(cancelsBefore + 1);
  });

  it('cancelling a server stream after its first message → the server observes the cancel', { timeout: 20_000 }, async () => {
    const cancelsBefore = echo.cancellations;
    const call = client.ServerStream({ message: 'tick', count: 1000 }, md({ [ECHO_CONTROL.intervalMs]: '20' }), { deadline: Date.now() + 20_000 });
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => { /* CANCELLED, reported through status */ });
    const first = await withTimeout(new Promise<EchoMsg>((resolve) => call.once('data', resolve)), 5000, 'first stream message');
    assert.equal(first.count, 0);
    call.cancel();
    assert.equal((await status).code, grpc.status.CANCELLED);
    await echo.waitForCancellations(cancelsBefore + 1);
  });
});
