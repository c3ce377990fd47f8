/**
 * Circuit breaking through a real sidecar (issue 5), configured with Envoy's cluster
 * `circuit_breakers`: with `max_requests: 1` a second concurrent call gets a local UNAVAILABLE with
 * `x-remora-overloaded` and the overflow counter rises; with every endpoint failing, the retry
 * budget keeps total upstream attempts near (1 + budget) × calls (no retry storm) and the
 * budget-exhausted counter rises; with `max_connections: 1` over two HTTP/2 endpoints, the
 * endpoint that would need a second connection overflows while the first keeps serving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { routeTo } from './fakes/bootstrap';
import { closeClient, createEchoClient, md, unary, type EchoClient } from './fakes/echo-client';
import { ECHO_CONTROL } from './fakes/echo-proto';
import { EchoServer } from './fakes/echo-server';
import { SidecarHarness } from './fakes/sidecar-harness';

const byHeader = (value: string) => ({ prefix: '/', headers: [{ name: 'x-target', string_match: { exact: value } }] });

const CALLS = 100;
const NUM_RETRIES = 3;
const BUDGET_PERCENT = 20;
const MIN_RETRY_CONCURRENCY = 3;

describe('circuit breakers', { timeout: 60_000 }, () => {
  let slow: EchoServer;
  const failing: EchoServer[] = [];
  const pair: EchoServer[] = [];
  let sidecar: SidecarHarness;
  let client: EchoClient;

  before(async () => {
    slow = await EchoServer.start({ id: 'slow' });
    for (let i = 0; i < 3; i++) failing.push(await EchoServer.start({ id: `failing-${i}` }));
    for (let i = 0; i < 2; i++) pair.push(await EchoServer.start({ id: `pair-${i}` }));
    sidecar = await SidecarHarness.start({
      listeners: [{
        name: 'grpc',
        routes: [
          routeTo('one-at-a-time', byHeader('one')),
          routeTo('one-connection', byHeader('conn')),
          routeTo('failing', byHeader('failing'), { retry_policy: { retry_on: 'unavailable', num_retries: NUM_RETRIES } }),
        ],
      }],
      clusters: [
        {
          name: 'one-at-a-time', endpoints: [{ host: '127.0.0.1', port: slow.port }], http2: true,
          extra: { circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_requests: 1 }] } },
        },
        {
          name: 'one-connection', endpoints: pair.map((s) => ({ host: '127.0.0.1', port: s.port })), http2: true,
          extra: { circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_connections: 1 }] } },
        },
        {
          name: 'failing', endpoints: failing.map((s) => ({ host: '127.0.0.1', port: s.port })), http2: true,
          extra: {
            circuit_breakers: {
              thresholds: [{
                priority: 'DEFAULT',
                retry_budget: { budget_percent: { value: BUDGET_PERCENT }, min_retry_concurrency: MIN_RETRY_CONCURRENCY },
              }],
            },
          },
        },
      ],
    });
    client = createEchoClient(sidecar.target('grpc'));
  });

  after(async () => {
    if (client !== undefined) closeClient(client);
    await sidecar?.close();
    await Promise.all([slow?.close(), ...failing.map((s) => s.close()), ...pair.map((s) => s.close())]);
  });

  it('max_requests 1: a second concurrent call gets UNAVAILABLE with x-remora-overloaded, and the overflow counter rises', async () => {
    const first = unary(client, { message: 'a' }, { metadata: md({ 'x-target': 'one', [ECHO_CONTROL.delayMs]: '300' }) });
    await slow.waitForStarted(1);
    const second = await unary(client, { message: 'b' }, { metadata: md({ 'x-target': 'one' }) });
    assert.equal(second.status.code, grpc.status.UNAVAILABLE);
    assert.deepEqual(second.status.metadata.get('x-remora-overloaded'), ['true']);
    const r1 = await first;
    assert.equal(r1.status.code, grpc.status.OK);
    assert.equal(slow.started, 1);
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_upstream_overflow_total', { cluster: 'one-at-a-time', resource: 'requests' }), 1);
    // The slot was released: the next call goes through.
    const third = await unary(client, { message: 'c' }, { metadata: md({ 'x-target': 'one' }) });
    assert.equal(third.status.code, grpc.status.OK);
  });

  it('every endpoint failing: the retry budget bounds total attempts and the budget-exhausted counter rises', async () => {
    const results = await Promise.all(Array.from({ length: CALLS }, (_, i) => unary(client, { message: String(i) }, {
      metadata: md({ 'x-target': 'failing', [ECHO_CONTROL.status]: '14' }),
    })));
    for (const r of results) assert.equal(r.status.code, grpc.status.UNAVAILABLE);
    const attempts = failing.reduce((n, s) => n + s.started, 0);
    const m = await sidecar.metrics();
    const retries = m.sum('remora_upstream_retries_total', { cluster: 'failing' });
    const refused = m.sum('remora_upstream_retry_overflow_total', { cluster: 'failing' });
    assert.equal(attempts, CALLS + retries);
    // Without the budget this would be CALLS × (1 + NUM_RETRIES) = 400. The budget bounds concurrent
    // retries: BUDGET_PERCENT of the calls in the first wave, then the minimum concurrency for each
    // further retry round as calls finish (slack: twice that).
    const bound = CALLS * (1 + BUDGET_PERCENT / 100) + 2 * MIN_RETRY_CONCURRENCY * NUM_RETRIES;
    assert.ok(attempts <= bound, `${attempts} upstream attempts for ${CALLS} calls (bound ${bound})`);
    assert.ok(refused > 0, 'the retry budget never refused a retry');
  });

  it('max_connections 1 over two HTTP/2 endpoints: the second endpoint overflows, the first keeps serving', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await unary(client, { message: String(i) }, { metadata: md({ 'x-target': 'conn' }) });
      codes.push(r.status.code);
      if (r.status.code !== grpc.status.OK) assert.deepEqual(r.status.metadata.get('x-remora-overloaded'), ['true']);
    }
    // Round robin alternates endpoints: one of them got the only connection, the other overflows.
    assert.equal(codes.filter((c) => c === grpc.status.OK).length, 3, codes.join(','));
    assert.equal(codes.filter((c) => c === grpc.status.UNAVAILABLE).length, 3, codes.join(','));
    assert.equal(pair[0]!.peers.size + pair[1]!.peers.size, 1, 'one upstream connection in total');
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_upstream_overflow_total', { cluster: 'one-connection', resource: 'connections' }), 3);
  });
});
