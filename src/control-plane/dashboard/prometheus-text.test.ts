/** Unit tests of the Prometheus text / OpenMetrics sample parser. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePrometheusText, parseValue } from './prometheus-text';

test('parses samples with labels, escapes, special values and timestamps; skips comments', () => {
  const text = [
    '# HELP istio_requests_total Total requests.',
    '# TYPE istio_requests_total counter',
    'istio_requests_total{reporter="source",source_workload="client",response_code="200"} 42',
    'istio_requests_total{reporter="destination",path="a\\"b\\\\c\\nd",} 7 1700000000000',
    'up 1',
    'x_bucket{le="+Inf"} +Inf',
    'y NaN',
    'z -Inf',
    '  spaced { a = "1" , b="2" }   3.5e2',
    'om_total{a="b"} 1 # {trace_id="abc"} 0.5 123',
    '# EOF',
    '',
  ].join('\r\n');
  const { samples, malformed } = parsePrometheusText(text);
  assert.equal(malformed, 0);
  assert.equal(samples.length, 8);
  assert.deepEqual({ ...samples[0]!.labels }, { reporter: 'source', source_workload: 'client', response_code: '200' });
  assert.equal(samples[0]!.value, 42);
  assert.equal(samples[1]!.labels['path'], 'a"b\\c\nd');
  assert.equal(samples[1]!.value, 7);
  assert.deepEqual({ ...samples[2]!.labels }, {});
  assert.equal(samples[3]!.labels['le'], '+Inf');
  assert.equal(samples[3]!.value, Infinity);
  assert.ok(Number.isNaN(samples[4]!.value));
  assert.equal(samples[5]!.value, -Infinity);
  assert.deepEqual({ ...samples[6]!.labels }, { a: '1', b: '2' });
  assert.equal(samples[6]!.value, 350);
  assert.equal(samples[7]!.name, 'om_total');
  assert.equal(samples[7]!.value, 1);
});

test('skips and counts malformed lines; the filter drops other families before their labels', () => {
  const text = 'ok 1\n{a="b"} 1\nbad{a="unterminated} 1\nbad2{a=1} 2\nnovalue\nnotnum abc\nother{x="y"} 2\n';
  const all = parsePrometheusText(text);
  assert.deepEqual(all.samples.map((s) => s.name), ['ok', 'other']);
  assert.equal(all.malformed, 5);
  const kept = parsePrometheusText(text, (n) => n === 'other');
  assert.deepEqual(kept.samples.map((s) => s.name), ['other']);
});

test('parseValue', () => {
  assert.equal(parseValue('1e3'), 1000);
  assert.equal(parseValue('-2.5'), -2.5);
  assert.equal(parseValue('+Inf'), Infinity);
  assert.equal(parseValue('x'), null);
  assert.equal(parseValue(''), null);
});
