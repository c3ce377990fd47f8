import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as protobuf from 'protobufjs';
import YAML from 'yaml';
import { loadEnvoyProtos } from '../../xds/protos';
import type { ValidationResult } from '../../core/errors';
import type { BootstrapModel, ClusterModel } from '../model';
import { compileBootstrap } from './bootstrap';
import { compileCluster, DEFAULT_CIRCUIT_BREAKERS, DEFAULT_OUTLIER_DETECTION } from './cluster';
import { expectConfigError, parseAndCompile } from '../../../test/fakes/compile-support';

let root: protobuf.Root;
before(() => {
  root = loadEnvoyProtos();
});

/** Parses and compiles one Cluster document through the real entry point (as CDS does). */
function compileC(doc: unknown): ValidationResult<ClusterModel> {
  return parseAndCompile(root, 'envoy.config.cluster.v3.Cluster', doc, compileCluster);
}

const expectError = expectConfigError;

function ok<T>(r: ValidationResult<T>): T {
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.value;
}

/** A minimal valid STATIC cluster plus `extra` fields. */
function cluster(extra: Record<string, unknown> = {}): any {
  return {
    name: 'svc', type: 'STATIC', connect_timeout: '1s',
    load_assignment: { cluster_name: 'svc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9000 } } } }] }] },
    ...extra,
  };
}

const GOLDEN_CLUSTER = `
name: svc
type: STATIC
connect_timeout: 1s
lb_policy: RING_HASH
ring_hash_lb_config: { minimum_ring_size: 2048, maximum_ring_size: 65536, hash_function: XX_HASH }
common_lb_config: { healthy_panic_threshold: { value: 25.5 } }
circuit_breakers:
  thresholds:
  - priority: DEFAULT
    max_connections: 100
    max_pending_requests: 50
    max_requests: 200
    max_retries: 7
    retry_budget: { budget_percent: { value: 35 }, min_retry_concurrency: 5 }
outlier_detection:
  consecutive_5xx: 3
  consecutive_gateway_failure: 4
  consecutive_local_origin_failure: 6
  split_external_local_origin_errors: true
  interval: 2s
  base_ejection_time: 5s
  max_ejection_time: 60s
  max_ejection_percent: 50
  enforcing_consecutive_5xx: 90
  enforcing_consecutive_gateway_failure: 80
  enforcing_consecutive_local_origin_failure: 70
  enforcing_success_rate: 0
health_checks:
- timeout: 1s
  interval: 5s
  initial_jitter: 0.1s
  interval_jitter: 0.2s
  interval_jitter_percent: 10
  unhealthy_threshold: 3
  healthy_threshold: 2
  unhealthy_interval: 10s
  grpc_health_check: { service_name: pkg.Svc, authority: svc.local }
load_assignment:
  cluster_name: svc
  endpoints:
  - lb_endpoints:
    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9000 } } }
`;

const GOLDEN_EXPECTED: ClusterModel = {
  name: 'svc',
  type: 'STATIC',
  connectTimeoutMs: 1000,
  lbPolicy: 'RING_HASH',
  leastRequestChoiceCount: 2,
  endpoints: [{ host: '127.0.0.1', port: 9000, weight: 1, priority: 0, healthStatus: 'UNKNOWN', metadata: null }],
  edsServiceName: null,
  protocol: 'http1',
  http2MaxConcurrentStreams: 2147483647,
  http2InitialStreamWindowSize: 268435456,
  http2InitialConnectionWindowSize: 268435456,
  idleTimeoutMs: 3_600_000,
  maxRequestsPerConnection: null,
  tls: null,
  dnsRefreshRateMs: 5000,
  dnsLookupFamily: 'AUTO',
  leastRequestActiveRequestBias: 1,
  ringHash: { minimumRingSize: 2048, maximumRingSize: 65536 },
  healthyPanicThresholdPercent: 25.5,
  circuitBreakers: { maxConnections: 100, maxPendingRequests: 50, maxRequests: 200, maxRetries: 7, retryBudget: { budgetPercent: 35, minRetryConcurrency: 5 } },
  outlierDetection: {
    consecutive5xx: 3, consecutiveGatewayFailure: 4, consecutiveLocalOriginFailure: 6, splitExternalLocalOriginErrors: true,
    intervalMs: 2000, baseEjectionTimeMs: 5000, maxEjectionTimeMs: 60_000, maxEjectionPercent: 50,
    enforcingConsecutive5xx: 90, enforcingConsecutiveGatewayFailure: 80, enforcingConsecutiveLocalOriginFailure: 70,
  },
  healthChecks: [{
    timeoutMs: 1000, intervalMs: 5000, initialJitterMs: 100, intervalJitterMs: 200, intervalJitterPercent: 10,
    unhealthyThreshold: 3, healthyThreshold: 2, unhealthyIntervalMs: 10_000,
    check: { type: 'grpc', serviceName: 'pkg.Svc', authority: 'svc.local' },
  }],
};

const CB = 'circuit_breakers.thresholds[0]';

describe('cluster resilience: happy paths', () => {
  it('golden: a full Cluster (YAML) compiles to the expected model through compileCluster', () => {
    const v = ok(compileC(YAML.parse(GOLDEN_CLUSTER)));
    assert.deepEqual(v, GOLDEN_EXPECTED);
    assert.ok(Object.isFrozen(v.circuitBreakers.retryBudget) && Object.isFrozen(v.healthChecks[0]!.check));
  });

  it('golden: the same cluster inside a bootstrap (JSON, camelCase) through compileBootstrap', () => {
    const json = JSON.parse(JSON.stringify({ static_resources: { clusters: [YAML.parse(GOLDEN_CLUSTER)] } })
      .replace(/"circuit_breakers"/g, '"circuitBreakers"').replace(/"outlier_detection"/g, '"outlierDetection"')
      .replace(/"health_checks"/g, '"healthChecks"').replace(/"ring_hash_lb_config"/g, '"ringHashLbConfig"'));
    const b: BootstrapModel = ok(parseAndCompile(root, 'envoy.config.bootstrap.v3.Bootstrap', json, compileBootstrap));
    assert.deepEqual(b.clusters[0], GOLDEN_EXPECTED);
  });

  it('defaults: no resilience fields → Remora default breakers with budget, no outlier detection, no health checks', () => {
    const v = ok(compileC(cluster()));
    assert.deepEqual(v.circuitBreakers, DEFAULT_CIRCUIT_BREAKERS);
    assert.deepEqual(v.circuitBreakers.retryBudget, { budgetPercent: 20, minRetryConcurrency: 3 });
    assert.equal(v.outlierDetection, null);
    assert.deepEqual(v.healthChecks, []);
    assert.equal(v.healthyPanicThresholdPercent, 50);
    assert.deepEqual(v.ringHash, { minimumRingSize: 1024, maximumRingSize: 8388608 });
    assert.deepEqual(ok(compileC(cluster({ circuit_breakers: {} }))).circuitBreakers, DEFAULT_CIRCUIT_BREAKERS);
  });

  it('thresholds without retry_budget → retryBudget null, unset limits keep Envoy defaults (max_retries applies)', () => {
    const v = ok(compileC(cluster({ circuit_breakers: { thresholds: [{ max_requests: 10 }] } })));
    assert.deepEqual(v.circuitBreakers, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 10, maxRetries: 3, retryBudget: null });
  });

  it('retry_budget with unset subfields → Envoy defaults 20% and 3; 0% is allowed', () => {
    const v = ok(compileC(cluster({ circuit_breakers: { thresholds: [{ retry_budget: {} }] } })));
    assert.deepEqual(v.circuitBreakers.retryBudget, { budgetPercent: 20, minRetryConcurrency: 3 });
    const z = ok(compileC(cluster({ circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 0 }, min_retry_concurrency: 0 } }] } })));
    assert.deepEqual(z.circuitBreakers.retryBudget, { budgetPercent: 0, minRetryConcurrency: 0 });
  });

  it('outlier_detection: {} gets all of Envoy\'s defaults', () => {
    assert.deepEqual(ok(compileC(cluster({ outlier_detection: {} }))).outlierDetection, DEFAULT_OUTLIER_DETECTION);
  });

  it('HTTP health check with default and explicit expected_statuses', () => {
    const hc = { timeout: '1s', interval: '2s', unhealthy_threshold: 2, healthy_threshold: 1 };
    const d = ok(compileC(cluster({ health_checks: [{ ...hc, http_health_check: { path: '/healthz' } }] })));
    assert.deepEqual(d.healthChecks[0]!.check, { type: 'http', path: '/healthz', host: null, expectedStatuses: [[200, 201]] });
    assert.equal(d.healthChecks[0]!.unhealthyIntervalMs, null);
    assert.equal(d.healthChecks[0]!.initialJitterMs, 0);
    const e = ok(compileC(cluster({ health_checks: [{ ...hc, http_health_check: { path: '/h', host: 'h.local', expected_statuses: [{ start: 200, end: 300 }, { start: 404, end: 405 }] } }] })));
    assert.deepEqual(e.healthChecks[0]!.check, { type: 'http', path: '/h', host: 'h.local', expectedStatuses: [[200, 300], [404, 405]] });
  });

  it('LEAST_REQUEST active_request_bias and its default', () => {
    const v = ok(compileC(cluster({ lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: 3, active_request_bias: { default_value: 0.5, runtime_key: 'k' } } })));
    assert.equal(v.leastRequestActiveRequestBias, 0.5);
    assert.equal(v.leastRequestChoiceCount, 3);
    assert.equal(ok(compileC(cluster({ lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: 2 } }))).leastRequestActiveRequestBias, 1);
    assert.equal(ok(compileC(cluster({ lb_policy: 'LEAST_REQUEST', least_request_lb_config: { active_request_bias: { default_value: 0, runtime_key: 'k' } } }))).leastRequestActiveRequestBias, 0);
  });
});

describe('cluster resilience: bad config is rejected with the field path', () => {
  it('a retry budget over 100% (and a negative one)', () => {
    expectError(compileC(cluster({ circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 150 } } }] } })),
      `${CB}.retry_budget.budget_percent.value`, /0\.\.100, got 150/);
    expectError(compileC(cluster({ circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: -1 } } }] } })),
      `${CB}.retry_budget.budget_percent.value`, /0\.\.100/);
  });

  it('zero circuit-breaker limits, with a clear message', () => {
    for (const f of ['max_connections', 'max_pending_requests', 'max_requests', 'max_retries']) {
      expectError(compileC(cluster({ circuit_breakers: { thresholds: [{ [f]: 0 }] } })), `${CB}.${f}`, /0 would reject every request/);
    }
  });

  it('a negative limit is rejected by the parser at its path', () => {
    expectError(compileC(cluster({ circuit_breakers: { thresholds: [{ max_retries: -3 }] } })), `${CB}.max_retries`, />= 0/);
  });

  it('priority HIGH, duplicate DEFAULT, per_host_thresholds and track_remaining', () => {
    expectError(compileC(cluster({ circuit_breakers: { thresholds: [{ priority: 'HIGH', max_requests: 5 }] } })), `${CB}.priority`, /HIGH is not supported/);
    expectError(compileC(cluster({ circuit_breakers: { thresholds: [{}, { priority: 'DEFAULT' }] } })), 'circuit_breakers.thresholds[1].priority', /duplicate/);
    expectError(compileC(cluster({ circuit_breakers: { per_host_thresholds: [{ max_connections: 1 }] } })), 'circuit_breakers.per_host_thresholds', /not supported/);
    expectError(compileC(cluster({ circuit_breakers: { thresholds: [{ track_remaining: true }] } })), `${CB}.track_remaining`, /not supported/);
  });

  it('outlier detection: zero and negative durations, percentages over 100, zero counts, base > max', () => {
    const OD = 'outlier_detection';
    expectError(compileC(cluster({ outlier_detection: { interval: '0s' } })), `${OD}.interval`, /greater than 0/);
    expectError(compileC(cluster({ outlier_detection: { base_ejection_time: '-2s' } })), `${OD}.base_ejection_time`, /non-negative/);
    expectError(compileC(cluster({ outlier_detection: { max_ejection_percent: 101 } })), `${OD}.max_ejection_percent`, /0\.\.100/);
    expectError(compileC(cluster({ outlier_detection: { enforcing_consecutive_5xx: 200 } })), `${OD}.enforcing_consecutive_5xx`, /0\.\.100/);
    expectError(compileC(cluster({ outlier_detection: { consecutive_5xx: 0 } })), `${OD}.consecutive_5xx`, /enforcing_\* field to 0/);
    expectError(compileC(cluster({ outlier_detection: { base_ejection_time: '60s', max_ejection_time: '30s' } })), `${OD}.max_ejection_time`, /must be <= max_ejection_time/);
  });

  it('outlier detection: success-rate and failure-percentage detection are unsupported', () => {
    const OD = 'outlier_detection';
    expectError(compileC(cluster({ outlier_detection: { success_rate_minimum_hosts: 3 } })), `${OD}.success_rate_minimum_hosts`, /not supported/);
    expectError(compileC(cluster({ outlier_detection: { failure_percentage_threshold: 50 } })), `${OD}.failure_percentage_threshold`, /not supported/);
    expectError(compileC(cluster({ outlier_detection: { enforcing_success_rate: 100 } })), `${OD}.enforcing_success_rate`, /set 0 or omit/);
    expectError(compileC(cluster({ outlier_detection: { enforcing_failure_percentage: 1 } })), `${OD}.enforcing_failure_percentage`, /set 0 or omit/);
  });

  it('health checks: required fields, zero/negative values, more than one, unsupported checkers', () => {
    const HC = 'health_checks[0]';
    const base = { timeout: '1s', interval: '2s', unhealthy_threshold: 2, healthy_threshold: 1, grpc_health_check: {} };
    expectError(compileC(cluster({ health_checks: [{ ...base, interval: undefined }] })), `${HC}.interval`, /is required/);
    expectError(compileC(cluster({ health_checks: [{ ...base, timeout: undefined }] })), `${HC}.timeout`, /is required/);
    expectError(compileC(cluster({ health_checks: [{ ...base, interval: '0s' }] })), `${HC}.interval`, /greater than 0/);
    expectError(compileC(cluster({ health_checks: [{ ...base, timeout: '-1s' }] })), `${HC}.timeout`, /non-negative/);
    expectError(compileC(cluster({ health_checks: [{ ...base, healthy_threshold: 0 }] })), `${HC}.healthy_threshold`, /1\.\./);
    expectError(compileC(cluster({ health_checks: [{ ...base, unhealthy_threshold: undefined }] })), `${HC}.unhealthy_threshold`, /is required/);
    expectError(compileC(cluster({ health_checks: [{ ...base, interval_jitter_percent: 150 }] })), `${HC}.interval_jitter_percent`, /0\.\.100/);
    expectError(compileC(cluster({ health_checks: [base, base] })), 'health_checks', /at most one/);
    const { grpc_health_check: _g, ...noChecker } = base;
    expectError(compileC(cluster({ health_checks: [{ ...noChecker, tcp_health_check: {} }] })), `${HC}.tcp_health_check`, /not supported/);
    expectError(compileC(cluster({ health_checks: [noChecker] })), HC, /one of grpc_health_check or http_health_check/);
    expectError(compileC(cluster({ health_checks: [{ ...noChecker, http_health_check: { host: 'x' } }] })), `${HC}.http_health_check.path`, /is required/);
    expectError(compileC(cluster({ health_checks: [{ ...noChecker, http_health_check: { path: '/h', expected_statuses: [{ start: 200, end: 200 }] } }] })),
      `${HC}.http_health_check.expected_statuses[0].end`, /\[start, end\)/);
    expectError(compileC(cluster({ health_checks: [{ ...base, no_traffic_interval: '60s' }] })), `${HC}.no_traffic_interval`, /not supported/);
  });

  it('ring hash: sizes, hash function, wrong lb_policy; panic threshold and active_request_bias ranges', () => {
    const RH = 'ring_hash_lb_config';
    expectError(compileC(cluster({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: 4096, maximum_ring_size: 1024 } })),
      `${RH}.minimum_ring_size`, /<= maximum_ring_size \(1024\)/);
    expectError(compileC(cluster({ lb_policy: 'RING_HASH', ring_hash_lb_config: { maximum_ring_size: 9_000_000 } })), `${RH}.maximum_ring_size`, /1\.\.8388608/);
    expectError(compileC(cluster({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: 0 } })), `${RH}.minimum_ring_size`, /1\.\.8388608/);
    expectError(compileC(cluster({ lb_policy: 'RING_HASH', ring_hash_lb_config: { hash_function: 'MURMUR_HASH_2' } })), `${RH}.hash_function`, /only XX_HASH/);
    expectError(compileC(cluster({ ring_hash_lb_config: {} })), RH, /requires lb_policy RING_HASH/);
    expectError(compileC(cluster({ common_lb_config: { healthy_panic_threshold: { value: 100.5 } } })), 'common_lb_config.healthy_panic_threshold.value', /0\.\.100/);
    expectError(compileC(cluster({ common_lb_config: { zone_aware_lb_config: { min_cluster_size: 3 } } })), 'common_lb_config.zone_aware_lb_config', /not supported/);
    expectError(compileC(cluster({ lb_policy: 'LEAST_REQUEST', least_request_lb_config: { active_request_bias: { default_value: -0.5, runtime_key: 'k' } } })),
      'least_request_lb_config.active_request_bias.default_value', />= 0/);
  });

  it('errors inside a bootstrap carry the full static_resources path', () => {
    const doc = { static_resources: { clusters: [cluster({ circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 101 } } }] } })] } };
    expectError(parseAndCompile(root, 'envoy.config.bootstrap.v3.Bootstrap', doc, compileBootstrap), `static_resources.clusters[0].${CB}.retry_budget.budget_percent.value`, /0\.\.100/);
  });
});
