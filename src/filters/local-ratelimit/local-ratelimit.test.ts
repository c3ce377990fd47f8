/**
 * Unit tests of the local rate limit filter: config validation with field paths, the token bucket
 * on a fake clock (including the "100 rps admits 100 ± 5% per second under 300 rps" property,
 * deterministically), enabled/enforced sampling, x-ratelimit-* headers, per-route overrides and the
 * metrics, against a recording fake Downstream.
 */
import { RecordingDownstream } from '../../../test/fakes/recording-downstream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom, type Clock } from '../../core/clock';
import { createRuntime, type Runtime } from '../../core/runtime';
import { SidecarMetrics } from '../../observability/metrics';
import type { CompiledRoute } from '../../routing/route-table';
import { CompiledRateLimits } from '../../routing/rate-limit-descriptors';
import { FilterStatus } from '../filter';
import { StreamContext } from '../stream-context';
import { compileLocalRateLimit, compileLocalRateLimitPerRoute, descriptorKey, localRateLimitRegistration, type LocalRateLimitConfig } from './config';
import { LocalRateLimitFactory, type DescriptorSource } from './filter';
import { TokenBucket } from './token-bucket';

class FakeClock implements Clock {
  t = 1000;
  now(): number { return 1_700_000_000_000 + this.t; }
  monotonic(): number { return this.t; }
}


function setup(): { runtime: Runtime; clock: FakeClock; stats: ReturnType<SidecarMetrics['forListener']> } {
  const clock = new FakeClock();
  const runtime = createRuntime({ clock, random: seededRandom(7), logLevel: 'silent' });
  const stats = new SidecarMetrics(runtime.metrics, false).forListener('l1');
  return { runtime, clock, stats };
}

function ctxFor(stats: ReturnType<SidecarMetrics['forListener']>, opts: { grpc?: boolean; headers?: Record<string, string>; perRoute?: LocalRateLimitConfig } = {}): { ctx: StreamContext; ds: RecordingDownstream } {
  const ds = new RecordingDownstream();
  const headers = { ':method': 'GET', ':path': '/x', ...(opts.headers ?? {}) };
  const ctx = new StreamContext(ds, stats, 'GET', '/x', 'svc', 'http', headers, opts.grpc ?? false, '10.0.0.1', 0, 0);
  if (opts.perRoute !== undefined) {
    ctx.route = { model: { perFilterConfig: { 'envoy.filters.http.local_ratelimit': opts.perRoute } } } as unknown as CompiledRoute;
  }
  return { ctx, ds };
}

const ALWAYS = { default_value: { numerator: 100, denominator: 'HUNDRED' } };

function cfg(extra: Record<string, unknown> = {}): LocalRateLimitConfig {
  const r = compileLocalRateLimit({
    stat_prefix: 'rl',
    token_bucket: { max_tokens: 5, fill_interval: { seconds: 60 } },
    filter_enabled: ALWAYS,
    filter_enforced: ALWAYS,
    ...extra,
  }, 'f');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

async function metric(runtime: Runtime, decision: string): Promise<number> {
  const m = await runtime.metrics.getSingleMetric('remora_local_ratelimit_requests_total')!.get();
  return m.values.filter((v) => v.labels['decision'] === decision).reduce((a, v) => a + v.value, 0);
}

test('bad config is rejected with field paths', () => {
  const bad = compileLocalRateLimit({
    stat_prefix: '',
    token_bucket: { max_tokens: 0, tokens_per_fill: { value: 0 }, fill_interval: { seconds: 0 } },
    filter_enabled: { default_value: { numerator: 101, denominator: 'HUNDRED' } },
    descriptors: [{ entries: [{ key: 'k', value: '' }], token_bucket: { max_tokens: 1, fill_interval: { seconds: -1 } } }],
    local_rate_limit_per_downstream_connection: true,
  }, 'listener.hcm.http_filters[0].typed_config');
  assert.equal(bad.ok, false);
  const paths = bad.ok ? [] : bad.errors.map((e) => e.path);
  const p = 'listener.hcm.http_filters[0].typed_config';
  for (const want of [
    `${p}.stat_prefix`, `${p}.token_bucket.max_tokens`, `${p}.token_bucket.tokens_per_fill`, `${p}.token_bucket.fill_interval`,
    `${p}.filter_enabled.default_value.numerator`, `${p}.descriptors[0].entries[0].value`, `${p}.descriptors[0].token_bucket.fill_interval`,
    `${p}.local_rate_limit_per_downstream_connection`,
  ]) assert.ok(paths.includes(want), `missing ${want} in ${paths.join(', ')}`);
  // Missing fill_interval, and per-route configs need a token bucket.
  const noInterval = compileLocalRateLimit({ stat_prefix: 'a', token_bucket: { max_tokens: 1 } }, 'x');
  assert.deepEqual(noInterval.ok ? [] : noInterval.errors.map((e) => e.path), ['x.token_bucket.fill_interval']);
  const perRoute = compileLocalRateLimitPerRoute({ stat_prefix: 'a' }, 'r');
  assert.deepEqual(perRoute.ok ? [] : perRoute.errors.map((e) => e.path), ['r.token_bucket']);
  // Fraction above the TEN_THOUSAND scale; bad header name in response_headers_to_add.
  const frac = compileLocalRateLimit({ stat_prefix: 'a', filter_enforced: { default_value: { numerator: 10001, denominator: 'TEN_THOUSAND' } }, response_headers_to_add: [{ header: { key: ':status', value: '1' } }] }, 'y');
  assert.deepEqual(frac.ok ? [] : frac.errors.map((e) => e.path).sort(), ['y.filter_enforced.default_value.numerator', 'y.response_headers_to_add[0].header.key']);
  // Duplicate descriptors.
  const dup = compileLocalRateLimit({ stat_prefix: 'a', descriptors: [
    { entries: [{ key: 'k', value: 'v' }], token_bucket: { max_tokens: 1, fill_interval: { seconds: 1 } } },
    { entries: [{ key: 'k', value: 'v' }], token_bucket: { max_tokens: 2, fill_interval: { seconds: 1 } } },
  ] }, 'z');
  assert.deepEqual(dup.ok ? [] : dup.errors.map((e) => e.path), ['z.descriptors[1]']);
});

test('defaults and status mapping', () => {
  const c = cfg({ status: { code: 'ServiceUnavailable' }, enable_x_ratelimit_headers: 'DRAFT_VERSION_03' });
  assert.equal(c.httpStatus, 503);
  assert.equal(c.xRateLimitHeaders, true);
  assert.deepEqual(c.tokenBucket, { maxTokens: 5, tokensPerFill: 1, fillIntervalMs: 60_000 });
  assert.equal(cfg({ status: { code: 'OK' } }).httpStatus, 429, 'codes below 400 become 429');
  const off = compileLocalRateLimit({ stat_prefix: 'a', token_bucket: { max_tokens: 1, fill_interval: { nanos: 500_000_000 } } }, '');
  assert.ok(off.ok);
  assert.equal(off.value.enabled.numerator, 0, 'filter_enabled defaults to 0%');
  assert.equal(off.value.tokenBucket!.fillIntervalMs, 500);
  assert.equal(localRateLimitRegistration.perRouteTypeUrl, localRateLimitRegistration.typeUrl);
});

test('token bucket refills lazily on a fixed grid and caps at max_tokens', () => {
  const b = new TokenBucket({ maxTokens: 3, tokensPerFill: 2, fillIntervalMs: 100 }, 0);
  assert.equal(b.tryConsume(0), true);
  assert.equal(b.tryConsume(0), true);
  assert.equal(b.tryConsume(0), true);
  assert.equal(b.tryConsume(99), false);
  assert.equal(b.resetSeconds(99), 1);
  assert.equal(b.available(150), 2);
  assert.equal(b.available(1000), 3, 'capped');
  assert.equal(b.resetSeconds(1000), 1);
});

test('100 tokens/s admits 100 ± 5% in every second under 300 rps offered (fake clock)', () => {
  const { runtime, clock, stats } = setup();
  const f = new LocalRateLimitFactory(cfg({ token_bucket: { max_tokens: 10, tokens_per_fill: { value: 1 }, fill_interval: { nanos: 10_000_000 } } }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.local_ratelimit' });
  // Drain the initial burst, then offer 300 rps for 10 s (a request every 10/3 ms).
  for (let i = 0; i < 10; i++) f.onRequestHeaders(ctxFor(stats).ctx);
  const perSecond: number[] = [];
  const start = clock.t;
  for (let s = 0; s < 10; s++) {
    let admitted = 0;
    for (let i = 0; i < 300; i++) {
      clock.t = start + s * 1000 + (i * 1000) / 300;
      if (f.onRequestHeaders(ctxFor(stats).ctx) === FilterStatus.Continue) admitted++;
    }
    perSecond.push(admitted);
  }
  for (const n of perSecond) assert.ok(n >= 95 && n <= 105, `admitted ${n} in one second: ${perSecond.join(',')}`);
});

test('max_tokens 5: 5 pass, then 429 with x-ratelimit headers and response_headers_to_add; metrics count', async () => {
  const { runtime, stats } = setup();
  const c = cfg({ enable_x_ratelimit_headers: 'DRAFT_VERSION_03', response_headers_to_add: [{ header: { key: 'x-limited', value: 'yes' } }] });
  const f = localRateLimitRegistration.createFactory(c, { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.local_ratelimit' }) as LocalRateLimitFactory;
  const results: number[] = [];
  let last: { ctx: StreamContext; ds: RecordingDownstream } | null = null;
  for (let i = 0; i < 10; i++) {
    const r = ctxFor(stats);
    const st = f.createFilter().onRequestHeaders(r.ctx);
    results.push(st === FilterStatus.Continue ? 200 : r.ds.status);
    if (i === 4) {
      assert.deepEqual(r.ctx.responseHeadersToAdd, { 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '60' });
    }
    last = r;
  }
  assert.deepEqual(results, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
  assert.equal(last!.ds.headers['x-ratelimit-remaining'], '0');
  assert.equal(last!.ds.headers['x-limited'], 'yes');
  assert.equal(await metric(runtime, 'allowed'), 5);
  assert.equal(await metric(runtime, 'limited'), 5);
  // gRPC clients get RESOURCE_EXHAUSTED.
  const g = ctxFor(stats, { grpc: true });
  assert.equal(f.onRequestHeaders(g.ctx), FilterStatus.StopIteration);
  assert.equal(g.ds.status, 200);
  assert.equal(g.ds.headers['grpc-status'], '8');
  // A second factory on the same registry (config update) reuses the metric.
  assert.doesNotThrow(() => new LocalRateLimitFactory(c, { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.local_ratelimit' }));
});

test('enabled but not enforced only counts and adds request headers; disabled does nothing', async () => {
  const { runtime, stats } = setup();
  const f = new LocalRateLimitFactory(cfg({
    token_bucket: { max_tokens: 1, fill_interval: { seconds: 60 } },
    filter_enforced: { default_value: { numerator: 0 } },
    request_headers_to_add_when_not_enforced: [{ header: { key: 'x-rl-shadow', value: 'over' } }],
  }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.local_ratelimit' });
  const a = ctxFor(stats);
  assert.equal(f.onRequestHeaders(a.ctx), FilterStatus.Continue);
  assert.equal(a.ctx.headers['x-rl-shadow'], undefined);
  const b = ctxFor(stats);
  assert.equal(f.onRequestHeaders(b.ctx), FilterStatus.Continue);
  assert.equal(b.ctx.headers['x-rl-shadow'], 'over');
  assert.equal(b.ds.responseStarted, false);
  assert.equal(await metric(runtime, 'limited_not_enforced'), 1);

  const off = new LocalRateLimitFactory(cfg({ token_bucket: { max_tokens: 1, fill_interval: { seconds: 60 } }, filter_enabled: undefined }), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.local_ratelimit' });
  for (let i = 0; i < 3; i++) assert.equal(off.onRequestHeaders(ctxFor(stats).ctx), FilterStatus.Continue);
  assert.equal(off.defaultTokensForTest(), 1, 'a disabled filter takes no tokens');
});

test('per-route typed_per_filter_config overrides the listener config with its own bucket', () => {
  const { runtime, stats } = setup();
  const f = new LocalRateLimitFactory(cfg(), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.local_ratelimit' });
  const rr = compileLocalRateLimitPerRoute({ stat_prefix: 'route', token_bucket: { max_tokens: 2, fill_interval: { seconds: 60 } }, filter_enabled: ALWAYS, filter_enforced: ALWAYS }, 'r');
  assert.ok(rr.ok);
  const out: FilterStatus[] = [];
  for (let i = 0; i < 3; i++) out.push(f.onRequestHeaders(ctxFor(stats, { perRoute: rr.value }).ctx));
  assert.deepEqual(out, [FilterStatus.Continue, FilterStatus.Continue, FilterStatus.StopIteration]);
  assert.equal(f.defaultTokensForTest(), 5, 'the listener bucket is untouched');
});

test('descriptor buckets apply to requests whose descriptors match; the default bucket otherwise', () => {
  const { runtime, stats } = setup();
  const c = cfg({
    token_bucket: { max_tokens: 100, fill_interval: { seconds: 60 } },
    descriptors: [{ entries: [{ key: 'client', value: 'a' }], token_bucket: { max_tokens: 1, fill_interval: { seconds: 60 } } }],
    always_consume_default_token_bucket: { value: false },
  });
  const source: DescriptorSource = {
    collect(ctx, out) {
      const v = ctx.headers['x-client'];
      if (typeof v === 'string') out.push(descriptorKey([{ key: 'client', value: v }]));
    },
  };
  const f = new LocalRateLimitFactory(c, { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.local_ratelimit' }, source);
  assert.equal(f.onRequestHeaders(ctxFor(stats, { headers: { 'x-client': 'a' } }).ctx), FilterStatus.Continue);
  assert.equal(f.onRequestHeaders(ctxFor(stats, { headers: { 'x-client': 'a' } }).ctx), FilterStatus.StopIteration);
  assert.equal(f.onRequestHeaders(ctxFor(stats, { headers: { 'x-client': 'b' } }).ctx), FilterStatus.Continue);
  assert.equal(f.onRequestHeaders(ctxFor(stats).ctx), FilterStatus.Continue);
  assert.equal(f.defaultTokensForTest(), 98, 'only unmatched requests took default tokens');
});

test('the default descriptor source is the route rate_limits: per-header and remote_address buckets', () => {
  const { runtime, stats } = setup();
  const c = cfg({
    token_bucket: { max_tokens: 100, fill_interval: { seconds: 60 } },
    descriptors: [
      { entries: [{ key: 'x-user', value: 'alice' }], token_bucket: { max_tokens: 2, fill_interval: { seconds: 60 } } },
      { entries: [{ key: 'remote_address', value: '10.9.9.9' }], token_bucket: { max_tokens: 1, fill_interval: { seconds: 60 } } },
    ],
  });
  const f = new LocalRateLimitFactory(c, { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.local_ratelimit' });
  const rateLimits = CompiledRateLimits.compile([
    { actions: [{ kind: 'request_headers', headerName: 'x-user', descriptorKey: 'x-user', skipIfAbsent: false }] },
    { actions: [{ kind: 'remote_address' }] },
  ]);
  const route = { model: { perFilterConfig: {} }, rateLimits } as unknown as CompiledRoute;
  const req = (user: string | null, remote = '10.0.0.1'): FilterStatus => {
    const ds = new RecordingDownstream();
    const headers: Record<string, string> = { ':method': 'GET', ':path': '/x' };
    if (user !== null) headers['x-user'] = user;
    const ctx = new StreamContext(ds, stats, 'GET', '/x', 'svc', 'http', headers, false, remote, 0, 0);
    ctx.route = route;
    return f.onRequestHeaders(ctx);
  };
  assert.deepEqual([req('alice'), req('alice'), req('alice')], [FilterStatus.Continue, FilterStatus.Continue, FilterStatus.StopIteration]);
  assert.deepEqual([req('bob'), req('bob'), req('bob'), req(null)], Array(4).fill(FilterStatus.Continue), 'others use the default bucket');
  assert.deepEqual([req('bob', '10.9.9.9'), req('bob', '10.9.9.9')], [FilterStatus.Continue, FilterStatus.StopIteration]);
  // always_consume_default_token_bucket (default true): every admitted request also took a default token.
  assert.equal(f.defaultTokensForTest(), 100 - 7);
  // A route without rate_limits produces no descriptors.
  const plain = ctxFor(stats, { headers: { 'x-user': 'alice' } });
  plain.ctx.route = { model: { perFilterConfig: {} }, rateLimits: null } as unknown as CompiledRoute;
  assert.equal(f.onRequestHeaders(plain.ctx), FilterStatus.Continue);
});
