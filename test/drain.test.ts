/**
 * Graceful drain: in-process via `Sidecar.drain()`, and as a process via SIGTERM on the CLI. An
 * in-flight call started before the drain completes OK, new connections are refused while draining,
 * and the process exits with code 0.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { EchoServer } from './fakes/echo-server';
import { ECHO_CONTROL } from './fakes/echo-proto';
import { createEchoClient, md, serverStream, unary } from './fakes/echo-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { SidecarProcess } from './fakes/sidecar-process';
import { bootstrapYaml, simpleProxy } from './fakes/bootstrap';
import { probeConnect } from './fakes/net-probe';
import { waitFor } from './fakes/wait';

describe('drain', { timeout: 60_000 }, () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('in-process drain(): an in-flight server stream completes, new connections are refused', { timeout: 20_000 }, async () => {
    const echo = await EchoServer.start({ id: 'drain' });
    cleanups.push(() => echo.close());
    const sidecar = await SidecarHarness.start(simpleProxy({ port: echo.port, http2: true }), { drainTimeMs: 10_000 });
    cleanups.push(() => sidecar.close());
    const port = sidecar.port('ingress');
    const client = createEchoClient(sidecar.target('ingress'));
    cleanups.push(() => client.close());

    const stream = serverStream(client, { message: 'd', count: 10 }, { metadata: md({ [ECHO_CONTROL.intervalMs]: '100' }), deadlineMs: 20_000 });
    await echo.waitForStarted(1);
    const drained = sidecar.sidecar.drain();
    await waitFor(async () => (await probeConnect(port)) === 'ECONNREFUSED', { what: 'listener to refuse new connections during drain' });
    const r = await stream;
    assert.equal(r.error, null, r.error?.details);
    assert.equal(r.status.code, grpc.status.OK);
    assert.equal(r.messages.length, 10);
    await drained;
    const after = await unary(client, { message: 'late' }, { deadlineMs: 3000 });
    assert.ok(after.error, 'a new call after drain must fail');
  });

  it('SIGTERM: in-flight unary completes OK, new connections are refused, exit code 0', { timeout: 20_000 }, async () => {
    const echo = await EchoServer.start({ id: 'sigterm' });
    cleanups.push(() => echo.close());
    const proc = await SidecarProcess.start(bootstrapYaml(simpleProxy({ port: echo.port, http2: true })), { drainTime: '15s' });
    cleanups.push(() => proc.stop());
    const port = await proc.listenerPort('ingress');
    const client = createEchoClient(`127.0.0.1:${port}`);
    cleanups.push(() => client.close());

    const warm = await unary(client, { message: 'warm' });
    assert.equal(warm.error, null, warm.error?.details);
    let settled = false;
    const slow = unary(client, { message: 'slow' }, { metadata: md({ [ECHO_CONTROL.delayMs]: '3000' }), deadlineMs: 20_000 })
      .finally(() => { settled = true; });
    await echo.waitForStarted(2);
    proc.signal('SIGTERM');
    await waitFor(async () => (await probeConnect(port)) === 'ECONNREFUSED', { what: 'listener to refuse new connections after SIGTERM' });
    assert.equal(settled, false, 'the in-flight call was still running while new connections were refused');
    const r = await slow;
    assert.equal(r.error, null, r.error?.details);
    assert.equal(r.response!.message, 'slow');
    const exit = await proc.waitExit();
    assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${proc.output.stderr}`);
  });
});
