/**
 * SidecarMetrics' hot series are number cells copied into prom-client at scrape time: counters add
 * what was counted since the last scrape (no double counting over several scrapes), the stats
 * objects of two config versions of one listener or cluster share their series, and the in-flight
 * gauge follows inc/dec.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { SidecarMetrics } from './metrics';

function sample(text: string, series: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

test('cell-backed counters and gauges appear in the scrape, without double counting', async () => {
  const registry = new Registry();
  const m = new SidecarMetrics(registry, false);
  const v1 = m.forListener('in');
  const v2 = m.forListener('in'); // the same listener after a config update
  v1.request(200, 0);
  v2.request(200, 0);
  v1.request(503, -1);
  v1.streamsActive.inc();
  v2.streamsActive.inc();
  v1.streamsActive.dec();
  const c1 = m.forCluster('up');
  const c2 = m.forCluster('up');
  c1.requests.inc();
  c2.requests.inc();
  c1.response(200);
  c2.response(404);

  let text = await registry.metrics();
  assert.equal(sample(text, 'remora_downstream_requests_total{listener="in",status_class="2xx",grpc_status="0"}'), 2);
  assert.equal(sample(text, 'remora_downstream_requests_total{listener="in",status_class="5xx",grpc_status=""}'), 1);
  assert.equal(sample(text, 'remora_downstream_streams_active{listener="in"}'), 1);
  assert.equal(sample(text, 'remora_upstream_requests_total{cluster="up"}'), 2);
  assert.equal(sample(text, 'remora_upstream_responses_total{cluster="up",status_class="2xx"}'), 1);
  assert.equal(sample(text, 'remora_upstream_responses_total{cluster="up",status_class="4xx"}'), 1);

  // A second scrape with one more request adds exactly one.
  v2.request(200, 0);
  v2.streamsActive.dec();
  text = await registry.metrics();
  assert.equal(sample(text, 'remora_downstream_requests_total{listener="in",status_class="2xx",grpc_status="0"}'), 3);
  assert.equal(sample(text, 'remora_downstream_streams_active{listener="in"}'), 0);
  assert.equal(sample(text, 'remora_upstream_requests_total{cluster="up"}'), 2);
});
