/**
 * The per-listener tracer without sockets: sampling decisions (parent honoured, random_sampling ×
 * overall_sampling with a seeded random), unsampled requests getting no span but a propagated
 * context, span kind by traffic direction, and the ReadableSpan handed to the sink at `end`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { seededRandom, type Clock, type RandomSource } from '../../core/clock';
import { ResponseFlag, ResponseFlagFormatter } from '../../core/response-flags';
import type { ListenerModel } from '../../config/model';
import type { TracingModel } from '../../config/tracing-model';
import type { StreamInfo, TracedStream, TraceSpan } from '../stream-info';
import { OtelHttpTracer } from './http-tracer';
import { IdGenerator } from './id-generator';
import type { SpanSink } from './request-span';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

class Sink implements SpanSink {
  readonly spans: ReadableSpan[] = [];
  readonly resource = resourceFromAttributes({ 'service.name': 'unit' });
  readonly scope = { name: 'remora' };
  push(span: ReadableSpan): void { this.spans.push(span); }
}

const clock: Clock = { now: () => 1_700_000_000_000, monotonic: () => 1000 };

function model(randomSamplingPercent: number, overallSamplingPercent = 100): TracingModel {
  return {
    randomSamplingPercent, overallSamplingPercent, clientSamplingPercent: 100, maxPathTagLength: 256,
    customTags: [{ kind: 'literal', tag: 'k', value: 'v' }, { kind: 'request_header', tag: 'user', name: 'x-user', defaultValue: null }],
    exporter: { protocol: 'grpc', endpoint: 'http://c:4317', serviceName: 's', timeoutMs: 1000, key: 'k' },
  };
}

function listener(direction: ListenerModel['trafficDirection']): ListenerModel {
  return { trafficDirection: direction } as ListenerModel;
}

function tracer(m: TracingModel, direction: ListenerModel['trafficDirection'], sink: Sink, random: RandomSource = seededRandom(1)): OtelHttpTracer {
  return new OtelHttpTracer(m, listener(direction), sink, new IdGenerator(), random, clock, new ResponseFlagFormatter(), 'node-1');
}

function stream(headers: Record<string, string | string[] | undefined>): TracedStream {
  const s = {
    method: 'POST', path: '/pkg.Svc/Do?x=1', authority: 'svc.ns:8080', scheme: 'http', headers, isGrpc: true, protocol: 'h2',
    remoteAddress: '10.0.0.7', connection: { peer: { spiffeId: null, principal: 'cluster.local/ns/a/sa/b', namespace: 'a', serviceAccount: 'b' }, remoteAddress: '10.0.0.7', mutualTls: true, telemetrySlot: null },
    startTime: 1000, startTimeWall: 1_700_000_000_000, endTime: 0, responseStatus: 200, grpcStatus: 14, responseFlags: ResponseFlag.UpstreamRetryLimitExceeded,
    localReplyReason: null, localReplyMessage: null, bytesReceived: 5, bytesSent: 7, routeName: 'r', upstreamCluster: 'c', upstreamHost: '10.0.0.9:80',
    upstreamMetadata: null, upstreamAttempts: 3, requestId: 'rid', traceId: null as string | null, span: null as TraceSpan | null,
  };
  return s as unknown as TracedStream;
}

describe('OtelHttpTracer', () => {
  it('samples a root at 100 %, builds a CLIENT span on OUTBOUND with semantic-convention attributes', () => {
    const sink = new Sink();
    const headers: Record<string, string | string[] | undefined> = { 'x-user': 'alice' };
    const st = stream(headers);
    tracer(model(100), 'OUTBOUND', sink).onRequestStart(st, headers);
    assert.ok(st.span !== null);
    assert.match(headers['traceparent'] as string, new RegExp(`^00-${st.traceId}-[0-9a-f]{16}-01$`));
    st.span!.addEvent('retry', { attempt: 2, 'upstream.host': '10.0.0.8:80' });
    (st as { endTime: number }).endTime = 1012.5;
    st.span!.end(st);
    st.span!.end(st);
    assert.equal(sink.spans.length, 1);
    const span = sink.spans[0]!;
    assert.equal(span.kind, SpanKind.CLIENT);
    assert.equal(span.name, '/pkg.Svc/Do');
    assert.equal(span.parentSpanContext, undefined);
    assert.equal(span.spanContext().traceId, st.traceId);
    assert.equal(span.spanContext().spanId, (headers['traceparent'] as string).split('-')[2]);
    assert.deepEqual(span.startTime, [1_700_000_000, 0]);
    assert.deepEqual(span.endTime, [1_700_000_000, 12_500_000]);
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.deepEqual(span.events.map((e) => [e.name, e.attributes]), [['retry', { attempt: 2, 'upstream.host': '10.0.0.8:80' }]]);
    const a = span.attributes;
    assert.equal(a['rpc.system'], 'grpc');
    assert.equal(a['rpc.service'], 'pkg.Svc');
    assert.equal(a['rpc.method'], 'Do');
    assert.equal(a['rpc.grpc.status_code'], 14);
    assert.equal(a['server.address'], 'svc.ns');
    assert.equal(a['network.peer.address'], '10.0.0.7');
    assert.equal(a['remora.peer.principal'], 'cluster.local/ns/a/sa/b');
    assert.equal(a['upstream_cluster'], 'c');
    assert.equal(a['response_flags'], 'URX');
    assert.equal(a['guid:x-request-id'], 'rid');
    assert.equal(a['remora.upstream.attempts'], 3);
    assert.equal(a['k'], 'v');
    assert.equal(a['user'], 'alice');
  });

  it('honours a parent decision over random_sampling and builds SERVER spans on INBOUND', () => {
    const sink = new Sink();
    const t0 = tracer(model(0), 'INBOUND', sink);
    const h1: Record<string, string | string[] | undefined> = { traceparent: `00-${T}-${S}-01` };
    const s1 = stream(h1);
    t0.onRequestStart(s1, h1);
    s1.span!.end(s1);
    assert.equal(sink.spans[0]!.kind, SpanKind.SERVER);
    assert.equal(sink.spans[0]!.parentSpanContext!.spanId, S);
    const t100 = tracer(model(100), 'UNSPECIFIED', sink);
    const h2: Record<string, string | string[] | undefined> = { traceparent: `00-${T}-${S}-00` };
    const s2 = stream(h2);
    t100.onRequestStart(s2, h2);
    assert.equal(s2.span, null);
    assert.equal(s2.traceId, T);
    assert.match(h2['traceparent'] as string, new RegExp(`^00-${T}-[0-9a-f]{16}-00$`));
    assert.notEqual((h2['traceparent'] as string).split('-')[2], S);
  });

  it('samples roots at random_sampling × overall_sampling', () => {
    const sink = new Sink();
    const t = tracer(model(50, 50), 'INBOUND', sink, seededRandom(42));
    let sampled = 0;
    for (let i = 0; i < 4000; i++) {
      const h: Record<string, string | string[] | undefined> = {};
      const s = stream(h);
      t.onRequestStart(s, h);
      assert.ok(s.traceId !== null);
      if (s.span !== null) sampled++;
    }
    assert.ok(sampled > 800 && sampled < 1200, `sampled ${sampled} of 4000 at 25 %`);
    const none = tracer(model(0), 'INBOUND', sink);
    const h: Record<string, string | string[] | undefined> = {};
    const s = stream(h);
    none.onRequestStart(s, h);
    assert.equal(s.span, null);
  });

  it('is never thrown off by hostile headers', () => {
    const sink = new Sink();
    const t = tracer(model(100), 'INBOUND', sink);
    const inputs: Array<Record<string, string | string[] | undefined>> = [
      { traceparent: ['a', 'b'] }, { b3: '' }, { 'x-b3-sampled': 'yes' }, { traceparent: '\u0000'.repeat(60) }, { b3: '-'.repeat(100), 'x-b3-spanid': S },
    ];
    for (const h of inputs) {
      const s = stream(h);
      t.onRequestStart(s, h);
      assert.ok(s.span !== null);
      assert.equal(s.span!.constructor.name, 'RequestSpan');
    }
  });
});

describe('StreamInfo compatibility', () => {
  it('the test stream satisfies StreamInfo', () => {
    const info: StreamInfo = stream({});
    assert.equal(info.method, 'POST');
  });
});
