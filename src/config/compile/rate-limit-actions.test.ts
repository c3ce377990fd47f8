/**
 * Route and virtual-host `rate_limits` compile through the real RouteConfiguration entry point (proto
 * JSON parse, then compile): every supported action, defaults, the route-over-vhost rule and
 * `include_vh_rate_limits`, `destination_cluster` resolution, and errors with field paths.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../xds/protos';
import type { ConfigIssue, ValidationResult } from '../../core/errors';
import type { RouteConfigModel, RouteForwardModel } from '../model';
import { expectConfigError, parseAndCompile } from '../../../test/fakes/compile-support';
import { compileRouteConfiguration } from './route-configuration';

let root: protobuf.Root;
before(() => {
  root = loadEnvoyProtos();
});

function compileRc(doc: unknown): ValidationResult<RouteConfigModel> {
  return parseAndCompile(root, 'envoy.config.route.v3.RouteConfiguration', doc, compileRouteConfiguration);
}

/** Two routes (`/a` with `routeA` merged into its action, `/` plain); `vh` merged into the virtual host. */
function rc(routeA: Record<string, unknown>, vh: Record<string, unknown> = {}): unknown {
  return {
    name: 'r',
    virtual_hosts: [{
      name: 'v', domains: ['*'], ...vh,
      routes: [
        { match: { prefix: '/a' }, route: { cluster: 'ca', ...routeA } },
        { match: { prefix: '/' }, route: { cluster: 'cb' } },
      ],
    }],
  };
}

function action(r: ValidationResult<RouteConfigModel>, route: number): RouteForwardModel {
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.value.virtualHosts[0]!.routes[route]!.action as RouteForwardModel;
}

function errorPaths(r: ValidationResult<unknown>): string[] {
  assert.equal(r.ok, false, 'expected errors');
  return (r as { errors: readonly ConfigIssue[] }).errors.map((e) => e.path);
}

const expectError = expectConfigError;

const RL = 'virtual_hosts[0].routes[0].route.rate_limits';

describe('route rate_limits compile', () => {
  it('compiles every supported action with Envoy defaults', () => {
    const r = compileRc(rc({
      rate_limits: [
        { actions: [{ request_headers: { header_name: 'X-User', descriptor_key: 'user' } }, { remote_address: {} }] },
        { actions: [{ generic_key: { descriptor_value: 'all' } }, { request_headers: { header_name: 'x-tenant', descriptor_key: 't', skip_if_absent: true } }] },
        { actions: [{ header_value_match: { descriptor_value: 'post', headers: [{ name: ':method', string_match: { exact: 'POST' } }] } }] },
        { actions: [{ header_value_match: { descriptor_key: 'k', descriptor_value: 'nopost', expect_match: false, headers: [{ name: ':method', string_match: { exact: 'POST' } }] } }] },
        { stage: 0, actions: [{ destination_cluster: {} }] },
      ],
    }));
    const a = action(r, 0);
    assert.deepEqual(a.rateLimits[0], { actions: [
      { kind: 'request_headers', headerName: 'x-user', descriptorKey: 'user', skipIfAbsent: false },
      { kind: 'remote_address' },
    ] });
    assert.deepEqual(a.rateLimits[1]!.actions, [
      { kind: 'generic_key', descriptorKey: 'generic_key', descriptorValue: 'all' },
      { kind: 'request_headers', headerName: 'x-tenant', descriptorKey: 't', skipIfAbsent: true },
    ]);
    const hvm = a.rateLimits[2]!.actions[0]!;
    assert.equal(hvm.kind, 'header_value_match');
    assert.ok(hvm.kind === 'header_value_match');
    assert.equal(hvm.descriptorKey, 'header_match');
    assert.equal(hvm.expectMatch, true);
    assert.equal(hvm.headers[0]!.name, ':method');
    const hvm2 = a.rateLimits[3]!.actions[0]!;
    assert.ok(hvm2.kind === 'header_value_match' && hvm2.expectMatch === false && hvm2.descriptorKey === 'k');
    assert.deepEqual(a.rateLimits[4]!.actions, [{ kind: 'generic_key', descriptorKey: 'destination_cluster', descriptorValue: 'ca' }]);
    assert.deepEqual(action(r, 1).rateLimits, [], 'routes without rate_limits (and no vhost ones) have none');
  });

  it('applies the virtual host rate_limits to routes without their own; include_vh_rate_limits adds them', () => {
    const vh = { rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'vh' } }, { destination_cluster: {} }] }] };
    const own = { rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'route' } }] }] };
    const r = compileRc(rc(own, vh));
    assert.deepEqual(action(r, 0).rateLimits, [{ actions: [{ kind: 'generic_key', descriptorKey: 'generic_key', descriptorValue: 'route' }] }]);
    assert.deepEqual(action(r, 1).rateLimits, [{ actions: [
      { kind: 'generic_key', descriptorKey: 'generic_key', descriptorValue: 'vh' },
      { kind: 'generic_key', descriptorKey: 'destination_cluster', descriptorValue: 'cb' },
    ] }], 'the vhost destination_cluster resolves per route');
    const both = compileRc(rc({ ...own, include_vh_rate_limits: true }, vh));
    assert.deepEqual(action(both, 0).rateLimits.map((l) => (l.actions[0] as { descriptorValue: string }).descriptorValue), ['route', 'vh']);
  });

  it('rejects bad and unsupported actions with field paths', () => {
    const r = compileRc(rc({
      rate_limits: [
        { stage: 1, disable_key: 'd', actions: [{ remote_address: {} }] },
        { actions: [] },
        { actions: [{ request_headers: { header_name: 'bad header', descriptor_key: '' } }] },
        { actions: [{ generic_key: { descriptor_value: '' } }, { source_cluster: {} }] },
        { actions: [{ header_value_match: { descriptor_value: 'v', headers: [] } }, { header_value_match: { descriptor_value: 'v', headers: [{ name: '' }] } }] },
        { actions: [{ masked_remote_address: {} }, { metadata: { descriptor_key: 'k', metadata_key: { key: 'x', path: [{ key: 'y' }] } } }] },
        { actions: [{ generic_key: { descriptor_value: 'a\u0001b' } }] },
        { limit: { dynamic_metadata: { metadata_key: { key: 'x', path: [{ key: 'y' }] } } }, actions: [{ remote_address: {} }] },
      ],
    }));
    expectError(r, `${RL}[0].stage`, /not supported/);
    expectError(r, `${RL}[0].disable_key`, /not supported/);
    expectError(r, `${RL}[1].actions`, /at least one action/);
    expectError(r, `${RL}[2].actions[0].request_headers.header_name`, /invalid header name/);
    expectError(r, `${RL}[2].actions[0].request_headers.descriptor_key`, /required/);
    expectError(r, `${RL}[3].actions[0].generic_key.descriptor_value`, /required/);
    expectError(r, `${RL}[3].actions[1].source_cluster`, /not supported/);
    expectError(r, `${RL}[4].actions[0].header_value_match.headers`, /at least one/);
    expectError(r, `${RL}[4].actions[1].header_value_match.headers[0].name`, /required/);
    expectError(r, `${RL}[5].actions[0].masked_remote_address`, /not supported/);
    expectError(r, `${RL}[5].actions[1].metadata.metadata_key`, /mTLS peer principal/);
    expectError(r, `${RL}[6].actions[0].generic_key.descriptor_value`, /control characters/);
    expectError(r, `${RL}[7].limit`, /not supported/);
  });

  it('rejects destination_cluster on weighted clusters and bad vhost rate_limits at the vhost path', () => {
    const wc = compileRc(rc({ cluster: undefined, weighted_clusters: { clusters: [{ name: 'x', weight: 1 }, { name: 'y', weight: 1 }] }, rate_limits: [{ actions: [{ destination_cluster: {} }] }] }));
    expectError(wc, `${RL}[0].actions[0].destination_cluster`, /weighted_clusters/);
    const vh = compileRc(rc({}, { rate_limits: [{ actions: [{ request_headers: { header_name: 'x' } }] }] }));
    assert.deepEqual(errorPaths(vh), ['virtual_hosts[0].rate_limits[0].actions[0].request_headers.descriptor_key']);
  });
});
