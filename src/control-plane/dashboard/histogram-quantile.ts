/**
 * `histogramQuantile`: the φ-quantile of a classic Prometheus histogram from its cumulative bucket
 * counts, with the semantics of PromQL's `histogram_quantile` (linear interpolation inside the
 * bucket holding the rank, the lowest bucket starting at 0 when its bound is positive, a rank in
 * the `+Inf` bucket answered with the highest finite bound, non-monotonic counts repaired).
 * See https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile
 */

/** One cumulative bucket: `count` observations were ≤ `le`. */
export interface Bucket {
  readonly le: number;
  readonly count: number;
}

/**
 * Returns the `q`-quantile (0 ≤ q ≤ 1) of `buckets` (any order; must include `le = +Inf`).
 * NaN when there is no +Inf bucket, fewer than two buckets, or no observations; -Inf/+Inf for
 * q < 0 / q > 1 as PromQL does. Pure.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const b = [...buckets].sort((x, y) => x.le - y.le);
  if (b.length < 2 || b[b.length - 1]!.le !== Infinity) return NaN;
  // Repair counts that decrease with le (scrape races between buckets): use the running max.
  const counts: number[] = new Array<number>(b.length);
  let max = 0;
  for (let i = 0; i < b.length; i++) {
    max = Math.max(max, b[i]!.count);
    counts[i] = max;
  }
  const total = counts[counts.length - 1]!;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let i = 0;
  while (i < counts.length - 1 && counts[i]! < rank) i++;
  if (i === b.length - 1) return b[b.length - 2]!.le;
  if (i === 0 && b[0]!.le <= 0) return b[0]!.le;
  const upper = b[i]!.le;
  const lower = i === 0 ? 0 : b[i - 1]!.le;
  const below = i === 0 ? 0 : counts[i - 1]!;
  const inBucket = counts[i]! - below;
  if (inBucket <= 0) return upper;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}
