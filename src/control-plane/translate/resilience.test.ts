/**
 * Translation of the resilience fields beyond the golden files: Remora's default retry policy (sidecars
 * only), `attempts: 0`, fault filter only where a route injects faults, rate-limit filters only on
 * the inbound HCM of the selected workload, and the outlier/connection-pool edge cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProtoObject } from '../../config/compile/proto-json';
import { TYPE_URL, type NodeIdentity } from '../cache/resources';
import { formatMeshIssue, loadMeshConfig, type MeshConfig } from '../mesh';
import { translateForNode } from './translate-for-node';

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: greeter, namespace: demo}
spec:
  hosts: [greeter.demo.svc]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: greeter}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: greeter-v1, namespace: demo}
spec: {address: 127.0.0.1, ports: {http: 15106}, labels: {app: greeter}}
`;

function mesh(...docs: string[]): MeshConfig {
  const r = loadMeshConfig(new Map([['m.yaml', [SE, ...docs].join('---\n')]]));
  if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
  return r.config;
}

const CLIENT: NodeIdentity = { id: 'c', cluster: '', metadata: { WORKLOAD_NAME: 'client', NAMESPACE: 'demo' } };
const SERVER: NodeIdentity = { id: 's', cluster: '', metadata: { WORKLOAD_NAME: 'greeter-v1', NAMESPACE: 'demo', APP_PORTS: [8081] } };
const PROXYLESS: NodeIdentity = { id: 'p', cluster: '', metadata: { PROXYLESS: true } };

function get(m: MeshConfig, n: NodeIdentity, type: keyof typeof TYPE_URL, name: string): ProtoObject {
  const r = translateForNode(m, n).byType.get(TYPE_URL[type])!.get(name);
  assert.ok(r !== undefined, `${type} ${name} missing`);
  return r;
}

function httpFilterNames(listener: ProtoObject): string[] {
  const hcm = (listener['filter_chains'] as ProtoObject[] | undefined)?.[0]?.['filters'] as ProtoObject[] | undefined;
  const tc = hcm !== undefined ? hcm[0]!['typed_config'] as ProtoObject : (listener['api_listener'] as ProtoObject)['api_listener'] as ProtoObject;
  return (tc['http_filters'] as ProtoObject[]).map((f) => f['name'] as string).filter((n) => n !== 'istio.stats');
}

function routeAction(m: MeshConfig, n: NodeIdentity, rc: string, i = 0): ProtoObject {
  return ((get(m, n, 'ROUTE', rc)['virtual_hosts'] as ProtoObject[])[0]!['routes'] as ProtoObject[])[i]!['route'] as ProtoObject;
}

const vs = (extra: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: demo}
spec:
  hosts: [greeter.demo.svc]
  http:
  - route: [{destination: {host: greeter.demo.svc}}]
    ${extra}
`;

test('retries: default policy for sidecars only; attempts 0 disables; explicit policy reaches proxyless', () => {
  const none = mesh();
  assert.deepEqual(routeAction(none, CLIENT, 'outbound')['retry_policy'], { retry_on: 'connect-failure,refused-stream', num_retries: { value: 2 } });
  assert.equal(routeAction(none, PROXYLESS, 'greeter.demo.svc:8080')['retry_policy'], undefined);
  const off = mesh(vs('retries: {attempts: 0}'));
  assert.equal(routeAction(off, CLIENT, 'outbound')['retry_policy'], undefined);
  const on = mesh(vs('retries: {attempts: 4, retryOn: "unavailable"}'));
  assert.deepEqual(routeAction(on, PROXYLESS, 'greeter.demo.svc:8080')['retry_policy'], { retry_on: 'unavailable', num_retries: { value: 4 } });
  // No retry_back_off unless `backoff` is given.
  assert.equal((routeAction(on, CLIENT, 'outbound')['retry_policy'] as ProtoObject)['retry_back_off'], undefined);
});

test('fault: the fault filter is added before the router only when a route injects faults', () => {
  assert.deepEqual(httpFilterNames(get(mesh(), CLIENT, 'LISTENER', 'outbound')), ['envoy.filters.http.router']);
  const m = mesh(vs('fault: {abort: {httpStatus: 418, percentage: {value: 100}}}'));
  assert.deepEqual(httpFilterNames(get(m, CLIENT, 'LISTENER', 'outbound')), ['envoy.filters.http.fault', 'envoy.filters.http.router']);
  assert.deepEqual(httpFilterNames(get(m, PROXYLESS, 'LISTENER', 'greeter.demo.svc:8080')), ['envoy.filters.http.fault', 'envoy.filters.http.router']);
  const route = ((get(m, CLIENT, 'ROUTE', 'outbound')['virtual_hosts'] as ProtoObject[])[0]!['routes'] as ProtoObject[])[0]!;
  assert.deepEqual((route['typed_per_filter_config'] as ProtoObject)['envoy.filters.http.fault'], {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
    abort: { http_status: 418, percentage: { numerator: 100, denominator: 'HUNDRED' } },
  });
  // The inbound listener never gets it.
  assert.deepEqual(httpFilterNames(get(m, SERVER, 'LISTENER', 'inbound')), ['envoy.filters.http.router']);
});

test('RateLimitPolicy: filters on the selected workload\'s inbound HCM only, local before global', () => {
  const policy = `apiVersion: remora.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: rl, namespace: demo}
spec:
  workloadSelector: {matchLabels: {app: greeter}}
  local: {tokenBucket: {maxTokens: 3, fillInterval: 1s}}
  global: {domain: d, redis: {address: "127.0.0.1:6379"}, descriptors: [{entries: [{remoteAddress: true}], limit: {requestsPerUnit: 9, unit: HOUR}}]}
`;
  const m = mesh(policy);
  assert.deepEqual(httpFilterNames(get(m, SERVER, 'LISTENER', 'inbound')),
    ['envoy.filters.http.local_ratelimit', 'remora.filters.http.global_ratelimit', 'envoy.filters.http.router']);
  assert.deepEqual(httpFilterNames(get(m, CLIENT, 'LISTENER', 'outbound')), ['envoy.filters.http.router']);
  const other = mesh(policy.replace('{app: greeter}', '{app: other}'));
  assert.deepEqual(httpFilterNames(get(other, SERVER, 'LISTENER', 'inbound')), ['envoy.filters.http.router']);
  const deny = mesh(policy.replace('domain: d,', 'domain: d, failureMode: DENY,'));
  const g = (((get(deny, SERVER, 'LISTENER', 'inbound')['filter_chains'] as ProtoObject[])[0]!['filters'] as ProtoObject[])[0]!['typed_config'] as ProtoObject)['http_filters'] as ProtoObject[];
  assert.equal((g.find((f) => f['name'] === 'envoy.filters.http.ratelimit' || (f['typed_config'] as ProtoObject)['failure_mode_deny'] !== undefined)!['typed_config'] as ProtoObject)['failure_mode_deny'], true);
});

test('clusters: 0 disables a consecutive detector, long ejections raise max_ejection_time, maxRetries replaces the budget, HTTP/1 pool options', () => {
  const m = mesh(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: demo}
spec:
  host: greeter.demo.svc
  trafficPolicy:
    connectionPool: {http: {http2MaxRequests: 9, maxRetries: 4, idleTimeout: 5s}}
    outlierDetection: {consecutive5xxErrors: 0, baseEjectionTime: 10m}
    loadBalancer: {simple: LEAST_REQUEST}
`);
  const c = get(m, CLIENT, 'CLUSTER', 'outbound|8080||greeter.demo.svc');
  assert.equal(c['lb_policy'], 'LEAST_REQUEST');
  assert.deepEqual(c['circuit_breakers'], { thresholds: [{ max_requests: { value: 9 }, max_retries: { value: 4 } }] });
  assert.deepEqual(c['outlier_detection'], {
    enforcing_success_rate: { value: 0 }, enforcing_consecutive_5xx: { value: 0 },
    base_ejection_time: { seconds: 600, nanos: 0 }, max_ejection_time: { seconds: 600, nanos: 0 },
  });
  assert.deepEqual(c['common_lb_config'], { healthy_panic_threshold: { value: 0 } });
  assert.deepEqual((c['typed_extension_protocol_options'] as ProtoObject)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'], {
    '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    explicit_http_config: { http_protocol_options: {} }, common_http_protocol_options: { idle_timeout: { seconds: 5, nanos: 0 } },
  });
  // Proxyless keeps ROUND_ROBIN for simple policies.
  assert.equal(get(m, PROXYLESS, 'CLUSTER', 'outbound|8080||greeter.demo.svc')['lb_policy'], undefined);
});
