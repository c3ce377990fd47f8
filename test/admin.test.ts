/**
 * The admin listener: /ready (200 once listeners are bound and clusters have endpoints; 503 while a
 * STRICT_DNS cluster is unresolved), /listeners?format=json, /clusters (text and JSON), /config_dump,
 * /stats/prometheus (every contract metric present; connection and stream gauges move), POST /drain.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EchoServer } from './fakes/echo-server';
import { ECHO_CONTROL } from './fakes/echo-proto';
import { createEchoClient, md, unary } from './fakes/echo-client';
import { httpRequest } from './fakes/http-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { routeTo, simpleProxy } from './fakes/bootstrap';
import { probeConnect } from './fakes/net-probe';
import { waitFor } from './fakes/wait';

const CONTRACT_METRICS: Array<[string, string]> = [
  ['remora_downstream_requests_total', 'counter'],
  ['remora_upstream_requests_total', 'counter'],
  ['remora_upstream_request_duration_seconds', 'histogram'],
  ['remora_downstream_connections_active', 'gauge'],
  ['remora_downstream_streams_active', 'gauge'],
  ['remora_local_replies_total', 'counter'],
];

describe('admin', { timeout: 60_000 }, () => {
  let echo: EchoServer;
  let sidecar: SidecarHarness;

  before(async () => {
    echo = await EchoServer.start({ id: 'admin' });
    sidecar = await SidecarHarness.start(simpleProxy({ listener: 'ingress', port: echo.port, http2: true }));
  });

  after(async () => {
    await sidecar?.close();
    await echo?.close();
  });

  it('GET /ready → 200 once listeners are bound and clusters have endpoints', { timeout: 20_000 }, async () => {
    const res = await httpRequest(sidecar.adminUrl, { path: '/ready' });
    assert.equal(res.status, 200);
  });

  it('GET /listeners?format=json lists each listener with its bound address', { timeout: 20_000 }, async () => {
    const res = await httpRequest(sidecar.adminUrl, { path: '/listeners?format=json' });
    assert.equal(res.status, 200);
    const list = res.json<Array<{ name: string; local_address: { socket_address: { address: string; port_value: number } } }>>();
    const l = list.find((x) => x.name === 'ingress');
    assert.ok(l, JSON.stringify(list));
    assert.equal(l.local_address.socket_address.address, '127.0.0.1');
    assert.equal(l.local_address.socket_address.port_value, sidecar.port('ingress'));
    assert.ok(sidecar.port('ingress') > 0);
  });

  it('GET /clusters and /clusters?format=json show the cluster and its endpoint', { timeout: 20_000 }, async () => {
    const text = await httpRequest(sidecar.adminUrl, { path: '/clusters' });
    assert.equal(text.status, 200);
    assert.match(text.text(), /upstream/);
    assert.ok(text.text().includes(`127.0.0.1:${echo.port}`), text.text());
    const json = await httpRequest(sidecar.adminUrl, { path: '/clusters?format=json' });
    assert.equal(json.status, 200);
    const body = JSON.stringify(json.json());
    assert.ok(body.includes('"upstream"'), body);
    assert.ok(body.includes(String(echo.port)), body);
  });

  it('GET /config_dump returns JSON mentioning the listener and cluster', { timeout: 20_000 }, async () => {
    const res = await httpRequest(sidecar.adminUrl, { path: '/config_dump' });
    assert.equal(res.status, 200);
    const body = JSON.stringify(res.json());
    assert.ok(body.includes('ingress'));
    assert.ok(body.includes('upstream'));
  });

  it('GET /stats/prometheus exposes every contract metric with its type', { timeout: 20_000 }, async () => {
    const m = await sidecar.metrics();
    for (const [name, type] of CONTRACT_METRICS) {
      assert.ok(m.text.includes(`# TYPE ${name} ${type}`), `missing "# TYPE ${name} ${type}"`);
    }
  });

  it('connection and stream gauges follow open connections and in-flight streams', { timeout: 20_000 }, async () => {
    const base = await sidecar.metrics();
    const conns0 = base.sum('remora_downstream_connections_active');
    const client = createEchoClient(sidecar.target('ingress'));
    try {
      const slow = unary(client, { message: 'x' }, { metadata: md({ [ECHO_CONTROL.delayMs]: '1000' }) });
      await echo.waitForStarted(echo.started + 1);
      const during = await sidecar.metrics();
      assert.ok(during.sum('remora_downstream_connections_active') >= conns0 + 1, 'connections_active did not rise');
      assert.ok(during.sum('remora_downstream_streams_active') >= 1, 'streams_active did not rise');
      const r = await slow;
      assert.equal(r.error, null, r.error?.details);
      await waitFor(async () => (await sidecar.metrics()).sum('remora_downstream_streams_active') === 0, { what: 'streams_active back to 0' });
    } finally {
      client.close();
    }
    await waitFor(async () => (await sidecar.metrics()).sum('remora_downstream_connections_active') <= conns0, { what: 'connections_active back down after client close' });
  });

  it('/ready is 503 while a STRICT_DNS cluster is unresolved, with listeners already bound', { timeout: 20_000 }, async () => {
    const h = await SidecarHarness.start({
      listeners: [{ name: 'ingress', routes: [routeTo('dns')] }],
      clusters: [{ name: 'dns', type: 'STRICT_DNS', endpoints: [{ host: 'remora-test-does-not-exist.invalid', port: 80 }] }],
    }, { waitReady: false });
    try {
      assert.equal(await probeConnect(h.port('ingress')), 'accepted', 'listener should be bound');
      const res = await httpRequest(h.adminUrl, { path: '/ready' });
      assert.equal(res.status, 503);
    } finally {
      await h.close();
    }
  });

  it('/ready turns 200 once a STRICT_DNS cluster resolves (localhost), and traffic flows', { timeout: 20_000 }, async () => {
    const h = await SidecarHarness.start({
      listeners: [{ name: 'ingress', routes: [routeTo('dns')] }],
      clusters: [{ name: 'dns', type: 'STRICT_DNS', endpoints: [{ host: 'localhost', port: echo.port }], http2: true,
        extra: { dns_lookup_family: 'V4_ONLY' } }],
    }, { waitReady: false });
    try {
      await h.waitReady();
      const client = createEchoClient(h.target('ingress'));
      try {
        const r = await unary(client, { message: 'dns' });
        assert.equal(r.error, null, r.error?.details);
      } finally {
        client.close();
      }
    } finally {
      await h.close();
    }
  });

  it('POST /drain stops the listeners accepting new connections', { timeout: 20_000 }, async () => {
    const h = await SidecarHarness.start(simpleProxy({ listener: 'ingress', port: echo.port, http2: true }), { drainTimeMs: 2000 });
    try {
      const port = h.port('ingress');
      assert.equal(await probeConnect(port), 'accepted');
      const res = await httpRequest(h.adminUrl, { method: 'POST', path: '/drain' });
      assert.equal(res.status, 200);
      await waitFor(async () => (await probeConnect(port)) === 'ECONNREFUSED', { what: 'listener to refuse connections after POST /drain' });
    } finally {
      await h.close();
    }
  });
});
