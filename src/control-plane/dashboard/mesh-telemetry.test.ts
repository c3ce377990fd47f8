/** Unit tests of MeshTelemetry: deltas, resets, window, rates, success, quantiles, edges, bounds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshTelemetry, isSuccess } from './mesh-telemetry';
import type { PromSample } from './prometheus-text';

const SVC = 'greeter.demo.svc.cluster.local';

function req(reporter: string, value: number, extra: Record<string, string> = {}): PromSample {
  return {
    name: 'istio_requests_total',
    labels: {
      reporter, source_workload: 'client', source_workload_namespace: 'demo', destination_service: SVC,
      destination_service_name: 'greeter', destination_service_namespace: 'demo', destination_workload: 'greeter-v1',
      destination_workload_namespace: 'demo', response_code: '200', grpc_response_status: '0', response_flags: '-', ...extra,
    },
    value,
  };
}

function buckets(reporter: string, counts: Record<string, number>): PromSample[] {
  return Object.entries(counts).map(([le, value]) => ({ ...req(reporter, value), name: 'istio_request_duration_milliseconds_bucket', labels: { ...req(reporter, 0).labels, le } }));
}

function close(actual: number | null, expected: number): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${actual} ≈ ${expected}`);
}

test('isSuccess: not 5xx, not 0, gRPC OK', () => {
  assert.equal(isSuccess('200', '0'), true);
  assert.equal(isSuccess('200', '-'), true);
  assert.equal(isSuccess('404', undefined), true);
  assert.equal(isSuccess('503', undefined), false);
  assert.equal(isSuccess('0', undefined), false);
  assert.equal(isSuccess('200', '14'), false);
});

test('rates, success rate, quantiles and edges from scrape deltas; reporter choice per service and edge', () => {
  const m = new MeshTelemetry({ windowMs: 10_000 });
  // t=0: baselines (the client's 100 earlier requests are not in the window).
  m.ingest('client', 0, [req('source', 100)]);
  m.ingest('v1', 0, []);
  // t=1000: a new error series (started at 0 after the baseline) and new destination series.
  m.ingest('client', 1000, [req('source', 110), req('source', 5, { grpc_response_status: '14' })]);
  m.ingest('v1', 1000, [req('destination', 40), ...buckets('destination', { '5': 10, '10': 30, '25': 40, '+Inf': 40 })]);
  m.ingest('client', 2000, [req('source', 130), req('source', 5, { grpc_response_status: '14' })]);
  m.ingest('v1', 2000, [req('destination', 60), ...buckets('destination', { '5': 10, '10': 40, '25': 60, '+Inf': 60 })]);

  const s = m.summarize(2000);
  assert.equal(s.services.length, 1);
  const svc = s.services[0]!;
  assert.equal(svc.service, SVC);
  assert.equal(svc.name, 'greeter');
  assert.equal(svc.reporter, 'destination');
  close(svc.rps, 60 / 2);
  close(svc.successRate, 1);
  close(svc.p50Ms, 5 + 5 * (20 / 30));
  close(svc.p99Ms, 10 + 15 * (19.4 / 20));

  const call = s.edges.find((e) => e.kind === 'call')!;
  assert.deepEqual([call.source, call.target, call.reporter], ['wl:demo/client', `svc:${SVC}`, 'source']);
  close(call.rps, 35 / 2);
  close(call.successRate, 30 / 35);
  const serves = s.edges.find((e) => e.kind === 'serves')!;
  assert.deepEqual([serves.source, serves.target, serves.reporter], [`svc:${SVC}`, 'wl:demo/greeter-v1', 'destination']);
  close(serves.rps, 30);
  assert.deepEqual(s.nodes.map((n) => n.id), [`svc:${SVC}`, 'wl:demo/client', 'wl:demo/greeter-v1']);

  // A counter reset (sidecar restart) counts the new value as the increase.
  m.ingest('v1', 3000, [req('destination', 10)]);
  close(m.summarize(3000).services[0]!.rps, 70 / 3);

  // Past the window: rates fall to 0, the service stays listed, quantiles are unknown.
  m.ingest('client', 14_000, [req('source', 130), req('source', 5, { grpc_response_status: '14' })]);
  m.ingest('v1', 14_000, [req('destination', 10)]);
  const later = m.summarize(14_000);
  assert.equal(later.services[0]!.rps, 0);
  assert.equal(later.services[0]!.successRate, null);
  assert.equal(later.services[0]!.p99Ms, null);
  assert.equal(later.edges.find((e) => e.kind === 'call')!.rps, 0);
});

test('call edges into a service come from one side: source when any caller reported, so an unknown caller seen by the destination is not a second edge', () => {
  const m = new MeshTelemetry({ windowMs: 10_000 });
  m.ingest('client', 0, []);
  m.ingest('v1', 0, []);
  m.ingest('client', 1000, [req('source', 10)]);
  m.ingest('v1', 1000, [req('destination', 10, { source_workload: 'unknown', source_workload_namespace: 'unknown' })]);
  const s = m.summarize(1000);
  assert.deepEqual(s.edges.map((e) => `${e.kind} ${e.source} -> ${e.target} ${e.reporter} ${e.rps}`), [
    `call wl:demo/client -> svc:${SVC} source 10`,
    `serves svc:${SVC} -> wl:demo/greeter-v1 destination 10`,
  ]);
  assert.ok(!s.nodes.some((n) => n.name === 'unknown'));
  // Without any source-reported series (no client sidecar), the destination's view is the edge.
  const d = new MeshTelemetry({ windowMs: 10_000 });
  d.ingest('v1', 0, []);
  d.ingest('v1', 1000, [req('destination', 4, { source_workload: 'unknown', source_workload_namespace: 'unknown' })]);
  assert.deepEqual(d.summarize(1000).edges.filter((e) => e.kind === 'call').map((e) => `${e.source} ${e.reporter} ${e.rps}`), ['wl:unknown/unknown destination 4']);
});

test('falls back to reporter=source for a service without destination metrics', () => {
  const m = new MeshTelemetry({ windowMs: 10_000 });
  m.ingest('client', 0, []);
  m.ingest('client', 4000, [req('source', 8, { response_code: '503', grpc_response_status: '' }), req('source', 12)]);
  const s = m.summarize(4000);
  assert.equal(s.services[0]!.reporter, 'source');
  close(s.services[0]!.rps, 5);
  close(s.services[0]!.successRate, 0.6);
  assert.equal(s.edges.find((e) => e.kind === 'serves')!.reporter, 'source');
});

test('memory bounds: series cap, scrape ring cap, drop()', () => {
  const m = new MeshTelemetry({ windowMs: 1_000_000, maxScrapes: 3, maxSeries: 2 });
  const many = (v: number) => ['a', 'b', 'c', 'd'].map((w) => req('source', v, { source_workload: w }));
  m.ingest('x', 0, many(1));
  assert.equal(m.droppedSeries('x'), 2);
  for (let t = 1; t <= 10; t++) m.ingest('x', t * 1000, many(t + 1));
  // Only the last 3 deltas (1 request each on 2 kept series) are in the ring.
  const s = m.summarize(10_000);
  close(s.services[0]!.rps, 6 / 10);
  assert.equal(s.edges.filter((e) => e.kind === 'call').length, 2);
  m.drop('x');
  assert.deepEqual(m.summarize(10_000).services, []);
  assert.deepEqual(m.ids(), []);
});

test('cert expiry: the earliest gauge value, null when absent', () => {
  const m = new MeshTelemetry({ windowMs: 10_000 });
  m.ingest('a', 0, [{ name: 'remora_workload_cert_expiry_timestamp_seconds', labels: {}, value: 1_800_000_000 }]);
  m.ingest('b', 0, []);
  assert.equal(m.certExpiry('a'), 1_800_000_000);
  assert.equal(m.certExpiry('b'), null);
  assert.equal(m.certExpiry('nope'), null);
});
