/**
 * Micro benchmark of the per-request telemetry work (issue 7), separated from the proxy's own
 * cost: for the listener configs of the macro bench's `telemetry` (Istio metrics + 1 % tracing +
 * error-only JSON access log) and `telemetry-full` (100 % tracing, every request logged) variants,
 * compiled by the real bootstrap compiler, it runs what the connection manager runs per request —
 * `tracer.onRequestStart` on a fresh header object, every observer's `onStreamEnd`, the span's
 * `end` — over synthetic successful gRPC streams, and reports ns per request for each part and in
 * total. Spans go to an OTLP/gRPC collector in this process (bench/macro/otlp-sink.ts), log lines to
 * a file in a temp dir. Run: `node --import tsx bench/micro/telemetry/stream-telemetry.bench.ts`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadBootstrap } from '../../../src/config/compile/load-bootstrap';
import type { ListenerModel } from '../../../src/config/model';
import { createRuntime } from '../../../src/core/runtime';
import { defaultExtensionRegistry } from '../../../src/filters/registry';
import type { HttpTracer, StreamObserver, TracedStream, TraceSpan } from '../../../src/observability/stream-info';
import { ListenerTelemetry } from '../../../src/sidecar/listener-telemetry';
import { loadEnvoyProtos } from '../../../src/xds/protos';
import { OtlpSink } from '../../macro/otlp-sink';
import { renderBootstrap, type BootstrapVariant } from '../../macro/remora';

const N = 200_000;
const WARMUP = 20_000;

function listenerOf(variant: BootstrapVariant, dir: string, otlpPort: number): ListenerModel {
  const file = path.join(dir, `${variant}.yaml`);
  fs.writeFileSync(file, renderBootstrap(15001, 50051, variant, { otlpPort, accessLogPath: path.join(dir, `${variant}.log`) }));
  const r = loadBootstrap(file, loadEnvoyProtos(), defaultExtensionRegistry());
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value.listeners[0]!;
}

/** A finished, successful unary gRPC stream as the connection manager leaves it. */
function stream(i: number): TracedStream & { headers: Record<string, string> } {
  return {
    method: 'POST', path: '/bench.Bench/Echo', authority: 'bench.svc:8080', scheme: 'http',
    headers: { ':method': 'POST', ':path': '/bench.Bench/Echo', ':authority': 'bench.svc:8080', 'content-type': 'application/grpc', 'x-request-id': `req-${i}` },
    isGrpc: true, protocol: 'h2', remoteAddress: '127.0.0.1', connection: null,
    startTime: 1000, startTimeWall: 1_700_000_000_000, endTime: 1001.5,
    responseStatus: 200, grpcStatus: 0, responseFlags: 0, localReplyReason: null, localReplyMessage: null,
    bytesReceived: 12, bytesSent: 17, routeName: '', upstreamCluster: 'upstream', upstreamHost: '127.0.0.1:50051',
    upstreamMetadata: null, upstreamAttempts: 1, requestId: `req-${i}`, traceId: null, span: null,
  };
}

interface Parts { tracer: HttpTracer | null; observers: readonly StreamObserver[] }

function run(parts: Parts, which: 'tracer' | 'observers' | 'all'): number {
  const streams = Array.from({ length: 1024 }, (_, i) => stream(i));
  let t0 = 0n;
  for (let i = 0; i < WARMUP + N; i++) {
    if (i === WARMUP) t0 = process.hrtime.bigint();
    const s = streams[i & 1023]!;
    s.span = null;
    const headers = requestHeaders(s.headers);
    if (which !== 'observers' && parts.tracer !== null) parts.tracer.onRequestStart(s, headers);
    if (which !== 'tracer') for (let k = 0; k < parts.observers.length; k++) parts.observers[k]!.onStreamEnd(s);
    const span = s.span as TraceSpan | null;
    if (span !== null && which !== 'observers') span.end(s);
  }
  return Number(process.hrtime.bigint() - t0) / N;
}

/**
 * A fresh header object shaped like the ones node:http2 hands the connection manager (null
 * prototype, properties assigned one by one); an object literal copy would measure V8's map
 * transitions for the added trace headers instead (~1 µs, an artefact).
 */
function requestHeaders(src: Readonly<Record<string, string>>): Record<string, string | string[] | undefined> {
  const h = Object.create(null) as Record<string, string | string[] | undefined>;
  for (const k in src) h[k] = src[k];
  return h;
}

/** Per-request cost of building the header object alone (subtracted from every figure). */
function baseline(): number {
  const streams = Array.from({ length: 1024 }, (_, i) => stream(i));
  let sink = 0;
  let t0 = 0n;
  for (let i = 0; i < WARMUP + N; i++) {
    if (i === WARMUP) t0 = process.hrtime.bigint();
    const h = requestHeaders(streams[i & 1023]!.headers);
    sink += h[':path']!.length;
  }
  if (sink < 0) console.log(sink);
  return Number(process.hrtime.bigint() - t0) / N;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-telemetry-bench-'));
  const sink = await OtlpSink.start();
  try {
    const base = baseline();
    const rows: string[] = ['| config | tracer ns/req | observers ns/req | total ns/req |', '| --- | ---: | ---: | ---: |'];
    for (const variant of ['telemetry', 'telemetry-full'] as const) {
      const runtime = createRuntime({ logLevel: 'silent' });
      const telemetry = new ListenerTelemetry(runtime, { id: 'bench', cluster: 'bench', metadata: { WORKLOAD_NAME: 'bench', NAMESPACE: 'default' } });
      const parts = telemetry.build(listenerOf(variant, dir, sink.port));
      const tracer = run(parts, 'tracer') - base;
      const observers = run(parts, 'observers') - base;
      const all = run(parts, 'all') - base;
      rows.push(`| ${variant} | ${tracer.toFixed(0)} | ${observers.toFixed(0)} | ${all.toFixed(0)} |`);
      await telemetry.close();
    }
    process.stdout.write(`Per-request telemetry work (N=${N}, header object baseline ${base.toFixed(0)} ns subtracted; node ${process.version})\n\n${rows.join('\n')}\n`);
  } finally {
    await sink.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
