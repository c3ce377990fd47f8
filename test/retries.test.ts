/**
 * Route retries through a real sidecar (issue 5): a gRPC call failing UNAVAILABLE once succeeds on
 * the retry (trailers-only and headers-then-trailers responses), a server's negative pushback stops
 * retries, a POST is attempted once unless `retriable_request_headers` allows it (and then its body
 * is replayed on every attempt), a server-streaming call that already sent a message is never
 * retried, and a short client deadline ends a call that keeps retrying with DEADLINE_EXCEEDED while
 * the upstream sees every attempt cancelled. Configured with Envoy's route `retry_policy`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { routeTo } from './fakes/bootstrap';
import { closeClient, createEchoClient, md, serverStream, unary, type EchoClient } from './fakes/echo-client';
import { ECHO_CONTROL } from './fakes/echo-proto';
import { EchoServer } from './fakes/echo-server';
import { FlakyEchoServer, StatusHttpServer } from './fakes/flaky-upstreams';
import { httpRequest } from './fakes/http-client';
import { SidecarHarness } from './fakes/sidecar-harness';

const byHeader = (value: string) => ({ prefix: '/', headers: [{ name: 'x-target', string_match: { exact: value } }] });

describe('retries', { timeout: 60_000 }, () => {
  let flaky: FlakyEchoServer;
  let stop: FlakyEchoServer;
  let echo: EchoServer;
  let slow: EchoServer;
  let postOnce: StatusHttpServer;
  let postAllowed: StatusHttpServer;
  let sidecar: SidecarHarness;
  let client: EchoClient;

  before(async () => {
    flaky = await FlakyEchoServer.start({ failFirst: 1 });
    stop = await FlakyEchoServer.start({ failFirst: 1, pushback: '-1' });
    echo = await EchoServer.start({ id: 'echo' });
    slow = await EchoServer.start({ id: 'slow' });
    postOnce = await StatusHttpServer.start(503);
    postAllowed = await StatusHttpServer.start(503);
    const grpcRetry = { retry_policy: { retry_on: 'unavailable', num_retries: 2 } };
    sidecar = await SidecarHarness.start({
      listeners: [
        {
          name: 'grpc',
          routes: [
            routeTo('flaky', byHeader('flaky'), grpcRetry),
            routeTo('stop', byHeader('stop'), grpcRetry),
            routeTo('echo', byHeader('echo'), grpcRetry),
            routeTo('slow', byHeader('slow'), {
              retry_policy: { retry_on: 'unavailable,reset', num_retries: 10, per_try_timeout: '0.1s' },
            }),
          ],
        },
        {
          name: 'http',
          routes: [
            routeTo('post-once', { prefix: '/once' }, { retry_policy: { retry_on: '5xx', num_retries: 2 } }),
            routeTo('post-allowed', { prefix: '/allowed' }, {
              retry_policy: {
                retry_on: '5xx', num_retries: 2,
                retriable_request_headers: [{ name: ':method', string_match: { exact: 'POST' } }],
              },
            }),
          ],
        },
      ],
      clusters: [
        { name: 'flaky', endpoints: [{ host: '127.0.0.1', port: flaky.port }], http2: true },
        { name: 'stop', endpoints: [{ host: '127.0.0.1', port: stop.port }], http2: true },
        { name: 'echo', endpoints: [{ host: '127.0.0.1', port: echo.port }], http2: true },
        { name: 'slow', endpoints: [{ host: '127.0.0.1', port: slow.port }], http2: true },
        { name: 'post-once', endpoints: [{ host: '127.0.0.1', port: postOnce.port }] },
        { name: 'post-allowed', endpoints: [{ host: '127.0.0.1', port: postAllowed.port }] },
      ],
    });
    client = createEchoClient(sidecar.target('grpc'));
  });

  after(async () => {
    if (client !== undefined) closeClient(client);
    await sidecar?.close();
    await Promise.all([flaky?.close(), stop?.close(), echo?.close(), slow?.close(), postOnce?.close(), postAllowed?.close()]);
  });

  it('a unary call failing UNAVAILABLE (trailers-only) once succeeds on the retry; the upstream saw 2 attempts', async () => {
    const r = await unary(client, { message: 'hi' }, { metadata: md({ 'x-target': 'flaky' }) });
    assert.equal(r.status.code, grpc.status.OK, r.status.details);
    assert.equal(r.response?.message, 'hi');
    assert.equal(flaky.attempts, 2);
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_upstream_retries_total', { cluster: 'flaky' }), 1);
  });

  it('a negative grpc-retry-pushback-ms stops retries', async () => {
    const r = await unary(client, { message: 'hi' }, { metadata: md({ 'x-target': 'stop' }) });
    assert.equal(r.status.code, grpc.status.UNAVAILABLE);
    assert.equal(stop.attempts, 1);
  });

  it('an UNAVAILABLE sent as headers then trailers (no message) is still retried, up to num_retries', async () => {
    const before = echo.started;
    const r = await unary(client, { message: 'x' }, { metadata: md({ 'x-target': 'echo', [ECHO_CONTROL.status]: '14' }) });
    assert.equal(r.status.code, grpc.status.UNAVAILABLE);
    assert.equal(echo.started - before, 3); // 1 + num_retries
  });

  it('a server-streaming call that already sent a message is not retried', async () => {
    const before = echo.started;
    const r = await serverStream(client, { message: 's', count: 1 }, { metadata: md({ 'x-target': 'echo', [ECHO_CONTROL.status]: '14' }) });
    assert.equal(r.status.code, grpc.status.UNAVAILABLE);
    assert.equal(r.messages.length, 1);
    assert.equal(echo.started - before, 1);
  });

  it('a POST is attempted exactly once without retriable_request_headers', async () => {
    const res = await httpRequest(sidecar.port('http'), { method: 'POST', path: '/once', body: 'payload', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 503);
    assert.deepEqual(postOnce.methods, ['POST']);
  });

  it('a GET on the same route is retried num_retries times', async () => {
    const res = await httpRequest(sidecar.port('http'), { method: 'GET', path: '/once' });
    assert.equal(res.status, 503);
    assert.deepEqual(postOnce.methods, ['POST', 'GET', 'GET', 'GET']);
  });

  it('a POST matching retriable_request_headers is retried, with its body replayed each time', async () => {
    const res = await httpRequest(sidecar.port('http'), { method: 'POST', path: '/allowed', body: 'replay-me', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 503);
    assert.deepEqual(postAllowed.methods, ['POST', 'POST', 'POST']);
    assert.deepEqual(postAllowed.bodies, ['replay-me', 'replay-me', 'replay-me']);
  });

  it('a 200 ms client deadline against a 1 s upstream with retries → DEADLINE_EXCEEDED and every attempt is cancelled', async () => {
    const r = await unary(client, { message: 'late' }, {
      deadlineMs: 200, metadata: md({ 'x-target': 'slow', [ECHO_CONTROL.delayMs]: '1000' }),
    });
    assert.equal(r.status.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(slow.started >= 1);
    await slow.waitForCancellations(slow.started);
    assert.equal(slow.completed, 0);
  });
});
