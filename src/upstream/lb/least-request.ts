/**
 * LEAST_REQUEST picker: "power of N choices" over the routable endpoints of one priority level,
 * ranked by in-flight requests (`endpoint.active`, maintained by the router). With `choice_count`
 * (default 2) smaller than the number of endpoints, it draws that many endpoints uniformly at random
 * (with replacement, as Envoy's default N_CHOICES does) and keeps the least loaded, the first drawn
 * winning ties. When `choice_count` ≥ the number of endpoints it scans them all instead (like
 * Envoy's opt-in FULL_SCAN selection method; Remora's choice, so that two endpoints always yield the
 * less loaded one), starting at a random offset so that ties do not always favour the first.
 *
 * Weights: with equal weights endpoints are compared by `active`. With unequal weights they are
 * compared by `(active + 1) / weight`, i.e. Envoy's effective weight `weight / (active + 1)^bias`
 * with `active_request_bias` 1, but applied to the N uniformly drawn candidates rather than through
 * Envoy's EDF schedule; an idle heavy endpoint therefore beats an idle light one.
 */
import type { Endpoint } from '../endpoint';
import {
  allWeightsEqual, completeResults, indexOfEndpoint,
  type CompletePickResult, type PickContext, type Picker, type PickerBuildOptions, type PickResult,
} from './picker';

export class LeastRequestPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  private readonly results: CompletePickResult[];
  private readonly choiceCount: number;
  private readonly weighted: boolean;
  private readonly fullScan: boolean;

  /** `endpoints` must be non-empty and already filtered to one priority level. */
  constructor(endpoints: readonly Endpoint[], options: PickerBuildOptions) {
    this.endpoints = endpoints;
    this.results = completeResults(endpoints);
    this.choiceCount = options.choiceCount >= 1 ? options.choiceCount : 2;
    this.weighted = !allWeightsEqual(endpoints);
    this.fullScan = this.choiceCount >= endpoints.length;
  }

  pick(ctx: PickContext): PickResult {
    const eps = this.endpoints;
    const n = eps.length;
    if (n === 1) return this.results[0];
    // With another endpoint available, the excluded one (previous attempt) is not a candidate.
    const excluded = ctx.exclude === null ? -1 : indexOfEndpoint(eps, ctx.exclude);
    const pool = excluded === -1 ? n : n - 1;
    let best = -1;
    if (this.fullScan) {
      const start = Math.floor(ctx.random.next() * n);
      for (let k = 0; k < n; k++) {
        let i = start + k;
        if (i >= n) i -= n;
        if (i === excluded) continue;
        if (best === -1 || this.lessLoaded(eps[i], eps[best])) best = i;
      }
    } else {
      for (let k = 0; k < this.choiceCount; k++) {
        let i = Math.floor(ctx.random.next() * pool);
        if (excluded !== -1 && i >= excluded) i++;
        if (best === -1 || this.lessLoaded(eps[i], eps[best])) best = i;
      }
    }
    return this.results[best];
  }

  /** True when `a` should be preferred over `b` (strictly less loaded). */
  private lessLoaded(a: Endpoint, b: Endpoint): boolean {
    if (!this.weighted) return a.active < b.active;
    // (a.active + 1) / a.weight < (b.active + 1) / b.weight, without dividing.
    return (a.active + 1) * b.weight < (b.active + 1) * a.weight;
  }
}
