/**
 * Added latency of the global rate-limit check with Redis on loopback, at a fixed offered rate
 * (open loop: requests are started on schedule whether or not earlier ones finished, so queueing
 * shows in the tail). Two measurements, same run:
 *  1. `limiter`: RedisRateLimiter.check called directly (the Redis round trip + Lua script);
 *  2. `sidecar`: HTTP/1.1 requests through an in-process sidecar to a local backend, on a listener
 *     with the filter and on one without; the added p99 is the difference of the two p99s.
 * The driver, the sidecar and the backend share one process (simple, but they compete for CPU:
 * run it on an otherwise idle machine). Every request carries a descriptor that applies and stays under its limit, so the check always
 * runs to Redis and the request always passes.
 *
 * Usage: node --import tsx bench/global-ratelimit/run.ts [--rate 1000] [--duration 10] [--warmup 2]
 */
import * as http from 'node:http';
import { createRuntime } from '../../src/core/runtime';
import { RedisRateLimiter, RateLimitCode, type RateLimitHandler } from '../../src/filters/ratelimit/redis-rate-limiter';
import { HttpBackend } from '../../test/fakes/http-backend';
import { routeTo } from '../../test/fakes/bootstrap';
import { RedisServer } from '../../test/fakes/redis-server';
import { SidecarHarness } from '../../test/fakes/sidecar-harness';

interface Options { rate: number; duration: number; warmup: number }

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { rate: 1000, duration: 10, warmup: 2 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!.replace(/^--/, '');
    const v = Number(argv[i + 1]);
    if (!(k in o) || !Number.isFinite(v) || v <= 0) throw new Error(`usage: run [--rate 1000] [--duration 10] [--warmup 2] (bad ${argv[i]})`);
    (o as unknown as Record<string, number>)[k] = v;
  }
  return o;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Summary { n: number; errors: number; p50: number; p90: number; p99: number; p999: number; max: number }

function summarize(lat: number[], errors: number): Summary {
  const s = lat.slice().sort((a, b) => a - b);
  return { n: s.length, errors, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), p999: percentile(s, 99.9), max: s[s.length - 1] ?? NaN };
}

/**
 * Starts `fire(done)` `rate` times per second for `seconds` (open loop, ticks of 1 ms catching up on
 * the schedule) and resolves with the latencies (ms) of the calls started after `warmup` seconds.
 */
function openLoop(rate: number, seconds: number, warmup: number, fire: (done: (ok: boolean) => void) => void): Promise<Summary> {
  return new Promise((resolve) => {
    const lat: number[] = [];
    let errors = 0;
    let started = 0;
    let finished = 0;
    const total = Math.round(rate * (seconds + warmup));
    const warmCount = Math.round(rate * warmup);
    const t0 = performance.now();
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      while (started < due) {
        const idx = started++;
        const begin = performance.now();
        fire((ok) => {
          if (idx >= warmCount) {
            if (ok) lat.push(performance.now() - begin);
            else errors++;
          }
          if (++finished === total) resolve(summarize(lat, errors));
        });
      }
      if (started >= total) clearInterval(tick);
    }, 1);
  });
}

function fmt(s: Summary): string {
  const f = (x: number) => x.toFixed(3);
  return `n=${s.n} errors=${s.errors} p50=${f(s.p50)} p90=${f(s.p90)} p99=${f(s.p99)} p99.9=${f(s.p999)} max=${f(s.max)} ms`;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const redis = await RedisServer.start();
  const backend = await HttpBackend.start('bench');
  const runtime = createRuntime({ logLevel: 'silent' });
  const limiter = new RedisRateLimiter({ host: '127.0.0.1', port: redis.port }, runtime);
  const big = 1_000_000_000;
  const filter = {
    name: 'remora.filters.http.global_ratelimit',
    typed_config: {
      '@type': 'type.googleapis.com/remora.filters.http.global_ratelimit.v1alpha1.GlobalRateLimit',
      domain: 'bench', redis: { address: redis.address },
      descriptors: [{ entries: [{ request_headers: { header_name: 'x-user', descriptor_key: 'user' } }], limit: { requests_per_unit: big, unit: 'HOUR' } }],
    },
  };
  const router = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
  const sc = await SidecarHarness.start({
    listeners: [
      { name: 'plain', routes: [routeTo('backend')] },
      { name: 'limited', routes: [routeTo('backend')], hcm: { http_filters: [filter, router] } },
    ],
    clusters: [{ name: 'backend', endpoints: [{ host: '127.0.0.1', port: backend.port }] }],
  });
  try {
    await limiter.waitReady();
    console.log(`# global rate limit check, Redis ${redis.address} on loopback, ${opts.rate} req/s open loop, ${opts.duration}s (+${opts.warmup}s warm-up)`);

    let user = 0;
    const limiterResult = await openLoop(opts.rate, opts.duration, opts.warmup, (done) => {
      const handler: RateLimitHandler = { onRateLimit(code) { done(code === RateLimitCode.Ok); } };
      limiter.check([`bench:u${user++ % 100}`], [big, 3_600_000], true, 25, handler);
    });
    console.log(`limiter (direct check)        ${fmt(limiterResult)}`);

    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    const through = (port: number) => openLoop(opts.rate, opts.duration, opts.warmup, (done) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/', agent, headers: { 'x-user': `u${user++ % 100}` } }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 200));
      });
      req.on('error', () => done(false));
      req.end();
    });
    // One untimed round of each first (JIT, connection pools), then the measured rounds.
    await through(sc.port('plain'));
    await through(sc.port('limited'));
    const plain = await through(sc.port('plain'));
    const limited = await through(sc.port('limited'));
    agent.destroy();
    console.log(`sidecar without the filter    ${fmt(plain)}`);
    console.log(`sidecar with the filter       ${fmt(limited)}`);
    console.log(`added p99 through the sidecar: ${(limited.p99 - plain.p99).toFixed(3)} ms (p50: ${(limited.p50 - plain.p50).toFixed(3)} ms)`);
    const m = await sc.metrics();
    console.log(`decisions: ok=${m.sum('remora_global_ratelimit_total', { decision: 'ok' })} error_allowed=${m.sum('remora_global_ratelimit_total', { decision: 'error_allowed' })}`);
  } finally {
    await limiter.close();
    await sc.close();
    await backend.close();
    await redis.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
