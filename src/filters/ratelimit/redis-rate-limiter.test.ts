import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime } from '../../core/runtime';
import { RedisServer, SilentTcpServer, findRedisBinary, REDIS_MISSING, redisCommand } from '../../../test/fakes/redis-server';
import { RateLimitCode, RedisRateLimiter, RateLimitTimeoutError } from './redis-rate-limiter';

const skip = findRedisBinary() === null ? REDIS_MISSING : false;
const runtime = createRuntime({ logLevel: 'silent' });
const MIN = 60_000;
/** A window-aligned instant far from now, so test keys never meet real traffic. */
const T0 = 1_000 * 60 * 60 * 24 * 365 * 10;

describe('RedisRateLimiter against a real redis-server', { skip }, () => {
  let redis: RedisServer;
  let limiter: RedisRateLimiter;
  let n = 0;
  const key = () => `test:${++n}`;

  before(async () => {
    redis = await RedisServer.start();
    limiter = new RedisRateLimiter({ host: '127.0.0.1', port: redis.port }, runtime);
    await limiter.waitReady();
  });
  after(async () => {
    await limiter.close();
    await redis.stop();
  });

  it('fixed window: exactly N per window, refused requests consume nothing, next window starts afresh', async () => {
    const k = key();
    const codes: RateLimitCode[] = [];
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await limiter.checkAsync([k], [3, 1000], false, 1000, T0 + 100 + i);
      codes.push(r.code);
      remaining.push(r.remaining);
      assert.equal(r.limit, 3);
      assert.equal(r.windowMs, 1000);
    }
    assert.deepEqual(codes, [0, 0, 0, 1, 1]);
    assert.deepEqual(remaining, [2, 1, 0, 0, 0]);
    const over = await limiter.checkAsync([k], [3, 1000], false, 1000, T0 + 900);
    assert.equal(over.resetMs, 100);
    assert.equal(await redisCommand(redis.port, `GET ${k}:${T0 / 1000}`), '$1', 'the counter holds 3 (refusals not counted)');
    const next = await limiter.checkAsync([k], [3, 1000], false, 1000, T0 + 1000);
    assert.equal(next.code, RateLimitCode.Ok);
    assert.equal(next.remaining, 2);
  });

  it('sliding window: the previous window counts by its overlap', async () => {
    const k = key();
    for (let i = 0; i < 10; i++) assert.equal((await limiter.checkAsync([k], [10, MIN], true, 1000, T0 + i)).code, RateLimitCode.Ok);
    assert.equal((await limiter.checkAsync([k], [10, MIN], true, 1000, T0 + 59_000)).code, RateLimitCode.OverLimit);
    // Half-way into the next window the previous 10 weigh 5: five more fit, the sixth does not.
    const half = T0 + MIN + 30_000;
    const codes: RateLimitCode[] = [];
    for (let i = 0; i < 6; i++) codes.push((await limiter.checkAsync([k], [10, MIN], true, 1000, half)).code);
    assert.deepEqual(codes, [0, 0, 0, 0, 0, 1]);
    // At 90% of the window the previous window weighs 1: 5 current + 1 = 6 used, 4 fit.
    const late = T0 + MIN + 54_000;
    let ok = 0;
    for (let i = 0; i < 6; i++) if ((await limiter.checkAsync([k], [10, MIN], true, 1000, late)).code === RateLimitCode.Ok) ok++;
    assert.equal(ok, 4);
    // Two windows later the old counts no longer matter.
    assert.equal((await limiter.checkAsync([k], [10, MIN], true, 1000, T0 + 3 * MIN)).remaining, 9);
  });

  it('several descriptors: all-or-nothing, and the most constraining one is reported', async () => {
    const wide = key();
    const narrow = key();
    const lw = [100, 1000, 2, MIN];
    const a = await limiter.checkAsync([wide, narrow], lw, false, 1000, T0 + 5);
    assert.deepEqual([a.code, a.limit, a.remaining, a.windowMs], [RateLimitCode.Ok, 2, 1, MIN]);
    await limiter.checkAsync([wide, narrow], lw, false, 1000, T0 + 6);
    const refused = await limiter.checkAsync([wide, narrow], lw, false, 1000, T0 + 7);
    assert.equal(refused.code, RateLimitCode.OverLimit);
    // The wide descriptor was not charged for the refused request: 100 - 2 = 98 left.
    assert.equal((await limiter.checkAsync([wide], [100, 1000], false, 1000, T0 + 8)).remaining, 97);
  });

  it('uses Redis server time by default and sets an expiry on the counters', async () => {
    const k = key();
    const r = await limiter.checkAsync([k], [5, MIN], false, 1000);
    assert.equal(r.code, RateLimitCode.Ok);
    assert.equal(r.remaining, 4);
    assert.ok(r.resetMs > 0 && r.resetMs <= MIN);
    const keys = await redisCommand(redis.port, `EVAL "return redis.call('PTTL', redis.call('KEYS', ARGV[1] .. ':*')[1])" 0 ${k}`);
    const pttl = Number(keys.slice(1));
    assert.ok(pttl > 0 && pttl <= MIN, `PTTL ${keys}`);
  });
});

describe('RedisRateLimiter failures', { skip }, () => {
  it('Redis down: checks fail at once with an error; they succeed again once Redis is back', async (t) => {
    const redis = await RedisServer.start();
    t.after(() => redis.stop());
    const limiter = new RedisRateLimiter({ host: '127.0.0.1', port: redis.port }, runtime, { reconnectBaseMs: 10, reconnectMaxMs: 50 });
    t.after(() => limiter.close());
    await limiter.waitReady();
    assert.equal((await limiter.checkAsync(['down:a'], [5, 1000], false, 1000)).code, RateLimitCode.Ok);
    await redis.kill();
    const start = performance.now();
    let r = await limiter.checkAsync(['down:a'], [5, 1000], false, 5000);
    for (let i = 0; i < 100 && r.code !== RateLimitCode.Error; i++) r = await limiter.checkAsync(['down:a'], [5, 1000], false, 5000);
    assert.equal(r.code, RateLimitCode.Error);
    assert.ok(!(r.error instanceof RateLimitTimeoutError), 'a dead Redis fails fast, not by the timeout');
    assert.ok(performance.now() - start < 4000);
    await redis.resume();
    await limiter.waitReady(5000);
    assert.equal((await limiter.checkAsync(['down:b'], [5, 1000], false, 1000)).code, RateLimitCode.Ok);
  });

  it('a Redis that never answers: each check ends at its timeout, and the stalled connection is replaced', async (t) => {
    const silent = await SilentTcpServer.start();
    t.after(() => silent.close());
    let accepted = 0;
    (silent as unknown as { server: import('node:net').Server }).server.on('connection', () => { accepted++; });
    const limiter = new RedisRateLimiter({ host: '127.0.0.1', port: silent.port }, runtime, { stallResetMs: 100, reconnectBaseMs: 10, reconnectMaxMs: 20 });
    t.after(() => limiter.close());
    await limiter.waitReady();
    const r = await limiter.checkAsync(['hang'], [5, 1000], false, 30);
    assert.equal(r.code, RateLimitCode.Error);
    assert.ok(r.error instanceof RateLimitTimeoutError);
    // Keep checking until the limiter gives up on the silent connection and opens a new one.
    const deadline = performance.now() + 5000;
    while (accepted < 2 && performance.now() < deadline) {
      const x = await limiter.checkAsync(['hang'], [5, 1000], false, 30);
      assert.equal(x.code, RateLimitCode.Error);
      await new Promise<void>((resolve) => setImmediate(resolve)); // let the reconnect timer run
    }
    assert.ok(accepted >= 2, `reconnected after the stall (connections: ${accepted})`);
  });
});
