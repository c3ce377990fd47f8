/**
 * RateLimitPolicy `local.descriptors`: validation with field paths, the translation (LocalRateLimit
 * `descriptors` plus inbound virtual-host `rate_limits` actions, golden), and that what the control
 * plane emits compiles in the data plane and produces exactly the descriptors the filter looks up.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as protobuf from 'protobufjs';
import { decodeProtoBinary, encodeProtoObject, type ProtoObject } from '../../config/compile/proto-json';
import { compileRouteConfiguration } from '../../config/compile/route-configuration';
import type { CompileDeps } from '../../config/compile/http-filter-compiler';
import type { RouteForwardModel } from '../../config/model';
import { compileLocalRateLimit } from '../../filters/local-ratelimit/config';
import { CompiledRateLimits } from '../../routing/rate-limit-descriptors';
import { loadEnvoyProtos } from '../../xds/protos';
import { TYPE_URL, type NodeIdentity } from '../cache/resources';
import { formatMeshIssue, loadMeshConfig, type MeshConfig, type MeshConfigIssue } from '../mesh';
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

const SERVER: NodeIdentity = { id: 's', cluster: '', metadata: { WORKLOAD_NAME: 'greeter-v1', NAMESPACE: 'demo', APP_PORTS: [8081] } };

function policy(local: string): string {
  return `apiVersion: remora.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: rl, namespace: demo}
spec:
  workloadSelector: {matchLabels: {app: greeter}}
  local:
${local.split('\n').filter((l) => l !== '').map((l) => `    ${l}`).join('\n')}
`;
}

function load(doc: string) {
  return loadMeshConfig(new Map([['m.yaml', [SE, doc].join('---\n')]]));
}

function mesh(doc: string): MeshConfig {
  const r = load(doc);
  if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
  return r.config;
}

function issues(doc: string): readonly MeshConfigIssue[] {
  const r = load(doc);
  assert.equal(r.ok, false, 'expected the config to be rejected');
  return r.ok ? [] : r.errors;
}

function expectIssue(list: readonly MeshConfigIssue[], path: string, message: RegExp): void {
  assert.ok(list.some((i) => i.path === path && message.test(i.message)), `no issue at ${path} matching ${message}; got ${list.map(formatMeshIssue).join('\n')}`);
}

const LOCAL = `tokenBucket: {maxTokens: 100, fillInterval: 1s}
descriptors:
- entries: [{key: user, fromHeader: X-User, value: alice}]
  tokenBucket: {maxTokens: 3, fillInterval: 1s}
- entries: [{key: user, fromHeader: x-user, value: bob}]
  tokenBucket: {maxTokens: 5, tokensPerFill: 2, fillInterval: 2s}
- entries: [{remoteAddress: true, value: 10.0.0.9}, {key: plan, value: gold}]
  tokenBucket: {maxTokens: 1, fillInterval: 1m}
`;

function inbound(m: MeshConfig): { route: ProtoObject; filter: ProtoObject } {
  const set = translateForNode(m, SERVER).byType;
  const route = set.get(TYPE_URL.ROUTE)!.get('inbound')!;
  const listener = set.get(TYPE_URL.LISTENER)!.get('inbound')!;
  const hcm = ((listener['filter_chains'] as ProtoObject[])[0]!['filters'] as ProtoObject[])[0]!['typed_config'] as ProtoObject;
  const filter = (hcm['http_filters'] as ProtoObject[]).find((f) => f['name'] === 'envoy.filters.http.local_ratelimit')!;
  return { route, filter: filter['typed_config'] as ProtoObject };
}

let root: protobuf.Root;
before(() => {
  root = loadEnvoyProtos();
});

test('local.descriptors validate into the model', () => {
  const m = mesh(policy(LOCAL));
  const local = m.rateLimitPolicies![0]!.local!;
  assert.equal(local.maxTokens, 100);
  assert.deepEqual(local.descriptors, [
    { entries: [{ kind: 'header', key: 'user', header: 'x-user', value: 'alice' }], maxTokens: 3, tokensPerFill: 1, fillIntervalMs: 1000 },
    { entries: [{ kind: 'header', key: 'user', header: 'x-user', value: 'bob' }], maxTokens: 5, tokensPerFill: 2, fillIntervalMs: 2000 },
    { entries: [{ kind: 'remoteAddress', key: 'remote_address', value: '10.0.0.9' }, { kind: 'value', key: 'plan', value: 'gold' }], maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 60_000 },
  ]);
  assert.ok(Object.isFrozen(local.descriptors[0]!.entries));
});

test('bad local.descriptors are rejected at their path', () => {
  const bad = (descriptors: string) => issues(policy(`tokenBucket: {maxTokens: 1, fillInterval: 1s}\ndescriptors:\n${descriptors}`));
  const B = 'tokenBucket: {maxTokens: 1, fillInterval: 1s}';
  const D = 'spec.local.descriptors[0]';
  expectIssue(bad(`- {entries: [], ${B}}`), `${D}.entries`, /at least one entry/);
  expectIssue(bad('- {entries: [{key: a, value: b}]}'), `${D}.tokenBucket`, /is required/);
  expectIssue(bad('- {entries: [{key: a, value: b}], tokenBucket: {maxTokens: 1, fillInterval: 10ms}}'), `${D}.tokenBucket.fillInterval`, /at least 50ms/);
  expectIssue(bad(`- {entries: [{key: a, fromHeader: x-a}], ${B}}`), `${D}.entries[0].value`, /is required/);
  expectIssue(bad(`- {entries: [{key: a, fromHeader: "bad header", value: v}], ${B}}`), `${D}.entries[0].fromHeader`, /invalid header name/);
  expectIssue(bad(`- {entries: [{fromHeader: x-a, value: v}], ${B}}`), `${D}.entries[0].key`, /is required/);
  expectIssue(bad(`- {entries: [{key: a, remoteAddress: true, value: 1.2.3.4}], ${B}}`), `${D}.entries[0].key`, /must not be set/);
  expectIssue(bad(`- {entries: [{remoteAddress: true, fromHeader: x, value: v}], ${B}}`), `${D}.entries[0]`, /only one of/);
  expectIssue(bad(`- {entries: [{remoteAddress: false, value: v}], ${B}}`), `${D}.entries[0].remoteAddress`, /must be true/);
  expectIssue(bad(`- {entries: [{key: a, value: "x\\u0001"}], ${B}}`), `${D}.entries[0].value`, /control characters/);
  expectIssue(bad(`- {entries: [{key: a, value: v}], ${B}, limit: 3}`), `${D}.limit`, /./);
  expectIssue(bad(`- {entries: [{key: a, fromHeader: X-A, value: v}], ${B}}\n- {entries: [{key: a, fromHeader: x-a, value: v}], ${B}}`), 'spec.local.descriptors[1]', /same requests as descriptors\[0\]/);
});

test('translation (golden): filter descriptors with the default bucket not also charged, vhost rate_limits deduplicated', () => {
  const { route, filter } = inbound(mesh(policy(LOCAL)));
  assert.deepEqual(filter['descriptors'], [
    { entries: [{ key: 'user', value: 'alice' }], token_bucket: { max_tokens: 3, tokens_per_fill: { value: 1 }, fill_interval: { seconds: 1, nanos: 0 } } },
    { entries: [{ key: 'user', value: 'bob' }], token_bucket: { max_tokens: 5, tokens_per_fill: { value: 2 }, fill_interval: { seconds: 2, nanos: 0 } } },
    { entries: [{ key: 'remote_address', value: '10.0.0.9' }, { key: 'plan', value: 'gold' }], token_bucket: { max_tokens: 1, tokens_per_fill: { value: 1 }, fill_interval: { seconds: 60, nanos: 0 } } },
  ]);
  assert.deepEqual(filter['always_consume_default_token_bucket'], { value: false });
  const vhosts = route['virtual_hosts'] as ProtoObject[];
  assert.ok(vhosts.length >= 2);
  for (const vh of vhosts) {
    assert.deepEqual(vh['rate_limits'], [
      { actions: [{ request_headers: { header_name: 'x-user', descriptor_key: 'user' } }] },
      { actions: [{ remote_address: {} }, { generic_key: { descriptor_key: 'plan', descriptor_value: 'gold' } }] },
    ], `virtual host ${String(vh['name'])}`);
  }
  // Without descriptors nothing changes: no rate_limits, the default bucket config as before.
  const plain = inbound(mesh(policy('tokenBucket: {maxTokens: 3, fillInterval: 1s}')));
  assert.equal(plain.filter['descriptors'], undefined);
  assert.equal(plain.filter['always_consume_default_token_bucket'], undefined);
  for (const vh of plain.route['virtual_hosts'] as ProtoObject[]) assert.equal(vh['rate_limits'], undefined);
});

test('the emitted resources compile in the data plane and produce the descriptors the filter looks up', () => {
  const { route, filter } = inbound(mesh(policy(LOCAL)));
  const deps: CompileDeps = {
    filters: { compile: () => assert.fail('no filters'), compilePerRoute: () => assert.fail('no filters') },
    readFile: () => assert.fail('no files'),
  };
  // Through the wire, as an xDS client receives them (unknown field names would be lost here).
  const wireRoute = decodeProtoBinary(root, 'envoy.config.route.v3.RouteConfiguration', encodeProtoObject(root, 'envoy.config.route.v3.RouteConfiguration', route));
  const rc = compileRouteConfiguration(wireRoute, deps);
  assert.ok(rc.ok, JSON.stringify(!rc.ok && rc.errors));
  const lrlType = 'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
  const wireFilter = decodeProtoBinary(root, lrlType, encodeProtoObject(root, lrlType, filter));
  const lrl = compileLocalRateLimit(wireFilter, 'f');
  assert.ok(lrl.ok, JSON.stringify(!lrl.ok && lrl.errors));
  assert.equal(lrl.value.alwaysConsumeDefaultTokenBucket, false);
  const known = new Map(lrl.value.descriptors.map((d) => [d.key, d.tokenBucket.maxTokens]));
  const rl = CompiledRateLimits.compile((rc.value.virtualHosts[0]!.routes[0]!.action as RouteForwardModel).rateLimits)!;
  const buckets = (headers: Record<string, string>, remote: string): number[] => {
    const out: string[] = [];
    rl.populate(headers, remote, null, out);
    return out.map((k) => known.get(k)).filter((n): n is number => n !== undefined);
  };
  assert.deepEqual(buckets({ 'x-user': 'alice' }, '10.0.0.1'), [3]);
  assert.deepEqual(buckets({ 'x-user': 'bob' }, '10.0.0.9'), [5, 1]);
  assert.deepEqual(buckets({ 'x-user': 'carol' }, '10.0.0.1'), []);
});
