/**
 * RING_HASH picker (Envoy's `ring_hash` load balancer, Karger/ketama consistent hashing): a ring of
 * 32-bit points, each owned by one endpoint of the selected level, built once per picker snapshot;
 * a request goes to the owner of the first point at or after its hash (`PickContext.hash`, from the
 * route's `hash_policy`), wrapping around; without a hash it goes to a random point. On a retry
 * (`exclude`) the walk continues clockwise to the next point owned by a different endpoint (Envoy's
 * retry behaviour offsets the ring position likewise). `pick` is a binary search, allocation-free.
 *
 * Points of an endpoint are `hash32("<host:port>_<i>")` for i = 0..count-1 (Envoy hashes
 * `"<address>_<i>"` with xxHash64; Remora uses FNV-1a + fmix32, see `hash32`), so the same endpoint
 * always lands on the same points in every process, independent of the endpoint order (equal
 * points are ordered by endpoint key).
 *
 * Ring size and remapping. Envoy gives each host `scale × normalized weight` points with
 * `scale ≈ minimum_ring_size`, so every change in the host count re-scales every host's points and
 * moves noticeably more than 1/N of the keys (≈ 32% when going from 4 to 5 hosts). Remora instead
 * gives an endpoint of weight w `ceil(w × P)` points, where the points-per-weight-unit P starts at
 * `minimum_ring_size` and is halved until the ring fits a budget of
 * `min(maximum_ring_size, max(2 × minimum_ring_size, 65,536))` points (65,536 by default). P therefore depends
 * on the total weight only through a power of two: while it is unchanged, adding or removing an
 * endpoint adds or removes exactly that endpoint's points and moves only the keys it gains or owned
 * (~1/N). When the total weight crosses a budget boundary (by default at 64, 128, 256… weight units,
 * e.g. going from 64 to 65 weight-1 endpoints) P halves; each endpoint keeps the prefix of its
 * points, so the smaller ring is a subset of the larger one, but more keys move once. The ring
 * holds between `minimum_ring_size` and the budget points (more only when there are more endpoints
 * than the budget: each endpoint always has at least one point). When the configured maximum is
 * below twice the minimum, that budget scheme cannot honour both bounds and Envoy's exact
 * algorithm is used instead.
 */
import { fmix32, FNV_OFFSET, FNV_PRIME, fnvUpdate, hashString } from '../../core/hash';
import type { Endpoint } from '../endpoint';
import {
  completeResults, DEFAULT_RING_SIZES,
  type CompletePickResult, type PickContext, type Picker, type PickerBuildOptions, type PickResult,
} from './picker';

/** The ring budget's floor (points); it is at least twice `minimum_ring_size`, at most `maximum_ring_size`. */
export const RING_BUDGET = 65536;

const TWO_POW_32 = 4294967296;

/** The 32-bit hash of a ring point key (core/hash.ts, the same function as the routes' hash policies). */
export function hash32(s: string): number {
  return hashString(s);
}

export class RingHashPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  readonly panic: boolean;
  private readonly results: CompletePickResult[];
  /** Ring point hashes, ascending. */
  private readonly points: Uint32Array;
  /** owners[i] = index into `endpoints` of the endpoint owning points[i]. */
  private readonly owners: Uint32Array;

  /** `endpoints` must be non-empty and already filtered to one priority level. */
  constructor(endpoints: readonly Endpoint[], options: PickerBuildOptions, panic = false) {
    this.endpoints = endpoints;
    this.panic = panic;
    this.results = completeResults(endpoints);
    const ring = buildRing(endpoints, pointCounts(endpoints, options.ringHash ?? DEFAULT_RING_SIZES));
    this.points = ring.points;
    this.owners = ring.owners;
  }

  /** Number of points on the ring. */
  get ringSize(): number {
    return this.points.length;
  }

  pick(ctx: PickContext): PickResult {
    const eps = this.endpoints;
    if (eps.length === 1) return this.results[0];
    const points = this.points;
    const n = points.length;
    const h = ctx.hash !== null ? ctx.hash >>> 0 : (ctx.random.next() * TWO_POW_32) >>> 0;
    // First point >= h (lower bound), wrapping to the first point.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    if (lo === n) lo = 0;
    const owners = this.owners;
    let idx = owners[lo];
    if (ctx.exclude !== null && eps[idx] === ctx.exclude) {
      for (let k = 1; k < n; k++) {
        let j = lo + k;
        if (j >= n) j -= n;
        if (owners[j] !== idx) { idx = owners[j]; break; }
      }
    }
    return this.results[idx];
  }

  /** @internal The index of the endpoint owning hash `h` (tests). */
  ownerForTest(h: number): Endpoint {
    const r = this.pick({ random: { next: () => 0 }, exclude: null, hash: h });
    return (r as CompletePickResult).endpoint;
  }
}

/** Points per endpoint (config time); see the file comment. */
export function pointCounts(
  endpoints: readonly Endpoint[],
  sizes: { readonly minimumRingSize: number; readonly maximumRingSize: number },
): Uint32Array {
  const n = endpoints.length;
  const min = Math.max(1, Math.floor(sizes.minimumRingSize));
  const max = Math.max(1, Math.floor(sizes.maximumRingSize));
  const counts = new Uint32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) total += endpoints[i].weight;
  if (max >= 2 * min) {
    const budget = Math.min(max, Math.max(2 * min, RING_BUDGET));
    let perUnit = min;
    while (total * perUnit > budget) perUnit /= 2;
    for (let i = 0; i < n; i++) counts[i] = Math.max(1, Math.ceil(endpoints[i].weight * perUnit));
    return counts;
  }
  // Envoy's ring_hash_lb.cc: scale so the lightest host gets a whole number of points (at least
  // min ring size overall), capped by max; running sums hand out the fractional parts.
  let minNormalized = Infinity;
  for (let i = 0; i < n; i++) minNormalized = Math.min(minNormalized, endpoints[i].weight / total);
  const scale = Math.min(Math.ceil(minNormalized * min) / minNormalized, max);
  let current = 0;
  let target = 0;
  for (let i = 0; i < n; i++) {
    target += (scale * endpoints[i].weight) / total;
    let c = 0;
    while (current < target) { c++; current++; }
    counts[i] = c;
  }
  return counts;
}

/**
 * Hashes every endpoint's points and sorts them (config time). The FNV state after
 * `"<key>_"` is computed once per endpoint and continued with the decimal digits of i, which
 * equals `hash32(`${key}_${i}`)` without building the strings; the points are then sorted by an
 * LSD radix sort (stable, so equal hashes stay in endpoint-key order).
 */
function buildRing(endpoints: readonly Endpoint[], counts: Uint32Array): { points: Uint32Array; owners: Uint32Array } {
  const n = endpoints.length;
  // Rank endpoints by key so equal point hashes order the same way in every process.
  const byKey = new Array<number>(n);
  for (let i = 0; i < n; i++) byKey[i] = i;
  byKey.sort((a, b) => (endpoints[a].key < endpoints[b].key ? -1 : endpoints[a].key > endpoints[b].key ? 1 : a - b));
  let size = 0;
  for (let i = 0; i < n; i++) size += counts[i];
  let points = new Uint32Array(size);
  let owners = new Uint32Array(size);
  const digits = new Uint8Array(16);
  let k = 0;
  for (let rank = 0; rank < n; rank++) {
    const idx = byKey[rank];
    const prefix = fnvUpdate(FNV_OFFSET, `${endpoints[idx].key}_`);
    for (let i = 0; i < counts[idx]; i++) {
      let h = prefix;
      let d = 0;
      let v = i;
      do { digits[d++] = 0x30 + (v % 10); v = Math.floor(v / 10); } while (v > 0);
      while (d > 0) h = Math.imul(h ^ digits[--d], FNV_PRIME);
      points[k] = fmix32(h);
      owners[k++] = idx;
    }
  }
  // LSD radix sort, 4 passes of 8 bits, ping-ponging between two buffer pairs.
  let tmpPoints = new Uint32Array(size);
  let tmpOwners = new Uint32Array(size);
  const bucket = new Uint32Array(256);
  for (let shift = 0; shift < 32; shift += 8) {
    bucket.fill(0);
    for (let j = 0; j < size; j++) bucket[(points[j] >>> shift) & 0xff]++;
    let sum = 0;
    for (let b = 0; b < 256; b++) { const c = bucket[b]; bucket[b] = sum; sum += c; }
    for (let j = 0; j < size; j++) {
      const pos = bucket[(points[j] >>> shift) & 0xff]++;
      tmpPoints[pos] = points[j];
      tmpOwners[pos] = owners[j];
    }
    const p = points; points = tmpPoints; tmpPoints = p;
    const o = owners; owners = tmpOwners; tmpOwners = o;
  }
  return { points, owners };
}
