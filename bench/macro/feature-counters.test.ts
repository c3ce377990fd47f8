/** Unit tests for reading the resilience counters out of the sidecar's Prometheus text. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeFeatureCounters, diffFeatureCounters, fetchFeatureCounters, firedFeatures, parseFeatureCounters } from './feature-counters';

const TEXT = `# HELP remora_local_ratelimit_requests_total Requests checked by the local rate limit filter.
# TYPE remora_local_ratelimit_requests_total counter
remora_local_ratelimit_requests_total{listener="bench_ingress",stat_prefix="bench_rl",decision="allowed"} 1200
remora_local_ratelimit_requests_total{listener="bench_ingress",stat_prefix="bench_rl",decision="limited"} 2
remora_local_ratelimit_requests_total{listener="other",stat_prefix="x",decision="limited_not_enforced"} 1
remora_upstream_retries_total{cluster="upstream"} 4
remora_upstream_retries_total{cluster="other"} 1
remora_upstream_overflow_total{cluster="upstream",resource="requests"} 7
remora_upstream_outlier_ejections_total{cluster="upstream"} 0
remora_upstream_requests_total{cluster="upstream"} 99999
remora_upstream_per_try_timeouts_total 3
`;

test('parse sums every label set and splits rate-limit decisions', () => {
  const c = parseFeatureCounters(TEXT);
  assert.deepEqual(c, {
    rateLimitAllowed: 1200, rateLimitLimited: 3, retries: 5, retryOverflow: 0, retryLimitExceeded: 0, perTryTimeouts: 3, breakerOverflow: 7, ejections: 0,
  });
  assert.deepEqual(firedFeatures(c), ['rate-limited 3', 'retries 5', 'per-try timeouts 3', 'breaker overflow 7']);
});

test('diff and description: quiet run vs a run where features fired', () => {
  const before = parseFeatureCounters('');
  const quiet = parseFeatureCounters('remora_local_ratelimit_requests_total{decision="allowed"} 50\n');
  const d = diffFeatureCounters(before, quiet);
  assert.equal(describeFeatureCounters(d), 'none fired (rate limit checked 50)');
  const later = diffFeatureCounters(quiet, parseFeatureCounters(TEXT));
  assert.equal(later.rateLimitAllowed, 1150);
  assert.match(describeFeatureCounters(later), /^FIRED: rate-limited 3, retries 5, per-try timeouts 3, breaker overflow 7 \(rate limit checked 1153\)$/);
  assert.equal(describeFeatureCounters(before), 'none fired (rate limit checked 0)');
});

test('fetch reads /stats/prometheus and rejects other statuses', async (t) => {
  let status = 200;
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === '/stats/prometheus' ? status : 404, { 'content-type': 'text/plain' });
    res.end(TEXT);
  });
  t.after(() => server.close());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const admin = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  assert.equal((await fetchFeatureCounters(admin)).retries, 5);
  status = 503;
  await assert.rejects(fetchFeatureCounters(admin), /answered 503/);
});
