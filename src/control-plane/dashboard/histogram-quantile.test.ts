/** Unit tests of histogramQuantile against hand-computed PromQL histogram_quantile results. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { histogramQuantile } from './histogram-quantile';

const B = [
  { le: 20, count: 6 },
  { le: Infinity, count: 10 },
  { le: 10, count: 2 },
  { le: 40, count: 8 },
];

test('interpolates linearly inside the bucket holding the rank (buckets in any order)', () => {
  assert.equal(histogramQuantile(0.5, B), 17.5); // rank 5 in (10,20]: 10 + 10 * (5-2)/4
  assert.equal(histogramQuantile(0.1, B), 5); // rank 1 in (0,10]: lowest bucket starts at 0
  assert.equal(histogramQuantile(0.8, B), 40); // rank 8 = top of (20,40]
  assert.equal(histogramQuantile(0, B), 0);
});

test('a rank in the +Inf bucket answers the highest finite bound', () => {
  assert.equal(histogramQuantile(0.99, B), 40);
});

test('edge cases: no observations, no +Inf, one bucket, q out of range, non-monotonic counts', () => {
  assert.ok(Number.isNaN(histogramQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }])));
  assert.ok(Number.isNaN(histogramQuantile(0.5, [{ le: 1, count: 3 }, { le: 2, count: 3 }])));
  assert.ok(Number.isNaN(histogramQuantile(0.5, [{ le: Infinity, count: 3 }])));
  assert.equal(histogramQuantile(-0.1, B), -Infinity);
  assert.equal(histogramQuantile(1.1, B), Infinity);
  // le=20 reads lower than le=10 (a race): repaired to the running max, so (10,20] holds nothing.
  const racy = [{ le: 10, count: 4 }, { le: 20, count: 3 }, { le: 40, count: 8 }, { le: Infinity, count: 8 }];
  assert.equal(histogramQuantile(0.5, racy), 10); // rank 4 reached at le=10: 0 + 10 * 4/4
  assert.equal(histogramQuantile(0.75, racy), 30); // rank 6 in (20,40]: 20 + 20 * (6-4)/4
});
