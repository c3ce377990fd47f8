/**
 * OpenTelemetry tracing end to end: a real OTLP receiver (gRPC TraceService + HTTP/protobuf), two
 * sidecars (A: OUTBOUND listener → B: INBOUND listener → grpc-js Echo server) exporting to it, and
 * a third sidecar whose listeners cover random_sampling 0, the HTTP/protobuf exporter and an absent
 * collector. Checks one trace across both hops with the right parent/child chain and attributes,
 * unsampled parents (no spans, context still propagated), B3 in → B3 out, sampling and drop counting.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { EchoServer } from './fakes/echo-server';
import { createEchoClient, md, unary, type EchoClient } from './fakes/echo-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { bootstrapJson, routeTo, type ListenerSpec } from './fakes/bootstrap';
import { OtlpReceiver } from './fakes/otlp-receiver';
import { waitFor } from './fakes/wait';

type Json = Record<string, unknown>;
const OTEL_TYPE = 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig';

function grpcProvider(target: string, serviceName: string): Json {
  return {
    name: 'envoy.tracers.opentelemetry',
    typed_config: { '@type': OTEL_TYPE, grpc_service: { google_grpc: { target_uri: target, stat_prefix: 'otlp' }, timeout: '2s' }, service_name: serviceName },
  };
}

function httpProvider(url: string, serviceName: string): Json {
  return {
    name: 'envoy.tracers.opentelemetry',
    typed_config: { '@type': OTEL_TYPE, http_service: { http_uri: { uri: url, cluster: 'otel', timeout: '2s' } }, service_name: serviceName },
  };
}

/** A bootstrap with `listeners` (each with its traffic direction) routing to one h2 cluster. */
function bootstrap(listeners: Array<ListenerSpec & { direction: string }>, upstreamPort: number, nodeId: string): string {
  const b = bootstrapJson({
    listeners: listeners.map((l) => ({ ...l, routes: [routeTo('upstream')] })),
    clusters: [{ name: 'upstream', endpoints: [{ host: '127.0.0.1', port: upstreamPort }], http2: true }],
  });
  (b['node'] as Json)['id'] = nodeId;
  const ls = (b['static_resources'] as Json)['listeners'] as Json[];
  listeners.forEach((l, i) => { ls[i]!['traffic_direction'] = l.direction; });
  return stringify(b);
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function first(m: grpc.Metadata | null, key: string): string | undefined {
  const v = m?.get(key)[0];
  return v === undefined ? undefined : String(v);
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('tracing', { timeout: 60_000 }, () => {
  let receiver: OtlpReceiver;
  let echo: EchoServer;
  let sidecarA: SidecarHarness;
  let sidecarB: SidecarHarness;
  let sidecarC: SidecarHarness;
  let client: EchoClient;

  before(async () => {
    receiver = await OtlpReceiver.start();
    echo = await EchoServer.start({ id: 'echo' });
    const tracing = (service: string): Json => ({
      tracing: {
        random_sampling: { value: 100 },
        custom_tags: [
          { tag: 'mesh.env', literal: { value: 'test' } },
          { tag: 'user', request_header: { name: 'x-user', default_value: 'anonymous' } },
        ],
        provider: grpcProvider(receiver.grpcTarget, service),
      },
    });
    sidecarB = await SidecarHarness.start(bootstrap([{ name: 'inbound', direction: 'INBOUND', hcm: tracing('echo.test') }], echo.port, 'sidecar-b'));
    sidecarA = await SidecarHarness.start(bootstrap([{ name: 'outbound', direction: 'OUTBOUND', hcm: tracing('client.test') }], sidecarB.port('inbound'), 'sidecar-a'));
    client = createEchoClient(sidecarA.target('outbound'));
    const absent = await closedPort();
    sidecarC = await SidecarHarness.start(bootstrap([
      { name: 'never', direction: 'INBOUND', hcm: { tracing: { random_sampling: { value: 0 }, provider: grpcProvider(receiver.grpcTarget, 'never') } } },
      { name: 'http', direction: 'INBOUND', hcm: { tracing: { provider: httpProvider(receiver.httpUrl, 'http-export') } } },
      { name: 'absent', direction: 'INBOUND', hcm: { tracing: { provider: grpcProvider(`127.0.0.1:${absent}`, 'absent') } } },
    ], echo.port, 'sidecar-c'));
  });

  after(async () => {
    client?.close();
    await sidecarA?.close();
    await sidecarB?.close();
    await sidecarC?.close();
    await echo?.close();
    await receiver?.close();
  });

  it('a call through two sidecars gives one trace: A client span → B server span, child of the incoming parent', async () => {
    const r = await unary(client, { message: 'hi' }, { metadata: md({ traceparent: `00-${TRACE}-${PARENT}-01`, 'x-user': 'alice' }) });
    assert.equal(r.error, null);
    const spans = await receiver.waitForSpans((s) => s.filter((x) => x.traceId === TRACE).length >= 2);
    const trace = spans.filter((s) => s.traceId === TRACE);
    assert.equal(trace.length, 2, JSON.stringify(trace));
    const a = trace.find((s) => s.kind === 'SPAN_KIND_CLIENT')!;
    const b = trace.find((s) => s.kind === 'SPAN_KIND_SERVER')!;
    assert.ok(a !== undefined && b !== undefined);
    assert.equal(a.parentSpanId, PARENT);
    assert.equal(b.parentSpanId, a.spanId);
    assert.notEqual(a.spanId, b.spanId);
    assert.equal(a.resource['service.name'], 'client.test');
    assert.equal(b.resource['service.name'], 'echo.test');
    for (const s of [a, b]) {
      assert.equal(s.name, '/remora.test.v1.Echo/Unary');
      assert.equal(s.attributes['rpc.system'], 'grpc');
      assert.equal(s.attributes['rpc.service'], 'remora.test.v1.Echo');
      assert.equal(s.attributes['rpc.method'], 'Unary');
      assert.equal(s.attributes['rpc.grpc.status_code'], 0);
      assert.equal(s.attributes['http.request.method'], 'POST');
      assert.equal(s.attributes['http.response.status_code'], 200);
      assert.equal(s.attributes['server.address'], '127.0.0.1');
      assert.equal(s.attributes['network.peer.address'], '127.0.0.1');
      assert.equal(s.attributes['upstream_cluster'], 'upstream');
      assert.equal(s.attributes['response_flags'], '-');
      assert.equal(s.attributes['mesh.env'], 'test');
      assert.equal(s.attributes['user'], 'alice');
      assert.equal(typeof s.attributes['guid:x-request-id'], 'string');
      assert.equal(s.status.code, 'STATUS_CODE_UNSET');
      assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano));
    }
    assert.equal(a.attributes['guid:x-request-id'], b.attributes['guid:x-request-id']);
    assert.equal(a.attributes['upstream_address'], `127.0.0.1:${sidecarB.port('inbound')}`);
    // The upstream sees B's span as its parent, sampled.
    assert.equal(first(echo.lastMetadata, 'traceparent'), `00-${TRACE}-${b.spanId}-01`);
    const m = await sidecarA.metrics();
    assert.ok(m.sum('remora_tracing_spans_exported_total') >= 1);
  });

  it('without incoming context A starts the trace; a non-OK gRPC status marks both spans as errors', async () => {
    const before = receiver.spans.length;
    const r = await unary(client, { message: 'x' }, { metadata: md({ 'x-echo-status': '13' }) });
    assert.equal(r.error?.code, grpc.status.INTERNAL);
    const tp = first(echo.lastMetadata, 'traceparent')!;
    const traceId = tp.split('-')[1]!;
    assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const spans = await receiver.waitForSpans((s) => s.slice(before).filter((x) => x.traceId === traceId).length >= 2);
    const trace = spans.filter((s) => s.traceId === traceId);
    const a = trace.find((s) => s.kind === 'SPAN_KIND_CLIENT')!;
    const b = trace.find((s) => s.kind === 'SPAN_KIND_SERVER')!;
    assert.equal(a.parentSpanId, '');
    assert.equal(b.parentSpanId, a.spanId);
    assert.equal(a.attributes['user'], 'anonymous');
    for (const s of [a, b]) {
      assert.equal(s.attributes['rpc.grpc.status_code'], 13);
      assert.equal(s.status.code, 'STATUS_CODE_ERROR');
    }
  });

  it('an unsampled parent gives no spans but its context (sampled=0) still reaches the upstream', async () => {
    const unsampledTrace = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const r1 = await unary(client, { message: 'quiet' }, { metadata: md({ traceparent: `00-${unsampledTrace}-${PARENT}-00`, tracestate: 'vendor=x' }) });
    assert.equal(r1.error, null);
    const tp = first(echo.lastMetadata, 'traceparent')!;
    const [, t, s, f] = tp.split('-');
    assert.equal(t, unsampledTrace);
    assert.notEqual(s, PARENT);
    assert.equal(f, '00');
    assert.equal(first(echo.lastMetadata, 'tracestate'), 'vendor=x');
    // A sampled call afterwards goes through the same queues; once its spans are in, the unsampled ones would be too.
    const marker = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    await unary(client, { message: 'loud' }, { metadata: md({ traceparent: `00-${marker}-${PARENT}-01` }) });
    const spans = await receiver.waitForSpans((x) => x.filter((y) => y.traceId === marker).length >= 2);
    assert.equal(spans.filter((x) => x.traceId === unsampledTrace).length, 0);
  });

  it('B3 multi-header in → B3 multi out (no traceparent added); B3 single likewise', async () => {
    const b3Trace = '463ac35c9f6413ad48485a3953bb6124';
    const r = await unary(client, { message: 'b3' }, {
      metadata: md({ 'x-b3-traceid': b3Trace, 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '1' }),
    });
    assert.equal(r.error, null);
    const seen = echo.lastMetadata;
    const spans = await receiver.waitForSpans((x) => x.filter((y) => y.traceId === b3Trace).length >= 2);
    const a = spans.find((x) => x.traceId === b3Trace && x.kind === 'SPAN_KIND_CLIENT')!;
    const b = spans.find((x) => x.traceId === b3Trace && x.kind === 'SPAN_KIND_SERVER')!;
    assert.equal(a.parentSpanId, 'a2fb4a1d1a96d312');
    assert.equal(b.parentSpanId, a.spanId);
    assert.equal(first(seen, 'x-b3-traceid'), b3Trace);
    assert.equal(first(seen, 'x-b3-spanid'), b.spanId);
    assert.equal(first(seen, 'x-b3-parentspanid'), a.spanId);
    assert.equal(first(seen, 'x-b3-sampled'), '1');
    assert.equal(first(seen, 'traceparent'), undefined);

    // Single header, 64-bit trace id, not sampled: propagated with our span id and sampled=0, no spans.
    const r2 = await unary(client, { message: 'b3s' }, { metadata: md({ b3: '48485a3953bb6124-a2fb4a1d1a96d312-0' }) });
    assert.equal(r2.error, null);
    const single = first(echo.lastMetadata, 'b3')!;
    const parts = single.split('-');
    assert.equal(parts[0], '000000000000000048485a3953bb6124');
    assert.match(parts[1]!, /^[0-9a-f]{16}$/);
    assert.equal(parts[2], '0');
    assert.match(parts[3]!, /^[0-9a-f]{16}$/);
    assert.equal(first(echo.lastMetadata, 'traceparent'), undefined);
  });

  it('malformed trace headers are treated as absent: a new sampled root, the header overwritten', async () => {
    const r = await unary(client, { message: 'bad' }, { metadata: md({ traceparent: '00-zzzz-not-a-trace', tracestate: 'stale=1' }) });
    assert.equal(r.error, null);
    const tp = first(echo.lastMetadata, 'traceparent')!;
    assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.equal(first(echo.lastMetadata, 'tracestate'), undefined);
    const traceId = tp.split('-')[1]!;
    const spans = await receiver.waitForSpans((x) => x.filter((y) => y.traceId === traceId).length >= 2);
    assert.equal(spans.find((x) => x.traceId === traceId && x.kind === 'SPAN_KIND_CLIENT')!.parentSpanId, '');
  });

  it('random_sampling 0 samples nothing without a parent, but honours a sampled parent', async () => {
    const c = createEchoClient(sidecarC.target('never'));
    try {
      const r = await unary(c, { message: 'n' });
      assert.equal(r.error, null);
      const tp = first(echo.lastMetadata, 'traceparent')!;
      assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      const dropped = tp.split('-')[1]!;
      const parentTrace = 'cccccccccccccccccccccccccccccccc';
      await unary(c, { message: 'p' }, { metadata: md({ traceparent: `00-${parentTrace}-${PARENT}-01` }) });
      const spans = await receiver.waitForSpans((x) => x.some((y) => y.traceId === parentTrace));
      const s = spans.find((y) => y.traceId === parentTrace)!;
      assert.equal(s.resource['service.name'], 'never');
      assert.equal(s.parentSpanId, PARENT);
      assert.equal(spans.filter((y) => y.traceId === dropped).length, 0);
    } finally {
      c.close();
    }
  });

  it('the OTLP/HTTP protobuf exporter delivers spans', async () => {
    const c = createEchoClient(sidecarC.target('http'));
    try {
      const r = await unary(c, { message: 'h' });
      assert.equal(r.error, null);
      const traceId = first(echo.lastMetadata, 'traceparent')!.split('-')[1]!;
      const spans = await receiver.waitForSpans((x) => x.some((y) => y.traceId === traceId));
      const s = spans.find((y) => y.traceId === traceId)!;
      assert.equal(s.via, 'http');
      assert.equal(s.kind, 'SPAN_KIND_SERVER');
      assert.equal(s.resource['service.name'], 'http-export');
      assert.equal(s.attributes['rpc.method'], 'Unary');
    } finally {
      c.close();
    }
  });

  it('an absent collector never fails calls; its spans are dropped and counted', async () => {
    const c = createEchoClient(sidecarC.target('absent'));
    try {
      for (let i = 0; i < 5; i++) {
        const r = await unary(c, { message: `a${i}` });
        assert.equal(r.error, null);
      }
      const dropped = await waitFor(async () => {
        const n = (await sidecarC.metrics()).sum('remora_tracing_spans_dropped_total', { reason: 'export_failed' });
        return n >= 5 ? n : 0;
      }, { timeoutMs: 10_000, intervalMs: 50, what: 'remora_tracing_spans_dropped_total{reason="export_failed"} >= 5' });
      assert.ok(dropped >= 5, `dropped ${dropped}`);
    } finally {
      c.close();
    }
  });
});
