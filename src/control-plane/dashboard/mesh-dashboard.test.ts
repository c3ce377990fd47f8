/**
 * MeshDashboard against a fake push status and a real HTTP "sidecar admin" on port 0 serving fixed
 * metrics: the state joins sync status (NACK text), node metadata and scraped telemetry; scrape
 * failures are shown; disconnected sidecars are kept for a while, then dropped with their
 * telemetry; the CA root expiry is shown; the HTTP routes serve the page, assets, JSON and SSE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../core/clock';
import { MeshCa } from '../ca/mesh-ca';
import type { NodeStatus } from '../server/push-status';
import { MeshDashboard } from './mesh-dashboard';

class FakeClock implements Clock {
  constructor(public wall: number, public mono = 0) {}
  now(): number { return this.wall; }
  monotonic(): number { return this.mono; }
  advance(ms: number): void { this.wall += ms; this.mono += ms; }
}

function status(nodeId: string, streamId: number, nack: string | null, workload: string, adminAddress: string): NodeStatus {
  const type = (t: string, state: 'SYNCED' | 'NACKED') => ({
    typeUrl: `type.googleapis.com/${t}`, type: t, state, versionSent: '3', versionAcked: state === 'SYNCED' ? '3' : '2', nonceSent: '9',
    sentAt: null, resourceNames: [], pushAckLatencyMs: null,
    lastNack: state === 'NACKED' ? { message: nack!, version: '3', nonce: '9', at: '2030-01-01T00:00:00.000Z' } : null,
  });
  return {
    streamId, nodeId, cluster: 'c', snapshotKey: 'k', userAgent: 'remora/0', connectedSince: '2030-01-01T00:00:00.000Z', peer: null,
    namespace: 'demo', serviceAccount: null, workload, adminAddress,
    types: [type('cds', 'SYNCED'), type('lds', nack === null ? 'SYNCED' : 'NACKED')],
  };
}

const LABELS = 'reporter="destination",source_workload="client",source_workload_namespace="demo",destination_service="greeter.demo.svc",destination_service_name="greeter",destination_service_namespace="demo",destination_workload="greeter-v1",destination_workload_namespace="demo"';

function metrics(n: number): string {
  return [
    '# TYPE istio_requests_total counter',
    `istio_requests_total{${LABELS},response_code="200",grpc_response_status="0"} ${n}`,
    `istio_request_duration_milliseconds_bucket{${LABELS},le="1"} ${n}`,
    `istio_request_duration_milliseconds_bucket{${LABELS},le="+Inf"} ${n}`,
    'remora_workload_cert_expiry_timestamp_seconds 1900000000',
    'other_metric{x="y"} 1',
  ].join('\n') + '\n';
}

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; address: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function get(server: http.Server, path: string): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

test('joins push status, node metadata and scraped telemetry; NACK text; retention; CA expiry; HTTP routes', async (t) => {
  let count = 100;
  const admin = await listen((req, res) => {
    assert.equal(req.url, '/stats/prometheus');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(metrics(count));
  });
  t.after(() => new Promise<void>((r) => admin.server.close(() => r())));
  const clock = new FakeClock(Date.parse('2030-01-01T00:00:00Z'), 1000);
  const ca = MeshCa.createSelfSigned({ clock, rootTtlMs: 365 * 86_400_000 });
  const v1Status = status('v1-node', 1, null, 'greeter-v1', admin.address);
  let streams: NodeStatus[] = [v1Status, status('bad-node', 2, "resource outbound: address: cannot bind 127.0.0.1:1: listen EACCES", 'bad', '127.0.0.1:1')];
  const dash = new MeshDashboard({
    syncz: () => streams, nodes: () => streams, clock, scrapeIntervalMs: 1000, windowMs: 10_000, retainDisconnectedMs: 5000, scrapeTimeoutMs: 2000,
    caTrustBundle: () => ca.trustBundlePem(),
  });
  t.after(() => dash.stop());

  await dash.scrapeOnce();
  clock.advance(2000);
  count = 120;
  await dash.scrapeOnce();
  let st = dash.state();
  const v1 = st.sidecars.find((s) => s.nodeId === 'v1-node')!;
  assert.equal(v1.workload, 'greeter-v1');
  assert.equal(v1.sync, 'SYNCED');
  assert.equal(v1.scrape.state, 'ok');
  assert.equal(v1.certExpiry, new Date(1_900_000_000_000).toISOString());
  const bad = st.sidecars.find((s) => s.nodeId === 'bad-node')!;
  assert.equal(bad.sync, 'NACKED');
  assert.equal(bad.nack, 'lds: resource outbound: address: cannot bind 127.0.0.1:1: listen EACCES');
  assert.equal(bad.scrape.state, 'error');
  assert.ok(bad.scrape.error !== null && bad.scrape.error.length > 0);
  assert.equal(bad.certExpiry, null);
  assert.equal(st.services.length, 1);
  assert.equal(st.services[0]!.rps, 10); // 20 requests over the 2 s since the baseline
  assert.equal(st.services[0]!.successRate, 1);
  assert.equal(st.ca!.roots.length, 1);
  assert.equal(st.ca!.rootExpiry, new Date(Date.parse('2030-01-01T00:00:00Z') + 365 * 86_400_000).toISOString());

  // HTTP: page, assets, JSON, SSE; unknown dashboard paths are not handled.
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (!dash.handle(req, res, path)) { res.writeHead(404); res.end(); }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const page = await get(server, '/dashboard');
  assert.equal(page.status, 200);
  assert.match(page.type, /text\/html/);
  assert.match(page.body, /dashboard\.js/);
  assert.match((await get(server, '/dashboard/assets/dashboard.js')).type, /javascript/);
  assert.equal((await get(server, '/dashboard/assets/../mesh-dashboard.ts')).status, 404);
  assert.equal((await get(server, '/dashboard/nope')).status, 404);
  const api = JSON.parse((await get(server, '/dashboard/api/state')).body) as { sidecars: Array<{ nodeId: string }> };
  assert.deepEqual(api.sidecars.map((s) => s.nodeId), ['bad-node', 'v1-node']);

  const events: string[] = [];
  const sse = await new Promise<http.IncomingMessage>((resolve) => http.get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/dashboard/events`, resolve));
  assert.match(String(sse.headers['content-type']), /text\/event-stream/);
  const twoStates = new Promise<void>((resolve) => {
    sse.on('data', (c: Buffer) => {
      events.push(c.toString());
      if ((events.join('').match(/event: state\n/g) ?? []).length >= 2) resolve();
    });
  });
  await new Promise<void>((r) => setImmediate(r));
  await dash.scrapeOnce(); // publishes a second state
  await twoStates;
  assert.equal(dash.eventClientsForTest(), 1);
  sse.destroy();

  // The NACKing node disconnects: listed as DISCONNECTED, then dropped after retainDisconnectedMs.
  streams = [v1Status];
  await dash.scrapeOnce();
  st = dash.state();
  assert.equal(st.sidecars.find((s) => s.nodeId === 'bad-node')!.sync, 'DISCONNECTED');
  clock.advance(5000);
  await dash.scrapeOnce();
  assert.deepEqual(dash.state().sidecars.map((s) => s.nodeId), ['v1-node']);
  // And v1's telemetry goes with it once it is gone for long enough.
  streams = [];
  await dash.scrapeOnce();
  clock.advance(5000);
  await dash.scrapeOnce();
  assert.deepEqual(dash.state().services, []);
  assert.deepEqual(dash.telemetry.ids(), []);
});

test('scrape rounds read only who is connected (`nodes`); the push status is rendered when the state is asked for', async (t) => {
  const clock = new FakeClock(Date.parse('2030-01-01T00:00:00Z'), 1000);
  let rendered = 0;
  const streams = [status('a', 1, null, 'wa', ''), status('b', 2, 'bad listener', 'wb', '')].map((s) => ({ ...s, adminAddress: null }));
  const dash = new MeshDashboard({
    syncz: () => { rendered++; return streams; },
    nodes: () => streams.map(({ streamId, nodeId, namespace, workload, adminAddress }) => ({ streamId, nodeId, namespace, workload, adminAddress })),
    clock, scrapeIntervalMs: 1000,
  });
  t.after(() => dash.stop());
  for (let i = 0; i < 3; i++) await dash.scrapeOnce();
  assert.equal(rendered, 0, 'no scrape round rendered the push status');
  const st = dash.state();
  assert.equal(rendered, 1);
  assert.deepEqual(st.sidecars.map((s) => [s.nodeId, s.workload, s.sync]), [['a', 'wa', 'SYNCED'], ['b', 'wb', 'NACKED']]);
  assert.match(st.sidecars[1]!.nack ?? '', /bad listener/);
});
