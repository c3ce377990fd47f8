/**
 * RANDOM picker: each pick chooses an endpoint of the selected priority level with probability
 * proportional to its weight. Equal weights index directly; unequal weights use Walker/Vose alias
 * tables built once per snapshot (O(1), one random draw per pick). On a retry the excluded endpoint
 * is removed from the draw exactly: the draw covers the remaining weight and is located by binary
 * search in a cumulative-weight table that steps over the excluded interval.
 */
import type { Endpoint } from '../endpoint';
import {
  allWeightsEqual, completeResults, indexOfEndpoint,
  type CompletePickResult, type PickContext, type Picker, type PickerBuildOptions, type PickResult,
} from './picker';

export class RandomPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  readonly panic: boolean;
  private readonly results: CompletePickResult[];
  /** cumulative[i] = sum of weights of endpoints 0..i; null when all weights are equal. */
  private readonly cumulative: Float64Array | null;
  private readonly total: number;
  /** Alias method: slot i keeps i with probability prob[i], else yields alias[i]; null for equal weights. */
  private readonly prob: Float64Array | null;
  private readonly alias: Uint32Array | null;

  /** `endpoints` must be non-empty and already filtered to one priority level. */
  constructor(endpoints: readonly Endpoint[], _options: PickerBuildOptions, panic = false) {
    this.endpoints = endpoints;
    this.panic = panic;
    this.results = completeResults(endpoints);
    if (allWeightsEqual(endpoints)) {
      this.cumulative = null;
      this.total = endpoints.length;
      this.prob = null;
      this.alias = null;
    } else {
      const c = new Float64Array(endpoints.length);
      let sum = 0;
      for (let i = 0; i < endpoints.length; i++) c[i] = sum += endpoints[i].weight;
      this.cumulative = c;
      this.total = sum;
      const { prob, alias } = aliasTables(endpoints, sum);
      this.prob = prob;
      this.alias = alias;
    }
  }

  pick(ctx: PickContext): PickResult {
    const n = this.endpoints.length;
    if (n === 1) return this.results[0];
    const excluded = ctx.exclude === null ? -1 : indexOfEndpoint(this.endpoints, ctx.exclude);
    const c = this.cumulative;
    if (c === null) {
      if (excluded === -1) return this.results[Math.floor(ctx.random.next() * n)];
      let i = Math.floor(ctx.random.next() * (n - 1));
      if (i >= excluded) i++;
      return this.results[i];
    }
    if (excluded === -1) {
      const r = ctx.random.next() * n;
      const i = Math.floor(r);
      return this.results[r - i < this.prob![i] ? i : this.alias![i]];
    }
    const exLo = excluded === 0 ? 0 : c[excluded - 1];
    const exWeight = c[excluded] - exLo;
    let r = ctx.random.next() * (this.total - exWeight);
    if (r >= exLo) r += exWeight;
    let i = upperBound(c, r);
    if (i === excluded) i = i + 1 < n ? i + 1 : i - 1; // floating-point edge only
    return this.results[i];
  }
}

/** Smallest i with c[i] > x (c strictly increasing, x < c[last]); clamps to the last index. */
function upperBound(c: Float64Array, x: number): number {
  let lo = 0;
  let hi = c.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (c[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Vose's alias method over the endpoints' weights (config time). */
function aliasTables(endpoints: readonly Endpoint[], total: number): { prob: Float64Array; alias: Uint32Array } {
  const n = endpoints.length;
  const prob = new Float64Array(n);
  const alias = new Uint32Array(n);
  const scaled = new Float64Array(n);
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < n; i++) {
    scaled[i] = (endpoints[i].weight * n) / total;
    (scaled[i] < 1 ? small : large).push(i);
  }
  while (small.length > 0 && large.length > 0) {
    const s = small.pop()!;
    const l = large.pop()!;
    prob[s] = scaled[s];
    alias[s] = l;
    scaled[l] = scaled[l] + scaled[s] - 1;
    (scaled[l] < 1 ? small : large).push(l);
  }
  // Leftovers are 1 up to rounding error.
  while (large.length > 0) { const l = large.pop()!; prob[l] = 1; alias[l] = l; }
  while (small.length > 0) { const s = small.pop()!; prob[s] = 1; alias[s] = s; }
  return { prob, alias };
}
