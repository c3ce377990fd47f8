/**
 * The local rate limiter's token bucket: `maxTokens` capacity, `tokensPerFill` added every
 * `fillIntervalMs`, starting full. Refill is lazy: each call computes how many whole fill intervals
 * have passed since the last fill from the monotonic clock it is given, so there are no timers and an
 * idle bucket costs nothing. Fills land on a fixed grid (`lastFill` advances by whole intervals), which
 * makes the admitted rate exact over any span (`tokensPerFill` per interval) and the reset time
 * (`x-ratelimit-reset`) well defined. Envoy's `TokenBucket` (envoy/type/v3/token_bucket.proto).
 */

/** A compiled `envoy.type.v3.TokenBucket`. */
export interface TokenBucketSpec {
  /** `max_tokens` (≥ 1): the capacity and the initial fill. */
  readonly maxTokens: number;
  /** `tokens_per_fill` (≥ 1, default 1). */
  readonly tokensPerFill: number;
  /** `fill_interval` in milliseconds (> 0). */
  readonly fillIntervalMs: number;
}

export class TokenBucket {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
  /** Tokens left after the last refill/consume. */
  private tokens: number;
  /** Monotonic time (ms) of the last grid point at which tokens were added. */
  private lastFill: number;

  /** A full bucket whose fill grid starts at `now` (monotonic ms). */
  constructor(spec: TokenBucketSpec, now: number) {
    this.maxTokens = spec.maxTokens;
    this.tokensPerFill = spec.tokensPerFill;
    this.fillIntervalMs = spec.fillIntervalMs;
    this.tokens = spec.maxTokens;
    this.lastFill = now;
  }

  /** Adds the tokens of every whole interval elapsed up to `now`. Monotonic `now` only. */
  refill(now: number): void {
    const elapsed = now - this.lastFill;
    if (elapsed < this.fillIntervalMs) return;
    const fills = Math.floor(elapsed / this.fillIntervalMs);
    this.lastFill += fills * this.fillIntervalMs;
    const t = this.tokens + fills * this.tokensPerFill;
    this.tokens = t > this.maxTokens ? this.maxTokens : t;
  }

  /** Tokens available at `now` (after refill). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Takes one token if there is one at `now`; returns whether it did. */
  tryConsume(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  /** Takes one token without checking (the caller checked `available(now) >= 1` at the same `now`). */
  consumeChecked(): void {
    this.tokens--;
  }

  /** Tokens left as of the last refill (call after `tryConsume`/`available` with the same `now`). */
  get remaining(): number {
    return this.tokens;
  }

  /** Whole seconds (rounded up) until the next fill after `now`; `x-ratelimit-reset`. */
  resetSeconds(now: number): number {
    const ms = this.lastFill + this.fillIntervalMs - now;
    return ms <= 0 ? 0 : Math.ceil(ms / 1000);
  }
}
