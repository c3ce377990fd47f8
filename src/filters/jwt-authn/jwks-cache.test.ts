import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Clock } from '../../core/clock';
import { JWKS_FETCH_METRIC, JwksFetchMetrics, RemoteJwks } from './jwks-cache';

const jwk = (kid: string): Record<string, unknown> => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid });

describe('RemoteJwks', () => {
  let server: http.Server;
  let port = 0;
  let body = '';
  let status = 200;
  let hits = 0;
  let t = 0;
  const clock: Clock = { now: () => 1_700_000_000_000 + t, monotonic: () => t };

  before(async () => {
    server = http.createServer((_req, res) => {
      hits++;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function make(): { jwks: RemoteJwks; registry: Registry } {
    const registry = new Registry();
    const metrics = new JwksFetchMetrics(registry);
    const jwks = new RemoteJwks({ uri: `http://127.0.0.1:${port}/jwks`, timeoutMs: 2000, cacheDurationMs: 1000, failedRefetchMs: 100, unknownKidRefreshMs: 10_000 },
      clock, pino({ level: 'silent' }), metrics);
    return { jwks, registry };
  }

  it('fetches once for concurrent loads, serves stale keys while refreshing, keeps them when the endpoint fails', async () => {
    t = 0; hits = 0; status = 200;
    body = JSON.stringify({ keys: [jwk('a')] });
    const { jwks, registry } = make();
    assert.equal(jwks.current(), null);
    const [k1, k2] = await Promise.all([jwks.load(), jwks.load()]);
    assert.equal(hits, 1, 'single flight');
    assert.ok(k1 !== null && k1 === k2 && k1.hasKid('a'));

    // Fresh: no fetch.
    t = 500;
    assert.equal(jwks.current(), k1);
    assert.equal(hits, 1);

    // Stale and the endpoint fails: the stale keys are returned and kept.
    status = 503;
    t = 1500;
    assert.equal(jwks.current(), k1);
    const after = await jwks.fetch(); // joins the background refresh
    assert.equal(after, k1);
    assert.equal(hits, 2);
    const counted = await registry.getSingleMetric(JWKS_FETCH_METRIC)!.get();
    assert.equal(counted.values.find((v) => v.labels['result'] === 'error')?.value, 1);

    // Backing off after the failure: no new fetch within failedRefetchMs.
    t = 1550;
    assert.equal(jwks.current(), k1);
    assert.equal(hits, 2);

    // The endpoint recovers with a rotated key.
    status = 200;
    body = JSON.stringify({ keys: [jwk('b')] });
    t = 1700;
    jwks.current();
    const rotated = await jwks.fetch();
    assert.ok(rotated !== null && rotated.hasKid('b') && !rotated.hasKid('a'));
  });

  it('unknown-kid refreshes are rate limited per URI', async () => {
    t = 0; hits = 0; status = 200;
    body = JSON.stringify({ keys: [jwk('a')] });
    const { jwks } = make();
    await jwks.load();
    const p = jwks.refreshForUnknownKid();
    assert.ok(p !== null);
    await p;
    assert.equal(hits, 2);
    t = 5_000;
    assert.equal(jwks.refreshForUnknownKid(), null, 'within 10 s');
    t = 10_001;
    const again = jwks.refreshForUnknownKid();
    assert.ok(again !== null);
    await again;
    assert.equal(hits, 3);
  });

  it('load resolves null (never rejects) when the first fetch fails', async () => {
    t = 0; hits = 0; status = 200;
    body = 'not json';
    const { jwks } = make();
    assert.equal(await jwks.load(), null);
    assert.equal(await jwks.load(), null, 'backing off');
    assert.equal(hits, 1);
  });
});
