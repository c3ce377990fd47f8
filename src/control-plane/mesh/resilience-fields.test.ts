/**
 * Validation of the issue-5 mesh fields: VirtualService `retries` and `fault`, DestinationRule
 * `trafficPolicy` (`loadBalancer.consistentHash`, `connectionPool`, `outlierDetection`, per subset),
 * and the `remora.dev/v1alpha1` RateLimitPolicy kind. Every bad value is reported at its field path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptedMesh as ok, expectMeshIssue as expectIssue, rejectedMesh as errors } from '../../../test/fakes/mesh-config-support';

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: greeter, namespace: demo}
spec:
  hosts: [greeter.demo.svc]
  ports: [{number: 50051, name: grpc, protocol: GRPC}]
  workloadSelector: {labels: {app: greeter}}
`;
const WE = (name: string, labels: string) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: demo}
spec: {address: 127.0.0.1, ports: {grpc: 15106}, labels: ${labels}}
`;

function vsRoute(extra: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: demo}
spec:
  hosts: [greeter.demo.svc]
  http:
  - route: [{destination: {host: greeter.demo.svc}}]
${extra.split('\n').filter((l) => l !== '').map((l) => `    ${l}`).join('\n')}
`;
}

function dr(trafficPolicy: string, subsetPolicy = ''): string {
  const indent = (t: string, n: number) => t.split('\n').filter((l) => l !== '').map((l) => ' '.repeat(n) + l).join('\n');
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: demo}
spec:
  host: greeter.demo.svc
${trafficPolicy === '' ? '' : `  trafficPolicy:\n${indent(trafficPolicy, 4)}\n`}  subsets:
  - name: v1
    labels: {version: v1}
${subsetPolicy === '' ? '' : `    trafficPolicy:\n${indent(subsetPolicy, 6)}\n`}`;
}

function rlp(name: string, spec: string, apiVersion = 'remora.dev/v1alpha1'): string {
  return `apiVersion: ${apiVersion}
kind: RateLimitPolicy
metadata: {name: ${name}, namespace: demo}
spec:
${spec.split('\n').filter((l) => l !== '').map((l) => `  ${l}`).join('\n')}
`;
}


// ------------------------------------------------------------------------- retries

test('retries: attempts, perTryTimeout, backoff, retryOn with gRPC names and status codes', () => {
  const m = ok(SE, vsRoute('retries: {attempts: 3, perTryTimeout: 250ms, backoff: 40ms, retryOn: "unavailable, 503,reset,502,unavailable", retryRemoteLocalities: true}'));
  assert.deepEqual(m.virtualServices[0]!.http[0]!.retries, {
    attempts: 3, perTryTimeoutMs: 250, backoffMs: 40, retryOn: ['unavailable', 'reset', 'retriable-status-codes'], retriableStatusCodes: [503, 502],
  });
});

test("retries: Istio's retryOn default when only attempts is given; absent attempts = disabled", () => {
  const m = ok(SE, vsRoute('retries: {attempts: 2}'));
  assert.deepEqual(m.virtualServices[0]!.http[0]!.retries!.retryOn, ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes']);
  assert.deepEqual(m.virtualServices[0]!.http[0]!.retries!.retriableStatusCodes, [503]);
  assert.equal(ok(SE, vsRoute('retries: {perTryTimeout: 1s}')).virtualServices[0]!.http[0]!.retries!.attempts, 0);
  assert.equal(ok(SE, vsRoute('timeout: 1s')).virtualServices[0]!.http[0]!.retries, null);
});

test('retries: bad values are rejected with their path', () => {
  const p = 'spec.http[0].retries';
  expectIssue(errors(SE, vsRoute('retries: {attempts: -1}')), `${p}.attempts`, /out of range/);
  expectIssue(errors(SE, vsRoute('retries: {attempts: 2, perTryTimeout: 0s}')), `${p}.perTryTimeout`, /at least 1ms/);
  expectIssue(errors(SE, vsRoute('retries: {attempts: 2, retryOn: "5xx,bogus"}')), `${p}.retryOn`, /unknown retry condition 'bogus'/);
  expectIssue(errors(SE, vsRoute('retries: {attempts: 2, retryOn: "retriable-4xx"}')), `${p}.retryOn`, /not supported yet/);
  expectIssue(errors(SE, vsRoute('retries: {attempts: 2, retryOn: "700"}')), `${p}.retryOn`, /not an HTTP status/);
  expectIssue(errors(SE, vsRoute('retries: {attempts: 2, retryOn: "retriable-status-codes"}')), `${p}.retryOn`, /needs at least one HTTP status/);
  expectIssue(errors(SE, vsRoute('retries: {attempts: 2, retryOn: " , "}')), `${p}.retryOn`, /names no retry condition/);
  expectIssue(errors(SE, vsRoute('retries: {attempts: 2, tries: 3}')), `${p}.tries`, /unknown field/);
});

// --------------------------------------------------------------------------- fault

test('fault: delay and abort (httpStatus or grpcStatus name) with fractional percentages', () => {
  const m = ok(SE, vsRoute('fault: {delay: {fixedDelay: 2s, percentage: {value: 12.5}}, abort: {grpcStatus: unavailable, percentage: {value: 100}}}'));
  assert.deepEqual(m.virtualServices[0]!.http[0]!.fault, {
    delay: { percent: 12.5, fixedDelayMs: 2000 }, abort: { percent: 100, httpStatus: null, grpcStatus: 14 },
  });
  const h = ok(SE, vsRoute('fault: {abort: {httpStatus: 503, percentage: {value: 0}}}'));
  assert.deepEqual(h.virtualServices[0]!.http[0]!.fault, { delay: null, abort: { percent: 0, httpStatus: 503, grpcStatus: null } });
});

test('fault: bad values are rejected with their path', () => {
  const p = 'spec.http[0].fault';
  expectIssue(errors(SE, vsRoute('fault: {}')), p, /one of delay or abort is required/);
  expectIssue(errors(SE, vsRoute('fault: {delay: {fixedDelay: 1s}}')), `${p}.delay.percentage`, /is required/);
  expectIssue(errors(SE, vsRoute('fault: {delay: {percentage: {value: 5}}}')), `${p}.delay.fixedDelay`, /is required/);
  expectIssue(errors(SE, vsRoute('fault: {delay: {fixedDelay: -1s, percentage: {value: 5}}}')), `${p}.delay.fixedDelay`, /invalid duration/);
  expectIssue(errors(SE, vsRoute('fault: {abort: {httpStatus: 503, percentage: {value: 100.5}}}')), `${p}.abort.percentage.value`, /out of range/);
  expectIssue(errors(SE, vsRoute('fault: {abort: {httpStatus: 503, percentage: {value: -1}}}')), `${p}.abort.percentage.value`, /out of range/);
  expectIssue(errors(SE, vsRoute('fault: {abort: {httpStatus: 99, percentage: {value: 1}}}')), `${p}.abort.httpStatus`, /out of range/);
  expectIssue(errors(SE, vsRoute('fault: {abort: {grpcStatus: NOPE, percentage: {value: 1}}}')), `${p}.abort.grpcStatus`, /unknown gRPC status 'NOPE'/);
  expectIssue(errors(SE, vsRoute('fault: {abort: {grpcStatus: OK, percentage: {value: 1}}}')), `${p}.abort.grpcStatus`, /OK is not a fault/);
  expectIssue(errors(SE, vsRoute('fault: {abort: {httpStatus: 500, grpcStatus: INTERNAL, percentage: {value: 1}}}')), `${p}.abort`, /only one of httpStatus or grpcStatus/);
  expectIssue(errors(SE, vsRoute('fault: {abort: {http2Error: x, percentage: {value: 1}}}')), `${p}.abort.http2Error`, /not supported yet/);
});

test('retries and fault need a route action (not redirect/directResponse)', () => {
  const doc = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: demo}
spec:
  hosts: [greeter.demo.svc]
  http:
  - directResponse: {status: 200}
    retries: {attempts: 1}
`;
  expectIssue(errors(SE, doc), 'spec.http[0]', /retries requires route/);
});

// ------------------------------------------------------------------ trafficPolicy

test('trafficPolicy: consistentHash keys, connectionPool, outlierDetection; subset policy merges per section', () => {
  const m = ok(SE, dr(`
loadBalancer: {consistentHash: {httpCookie: {name: session}, ringHash: {minimumRingSize: 4096}}}
connectionPool:
  tcp: {maxConnections: 10, connectTimeout: 500ms}
  http: {http1MaxPendingRequests: 5, http2MaxRequests: 20, maxRequestsPerConnection: 7, maxRetries: 0, idleTimeout: 1m}
outlierDetection: {consecutive5xxErrors: 0, consecutiveGatewayErrors: 2, consecutiveLocalOriginFailures: 3, splitExternalLocalOriginErrors: true, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100, minHealthPercent: 40}
`, 'loadBalancer: {consistentHash: {useSourceIp: true}}'));
  const rule = m.destinationRules[0]!;
  assert.deepEqual(rule.trafficPolicy!.loadBalancer, { kind: 'consistentHash', hash: { key: { kind: 'cookie', name: 'session' }, minimumRingSize: 4096 } });
  assert.deepEqual(rule.trafficPolicy!.connectionPool, {
    tcp: { maxConnections: 10, connectTimeoutMs: 500 },
    http: { http1MaxPendingRequests: 5, http2MaxRequests: 20, maxRequestsPerConnection: 7, maxRetries: 0, idleTimeoutMs: 60_000 },
  });
  assert.deepEqual(rule.trafficPolicy!.outlierDetection, {
    consecutive5xxErrors: 0, consecutiveGatewayErrors: 2, consecutiveLocalOriginFailures: 3, splitExternalLocalOriginErrors: true,
    intervalMs: 1000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100, minHealthPercent: 40,
  });
  assert.deepEqual(rule.subsets[0]!.trafficPolicy, {
    loadBalancer: { kind: 'consistentHash', hash: { key: { kind: 'sourceIp' }, minimumRingSize: null } }, connectionPool: null, outlierDetection: null,
  });
  const h = ok(SE, dr('loadBalancer: {consistentHash: {httpHeaderName: X-User, minimumRingSize: 64}}'));
  assert.deepEqual(h.destinationRules[0]!.trafficPolicy!.loadBalancer, { kind: 'consistentHash', hash: { key: { kind: 'header', name: 'x-user' }, minimumRingSize: 64 } });
  const q = ok(SE, dr('loadBalancer: {consistentHash: {httpQueryParameterName: user}}'));
  assert.deepEqual(q.destinationRules[0]!.trafficPolicy!.loadBalancer, { kind: 'consistentHash', hash: { key: { kind: 'queryParameter', name: 'user' }, minimumRingSize: null } });
});

test('trafficPolicy: bad values are rejected with their path', () => {
  const p = 'spec.trafficPolicy';
  expectIssue(errors(SE, dr('loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}')), `${p}.loadBalancer`, /only one of simple and consistentHash/);
  expectIssue(errors(SE, dr('loadBalancer: {consistentHash: {}}')), `${p}.loadBalancer.consistentHash`, /one of httpHeaderName/);
  expectIssue(errors(SE, dr('loadBalancer: {consistentHash: {httpHeaderName: a, useSourceIp: true}}')), `${p}.loadBalancer.consistentHash`, /only one of/);
  expectIssue(errors(SE, dr('loadBalancer: {consistentHash: {httpHeaderName: "bad header"}}')), `${p}.loadBalancer.consistentHash.httpHeaderName`, /invalid header name/);
  expectIssue(errors(SE, dr('loadBalancer: {consistentHash: {useSourceIp: true, minimumRingSize: 0}}')), `${p}.loadBalancer.consistentHash.minimumRingSize`, /out of range/);
  expectIssue(errors(SE, dr('loadBalancer: {consistentHash: {httpCookie: {name: s, ttl: 10s}}}')), `${p}.loadBalancer.consistentHash.httpCookie.ttl`, /not supported yet/);
  expectIssue(errors(SE, dr('loadBalancer: {consistentHash: {maglev: {}}}')), `${p}.loadBalancer.consistentHash.maglev`, /not supported yet/);
  expectIssue(errors(SE, dr('connectionPool: {tcp: {maxConnections: 0}}')), `${p}.connectionPool.tcp.maxConnections`, /out of range/);
  expectIssue(errors(SE, dr('connectionPool: {tcp: {connectTimeout: 0s}}')), `${p}.connectionPool.tcp.connectTimeout`, /at least 1ms/);
  expectIssue(errors(SE, dr('connectionPool: {http: {http2MaxRequests: -5}}')), `${p}.connectionPool.http.http2MaxRequests`, /out of range/);
  expectIssue(errors(SE, dr('connectionPool: {http: {http1MaxPendingRequests: 0}}')), `${p}.connectionPool.http.http1MaxPendingRequests`, /out of range/);
  expectIssue(errors(SE, dr('connectionPool: {http: {maxRetries: -1}}')), `${p}.connectionPool.http.maxRetries`, /out of range/);
  expectIssue(errors(SE, dr('connectionPool: {http: {h2UpgradePolicy: UPGRADE}}')), `${p}.connectionPool.http.h2UpgradePolicy`, /not supported yet/);
  expectIssue(errors(SE, dr('connectionPool: {tcp: {maxConnectionz: 1}}')), `${p}.connectionPool.tcp.maxConnectionz`, /unknown field/);
  expectIssue(errors(SE, dr('outlierDetection: {consecutive5xxErrors: -1}')), `${p}.outlierDetection.consecutive5xxErrors`, /out of range/);
  expectIssue(errors(SE, dr('outlierDetection: {maxEjectionPercent: 101}')), `${p}.outlierDetection.maxEjectionPercent`, /out of range/);
  expectIssue(errors(SE, dr('outlierDetection: {minHealthPercent: -1}')), `${p}.outlierDetection.minHealthPercent`, /out of range/);
  expectIssue(errors(SE, dr('outlierDetection: {interval: 0ms}')), `${p}.outlierDetection.interval`, /at least 1ms/);
  expectIssue(errors(SE, dr('outlierDetection: {consecutiveLocalOriginFailures: 2}')), `${p}.outlierDetection.consecutiveLocalOriginFailures`, /requires splitExternalLocalOriginErrors/);
  expectIssue(errors(SE, dr('tls: {mode: ISTIO_MUTUAL}')), `${p}.tls`, /not supported yet/);
  expectIssue(errors(SE, dr('', 'connectionPool: {tcp: {maxConnections: 0}}')), 'spec.subsets[0].trafficPolicy.connectionPool.tcp.maxConnections', /out of range/);
});

// ----------------------------------------------------------------- RateLimitPolicy

const RLP_FULL = `workloadSelector: {matchLabels: {app: greeter}}
local: {tokenBucket: {maxTokens: 10, tokensPerFill: 5, fillInterval: 100ms}}
global:
  domain: greeter
  redis: {address: "127.0.0.1:6379", timeout: 20ms}
  failureMode: DENY
  descriptors:
  - entries: [{key: caller, fromHeader: X-Caller}, {remoteAddress: true}, {key: plan, value: gold}]
    limit: {requestsPerUnit: 100, unit: MINUTE}
`;

test('RateLimitPolicy: local token bucket and global descriptors', () => {
  const m = ok(SE, rlp('greeter', RLP_FULL));
  assert.deepEqual(m.rateLimitPolicies![0], {
    meta: { kind: 'RateLimitPolicy', name: 'greeter', namespace: 'demo', file: 'mesh.yaml', index: 1 },
    selector: { app: 'greeter' },
    local: { maxTokens: 10, tokensPerFill: 5, fillIntervalMs: 100, descriptors: [] },
    global: {
      domain: 'greeter', redisAddress: '127.0.0.1:6379', redisTimeoutMs: 20, failureModeDeny: true,
      descriptors: [{
        entries: [{ kind: 'header', key: 'caller', header: 'x-caller' }, { kind: 'remoteAddress', key: 'remote_address' }, { kind: 'value', key: 'plan', value: 'gold' }],
        requestsPerUnit: 100, unit: 'MINUTE',
      }],
    },
  });
  assert.ok(Object.isFrozen(m.rateLimitPolicies![0]!.global!.descriptors[0]!.entries));
  // Only a local limit, no selector (every workload of the namespace), default tokensPerFill 1.
  const l = ok(SE, rlp('all', 'local: {tokenBucket: {maxTokens: 1, fillInterval: 1s}}'));
  assert.deepEqual(l.rateLimitPolicies![0]!.local, { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 1000, descriptors: [] });
  assert.deepEqual(l.rateLimitPolicies![0]!.selector, {});
});

test('RateLimitPolicy: bad values are rejected with their path', () => {
  const bad = (spec: string) => errors(SE, rlp('p', spec));
  expectIssue(errors(SE, rlp('p', 'local: {tokenBucket: {maxTokens: 1, fillInterval: 1s}}', 'networking.istio.io/v1')), 'apiVersion', /expected one of remora.dev\/v1alpha1/);
  expectIssue(bad('workloadSelector: {matchLabels: {app: greeter}}'), 'spec', /at least one of local or global/);
  expectIssue(bad('local: {}'), 'spec.local.tokenBucket', /is required/);
  expectIssue(bad('local: {tokenBucket: {maxTokens: 0, fillInterval: 1s}}'), 'spec.local.tokenBucket.maxTokens', /out of range/);
  expectIssue(bad('local: {tokenBucket: {maxTokens: 5, tokensPerFill: -1, fillInterval: 1s}}'), 'spec.local.tokenBucket.tokensPerFill', /out of range/);
  expectIssue(bad('local: {tokenBucket: {maxTokens: 5}}'), 'spec.local.tokenBucket.fillInterval', /is required/);
  expectIssue(bad('local: {tokenBucket: {maxTokens: 5, fillInterval: 10ms}}'), 'spec.local.tokenBucket.fillInterval', /at least 50ms/);
  const g = (global: string) => bad(`global:\n${global.split('\n').filter((x) => x !== '').map((x) => `  ${x}`).join('\n')}`);
  const D = 'descriptors: [{entries: [{key: a, value: b}], limit: {requestsPerUnit: 1, unit: SECOND}}]';
  expectIssue(g(`redis: {address: "r:6379"}\n${D}`), 'spec.global.domain', /is required/);
  expectIssue(g(`domain: d\n${D}`), 'spec.global.redis', /is required/);
  expectIssue(g(`domain: d\nredis: {address: nope}\n${D}`), 'spec.global.redis.address', /expected host:port/);
  expectIssue(g(`domain: d\nredis: {address: "r:70000"}\n${D}`), 'spec.global.redis.address', /out of range/);
  expectIssue(g(`domain: d\nredis: {address: "r:1", timeout: 11s}\n${D}`), 'spec.global.redis.timeout', /at most 10s/);
  expectIssue(g(`domain: d\nredis: {address: "r:1"}\nfailureMode: MAYBE\n${D}`), 'spec.global.failureMode', /expected ALLOW/);
  expectIssue(g('domain: d\nredis: {address: "r:1"}'), 'spec.global.descriptors', /is required/);
  expectIssue(g('domain: d\nredis: {address: "r:1"}\ndescriptors: []'), 'spec.global.descriptors', /at least one descriptor/);
  expectIssue(g('domain: d\nredis: {address: "r:1"}\ndescriptors: [{entries: [], limit: {requestsPerUnit: 1, unit: SECOND}}]'), 'spec.global.descriptors[0].entries', /at least one entry/);
  expectIssue(g('domain: d\nredis: {address: "r:1"}\ndescriptors: [{entries: [{key: a}], limit: {requestsPerUnit: 1, unit: SECOND}}]'), 'spec.global.descriptors[0].entries[0]', /one of fromHeader, value or remoteAddress/);
  expectIssue(g('domain: d\nredis: {address: "r:1"}\ndescriptors: [{entries: [{key: a, value: b, fromHeader: c}], limit: {requestsPerUnit: 1, unit: SECOND}}]'), 'spec.global.descriptors[0].entries[0]', /only one of/);
  expectIssue(g('domain: d\nredis: {address: "r:1"}\ndescriptors: [{entries: [{key: a, remoteAddress: true}], limit: {requestsPerUnit: 1, unit: SECOND}}]'), 'spec.global.descriptors[0].entries[0].key', /must not be set/);
  expectIssue(g('domain: d\nredis: {address: "r:1"}\ndescriptors: [{entries: [{key: a, value: b}], limit: {requestsPerUnit: 0, unit: SECOND}}]'), 'spec.global.descriptors[0].limit.requestsPerUnit', /out of range/);
  expectIssue(g('domain: d\nredis: {address: "r:1"}\ndescriptors: [{entries: [{key: a, value: b}], limit: {requestsPerUnit: 1, unit: DAY}}]'), 'spec.global.descriptors[0].limit.unit', /unknown unit 'DAY'/);
  expectIssue(g('domain: d\nredis: {address: "r:1"}\ndescriptors: [{entries: [{key: a, value: b}]}]'), 'spec.global.descriptors[0].limit', /is required/);
});

test('RateLimitPolicy: two policies selecting the same WorkloadEntry are an error naming both', () => {
  const issues = errors(SE, WE('greeter-v1', '{app: greeter, version: v1}'),
    rlp('first', 'workloadSelector: {matchLabels: {app: greeter}}\nlocal: {tokenBucket: {maxTokens: 1, fillInterval: 1s}}'),
    rlp('second', 'workloadSelector: {matchLabels: {version: v1}}\nlocal: {tokenBucket: {maxTokens: 1, fillInterval: 1s}}'));
  expectIssue(issues, 'spec.workloadSelector', /selects WorkloadEntry demo\/greeter-v1, which RateLimitPolicy demo\/first already selects/);
  assert.equal(issues[0]!.name, 'second');
  // Disjoint selectors are fine.
  ok(SE, WE('greeter-v1', '{app: greeter, version: v1}'), WE('greeter-v2', '{app: greeter, version: v2}'),
    rlp('first', 'workloadSelector: {matchLabels: {version: v1}}\nlocal: {tokenBucket: {maxTokens: 1, fillInterval: 1s}}'),
    rlp('second', 'workloadSelector: {matchLabels: {version: v2}}\nlocal: {tokenBucket: {maxTokens: 1, fillInterval: 1s}}'));
});
