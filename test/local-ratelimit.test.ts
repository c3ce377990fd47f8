/**
 * `envoy.filters.http.local_ratelimit` end to end through a real sidecar: a 5-token bucket admits
 * exactly 5 of 10 sequential requests (HTTP 429 / gRPC RESOURCE_EXHAUSTED with x-ratelimit-* headers
 * after that), a route-level `typed_per_filter_config` overrides the listener bucket, the metrics
 * count each decision, and a 100 tokens/s bucket under ~300 rps offered admits 100/s ± 5% over the
 * measured span (expected tokens computed from the measured elapsed time, not from sleeps).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { EchoServer } from './fakes/echo-server';
import { createEchoClient, unary, type EchoClient, type UnaryResult } from './fakes/echo-client';
import { HttpBackend } from './fakes/http-backend';
import { httpRequest } from './fakes/http-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { TestPki, type TestLeaf } from './fakes/openssl-pki';
import { ROUTER_TYPE, routeTo, type ListenerSpec } from './fakes/bootstrap';

const execFileP = promisify(execFile);
const LRL_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
const ALWAYS = { default_value: { numerator: 100, denominator: 'HUNDRED' } };

/** A LocalRateLimit typed config (always enabled and enforced, x-ratelimit headers on). */
function lrl(tokenBucket: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    '@type': LRL_TYPE,
    stat_prefix: 'test_rl',
    token_bucket: tokenBucket,
    filter_enabled: ALWAYS,
    filter_enforced: ALWAYS,
    enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
    ...extra,
  };
}

/** A listener with the local rate limit filter before the router (the bootstrap builder's `hcm` override). */
function rlListener(name: string, cluster: string, config: Record<string, unknown>, routes?: Record<string, unknown>[]): ListenerSpec {
  return {
    name,
    routes: routes ?? [routeTo(cluster)],
    hcm: {
      http_filters: [
        { name: 'envoy.filters.http.local_ratelimit', typed_config: config },
        { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
      ],
    },
  };
}

describe('local rate limit filter', { timeout: 60_000 }, () => {
  let backend: HttpBackend;
  let echo: EchoServer;
  let sidecar: SidecarHarness;
  let client: EchoClient;

  before(async () => {
    backend = await HttpBackend.start('b1');
    echo = await EchoServer.start({ id: 'e1' });
    const hour = '3600s';
    sidecar = await SidecarHarness.start({
      listeners: [
        rlListener('http-rl', 'http-up', lrl({ max_tokens: 5, fill_interval: hour }, { response_headers_to_add: [{ header: { key: 'x-limited-by', value: 'remora' } }] })),
        rlListener('grpc-rl', 'grpc-up', lrl({ max_tokens: 5, fill_interval: hour })),
        rlListener('route-rl', 'http-up', lrl({ max_tokens: 100, fill_interval: hour }), [
          routeTo('http-up', { prefix: '/tight' }, {}, {
            typed_per_filter_config: { 'envoy.filters.http.local_ratelimit': lrl({ max_tokens: 2, fill_interval: hour }, { stat_prefix: 'tight' }) },
          }),
          routeTo('http-up', { prefix: '/' }),
        ]),
        rlListener('rate', 'http-up', lrl({ max_tokens: 10, tokens_per_fill: 1, fill_interval: '0.010s' })),
      ],
      clusters: [
        { name: 'http-up', endpoints: [{ host: '127.0.0.1', port: backend.port }] },
        { name: 'grpc-up', endpoints: [{ host: '127.0.0.1', port: echo.port }], http2: true },
      ],
    });
    client = createEchoClient(sidecar.target('grpc-rl'));
  });

  after(async () => {
    client?.close();
    await sidecar?.close();
    await echo?.close();
    await backend?.close();
  });

  it('HTTP: max_tokens 5 admits exactly 5 of 10 sequential requests, then 429 with x-ratelimit-* headers', async () => {
    const statuses: number[] = [];
    const responses = [];
    for (let i = 0; i < 10; i++) {
      const r = await httpRequest(sidecar.port('http-rl'), { path: `/r${i}` });
      statuses.push(r.status);
      responses.push(r);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    assert.equal(backend.requests, 5, 'limited requests never reach the upstream');
    assert.equal(responses[0]!.headers['x-ratelimit-limit'], '5');
    assert.equal(responses[0]!.headers['x-ratelimit-remaining'], '4');
    assert.equal(responses[4]!.headers['x-ratelimit-remaining'], '0');
    const limited = responses[7]!;
    assert.equal(limited.headers['x-ratelimit-limit'], '5');
    assert.equal(limited.headers['x-ratelimit-remaining'], '0');
    const reset = Number(limited.headers['x-ratelimit-reset']);
    assert.ok(reset > 3500 && reset <= 3600, `x-ratelimit-reset ${reset}`);
    assert.equal(limited.headers['x-limited-by'], 'remora');
    assert.equal(responses[0]!.headers['x-limited-by'], undefined, 'response_headers_to_add is for limited responses only');
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_local_ratelimit_requests_total', { listener: 'http-rl', decision: 'allowed' }), 5);
    assert.equal(m.sum('remora_local_ratelimit_requests_total', { listener: 'http-rl', decision: 'limited' }), 5);
    assert.equal(m.sum('remora_local_replies_total', { listener: 'http-rl', reason: 'rate_limited' }), 5);
  });

  it('gRPC: the 6th to 10th calls fail with RESOURCE_EXHAUSTED and carry x-ratelimit-* metadata', async () => {
    const results: UnaryResult[] = [];
    for (let i = 0; i < 10; i++) results.push(await unary(client, { message: `m${i}` }));
    assert.deepEqual(results.map((r) => r.status.code), [0, 0, 0, 0, 0, 8, 8, 8, 8, 8].map((c) => c as grpc.status));
    assert.equal(results[5]!.error?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.deepEqual(results[5]!.status.metadata.get('x-ratelimit-limit'), ['5']);
    assert.deepEqual(results[5]!.status.metadata.get('x-ratelimit-remaining'), ['0']);
    assert.deepEqual(results[0]!.headers?.get('x-ratelimit-remaining'), ['4'], 'allowed calls get them in the response headers');
  });

  it('a route typed_per_filter_config overrides the listener bucket', async () => {
    const tight: number[] = [];
    for (let i = 0; i < 3; i++) tight.push((await httpRequest(sidecar.port('route-rl'), { path: '/tight' })).status);
    assert.deepEqual(tight, [200, 200, 429]);
    const other = await httpRequest(sidecar.port('route-rl'), { path: '/other' });
    assert.equal(other.status, 200);
    assert.equal(other.headers['x-ratelimit-limit'], '100');
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_local_ratelimit_requests_total', { listener: 'route-rl', stat_prefix: 'tight', decision: 'limited' }), 1);
  });

  it('100 tokens/s under 300 rps offered (h2load --rps) admits 100/s ± 5% over the measured span', { timeout: 30_000 }, async () => {
    // h2load runs in its own process so the offered rate is paced independently of this event loop.
    const run = await execFileP('h2load', ['-n', '600', '-c', '1', '-m', '16', '--rps=300', `http://127.0.0.1:${sidecar.port('rate')}/`], { timeout: 20_000 });
    const out = run.stdout;
    const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
    const finished = /finished in ([\d.]+)(ms|s)/.exec(out);
    assert.ok(codes !== null && finished !== null, `unexpected h2load output:\n${out}`);
    const admitted = Number(codes[1]);
    const limited = Number(codes[3]);
    assert.equal(admitted + limited, 600, `every request is admitted or limited:\n${out}`);
    const spanS = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
    assert.ok(spanS > 1.5, `h2load did not pace at 300 rps (finished in ${spanS} s)`);
    // The bucket starts with at most max_tokens (10); after that it admits 100 per second.
    const expected = 100 * spanS;
    assert.ok(admitted >= expected * 0.95 && admitted <= expected * 1.05 + 10,
      `admitted ${admitted} over ${spanS.toFixed(3)} s (${(admitted / spanS).toFixed(1)}/s), expected ${expected.toFixed(0)} (+ ≤ 10 initial) ± 5%`);
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_local_ratelimit_requests_total', { listener: 'rate', decision: 'limited' }), limited);
  });
});


describe('local rate limit descriptors from route rate_limits', { timeout: 60_000 }, () => {
  let backend: HttpBackend;
  let sidecar: SidecarHarness;
  /** Connects from 127.0.0.2, a second loopback source address. */
  let otherSource: http.Agent;

  before(async () => {
    backend = await HttpBackend.start('b-desc');
    otherSource = new http.Agent({ localAddress: '127.0.0.2' } as http.AgentOptions);
    const hour = '3600s';
    const bucket = (n: number): Record<string, unknown> => ({ max_tokens: n, fill_interval: hour });
    sidecar = await SidecarHarness.start({
      listeners: [{
        name: 'desc-rl',
        virtualHosts: [{
          name: 'default',
          domains: ['*'],
          // Envoy's vh_rate_limits OVERRIDE: routes without rate_limits of their own use these.
          rate_limits: [
            { actions: [{ request_headers: { header_name: 'x-user', descriptor_key: 'x-user' } }] },
            { actions: [{ remote_address: {} }] },
          ],
          routes: [
            routeTo('http-up', { prefix: '/own' }, { rate_limits: [{ actions: [{ generic_key: { descriptor_key: 'route', descriptor_value: 'own' } }] }] }),
            routeTo('http-up', { prefix: '/' }),
          ],
        }],
        hcm: {
          http_filters: [
            {
              name: 'envoy.filters.http.local_ratelimit',
              typed_config: lrl(bucket(100), {
                descriptors: [
                  { entries: [{ key: 'x-user', value: 'alice' }], token_bucket: bucket(3) },
                  { entries: [{ key: 'remote_address', value: '127.0.0.2' }], token_bucket: bucket(2) },
                  { entries: [{ key: 'route', value: 'own' }], token_bucket: bucket(1) },
                ],
              }),
            },
            { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
          ],
        },
      }],
      clusters: [{ name: 'http-up', endpoints: [{ host: '127.0.0.1', port: backend.port }] }],
    });
  });

  after(async () => {
    otherSource?.destroy();
    await sidecar?.close();
    await backend?.close();
  });

  const get = async (path: string, user: string | null, agent?: http.Agent): Promise<{ status: number; remaining: string | undefined }> => {
    const r = await httpRequest(sidecar.port('desc-rl'), { path, headers: user === null ? {} : { 'x-user': user }, agent });
    return { status: r.status, remaining: r.headers['x-ratelimit-remaining'] as string | undefined };
  };

  it('per-header buckets: alice is limited after 3 requests, bob and anonymous callers use the default bucket', async () => {
    const alice = [];
    for (let i = 0; i < 5; i++) alice.push(await get('/a', 'alice'));
    assert.deepEqual(alice.map((r) => r.status), [200, 200, 200, 429, 429]);
    assert.equal(alice[0]!.remaining, '2', 'x-ratelimit-* report the most restrictive bucket, alice\'s');
    const others = [];
    for (let i = 0; i < 5; i++) others.push((await get('/a', 'bob')).status, (await get('/a', null)).status);
    assert.deepEqual(others, Array(10).fill(200));
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_local_ratelimit_requests_total', { listener: 'desc-rl', decision: 'limited' }), 2);
  });

  it('remote_address descriptor: the 127.0.0.2 bucket limits that source only', async () => {
    const fromOther = [];
    for (let i = 0; i < 4; i++) fromOther.push((await get('/b', 'carol', otherSource)).status);
    assert.deepEqual(fromOther, [200, 200, 429, 429]);
    assert.equal((await get('/b', 'carol')).status, 200, 'the same user from 127.0.0.1 is not limited');
  });

  it('a route with its own rate_limits does not use the virtual host ones', async () => {
    // Only the route's generic_key descriptor applies: alice (already limited above) is admitted once.
    assert.deepEqual([(await get('/own', 'alice')).status, (await get('/own', 'alice')).status], [200, 429]);
  });
});

describe('local rate limit descriptors from the mTLS peer principal', { timeout: 60_000 }, () => {
  const pki = new TestPki();
  const ca = pki.createCa('mesh-root');
  const server = pki.issue(ca, 'sidecar', ['URI:spiffe://cluster.local/ns/demo/sa/server']);
  const caller = pki.issue(ca, 'client', ['URI:spiffe://cluster.local/ns/demo/sa/client']);
  const other = pki.issue(ca, 'other', ['URI:spiffe://cluster.local/ns/demo/sa/other']);
  let backend: HttpBackend;
  let sidecar: SidecarHarness;

  before(async () => {
    backend = await HttpBackend.start('b-peer');
    const dir = fs.mkdtempSync(path.join(pki.dir, 'srv-'));
    fs.writeFileSync(path.join(dir, 'server.crt'), server.cert);
    fs.writeFileSync(path.join(dir, 'server.key'), server.key);
    const hour = '3600s';
    sidecar = await SidecarHarness.start({
      listeners: [{
        name: 'peer-rl',
        tls: { certPath: path.join(dir, 'server.crt'), keyPath: path.join(dir, 'server.key'), caPath: ca.certPath, requireClientCertificate: true },
        virtualHosts: [{
          name: 'default',
          domains: ['*'],
          rate_limits: [{ actions: [{ metadata: {
            descriptor_key: 'peer',
            metadata_key: { key: 'istio_authn', path: [{ key: 'source.principal' }] },
          } }] }],
          routes: [routeTo('http-up', { prefix: '/' })],
        }],
        hcm: {
          http_filters: [
            {
              name: 'envoy.filters.http.local_ratelimit',
              typed_config: lrl({ max_tokens: 100, fill_interval: hour }, {
                descriptors: [{ entries: [{ key: 'peer', value: 'cluster.local/ns/demo/sa/client' }], token_bucket: { max_tokens: 2, fill_interval: hour } }],
              }),
            },
            { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
          ],
        },
      }],
      clusters: [{ name: 'http-up', endpoints: [{ host: '127.0.0.1', port: backend.port }] }],
    });
  });

  after(async () => {
    await sidecar?.close();
    await backend?.close();
    pki.cleanup();
  });

  const get = (leaf: TestLeaf): Promise<number> => new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: sidecar.port('peer-rl'), path: '/x', agent: false,
      cert: leaf.cert, key: leaf.key, ca: ca.cert, checkServerIdentity: () => undefined,
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', reject);
    req.end();
  });

  it('the client principal has its own bucket; another principal uses the default one', async () => {
    const fromClient = [];
    for (let i = 0; i < 4; i++) fromClient.push(await get(caller));
    assert.deepEqual(fromClient, [200, 200, 429, 429]);
    const fromOther = [];
    for (let i = 0; i < 4; i++) fromOther.push(await get(other));
    assert.deepEqual(fromOther, [200, 200, 200, 200]);
  });
});
