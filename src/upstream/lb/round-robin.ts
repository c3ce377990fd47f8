/**
 * ROUND_ROBIN picker. Equal weights rotate through the endpoints by index. Unequal weights follow a
 * smooth weighted round-robin schedule (nginx's algorithm: each step adds every weight to its
 * running score, picks the highest score and subtracts the total) precomputed at build time over one
 * full cycle of `sum(weights / gcd)` slots, so each endpoint appears exactly `weight / gcd` times
 * per cycle, interleaved rather than in runs. As in Envoy, the rotation starts at a random position
 * so that many proxies do not all hit the first endpoint together. The only mutable state is the
 * cursor.
 */
import type { Endpoint } from '../endpoint';
import {
  allWeightsEqual, completeResults, indexOfEndpoint,
  type CompletePickResult, type PickContext, type Picker, type PickerBuildOptions, type PickResult,
} from './picker';

/**
 * Cap on the precomputed schedule length. Larger reduced weight sums are scaled down
 * proportionally (every endpoint keeps at least one slot), so very skewed or very large weights
 * are approximated to about 1/MAX_SCHEDULE of the total.
 */
export const MAX_SCHEDULE = 1 << 16;

export class RoundRobinPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  readonly panic: boolean;
  private readonly results: CompletePickResult[];
  /** Slot → endpoint index; for equal weights, the identity over `endpoints`. */
  private readonly schedule: Uint32Array;
  private cursor: number;

  /** `endpoints` must be non-empty and already filtered to one priority level. */
  constructor(endpoints: readonly Endpoint[], options: PickerBuildOptions, panic = false) {
    this.endpoints = endpoints;
    this.panic = panic;
    this.results = completeResults(endpoints);
    this.schedule = allWeightsEqual(endpoints) ? identitySchedule(endpoints.length) : smoothWeightedSchedule(endpoints);
    this.cursor = Math.floor(options.random.next() * this.schedule.length);
  }

  pick(ctx: PickContext): PickResult {
    const schedule = this.schedule;
    const len = schedule.length;
    let c = this.cursor;
    let idx = schedule[c];
    if (++c === len) c = 0;
    if (ctx.exclude !== null && this.endpoints.length > 1 && this.endpoints[idx] === ctx.exclude) {
      // Advance to the next slot naming another endpoint (a cycle contains every endpoint).
      const excluded = indexOfEndpoint(this.endpoints, ctx.exclude);
      for (let n = 0; n < len && idx === excluded; n++) {
        idx = schedule[c];
        if (++c === len) c = 0;
      }
    }
    this.cursor = c;
    return this.results[idx];
  }
}

function identitySchedule(n: number): Uint32Array {
  const s = new Uint32Array(n);
  for (let i = 0; i < n; i++) s[i] = i;
  return s;
}

/** @internal One full cycle of smooth weighted round robin over the endpoints' weights. */
export function smoothWeightedSchedule(endpoints: readonly Endpoint[]): Uint32Array {
  const weights = reducedWeights(endpoints);
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i];
  const schedule = new Uint32Array(total);
  const score = new Float64Array(weights.length);
  for (let slot = 0; slot < total; slot++) {
    let best = 0;
    for (let i = 0; i < weights.length; i++) {
      score[i] += weights[i];
      if (score[i] > score[best]) best = i;
    }
    score[best] -= total;
    schedule[slot] = best;
  }
  return schedule;
}

/** Weights divided by their gcd, then scaled down (each ≥ 1) when their sum exceeds MAX_SCHEDULE. */
function reducedWeights(endpoints: readonly Endpoint[]): number[] {
  let g = 0;
  for (let i = 0; i < endpoints.length; i++) g = gcd(g, endpoints[i].weight);
  const out = new Array<number>(endpoints.length);
  let total = 0;
  for (let i = 0; i < endpoints.length; i++) {
    out[i] = endpoints[i].weight / g;
    total += out[i];
  }
  if (total > MAX_SCHEDULE) {
    const scale = (MAX_SCHEDULE - endpoints.length) / total;
    for (let i = 0; i < out.length; i++) out[i] = Math.max(1, Math.floor(out[i] * scale));
  }
  return out;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}
