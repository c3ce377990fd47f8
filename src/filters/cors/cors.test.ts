/**
 * Unit tests of the CORS filter: CorsPolicy compilation (errors with paths), the preflight matrix
 * (allowed / not allowed origin × forward_not_matching_preflights × credentials / max-age / private
 * network), actual requests (response headers through `ctx.responseHeadersToAdd`), routes without
 * a policy, filter_enabled 0% with shadow stats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingDownstream } from '../../../test/fakes/recording-downstream';
import { createRuntime, type Runtime } from '../../core/runtime';
import { SidecarMetrics } from '../../observability/metrics';
import type { CompiledRoute } from '../../routing/route-table';
import { FilterStatus } from '../filter';
import { StreamContext } from '../stream-context';
import { compileCors, compileCorsPolicy, corsFilter, CORS_NAME, CORS_POLICY_TYPE_URL, type CorsPolicyConfig } from './config';
import type { CorsFactory } from './filter';

function policy(o: Record<string, unknown>): CorsPolicyConfig {
  const r = compileCorsPolicy({ '@type': CORS_POLICY_TYPE_URL, ...o }, 'p');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

const BASE = {
  allow_origin_string_match: [{ exact: 'https://app.example' }, { prefix: 'http://localhost:' }, { safe_regex: { regex: 'https://[a-z]+\\.corp\\.example' } }],
  allow_methods: 'POST, GET, OPTIONS',
  allow_headers: 'content-type,x-grpc-web,x-user-agent',
  expose_headers: 'grpc-status,grpc-message',
  max_age: '600',
};

function setup(p: CorsPolicyConfig | null, method: string, headers: Record<string, string>): { ctx: StreamContext; ds: RecordingDownstream; filter: CorsFactory; runtime: Runtime } {
  const runtime = createRuntime({ logLevel: 'silent' });
  const stats = new SidecarMetrics(runtime.metrics, false).forListener('l1');
  const ds = new RecordingDownstream();
  const ctx = new StreamContext(ds, stats, method, '/x', 'svc', 'http', { ':method': method, ':path': '/x', ...headers }, false, '10.0.0.1', 0, 0);
  ctx.route = { model: { perFilterConfig: p === null ? {} : { [CORS_NAME]: p } } } as unknown as CompiledRoute;
  const cfg = compileCors({}, 'f');
  assert.ok(cfg.ok);
  const filter = corsFilter.createFactory(cfg.value, { runtime, listenerName: 'l1', filterName: CORS_NAME }) as CorsFactory;
  return { ctx, ds, filter, runtime };
}

async function counter(runtime: Runtime, result: string): Promise<number> {
  const m = runtime.metrics.getSingleMetric('remora_cors_requests_total');
  if (m === undefined) return 0;
  return (await m.get()).values.filter((v) => v.labels['result'] === result).reduce((a, v) => a + v.value, 0);
}

test('config: CorsPolicy errors carry field paths; Cors has no fields', () => {
  const r = compileCorsPolicy({ allow_origin_string_match: [{ safe_regex: { regex: '(?=x)' } }], max_age: 'ten', allow_headers: 'a\r\nb', bogus: 1 }, 'route.cors');
  assert.ok(!r.ok);
  const paths = r.errors.map((e) => e.path).sort();
  assert.deepEqual(paths, ['route.cors.allow_headers', 'route.cors.allow_origin_string_match[0].safe_regex.regex', 'route.cors.bogus', 'route.cors.max_age']);
  assert.ok(!compileCors({ x: 1 }, 'f').ok);
  const defaults = policy({});
  assert.equal(defaults.forwardNotMatchingPreflights, true);
  assert.equal(defaults.allowCredentials, false);
  assert.equal(defaults.filterEnabled, null);
  assert.equal(policy({ forward_not_matching_preflights: {} }).forwardNotMatchingPreflights, false, 'a BoolValue without value is false');
});

test('preflight matrix', async () => {
  const cases: Array<{ name: string; p: Record<string, unknown>; origin: string; extra?: Record<string, string>; method?: string; want: 'answered' | 'forwarded' | 'empty' | 'pass'; headers?: Record<string, string | undefined> }> = [
    { name: 'exact origin', p: BASE, origin: 'https://app.example', want: 'answered',
      headers: { 'access-control-allow-origin': 'https://app.example', 'access-control-allow-methods': 'POST, GET, OPTIONS', 'access-control-allow-headers': 'content-type,x-grpc-web,x-user-agent', 'access-control-max-age': '600', 'access-control-allow-credentials': undefined } },
    { name: 'prefix origin', p: BASE, origin: 'http://localhost:8080', want: 'answered', headers: { 'access-control-allow-origin': 'http://localhost:8080' } },
    { name: 'regex origin', p: BASE, origin: 'https://dev.corp.example', want: 'answered' },
    { name: 'regex is a full match', p: BASE, origin: 'https://dev.corp.example.evil', want: 'forwarded' },
    { name: 'unknown origin forwarded (default)', p: BASE, origin: 'https://evil.example', want: 'forwarded' },
    { name: 'unknown origin not forwarded', p: { ...BASE, forward_not_matching_preflights: { value: false } }, origin: 'https://evil.example', want: 'empty' },
    { name: 'wildcard allows any origin (echoed)', p: { allow_origin_string_match: [{ exact: '*' }] }, origin: 'https://any.example', want: 'answered', headers: { 'access-control-allow-origin': 'https://any.example', 'access-control-allow-methods': undefined } },
    { name: 'credentials', p: { ...BASE, allow_credentials: { value: true } }, origin: 'https://app.example', want: 'answered', headers: { 'access-control-allow-credentials': 'true' } },
    { name: 'private network asked and allowed', p: { ...BASE, allow_private_network_access: { value: true } }, origin: 'https://app.example', extra: { 'access-control-request-private-network': 'true' }, want: 'answered', headers: { 'access-control-allow-private-network': 'true' } },
    { name: 'private network not allowed', p: BASE, origin: 'https://app.example', extra: { 'access-control-request-private-network': 'true' }, want: 'answered', headers: { 'access-control-allow-private-network': undefined } },
    { name: 'OPTIONS without request-method is not a preflight', p: BASE, origin: 'https://app.example', extra: { 'access-control-request-method': '' }, want: 'pass' },
    { name: 'GET with request-method is not a preflight', p: BASE, origin: 'https://app.example', method: 'GET', want: 'pass' },
  ];
  for (const c of cases) {
    const { ctx, ds, filter } = setup(policy(c.p), c.method ?? 'OPTIONS', { origin: c.origin, 'access-control-request-method': 'POST', ...(c.extra ?? {}) });
    const status = filter.onRequestHeaders(ctx);
    switch (c.want) {
      case 'answered':
        assert.equal(status, FilterStatus.StopIteration, c.name);
        assert.equal(ds.status, 200, c.name);
        assert.ok(ds.closed, c.name);
        break;
      case 'empty':
        assert.equal(status, FilterStatus.StopIteration, c.name);
        assert.equal(ds.status, 200, c.name);
        assert.equal(ds.headers['access-control-allow-origin'], undefined, c.name);
        break;
      case 'forwarded':
      case 'pass':
        assert.equal(status, FilterStatus.Continue, c.name);
        assert.equal(ds.responseStarted, false, c.name);
        if (c.want === 'forwarded') assert.equal(ctx.responseHeadersToAdd, null, c.name);
        break;
    }
    for (const [k, v] of Object.entries(c.headers ?? {})) assert.equal(ds.headers[k], v, `${c.name}: ${k}`);
  }
});

test('actual request from an allowed origin: response headers; other origins: none', async () => {
  {
    const { ctx, filter, runtime } = setup(policy({ ...BASE, allow_credentials: { value: true } }), 'POST', { origin: 'https://app.example' });
    assert.equal(filter.onRequestHeaders(ctx), FilterStatus.Continue);
    assert.deepEqual(ctx.responseHeadersToAdd, {
      'access-control-allow-origin': 'https://app.example', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'grpc-status,grpc-message',
    });
    assert.equal(await counter(runtime, 'origin_valid'), 1);
  }
  {
    const { ctx, filter, runtime } = setup(policy(BASE), 'POST', { origin: 'https://evil.example' });
    assert.equal(filter.onRequestHeaders(ctx), FilterStatus.Continue);
    assert.equal(ctx.responseHeadersToAdd, null);
    assert.equal(await counter(runtime, 'origin_invalid'), 1);
  }
  {
    // HEAD from an allowed origin goes upstream with the CORS headers added.
    const { ctx, filter } = setup(policy(BASE), 'HEAD', { origin: 'https://app.example' });
    assert.equal(filter.onRequestHeaders(ctx), FilterStatus.Continue);
    assert.equal(ctx.responseHeadersToAdd!['access-control-allow-origin'], 'https://app.example');
  }
});

test('no policy on the route, no Origin, or filter disabled: untouched (shadow counts)', async () => {
  for (const [p, headers] of [[null, { origin: 'https://app.example' }], [policy(BASE), {}]] as const) {
    const { ctx, ds, filter } = setup(p, 'OPTIONS', { ...headers, 'access-control-request-method': 'POST' });
    assert.equal(filter.onRequestHeaders(ctx), FilterStatus.Continue);
    assert.equal(ds.responseStarted, false);
    assert.equal(ctx.responseHeadersToAdd, null);
  }
  const off = policy({ ...BASE, filter_enabled: { default_value: { numerator: 0 } }, shadow_enabled: { default_value: { numerator: 100 } } });
  const { ctx, ds, filter, runtime } = setup(off, 'OPTIONS', { origin: 'https://app.example', 'access-control-request-method': 'POST' });
  assert.equal(filter.onRequestHeaders(ctx), FilterStatus.Continue);
  assert.equal(ds.responseStarted, false);
  assert.equal(await counter(runtime, 'origin_valid'), 1);
});
