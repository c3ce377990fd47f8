import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { metricsResponse, negotiateFormat, openMetricsText, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from './exposition';

const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

function sampleRegistry(): Registry {
  const registry = new Registry();
  const registers = [registry];
  new Counter({ name: 'remora_test_requests_total', help: 'Requests "quoted" \\ and\nnewline.', labelNames: ['cluster'], registers }).labels('a"b').inc(3);
  new Gauge({ name: 'remora_test_active', help: 'Active.', registers }).set(2);
  const h = new Histogram({ name: 'remora_test_duration_seconds', help: 'Duration.', buckets: [0.5, 1, 2], labelNames: ['cluster'], registers });
  h.labels('c1').observe(0.7);
  h.labels('c1').observe(5);
  new Summary({ name: 'remora_test_size_bytes', help: 'Sizes.', percentiles: [0.5, 1], registers }).observe(10);
  new Gauge({ name: 'remora_test_nan', help: 'Special values.', labelNames: ['k'], registers }).labels('nan').set(NaN);
  return registry;
}

describe('negotiateFormat', () => {
  it('picks OpenMetrics for the header Prometheus sends', () => {
    assert.equal(negotiateFormat(PROMETHEUS_ACCEPT), 'openmetrics');
    assert.equal(negotiateFormat('application/openmetrics-text; version=1.0.0'), 'openmetrics');
  });
  it('keeps the classic format otherwise', () => {
    assert.equal(negotiateFormat(undefined), 'prometheus');
    assert.equal(negotiateFormat(''), 'prometheus');
    assert.equal(negotiateFormat('*/*'), 'prometheus');
    assert.equal(negotiateFormat('text/plain;version=0.0.4'), 'prometheus');
    assert.equal(negotiateFormat('application/openmetrics-text;q=0,text/plain'), 'prometheus');
    assert.equal(negotiateFormat('application/openmetrics-text;q=0.2,text/plain;q=0.9'), 'prometheus');
    assert.equal(negotiateFormat('application/json'), 'prometheus');
  });
});

describe('metricsResponse', () => {
  it('serves the classic text format by default', async () => {
    const r = await metricsResponse(sampleRegistry(), '*/*');
    assert.equal(r.contentType, PROMETHEUS_CONTENT_TYPE);
    assert.match(r.body, /^# TYPE remora_test_requests_total counter$/m);
    assert.match(r.body, /^remora_test_requests_total\{cluster="a\\"b"\} 3$/m);
    assert.doesNotMatch(r.body, /# EOF/);
  });

  it('serves OpenMetrics when asked: counter families without _total, samples with it, # EOF last', async () => {
    const r = await metricsResponse(sampleRegistry(), PROMETHEUS_ACCEPT);
    assert.equal(r.contentType, OPENMETRICS_CONTENT_TYPE);
    const lines = r.body.split('\n');
    assert.equal(lines.at(-1), '');
    assert.equal(lines.at(-2), '# EOF');
    assert.equal(lines.filter((l) => l === '# EOF').length, 1);
    assert.ok(lines.includes('# TYPE remora_test_requests counter'), r.body);
    assert.ok(lines.includes('# HELP remora_test_requests Requests \\"quoted\\" \\\\ and\\nnewline.'), r.body);
    assert.ok(lines.includes('remora_test_requests_total{cluster="a\\"b"} 3'), r.body);
    assert.ok(lines.includes('# TYPE remora_test_active gauge'));
    assert.ok(lines.includes('remora_test_active 2'));
    assert.ok(lines.includes('remora_test_duration_seconds_bucket{le="0.5",cluster="c1"} 0'), r.body);
    assert.ok(lines.includes('remora_test_duration_seconds_bucket{le="1.0",cluster="c1"} 1'), r.body);
    assert.ok(lines.includes('remora_test_duration_seconds_bucket{le="+Inf",cluster="c1"} 2'), r.body);
    assert.ok(lines.includes('remora_test_duration_seconds_count{cluster="c1"} 2'), r.body);
    assert.ok(lines.includes('remora_test_size_bytes{quantile="1.0"} 10'), r.body);
    assert.ok(lines.includes('remora_test_nan{k="nan"} NaN'), r.body);
    // Every sample belongs to the family declared before it, with a suffix its type allows.
    let family = '';
    let type = '';
    for (const l of lines) {
      if (l === '' || l === '# EOF') continue;
      const m = /^# TYPE (\S+) (\S+)$/.exec(l);
      if (m !== null) { family = m[1]!; type = m[2]!; continue; }
      if (l.startsWith('#')) continue;
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)![0];
      const allowed = type === 'counter' ? [`${family}_total`]
        : type === 'histogram' ? [`${family}_bucket`, `${family}_sum`, `${family}_count`]
          : type === 'summary' ? [family, `${family}_sum`, `${family}_count`] : [family];
      assert.ok(allowed.includes(name), `${name} in family ${family} (${type})`);
    }
  });

  it('leaves the registry intact: a classic scrape after an OpenMetrics one still has the _total names', async () => {
    const registry = sampleRegistry();
    const both = await Promise.all([metricsResponse(registry, PROMETHEUS_ACCEPT), metricsResponse(registry, 'text/plain'), openMetricsText(registry)]);
    assert.equal(both[0].body, both[2]);
    const after = await metricsResponse(registry, 'text/plain');
    assert.equal(after.body, both[1].body);
    assert.match(after.body, /^# HELP remora_test_requests_total /m);
    assert.equal(registry.contentType, PROMETHEUS_CONTENT_TYPE);
  });

  it('includes metrics registered later by anyone, and registry default labels', async () => {
    const registry = sampleRegistry();
    new Counter({ name: 'istio_requests_total', help: 'Istio requests.', registers: [registry] }).inc();
    registry.setDefaultLabels({ pod: 'p1' });
    const om = await openMetricsText(registry);
    assert.match(om, /^istio_requests_total\{pod="p1"\} 1$/m);
    const text = (await metricsResponse(registry, undefined)).body;
    assert.match(text, /^istio_requests_total\{pod="p1"\} 1$/m);
  });
});
