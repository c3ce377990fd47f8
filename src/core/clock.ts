/**
 * The clock and the random source. These are the only places that read the wall clock or
 * `Math.random()`; everything else receives them through the Runtime so tests can fake time.
 */

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Monotonic milliseconds (fractional), for latencies. */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

export interface RandomSource {
  /** A float in [0, 1). */
  next(): number;
}

export const systemRandom: RandomSource = { next: () => Math.random() };

/** A deterministic PRNG (mulberry32) for tests and reproducible benchmarks. */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}
