import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as protobuf from 'protobufjs';
import YAML from 'yaml';
import { loadEnvoyProtos } from '../../xds/protos';
import type { ValidationResult } from '../../core/errors';
import { RetryOn, type RouteConfigModel, type RouteForwardModel } from '../model';
import { expectConfigError, parseAndCompile } from '../../../test/fakes/compile-support';
import { compileRouteConfiguration } from './route-configuration';

let root: protobuf.Root;
before(() => {
  root = loadEnvoyProtos();
});

/** Parses and compiles a RouteConfiguration document through the real entry point (as RDS does). */
function compileRc(doc: unknown): ValidationResult<RouteConfigModel> {
  return parseAndCompile(root, 'envoy.config.route.v3.RouteConfiguration', doc, compileRouteConfiguration);
}

const expectError = expectConfigError;

/** A one-route config; `route` is merged into the route action, `vh` into the virtual host. */
function rc(route: Record<string, unknown>, vh: Record<string, unknown> = {}): any {
  return {
    name: 'r',
    virtual_hosts: [{ name: 'v', domains: ['*'], ...vh, routes: [{ match: { prefix: '/' }, route: { cluster: 'c', ...route } }] }],
  };
}

function action(r: ValidationResult<RouteConfigModel>, route = 0): RouteForwardModel {
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const a = r.value.virtualHosts[0]!.routes[route]!.action;
  assert.equal(a.type, 'route');
  return a as RouteForwardModel;
}

const RP = 'virtual_hosts[0].routes[0].route.retry_policy';
const VRP = 'virtual_hosts[0].retry_policy';

const GOLDEN = `
name: golden
virtual_hosts:
- name: svc
  domains: ["svc.local"]
  retry_policy:
    retry_on: "5xx,reset"
    num_retries: 4
  routes:
  - match: { prefix: "/pkg.Svc/" }
    route:
      cluster: svc
      timeout: 2s
      retry_policy:
        retry_on: "unavailable, cancelled,deadline-exceeded,resource-exhausted,internal,gateway-error,connect-failure,refused-stream,retriable-status-codes"
        num_retries: 3
        per_try_timeout: 0.5s
        retriable_status_codes: [503, 429, 503]
        retry_back_off: { base_interval: 0.01s, max_interval: 1s }
        retriable_request_headers:
        - name: ":method"
          string_match: { exact: POST }
        retry_host_predicate:
        - name: envoy.retry_host_predicates.previous_hosts
      hash_policy:
      - header: { header_name: X-User }
        terminal: true
      - cookie: { name: session }
      - connection_properties: { source_ip: true }
      - query_parameter: { name: shard }
  - match: { prefix: "/" }
    route: { cluster: svc }
`;

describe('retry_policy and hash_policy: happy paths through compileRouteConfiguration', () => {
  it('golden: a full route retry policy and hash policies compile to the expected model', () => {
    const r = compileRc(YAML.parse(GOLDEN));
    const a = action(r);
    assert.deepEqual(a.retryPolicy, {
      retryOn: RetryOn.GRPC_UNAVAILABLE | RetryOn.GRPC_CANCELLED | RetryOn.GRPC_DEADLINE_EXCEEDED | RetryOn.GRPC_RESOURCE_EXHAUSTED
        | RetryOn.GRPC_INTERNAL | RetryOn.GATEWAY_ERROR | RetryOn.CONNECT_FAILURE | RetryOn.REFUSED_STREAM | RetryOn.RETRIABLE_STATUS_CODES,
      numRetries: 3,
      perTryTimeoutMs: 500,
      retriableStatusCodes: [503, 429],
      backoffBaseMs: 10,
      backoffMaxMs: 1000,
      retriableRequestHeaders: [{
        name: ':method', match: { kind: 'exact', value: 'POST', ignoreCase: false }, presentMatch: true, invertMatch: false, treatMissingAsEmpty: false,
      }],
    });
    assert.deepEqual(a.hashPolicy, [
      { kind: 'header', name: 'x-user', terminal: true },
      { kind: 'cookie', name: 'session', terminal: false },
      { kind: 'source_ip', terminal: false },
      { kind: 'query_parameter', name: 'shard', terminal: false },
    ]);
    assert.equal(a.timeoutMs, 2000);
    assert.ok(Object.isFrozen(a.retryPolicy) && Object.isFrozen(a.hashPolicy[0]));
  });

  it('golden: a route without retry_policy inherits the virtual host policy, with Envoy/Remora defaults', () => {
    const a = action(compileRc(YAML.parse(GOLDEN)), 1);
    assert.deepEqual(a.retryPolicy, {
      retryOn: RetryOn.HTTP_5XX | RetryOn.RESET,
      numRetries: 4,
      perTryTimeoutMs: null,
      retriableStatusCodes: [],
      backoffBaseMs: 25,
      backoffMaxMs: 250,
      retriableRequestHeaders: [],
    });
    assert.deepEqual(a.hashPolicy, []);
  });

  it('the same document as JSON with camelCase names compiles identically', () => {
    const json = JSON.parse(JSON.stringify(YAML.parse(GOLDEN))
      .replace(/"retry_policy"/g, '"retryPolicy"').replace(/"retry_on"/g, '"retryOn"').replace(/"per_try_timeout"/g, '"perTryTimeout"')
      .replace(/"hash_policy"/g, '"hashPolicy"').replace(/"header_name"/g, '"headerName"'));
    assert.ok(!JSON.stringify(json).includes('retry_on'));
    const a = compileRc(json);
    const b = compileRc(YAML.parse(GOLDEN));
    assert.ok(a.ok && b.ok);
    assert.deepEqual(a.value, b.value);
  });

  it('num_retries defaults to 1; max_interval defaults to 10 × base_interval', () => {
    const a = action(compileRc(rc({ retry_policy: { retry_on: 'unavailable', retry_back_off: { base_interval: '0.1s' } } })));
    assert.equal(a.retryPolicy!.numRetries, 1);
    assert.equal(a.retryPolicy!.backoffBaseMs, 100);
    assert.equal(a.retryPolicy!.backoffMaxMs, 1000);
  });

  it('a route-level policy replaces the virtual host policy without merging; num_retries 0 disables retries', () => {
    const vh = { retry_policy: { retry_on: '5xx', num_retries: 5, per_try_timeout: '1s' } };
    const a = action(compileRc(rc({ retry_policy: { retry_on: 'reset' } }, vh)));
    assert.equal(a.retryPolicy!.retryOn, RetryOn.RESET);
    assert.equal(a.retryPolicy!.numRetries, 1);
    assert.equal(a.retryPolicy!.perTryTimeoutMs, null);
    const off = action(compileRc(rc({ retry_policy: { num_retries: 0 } }, vh)));
    assert.equal(off.retryPolicy, null);
    const none = action(compileRc(rc({})));
    assert.equal(none.retryPolicy, null);
  });
});

describe('retry_policy and hash_policy: bad config is rejected with the field path', () => {
  it('an unknown retry_on value, named in the message', () => {
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx,retriable-4xx' } })), `${RP}.retry_on`, /'retriable-4xx'/);
    expectError(compileRc(rc({}, { retry_policy: { retry_on: 'unavalable' } })), `${VRP}.retry_on`, /'unavalable'/);
  });

  it('an empty retry_on with retries enabled', () => {
    expectError(compileRc(rc({ retry_policy: { num_retries: 2 } })), `${RP}.retry_on`, /is required/);
  });

  it('zero and negative per_try_timeout', () => {
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', per_try_timeout: '0s' } })), `${RP}.per_try_timeout`, /greater than 0/);
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', per_try_timeout: '-1s' } })), `${RP}.per_try_timeout`, /non-negative/);
  });

  it('negative num_retries (a uint32) is rejected by the parser at its path', () => {
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', num_retries: -1 } })), `${RP}.num_retries`);
  });

  it('zero or negative back-off intervals, and max_interval below base_interval', () => {
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', retry_back_off: { base_interval: '0s' } } })),
      `${RP}.retry_back_off.base_interval`, /greater than 0/);
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', retry_back_off: { base_interval: '-0.5s' } } })),
      `${RP}.retry_back_off.base_interval`, /non-negative/);
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', retry_back_off: { base_interval: '1s', max_interval: '0.5s' } } })),
      `${RP}.retry_back_off.max_interval`, /must be >= base_interval \(1000ms\)/);
  });

  it('retriable_status_codes out of range, missing, or without the condition', () => {
    expectError(compileRc(rc({ retry_policy: { retry_on: 'retriable-status-codes', retriable_status_codes: [503, 600] } })),
      `${RP}.retriable_status_codes[1]`, /100\.\.599/);
    expectError(compileRc(rc({ retry_policy: { retry_on: 'retriable-status-codes' } })), `${RP}.retriable_status_codes`, /is required/);
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', retriable_status_codes: [503] } })), `${RP}.retriable_status_codes`, /no effect/);
  });

  it('unsupported retry fields: other host predicates, retry_priority, rate_limited_retry_back_off, retriable_headers', () => {
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', retry_host_predicate: [{ name: 'envoy.retry_host_predicates.omit_canary_hosts' }] } })),
      `${RP}.retry_host_predicate[0].name`, /only envoy\.retry_host_predicates\.previous_hosts/);
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', retry_priority: { name: 'p' } } })), `${RP}.retry_priority`, /not supported/);
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', rate_limited_retry_back_off: { reset_headers: [{ name: 'retry-after' }] } } })),
      `${RP}.rate_limited_retry_back_off`, /always honours grpc-retry-pushback-ms and Retry-After/);
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', retriable_headers: [{ name: 'x' }] } })), `${RP}.retriable_headers`, /not supported/);
  });

  it('a bad retriable_request_headers matcher is reported inside the retry policy', () => {
    expectError(compileRc(rc({ retry_policy: { retry_on: '5xx', retriable_request_headers: [{ string_match: { exact: 'POST' } }] } })),
      `${RP}.retriable_request_headers[0].name`, /is required/);
  });

  it('hash_policy: cookie ttl/path, filter_state, header regex_rewrite, source_ip false, missing names', () => {
    const HP = 'virtual_hosts[0].routes[0].route.hash_policy';
    expectError(compileRc(rc({ hash_policy: [{ cookie: { name: 's', ttl: '10s' } }] })), `${HP}[0].cookie.ttl`, /never generates/);
    expectError(compileRc(rc({ hash_policy: [{ header: { header_name: 'a' } }, { cookie: { name: 's', path: '/' } }] })), `${HP}[1].cookie.path`, /not supported/);
    expectError(compileRc(rc({ hash_policy: [{ filter_state: { key: 'k' } }] })), `${HP}[0].filter_state`, /not supported/);
    expectError(compileRc(rc({ hash_policy: [{ header: { header_name: 'a', regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } } }] })),
      `${HP}[0].header.regex_rewrite`, /not supported/);
    expectError(compileRc(rc({ hash_policy: [{ connection_properties: {} }] })), `${HP}[0].connection_properties.source_ip`, /must be true/);
    expectError(compileRc(rc({ hash_policy: [{ query_parameter: {} }] })), `${HP}[0].query_parameter.name`, /is required/);
    expectError(compileRc(rc({ hash_policy: [{ terminal: true }] })), `${HP}[0]`, /one of header, cookie/);
  });
});
