/**
 * gRPC under load through the sidecar: 1,000 concurrent streams multiplexed on one client connection,
 * an upstream that keeps sending GOAWAY (max connection age) while thousands of calls flow, and a
 * 90/10 weighted split checked statistically against the upstreams' own counts and the metrics.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EchoServer } from './fakes/echo-server';
import { ECHO_CONTROL, SERVED_BY } from './fakes/echo-proto';
import { createEchoClient, md, unary, type UnaryResult } from './fakes/echo-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { simpleProxy, weightedRoute } from './fakes/bootstrap';

/** Runs `total` calls with at most `concurrency` in flight; returns every result. */
async function runBounded(total: number, concurrency: number, call: (i: number) => Promise<UnaryResult>): Promise<UnaryResult[]> {
  const results: UnaryResult[] = new Array(total);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      results[i] = await call(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

function failures(results: UnaryResult[]): string[] {
  return results.filter((r) => r.error !== null).map((r) => `${r.error!.code}: ${r.error!.details}`);
}

describe('gRPC load', { timeout: 90_000 }, () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('1,000 concurrent streams on one client connection all succeed', { timeout: 20_000 }, async () => {
    const echo = await EchoServer.start({ id: 'c' });
    cleanups.push(() => echo.close());
    const sidecar = await SidecarHarness.start(simpleProxy({ port: echo.port, http2: true }));
    cleanups.push(() => sidecar.close());
    const client = createEchoClient(sidecar.target('ingress'));
    cleanups.push(() => client.close());
    // The delay keeps every call open until all have been sent, so they really are concurrent.
    const metadata = md({ [ECHO_CONTROL.delayMs]: '200' });
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => unary(client, { message: `m${i}` }, { metadata, deadlineMs: 30_000 })));
    assert.deepEqual(failures(results), []);
    results.forEach((r, i) => assert.equal(r.response!.message, `m${i}`));
    assert.equal(echo.started, 1000);
    assert.ok(echo.maxInflight > 100, `expected real concurrency upstream, max in flight was ${echo.maxInflight}`);
  });

  it('upstream GOAWAY (max connection age) during load → zero failed calls', { timeout: 20_000 }, async () => {
    const echo = await EchoServer.start({ id: 'g', maxConnectionAgeMs: 100, maxConnectionAgeGraceMs: 5000 });
    cleanups.push(() => echo.close());
    const sidecar = await SidecarHarness.start(simpleProxy({ port: echo.port, http2: true }));
    cleanups.push(() => sidecar.close());
    const client = createEchoClient(sidecar.target('ingress'));
    cleanups.push(() => client.close());
    const results = await runBounded(3000, 50, (i) => unary(client, { message: `g${i}` }, { deadlineMs: 30_000 }));
    assert.deepEqual(failures(results), []);
    assert.equal(echo.started, 3000);
    assert.ok(echo.peers.size >= 2, `the upstream connection should have been replaced after GOAWAY (peers: ${echo.peers.size})`);
  });

  it('weighted_clusters 90/10 over 2,000 calls is within 4 sigma, and metrics agree', { timeout: 20_000 }, async () => {
    const a = await EchoServer.start({ id: 'a' });
    cleanups.push(() => a.close());
    const b = await EchoServer.start({ id: 'b' });
    cleanups.push(() => b.close());
    const sidecar = await SidecarHarness.start({
      listeners: [{ name: 'ingress', routes: [weightedRoute({ a: 90, b: 10 })] }],
      clusters: [
        { name: 'a', endpoints: [{ host: '127.0.0.1', port: a.port }], http2: true },
        { name: 'b', endpoints: [{ host: '127.0.0.1', port: b.port }], http2: true },
      ],
    });
    cleanups.push(() => sidecar.close());
    const client = createEchoClient(sidecar.target('ingress'));
    cleanups.push(() => client.close());
    const N = 2000;
    const before = await sidecar.metrics();
    const results = await runBounded(N, 50, (i) => unary(client, { message: `w${i}` }));
    assert.deepEqual(failures(results), []);
    const byB = results.filter((r) => r.headers?.get(SERVED_BY)[0] === 'b').length;
    const byA = results.filter((r) => r.headers?.get(SERVED_BY)[0] === 'a').length;
    assert.equal(byA + byB, N);
    const expected = N * 0.1;
    const sigma = Math.sqrt(N * 0.1 * 0.9);
    assert.ok(Math.abs(byB - expected) <= 4 * sigma, `b served ${byB}, expected ${expected} ± ${4 * sigma}`);
    assert.equal(a.started, byA);
    assert.equal(b.started, byB);
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_upstream_requests_total', { cluster: 'a' }) - before.sum('remora_upstream_requests_total', { cluster: 'a' }), byA);
    assert.equal(m.sum('remora_upstream_requests_total', { cluster: 'b' }) - before.sum('remora_upstream_requests_total', { cluster: 'b' }), byB);
  });
});
