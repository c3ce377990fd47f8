/**
 * `envoy.filters.http.fault` end to end through a real sidecar: abort 100% returns the configured
 * status without reaching the upstream, abort 50% over 400 requests lands within statistical
 * tolerance, a fixed delay ignores the x-envoy-fault-* headers when header control is not configured,
 * `header_abort` lets the header force an abort, a gRPC abort with grpc_status 14 reaches a grpc-js
 * client as UNAVAILABLE, and a route's typed_per_filter_config overrides the listener fault.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { EchoServer } from './fakes/echo-server';
import { createEchoClient, unary, type EchoClient } from './fakes/echo-client';
import { HttpBackend } from './fakes/http-backend';
import { httpRequest } from './fakes/http-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { ROUTER_TYPE, routeTo, type ListenerSpec } from './fakes/bootstrap';

const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
const PCT100 = { numerator: 100, denominator: 'HUNDRED' };

/** A listener with the fault filter before the router. */
function faultListener(name: string, cluster: string, fault: Record<string, unknown>, routes?: Record<string, unknown>[]): ListenerSpec {
  return {
    name,
    routes: routes ?? [routeTo(cluster)],
    hcm: {
      http_filters: [
        { name: 'envoy.filters.http.fault', typed_config: { '@type': FAULT_TYPE, ...fault } },
        { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
      ],
    },
  };
}

describe('fault injection filter', { timeout: 60_000 }, () => {
  let backend: HttpBackend;
  let echo: EchoServer;
  let sidecar: SidecarHarness;
  let client: EchoClient;
  let agent: http.Agent;

  before(async () => {
    backend = await HttpBackend.start('b1');
    echo = await EchoServer.start({ id: 'e1' });
    sidecar = await SidecarHarness.start({
      listeners: [
        faultListener('abort-all', 'http-up', { abort: { http_status: 418, percentage: PCT100 } }),
        faultListener('abort-half', 'http-up', { abort: { http_status: 503, percentage: { numerator: 50 } } }),
        faultListener('delay-fixed', 'http-up', { delay: { fixed_delay: '0.020s', percentage: PCT100 } }),
        faultListener('header-abort', 'http-up', { abort: { header_abort: {}, percentage: PCT100 } }),
        faultListener('grpc-abort', 'grpc-up', { abort: { grpc_status: 14, percentage: PCT100 } }),
        faultListener('per-route', 'http-up', { abort: { http_status: 500, percentage: PCT100 } }, [
          routeTo('http-up', { prefix: '/safe' }, {}, {
            typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': FAULT_TYPE, abort: { http_status: 500, percentage: { numerator: 0 } } } },
          }),
          routeTo('http-up', { prefix: '/' }),
        ]),
      ],
      clusters: [
        { name: 'http-up', endpoints: [{ host: '127.0.0.1', port: backend.port }] },
        { name: 'grpc-up', endpoints: [{ host: '127.0.0.1', port: echo.port }], http2: true },
      ],
    });
    client = createEchoClient(sidecar.target('grpc-abort'));
    agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  });

  after(async () => {
    agent?.destroy();
    client?.close();
    await sidecar?.close();
    await echo?.close();
    await backend?.close();
  });

  it('abort 100% answers with the configured HTTP status and never reaches the upstream', async () => {
    const before = backend.requests;
    for (let i = 0; i < 5; i++) assert.equal((await httpRequest(sidecar.port('abort-all'))).status, 418);
    assert.equal(backend.requests, before);
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_fault_aborts_injected_total', { listener: 'abort-all' }), 5);
    assert.equal(m.sum('remora_local_replies_total', { listener: 'abort-all', reason: 'fault_abort' }), 5);
  });

  it('abort 50% over 400 requests aborts within statistical tolerance (150..250)', async () => {
    const port = sidecar.port('abort-half');
    let aborted = 0;
    let ok = 0;
    for (let batch = 0; batch < 25; batch++) {
      const rs = await Promise.all(Array.from({ length: 16 }, () => httpRequest(port, { agent })));
      for (const r of rs) {
        if (r.status === 503) aborted++;
        else if (r.status === 200) ok++;
      }
    }
    assert.equal(aborted + ok, 400);
    assert.ok(aborted >= 150 && aborted <= 250, `aborted ${aborted} of 400`);
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_fault_aborts_injected_total', { listener: 'abort-half' }), aborted);
  });

  it('a fixed delay without header control ignores the x-envoy-fault-* headers', async () => {
    const r = await httpRequest(sidecar.port('delay-fixed'), {
      headers: { 'x-envoy-fault-abort-request': '500', 'x-envoy-fault-delay-request': '60000' },
      timeoutMs: 10_000,
    });
    assert.equal(r.status, 200, 'no abort from the header');
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_fault_delays_injected_total', { listener: 'delay-fixed' }), 1);
    assert.equal(m.sum('remora_fault_aborts_injected_total', { listener: 'delay-fixed' }), 0);
    assert.equal(m.sum('remora_fault_active', { listener: 'delay-fixed' }), 0);
  });

  it('with header_abort configured the header forces an abort; without it the request passes', async () => {
    const port = sidecar.port('header-abort');
    assert.equal((await httpRequest(port, { headers: { 'x-envoy-fault-abort-request': '504' } })).status, 504);
    assert.equal((await httpRequest(port)).status, 200);
    assert.equal((await httpRequest(port, { headers: { 'x-envoy-fault-abort-request': '504', 'x-envoy-fault-abort-request-percentage': '0' } })).status, 200);
  });

  it('a gRPC abort with grpc_status 14 reaches a grpc-js client as UNAVAILABLE', async () => {
    const started = echo.started;
    const r = await unary(client, { message: 'hi' });
    assert.equal(r.status.code, grpc.status.UNAVAILABLE);
    assert.equal(echo.started, started);
  });

  it("a route's typed_per_filter_config overrides the listener fault", async () => {
    const port = sidecar.port('per-route');
    assert.equal((await httpRequest(port, { path: '/safe/x' })).status, 200);
    assert.equal((await httpRequest(port, { path: '/other' })).status, 500);
  });
});
