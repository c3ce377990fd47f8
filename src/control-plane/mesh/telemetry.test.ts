/**
 * Telemetry and the remora.dev MeshConfig document: parsing into the model, the built-in providers,
 * and every rejection with its document and field path (unknown provider, wrong provider kind,
 * percentage range, unknown and unsupported fields, duplicate scopes, two MeshConfigs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMeshIssue, loadMeshConfig, type MeshConfigIssue } from './index';

function load(...docs: string[]): ReturnType<typeof loadMeshConfig> {
  return loadMeshConfig(new Map([['mesh.yaml', docs.join('---\n')]]));
}

function issues(...docs: string[]): MeshConfigIssue[] {
  const r = load(...docs);
  assert.equal(r.ok, false, 'expected validation errors');
  return r.ok ? [] : [...r.errors];
}

function has(list: readonly MeshConfigIssue[], kind: string, path: string, text: string): void {
  assert.ok(list.some((i) => i.kind === kind && i.path === path && i.message.includes(text)), `no ${kind} issue at ${path} with "${text}" in:\n${list.map(formatMeshIssue).join('\n')}`);
}

export const MESH_CONFIG = `apiVersion: remora.dev/v1alpha1
kind: MeshConfig
metadata: {name: mesh}
spec:
  extensionProviders:
  - name: otel
    opentelemetry: {service: collector.obs.svc, port: 4317, grpc: {timeout: 2s}}
  - name: otel-http
    opentelemetry: {service: 10.0.0.9, port: 4318, http: {path: v1/traces, timeout: 3s}}
  - name: file
    envoyFileAccessLog: {path: /tmp/access.log}
  - name: json
    remoraAccessLog:
      path: /tmp/json.log
      successSamplePercent: 12.5
      requestHeaders: [X-User]
      mask: {headers: [X-Secret], queryParameters: [pin], jsonFields: [ssn], replaceDefaults: true}
  - name: prom
    prometheus: {}
  defaultProviders: {tracing: [otel], accessLogging: [json]}
`;

function tel(name: string, spec: string, namespace = 'demo', apiVersion = 'telemetry.istio.io/v1'): string {
  return `apiVersion: ${apiVersion}\nkind: Telemetry\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n${spec}`;
}

const WE = (name: string, labels: string): string => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: demo}
spec: {address: 10.0.0.1, labels: ${labels}}
`;

test('MeshConfig: providers of every kind, built-ins kept, defaults', () => {
  const r = load(MESH_CONFIG);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const p = r.config.telemetryProviders!;
  assert.deepEqual([...p.byName.keys()].sort(), ['envoy', 'file', 'json', 'otel', 'otel-http', 'prom', 'prometheus']);
  assert.deepEqual(p.byName.get('otel'), { kind: 'opentelemetry', name: 'otel', service: 'collector.obs.svc', port: 4317, grpcTimeoutMs: 2000, http: null });
  assert.deepEqual(p.byName.get('otel-http'), {
    kind: 'opentelemetry', name: 'otel-http', service: '10.0.0.9', port: 4318, grpcTimeoutMs: null,
    http: { path: '/v1/traces', timeoutMs: 3000 },
  });
  assert.deepEqual(p.byName.get('json'), {
    kind: 'remoraAccessLog', name: 'json', path: '/tmp/json.log', successSamplePercent: 12.5, requestHeaders: ['x-user'],
    mask: { headers: ['x-secret'], queryParameters: ['pin'], jsonFields: ['ssn'], replaceDefaults: true },
  });
  assert.deepEqual(p.byName.get('envoy'), { kind: 'envoyFileAccessLog', name: 'envoy', path: '/dev/stdout' });
  assert.deepEqual(p.defaultProviders, { tracing: ['otel'], accessLogging: ['json'], metrics: ['prometheus'] });
  assert.deepEqual(r.config.telemetries, []);
});

test('no telemetry documents: the MeshConfig has neither field (translation unchanged)', () => {
  const r = load(WE('a', '{app: a}'));
  assert.ok(r.ok);
  assert.equal(r.config.telemetries, undefined);
  assert.equal(r.config.telemetryProviders, undefined);
});

test('Telemetry: tracing, accessLogging and metrics rules parse with Istio names', () => {
  const r = load(MESH_CONFIG, tel('t', `  selector: {matchLabels: {app: a}}
  tracing:
  - providers: [{name: otel}]
    match: {mode: CLIENT}
    randomSamplingPercentage: 25.5
    disableSpanReporting: false
    customTags:
      zone: {literal: {value: z1}}
      user: {header: {name: X-User, defaultValue: anon}}
  accessLogging:
  - providers: [{name: file}]
    filter: {expression: "response.code >= 400"}
    match: {mode: SERVER}
  - disabled: true
  metrics:
  - providers: [{name: prom}]
    overrides: [{match: {metric: ALL_METRICS, mode: CLIENT}, disabled: true}]
`, 'demo', 'telemetry.istio.io/v1alpha1'));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const t = r.config.telemetries![0]!;
  assert.deepEqual(t.selector, { app: 'a' });
  assert.deepEqual(t.tracing, [{
    providers: ['otel'], mode: 'CLIENT', randomSamplingPercentage: 25.5, disableSpanReporting: false,
    customTags: [
      { tag: 'user', kind: 'header', name: 'x-user', defaultValue: 'anon' },
      { tag: 'zone', kind: 'literal', value: 'z1' },
    ],
  }]);
  assert.deepEqual(t.accessLogging, [
    { providers: ['file'], mode: 'SERVER', disabled: null, filter: 'response.code >= 400' },
    { providers: [], mode: 'CLIENT_AND_SERVER', disabled: true, filter: null },
  ]);
  assert.deepEqual(t.metrics, [{ providers: ['prom'], overrides: [{ mode: 'CLIENT', disabled: true }] }]);
  assert.ok(Object.isFrozen(t.tracing[0]));
});

test('Telemetry without MeshConfig may use the built-ins (envoy, prometheus)', () => {
  const r = load(tel('t', '  accessLogging: [{providers: [{name: envoy}]}]\n  metrics: [{providers: [{name: prometheus}]}]\n'));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
});

test('provider references: unknown names and wrong kinds are rejected with the field path', () => {
  const list = issues(MESH_CONFIG, tel('t', `  tracing: [{providers: [{name: nope}]}]
  accessLogging: [{providers: [{name: otel}]}]
  metrics: [{providers: [{name: json}]}]
`));
  has(list, 'Telemetry', 'spec.tracing[0].providers[0].name', "unknown tracing provider 'nope'");
  has(list, 'Telemetry', 'spec.tracing[0].providers[0].name', 'tracing providers: otel, otel-http');
  has(list, 'Telemetry', 'spec.accessLogging[0].providers[0].name', "provider 'otel' is a opentelemetry provider and cannot be used for accessLogging");
  has(list, 'Telemetry', 'spec.metrics[0].providers[0].name', 'cannot be used for metrics');
  const noMesh = issues(tel('t', '  tracing: [{providers: [{name: otel}]}]\n'));
  has(noMesh, 'Telemetry', 'spec.tracing[0].providers[0].name', 'no MeshConfig document defines it');
  has(issues(MESH_CONFIG.replace('tracing: [otel]', 'tracing: [file]')), 'MeshConfig', 'spec.defaultProviders.tracing[0]', "provider 'file'");
});

test('values: percentages in 0..100, modes, custom tags, unknown and unsupported fields', () => {
  const list = issues(MESH_CONFIG, tel('t', `  targetRefs: [{kind: Gateway, name: g}]
  tracing:
  - randomSamplingPercentage: 101
    match: {mode: BOTH}
    customTags: {a: {literal: {value: x}, header: {name: y}}, b: {literal: {}}, c: {environment: {name: POD}}}
    useRequestIdForTraceSampling: true
    color: red
  accessLogging:
  - filter: {}
    disabled: "yes"
  metrics:
  - overrides:
    - {match: {metric: REQUEST_COUNT}, disabled: true}
    - {match: {metric: FOO}}
    - {match: {customMetric: my_metric}}
    - {tagOverrides: {request_protocol: {operation: REMOVE}}}
    reportingInterval: 5s
`));
  has(list, 'Telemetry', 'spec.targetRefs', 'not supported yet');
  has(list, 'Telemetry', 'spec.tracing[0].randomSamplingPercentage', '101 is out of range (0..100)');
  has(list, 'Telemetry', 'spec.tracing[0].match.mode', "unknown mode 'BOTH'");
  has(list, 'Telemetry', 'spec.tracing[0].customTags.a', 'exactly one of literal, environment or header');
  has(list, 'Telemetry', 'spec.tracing[0].customTags.b.literal.value', 'is required');
  has(list, 'Telemetry', 'spec.tracing[0].customTags.c.environment', 'environment tags are not supported');
  has(list, 'Telemetry', 'spec.tracing[0].useRequestIdForTraceSampling', 'not supported yet');
  has(list, 'Telemetry', 'spec.tracing[0].color', "unknown field 'color'");
  has(list, 'Telemetry', 'spec.accessLogging[0].filter.expression', 'is required');
  has(list, 'Telemetry', 'spec.accessLogging[0].disabled', 'expected a boolean');
  has(list, 'Telemetry', 'spec.metrics[0].overrides[0].match.metric', 'only ALL_METRICS');
  has(list, 'Telemetry', 'spec.metrics[0].overrides[1].match.metric', "unknown metric 'FOO'");
  has(list, 'Telemetry', 'spec.metrics[0].overrides[2].match.customMetric', 'not supported yet');
  has(list, 'Telemetry', 'spec.metrics[0].overrides[3].tagOverrides', 'tagOverrides is not supported');
  has(list, 'Telemetry', 'spec.metrics[0].reportingInterval', 'not supported yet');
  assert.ok(list.every((i) => i.line !== null), 'every issue has a position');
});

test('MeshConfig: provider shape errors and two MeshConfig documents', () => {
  const bad = `apiVersion: remora.dev/v1alpha1
kind: MeshConfig
metadata: {name: bad}
spec:
  extensionProviders:
  - {name: a, opentelemetry: {service: "http://x", port: 70000}}
  - {name: b}
  - {name: c, prometheus: {}, envoyFileAccessLog: {path: /x}}
  - {name: d, zipkin: {service: z, port: 9411}}
  - {name: e, remoraAccessLog: {successSamplePercent: -1}}
  - {name: e, prometheus: {}}
  - {name: f, opentelemetry: {service: x, port: 1, grpc: {}, http: {}}}
  - {name: g, opentelemetry: {service: x, port: 1, http: {headers: [{name: a, value: b}]}}}
`;
  const list = issues(bad);
  has(list, 'MeshConfig', 'spec.extensionProviders[0].opentelemetry.service', 'expected a host name or IP');
  has(list, 'MeshConfig', 'spec.extensionProviders[0].opentelemetry.port', 'out of range');
  has(list, 'MeshConfig', 'spec.extensionProviders[1]', 'exactly one of opentelemetry, envoyFileAccessLog, remoraAccessLog, prometheus is required');
  has(list, 'MeshConfig', 'spec.extensionProviders[2]', 'exactly one provider kind');
  has(list, 'MeshConfig', 'spec.extensionProviders[3].zipkin', 'not supported yet');
  has(list, 'MeshConfig', 'spec.extensionProviders[4].remoraAccessLog.path', 'is required');
  has(list, 'MeshConfig', 'spec.extensionProviders[4].remoraAccessLog.successSamplePercent', 'out of range');
  has(list, 'MeshConfig', 'spec.extensionProviders[5].name', "duplicate provider name 'e'");
  has(list, 'MeshConfig', 'spec.extensionProviders[6].opentelemetry.grpc', 'exclusive');
  has(list, 'MeshConfig', 'spec.extensionProviders[7].opentelemetry.http.headers', 'not supported yet');
  const two = issues(MESH_CONFIG, MESH_CONFIG.replace('name: mesh}', 'name: other}'));
  has(two, 'MeshConfig', 'metadata.name', 'a mesh has one MeshConfig');
  has(issues(MESH_CONFIG.replace('remora.dev/v1alpha1', 'telemetry.istio.io/v1')), 'MeshConfig', 'apiVersion', 'remora.dev/v1alpha1');
});

test('scopes: one namespace-wide Telemetry per namespace, one Telemetry per workload', () => {
  const list = issues(
    WE('a1', '{app: a, version: v1}'),
    tel('ns1', '  tracing: [{randomSamplingPercentage: 1}]\n'),
    tel('ns2', '  tracing: [{randomSamplingPercentage: 2}]\n'),
    tel('w1', '  selector: {matchLabels: {app: a}}\n  tracing: [{randomSamplingPercentage: 1}]\n'),
    tel('w2', '  selector: {matchLabels: {version: v1}}\n  tracing: [{randomSamplingPercentage: 1}]\n'),
    tel('empty', '  selector: {matchLabels: {}}\n'),
  );
  has(list, 'Telemetry', 'spec', 'already has the namespace-wide Telemetry ns1');
  has(list, 'Telemetry', 'spec.selector', 'selects WorkloadEntry demo/a1, which Telemetry demo/w1 already selects');
  has(list, 'Telemetry', 'spec.selector.matchLabels', 'must not be empty');
  // Different namespaces and disjoint selectors are fine.
  const r = load(WE('a1', '{app: a}'), tel('ns1', '  tracing: []\n'), tel('ns1', '  tracing: []\n', 'other'), tel('w1', '  selector: {matchLabels: {app: b}}\n'), tel('w2', '  selector: {matchLabels: {app: a}}\n'));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
});
