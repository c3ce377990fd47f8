/**
 * LEAST_REQUEST picker, following Envoy's `LeastRequestLoadBalancer` over the endpoints of one
 * priority level, with in-flight requests (`endpoint.active`, maintained by the router) as load:
 * - Equal weights: "power of N choices". With `choice_count` (default 2) smaller than the number of
 *   endpoints, it draws that many endpoints uniformly at random (with replacement, as Envoy's default
 *   N_CHOICES does) and keeps the least loaded, the first drawn winning ties. When `choice_count` ≥
 *   the number of endpoints it scans them all instead (like Envoy's opt-in FULL_SCAN selection
 *   method; Remora's choice, so that two endpoints always yield the less loaded one), starting at a
 *   random offset so that ties do not always favour the first.
 * - Unequal weights: an earliest-deadline-first schedule (Envoy's `EdfScheduler`) over effective
 *   weights `weight / (active + 1)^active_request_bias`. Each pick takes the endpoint with the
 *   earliest deadline, advances the schedule's time to it, and reschedules that endpoint at
 *   `time + 1 / effective weight` computed from its load at that moment (so a busy endpoint comes
 *   back later); equal deadlines go first-in first-out. Bias 1 (default) is Envoy's fast path
 *   `weight / (active + 1)`; bias 0 is plain weighted round robin. The initial deadlines are spread
 *   randomly over each endpoint's first period so that many proxies do not start in lock-step
 *   (Envoy's `createWithPicks` does the same with a seeded number of initial picks). The schedule is
 *   a binary heap in typed arrays: O(log n), allocation-free.
 * On a retry (`exclude`) the excluded endpoint is skipped whenever another one exists.
 */
import type { Endpoint } from '../endpoint';
import {
  allWeightsEqual, completeResults, DEFAULT_ACTIVE_REQUEST_BIAS, indexOfEndpoint,
  type CompletePickResult, type PickContext, type Picker, type PickerBuildOptions, type PickResult,
} from './picker';

export class LeastRequestPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  readonly panic: boolean;
  private readonly results: CompletePickResult[];
  private readonly choiceCount: number;
  private readonly fullScan: boolean;
  /** `active_request_bias` (≥ 0). */
  private readonly bias: number;
  /** EDF heap of endpoint indices ordered by (deadline, seq); null with equal weights. */
  private readonly heap: Uint32Array | null;
  private readonly deadline: Float64Array | null;
  private readonly seq: Float64Array | null;
  /** EDF time (the deadline of the last pick) and insertion counter (FIFO tie-break). */
  private now: number;
  private counter: number;

  /** `endpoints` must be non-empty and already filtered to one priority level. */
  constructor(endpoints: readonly Endpoint[], options: PickerBuildOptions, panic = false) {
    this.endpoints = endpoints;
    this.panic = panic;
    this.results = completeResults(endpoints);
    this.choiceCount = options.choiceCount >= 1 ? options.choiceCount : 2;
    this.fullScan = this.choiceCount >= endpoints.length;
    const bias = options.activeRequestBias ?? DEFAULT_ACTIVE_REQUEST_BIAS;
    this.bias = bias >= 0 && Number.isFinite(bias) ? bias : DEFAULT_ACTIVE_REQUEST_BIAS;
    this.now = 0;
    this.counter = 0;
    if (allWeightsEqual(endpoints)) {
      this.heap = null;
      this.deadline = null;
      this.seq = null;
    } else {
      const n = endpoints.length;
      this.heap = new Uint32Array(n);
      this.deadline = new Float64Array(n);
      this.seq = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        this.deadline[i] = options.random.next() / this.effectiveWeight(endpoints[i]);
        this.seq[i] = this.counter++;
        this.heap[i] = i;
      }
      for (let i = (n >>> 1) - 1; i >= 0; i--) this.siftDown(i, n);
    }
  }

  pick(ctx: PickContext): PickResult {
    const n = this.endpoints.length;
    if (n === 1) return this.results[0];
    if (this.heap !== null) return this.results[this.pickEdf(ctx.exclude)];
    return this.results[this.pickChoices(ctx)];
  }

  /** Equal weights: P2C (or full scan) by `active`. */
  private pickChoices(ctx: PickContext): number {
    const eps = this.endpoints;
    const n = eps.length;
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
        if (best === -1 || eps[i].active < eps[best].active) best = i;
      }
    } else {
      for (let k = 0; k < this.choiceCount; k++) {
        let i = Math.floor(ctx.random.next() * pool);
        if (excluded !== -1 && i >= excluded) i++;
        if (best === -1 || eps[i].active < eps[best].active) best = i;
      }
    }
    return best;
  }

  /** Unequal weights: the EDF schedule's next endpoint, rescheduled by its current load. */
  private pickEdf(exclude: Endpoint | null): number {
    const heap = this.heap!;
    const deadline = this.deadline!;
    const n = heap.length;
    const top = heap[0];
    if (exclude === null || this.endpoints[top] !== exclude) {
      this.reschedule(top, 0, n);
      return top;
    }
    // The earliest endpoint is excluded: take the earlier of the root's children instead, leaving
    // the excluded one first in line for the next pick.
    let c = 1;
    if (n > 2 && this.before(heap[2], heap[1])) c = 2;
    const chosen = heap[c];
    this.now = Math.max(this.now, deadline[chosen]);
    this.reschedule(chosen, c, n);
    return chosen;
  }

  /** Moves endpoint `i` (at heap position `pos`) to `now + 1 / effective weight` and restores the heap. */
  private reschedule(i: number, pos: number, n: number): void {
    const deadline = this.deadline!;
    if (deadline[i] > this.now) this.now = deadline[i];
    deadline[i] = this.now + 1 / this.effectiveWeight(this.endpoints[i]);
    this.seq![i] = this.counter++;
    this.siftDown(pos, n);
  }

  /** `weight / (active + 1)^bias`, with the bias 1 and 0 fast paths. */
  private effectiveWeight(ep: Endpoint): number {
    const bias = this.bias;
    if (bias === 1) return ep.weight / (ep.active + 1);
    if (bias === 0) return ep.weight;
    return ep.weight / Math.pow(ep.active + 1, bias);
  }

  /** True when endpoint `a` is due before endpoint `b`. */
  private before(a: number, b: number): boolean {
    const d = this.deadline!;
    return d[a] < d[b] || (d[a] === d[b] && this.seq![a] < this.seq![b]);
  }

  private siftDown(pos: number, n: number): void {
    const heap = this.heap!;
    const item = heap[pos];
    for (;;) {
      let c = 2 * pos + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(heap[c + 1], heap[c])) c++;
      if (!this.before(heap[c], item)) break;
      heap[pos] = heap[c];
      pos = c;
    }
    heap[pos] = item;
  }
}
