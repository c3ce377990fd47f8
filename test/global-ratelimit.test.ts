/**
 * `remora.filters.http.global_ratelimit` end to end: real redis-server processes, real sidecars
 * (in-process, from an Envoy-shaped bootstrap whose HCM lists the filter before the router) and a
 * real HTTP/1.1 upstream. Covers exact per-descriptor limits with x-ratelimit headers, per-route
 * overrides, one limit shared by three sidecars, fail-open and fail-closed with Redis stopped, and
 * a Redis that accepts connections but never answers (the bounded timeout).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SidecarHarness } from './fakes/sidecar-harness';
import { HttpBackend } from './fakes/http-backend';
import { httpRequest } from './fakes/http-client';
import { routeTo } from './fakes/bootstrap';
import { RedisServer, SilentTcpServer, findRedisBinary, REDIS_MISSING } from './fakes/redis-server';
import { waitFor } from './fakes/wait';

const skip = findRedisBinary() === null ? REDIS_MISSING : false;
const TYPE = 'type.googleapis.com/remora.filters.http.global_ratelimit.v1alpha1.GlobalRateLimit';
const NAME = 'remora.filters.http.global_ratelimit';
const DECISIONS = 'remora_global_ratelimit_total';

type Json = Record<string, unknown>;

function byHeader(header: string, requestsPerUnit: number, unit = 'MINUTE'): Json {
  return { entries: [{ request_headers: { header_name: header, descriptor_key: header } }], limit: { requests_per_unit: requestsPerUnit, unit } };
}

/** A one-listener bootstrap: global rate limit filter (`config`) then the router, all routes to `backend`. */
function bootstrap(backendPort: number, config: Json, routes?: Json[]) {
  return {
    listeners: [{
      name: 'ingress',
      routes: routes ?? [routeTo('backend')],
      hcm: {
        http_filters: [
          { name: NAME, typed_config: { '@type': TYPE, ...config } },
          { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
        ],
      },
    }],
    clusters: [{ name: 'backend', endpoints: [{ host: '127.0.0.1', port: backendPort }] }],
  };
}

describe('global rate limit through real sidecars and Redis', { skip }, () => {
  let redis: RedisServer;
  let backend: HttpBackend;
  let domainSeq = 0;
  /** A fresh domain per test so counters never mix. */
  const domain = () => `test-${process.pid}-${++domainSeq}`;

  before(async () => {
    redis = await RedisServer.start();
    backend = await HttpBackend.start('b');
  });
  after(async () => {
    await backend.close();
    await redis.stop();
  });

  it('admits exactly N per minute per header value, then 429 with x-ratelimit headers; routes can override', async (t) => {
    const sc = await SidecarHarness.start(bootstrap(backend.port, {
      domain: domain(), redis: { address: redis.address, timeout: '1s' }, enable_x_ratelimit_headers: true,
      descriptors: [byHeader('x-user', 5)],
    }, [
      routeTo('backend', { prefix: '/free' }, {}, { typed_per_filter_config: { [NAME]: { '@type': TYPE, disabled: true } } }),
      routeTo('backend', { prefix: '/strict' }, {}, { typed_per_filter_config: { [NAME]: { '@type': TYPE, descriptors: [byHeader('x-user', 1)] } } }),
      routeTo('backend'),
    ]));
    t.after(() => sc.close());
    const port = sc.port('ingress');
    const get = (user: string | null, path = '/') => httpRequest(port, { path, headers: user === null ? {} : { 'x-user': user } });

    const statuses: number[] = [];
    const remaining: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await get('alice');
      statuses.push(r.status);
      remaining.push(String(r.headers['x-ratelimit-remaining']));
      assert.equal(r.headers['x-ratelimit-limit'], '5, 5;w=60');
      const reset = Number(r.headers['x-ratelimit-reset']);
      assert.ok(reset >= 0 && reset <= 60, `x-ratelimit-reset ${reset}`);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    assert.deepEqual(remaining, ['4', '3', '2', '1', '0', '0', '0']);

    // Another header value has its own bucket; a request without the header is not limited.
    assert.equal((await get('bob')).status, 200);
    for (let i = 0; i < 7; i++) assert.equal((await get(null)).status, 200);
    // Per route: disabled, and a tighter override with its own descriptors.
    assert.equal((await get('alice', '/free')).status, 200);
    assert.deepEqual([(await get('carol', '/strict')).status, (await get('carol', '/strict')).status], [200, 429]);

    const m = await sc.metrics();
    assert.equal(m.sum(DECISIONS, { decision: 'ok' }), 7);
    assert.equal(m.sum(DECISIONS, { decision: 'over_limit' }), 3);
    assert.equal(m.sum('remora_local_replies_total', { reason: 'rate_limited' }), 3);
    assert.equal(m.sum('remora_global_ratelimit_check_duration_seconds_count'), 10);
  });

  it('a global limit across 3 sidecars and one Redis admits the limit in total', async (t) => {
    const config = { domain: domain(), redis: { address: redis.address, timeout: '1s' }, algorithm: 'FIXED_WINDOW', descriptors: [byHeader('x-tenant', 30)] };
    const sidecars = await Promise.all([0, 1, 2].map(() => SidecarHarness.start(bootstrap(backend.port, config))));
    t.after(() => Promise.all(sidecars.map((s) => s.close())));
    const start = Date.now();
    const results = await Promise.all(Array.from({ length: 90 }, (_, i) =>
      httpRequest(sidecars[i % 3]!.port('ingress'), { headers: { 'x-tenant': 'acme' } })));
    const end = Date.now();
    const admitted = results.filter((r) => r.status === 200).length;
    assert.equal(results.filter((r) => r.status === 429).length, 90 - admitted);
    let ok = 0;
    for (const s of sidecars) ok += (await s.metrics()).sum(DECISIONS, { decision: 'ok' });
    assert.equal(ok, admitted);
    if (Math.floor(start / 60_000) !== Math.floor(end / 60_000)) {
      // The burst straddled a minute boundary: two fixed windows, each at most 30.
      t.diagnostic(`crossed a window boundary; admitted ${admitted}`);
      assert.ok(admitted >= 30 && admitted <= 60, `admitted ${admitted}`);
    } else {
      assert.equal(admitted, 30);
    }
  });

  it('fail-open: with Redis stopped mid-test calls keep flowing and error_allowed rises; recovery resumes limiting', async (t) => {
    const own = await RedisServer.start();
    t.after(() => own.stop());
    const sc = await SidecarHarness.start(bootstrap(backend.port, {
      domain: domain(), redis: { address: own.address, timeout: '1s' }, descriptors: [byHeader('x-user', 3)],
    }));
    t.after(() => sc.close());
    const port = sc.port('ingress');
    const get = () => httpRequest(port, { headers: { 'x-user': 'dave' } });
    assert.deepEqual([(await get()).status, (await get()).status], [200, 200]);
    await own.kill();
    for (let i = 0; i < 10; i++) assert.equal((await get()).status, 200, 'fail-open while Redis is down');
    const m = await sc.metrics();
    assert.equal(m.sum(DECISIONS, { decision: 'error_allowed' }), 10);
    assert.equal(m.sum(DECISIONS, { decision: 'ok' }), 2);
    // Redis back (empty): the limiter reconnects by itself and limits again.
    await own.resume();
    await waitFor(async () => (await sc.metrics()).sum(DECISIONS, { decision: 'ok' }) > 2 || (await get(), false), { timeoutMs: 10_000, what: 'a check answered by the restarted Redis' });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get()).status);
    assert.ok(statuses.includes(429), `limited again after recovery: ${statuses}`);
  });

  it('failure_mode_deny: refused with 429 while Redis is down, error_denied counted', async (t) => {
    const own = await RedisServer.start();
    t.after(() => own.stop());
    const sc = await SidecarHarness.start(bootstrap(backend.port, {
      domain: domain(), redis: { address: own.address, timeout: '1s' }, failure_mode_deny: true, descriptors: [byHeader('x-user', 100)],
    }));
    t.after(() => sc.close());
    const port = sc.port('ingress');
    assert.equal((await httpRequest(port, { headers: { 'x-user': 'erin' } })).status, 200);
    await own.kill();
    for (let i = 0; i < 3; i++) assert.equal((await httpRequest(port, { headers: { 'x-user': 'erin' } })).status, 429);
    // A request no descriptor applies to never needs Redis.
    assert.equal((await httpRequest(port)).status, 200);
    const m = await sc.metrics();
    assert.equal(m.sum(DECISIONS, { decision: 'error_denied' }), 3);
    assert.equal(m.sum(DECISIONS, { decision: 'ok' }), 1);
  });

  it('a Redis that accepts and never answers: the bounded timeout decides (open and closed), nothing hangs', async (t) => {
    const silent = await SilentTcpServer.start();
    t.after(() => silent.close());
    const open = await SidecarHarness.start(bootstrap(backend.port, {
      domain: domain(), redis: { address: silent.address, timeout: '0.05s' }, descriptors: [byHeader('x-user', 1)],
    }));
    t.after(() => open.close());
    const closed = await SidecarHarness.start(bootstrap(backend.port, {
      domain: domain(), redis: { address: silent.address, timeout: '0.05s' }, failure_mode_deny: true, descriptors: [byHeader('x-user', 1)],
    }));
    t.after(() => closed.close());
    await waitFor(() => silent.openConnections >= 2, { what: 'both sidecars connected to the silent Redis' });
    for (let i = 0; i < 3; i++) {
      assert.equal((await httpRequest(open.port('ingress'), { headers: { 'x-user': 'f' }, timeoutMs: 3000 })).status, 200);
      assert.equal((await httpRequest(closed.port('ingress'), { headers: { 'x-user': 'f' }, timeoutMs: 3000 })).status, 429);
    }
    const mo = await open.metrics();
    assert.equal(mo.sum(DECISIONS, { decision: 'error_allowed' }), 3);
    assert.equal(mo.sum('remora_global_ratelimit_check_duration_seconds_bucket', { le: '0.025' }), 0, 'each check waited for the 50 ms timeout');
    assert.equal(mo.sum('remora_global_ratelimit_check_duration_seconds_count'), 3);
    assert.equal((await closed.metrics()).sum(DECISIONS, { decision: 'error_denied' }), 3);
  });
});
