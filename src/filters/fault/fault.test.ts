/**
 * Unit tests of the fault filter: config validation with field paths, abort/delay percentages with a
 * seeded random, header control only when `header_abort`/`header_delay` opt in (and the
 * `-percentage` headers only lowering the configured percentage), header matchers, max_active_faults,
 * per-route override, the asynchronous delay (continueChain after the timer; nothing after the
 * client left) and the counters.
 */
import { RecordingDownstream } from '../../../test/fakes/recording-downstream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../core/clock';
import { createRuntime, type Runtime } from '../../core/runtime';
import { SidecarMetrics } from '../../observability/metrics';
import type { CompiledRoute } from '../../routing/route-table';
import { FilterStatus } from '../filter';
import { StreamContext, type FilterChainDriver } from '../stream-context';
import { compileFault, faultRegistration, type FaultConfig } from './config';
import { FaultFactory } from './filter';


/** Records resumes; resolves `resumed` on the first. */
class Driver implements FilterChainDriver {
  resumes = 0;
  private resolve: () => void = () => {};
  readonly resumed = new Promise<void>((r) => { this.resolve = r; });
  rematchRoute(): null { return null; }
  resume(): void {
    this.resumes++;
    this.resolve();
  }
  /** Awaits the first resume, holding a ref'd timer meanwhile (the delay timers are unref'd). */
  async waitResumed(): Promise<void> {
    const keepAlive = setInterval(() => {}, 1000);
    try {
      await this.resumed;
    } finally {
      clearInterval(keepAlive);
    }
  }
}

function setup(seed = 1): { runtime: Runtime; stats: ReturnType<SidecarMetrics['forListener']> } {
  const runtime = createRuntime({ random: seededRandom(seed), logLevel: 'silent' });
  return { runtime, stats: new SidecarMetrics(runtime.metrics, false).forListener('l1') };
}

function ctxFor(stats: ReturnType<SidecarMetrics['forListener']>, opts: { grpc?: boolean; headers?: Record<string, string>; perRoute?: FaultConfig } = {}): { ctx: StreamContext; ds: RecordingDownstream; driver: Driver } {
  const ds = new RecordingDownstream();
  const headers = { ':method': 'GET', ':path': '/x', ...(opts.headers ?? {}) };
  const ctx = new StreamContext(ds, stats, 'GET', '/x', 'svc', 'http', headers, opts.grpc ?? false, '10.0.0.1', 0, 0);
  const driver = new Driver();
  ctx.chain = driver;
  if (opts.perRoute !== undefined) {
    ctx.route = { model: { perFilterConfig: { 'envoy.filters.http.fault': opts.perRoute } } } as unknown as CompiledRoute;
  }
  return { ctx, ds, driver };
}

function cfg(o: Record<string, unknown>): FaultConfig {
  const r = compileFault(o, 'f');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

async function count(runtime: Runtime, name: string): Promise<number> {
  const m = runtime.metrics.getSingleMetric(name);
  if (m === undefined) return 0;
  return (await m.get()).values.reduce((a, v) => a + v.value, 0);
}

test('bad config is rejected with field paths', () => {
  const p = 'hcm.http_filters[0].typed_config';
  const r = compileFault({
    delay: { fixed_delay: { seconds: 0 }, percentage: { numerator: 101 } },
    abort: { http_status: 700, percentage: { numerator: 1_000_001, denominator: 'MILLION' } },
    headers: [{ name: '' }],
    upstream_cluster: 'c',
  }, p);
  assert.equal(r.ok, false);
  const paths = r.ok ? [] : r.errors.map((e) => e.path).sort();
  assert.deepEqual(paths, [
    `${p}.abort.http_status`, `${p}.abort.percentage.numerator`, `${p}.delay.fixed_delay`, `${p}.delay.percentage.numerator`,
    `${p}.headers[0].name`, `${p}.upstream_cluster`,
  ].sort());
  const two = compileFault({ abort: { http_status: 503, grpc_status: 14 } }, 'x');
  assert.deepEqual(two.ok ? [] : two.errors.map((e) => e.path), ['x.abort']);
  const grpc = compileFault({ abort: { grpc_status: 17 } }, 'x');
  assert.deepEqual(grpc.ok ? [] : grpc.errors.map((e) => e.path), ['x.abort.grpc_status']);
  assert.equal(faultRegistration.perRouteTypeUrl, faultRegistration.typeUrl);
});

test('abort 100% replies with the configured HTTP status; gRPC gets the mapped status', async () => {
  const { runtime, stats } = setup();
  const f = new FaultFactory(cfg({ abort: { http_status: 418, percentage: { numerator: 100 } } }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  const h = ctxFor(stats);
  assert.equal(f.createFilter().onRequestHeaders(h.ctx), FilterStatus.StopIteration);
  assert.equal(h.ds.status, 418);
  const g = new FaultFactory(cfg({ abort: { grpc_status: 14, percentage: { numerator: 100 } } }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  const c = ctxFor(stats, { grpc: true });
  assert.equal(g.onRequestHeaders(c.ctx), FilterStatus.StopIteration);
  assert.equal(c.ds.headers['grpc-status'], '14');
  assert.equal(await count(runtime, 'remora_fault_aborts_injected_total'), 2);
});

test('abort 50% of 4000 requests lands within tolerance (seeded); TEN_THOUSAND scale works', () => {
  const { runtime, stats } = setup(42);
  const f = new FaultFactory(cfg({ abort: { http_status: 503, percentage: { numerator: 5000, denominator: 'TEN_THOUSAND' } } }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  let aborted = 0;
  for (let i = 0; i < 4000; i++) if (f.onRequestHeaders(ctxFor(stats).ctx) === FilterStatus.StopIteration) aborted++;
  assert.ok(aborted > 1800 && aborted < 2200, `aborted ${aborted}`);
  const none = new FaultFactory(cfg({ abort: { http_status: 503 } }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  for (let i = 0; i < 50; i++) assert.equal(none.onRequestHeaders(ctxFor(stats).ctx), FilterStatus.Continue, 'absent percentage = 0%');
});

test('header control only when configured; -percentage headers only lower the percentage', () => {
  const { runtime, stats } = setup();
  const fixed = new FaultFactory(cfg({ abort: { http_status: 503, percentage: { numerator: 0 } } }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  assert.equal(fixed.onRequestHeaders(ctxFor(stats, { headers: { 'x-envoy-fault-abort-request': '500' } }).ctx), FilterStatus.Continue);
  const hdr = new FaultFactory(cfg({ abort: { header_abort: {}, percentage: { numerator: 100 } } }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  assert.equal(hdr.onRequestHeaders(ctxFor(stats).ctx), FilterStatus.Continue, 'no header, no abort');
  const a = ctxFor(stats, { headers: { 'x-envoy-fault-abort-request': '451' } });
  assert.equal(hdr.onRequestHeaders(a.ctx), FilterStatus.StopIteration);
  assert.equal(a.ds.status, 451);
  const bad = ctxFor(stats, { headers: { 'x-envoy-fault-abort-request': '99x' } });
  assert.equal(hdr.onRequestHeaders(bad.ctx), FilterStatus.Continue);
  const g = ctxFor(stats, { grpc: true, headers: { 'x-envoy-fault-abort-grpc-request': '7' } });
  assert.equal(hdr.onRequestHeaders(g.ctx), FilterStatus.StopIteration);
  assert.equal(g.ds.headers['grpc-status'], '7');
  const zero = ctxFor(stats, { headers: { 'x-envoy-fault-abort-request': '500', 'x-envoy-fault-abort-request-percentage': '0' } });
  assert.equal(hdr.onRequestHeaders(zero.ctx), FilterStatus.Continue);
  // The header cannot raise the configured percentage.
  const capped = new FaultFactory(cfg({ abort: { header_abort: {}, percentage: { numerator: 0 } } }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  assert.equal(capped.onRequestHeaders(ctxFor(stats, { headers: { 'x-envoy-fault-abort-request': '500', 'x-envoy-fault-abort-request-percentage': '100' } }).ctx), FilterStatus.Continue);
});

test('fixed delay holds the chain, then continues once; ignores delay headers without header_delay', async () => {
  const { runtime, stats } = setup();
  const f = new FaultFactory(cfg({ delay: { fixed_delay: { nanos: 20_000_000 }, percentage: { numerator: 100 } } }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  const r = ctxFor(stats, { headers: { 'x-envoy-fault-delay-request': '60000' } });
  assert.equal(f.onRequestHeaders(r.ctx), FilterStatus.StopIteration);
  assert.equal(f.activeFaultsForTest(), 1);
  assert.equal(await count(runtime, 'remora_fault_active'), 1);
  await r.driver.waitResumed();
  assert.equal(r.driver.resumes, 1);
  assert.equal(f.activeFaultsForTest(), 0);
  assert.equal(await count(runtime, 'remora_fault_delays_injected_total'), 1);
  assert.equal(await count(runtime, 'remora_fault_active'), 0);
});

test('delay then abort: the abort is sent after the delay; a closed stream is not resumed', async () => {
  const { runtime, stats } = setup();
  const f = new FaultFactory(cfg({
    delay: { fixed_delay: { nanos: 10_000_000 }, percentage: { numerator: 100 } },
    abort: { http_status: 503, percentage: { numerator: 100 } },
  }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  const r = ctxFor(stats);
  assert.equal(f.onRequestHeaders(r.ctx), FilterStatus.StopIteration);
  assert.equal(r.ds.status, 0);
  await new Promise<void>((resolve) => { const t = setInterval(() => { if (f.activeFaultsForTest() === 0) { clearInterval(t); resolve(); } }, 2); });
  assert.equal(r.ds.status, 503);
  assert.equal(r.driver.resumes, 0);

  const d = new FaultFactory(cfg({ delay: { fixed_delay: { nanos: 10_000_000 }, percentage: { numerator: 100 } } }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  const gone = ctxFor(stats);
  d.onRequestHeaders(gone.ctx);
  gone.ds.closed = true;
  await new Promise<void>((resolve) => { const t = setInterval(() => { if (d.activeFaultsForTest() === 0) { clearInterval(t); resolve(); } }, 2); });
  assert.equal(gone.driver.resumes, 0);
});

test('header_delay takes the delay from the header; max_active_faults caps concurrent faults', async () => {
  const { runtime, stats } = setup();
  const f = new FaultFactory(cfg({ delay: { header_delay: {}, percentage: { numerator: 100 } }, max_active_faults: { value: 1 } }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  assert.equal(f.onRequestHeaders(ctxFor(stats).ctx), FilterStatus.Continue, 'no header, no delay');
  const a = ctxFor(stats, { headers: { 'x-envoy-fault-delay-request': '15' } });
  assert.equal(f.onRequestHeaders(a.ctx), FilterStatus.StopIteration);
  const b = ctxFor(stats, { headers: { 'x-envoy-fault-delay-request': '15' } });
  assert.equal(f.onRequestHeaders(b.ctx), FilterStatus.Continue, 'over max_active_faults');
  assert.equal(await count(runtime, 'remora_fault_overflow_total'), 1);
  await a.driver.waitResumed();
});

test('header matchers restrict the fault; per-route config overrides the listener one', () => {
  const { runtime, stats } = setup();
  const f = new FaultFactory(cfg({ abort: { http_status: 503, percentage: { numerator: 100 } }, headers: [{ name: 'x-user', string_match: { prefix: 'test-' } }] }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.fault' });
  assert.equal(f.onRequestHeaders(ctxFor(stats).ctx), FilterStatus.Continue);
  assert.equal(f.onRequestHeaders(ctxFor(stats, { headers: { 'x-user': 'prod-1' } }).ctx), FilterStatus.Continue);
  assert.equal(f.onRequestHeaders(ctxFor(stats, { headers: { 'x-user': 'test-1' } }).ctx), FilterStatus.StopIteration);
  const route = cfg({ abort: { http_status: 404, percentage: { numerator: 100 } } });
  const r = ctxFor(stats, { perRoute: route });
  assert.equal(f.onRequestHeaders(r.ctx), FilterStatus.StopIteration);
  assert.equal(r.ds.status, 404);
});
