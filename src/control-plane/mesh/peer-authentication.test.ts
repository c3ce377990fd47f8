import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadMeshConfig, type MeshConfigIssue } from './index';

function load(...docs: string[]): ReturnType<typeof loadMeshConfig> {
  return loadMeshConfig(new Map([['mesh.yaml', docs.join('---\n')]]));
}

function issues(...docs: string[]): MeshConfigIssue[] {
  const r = load(...docs);
  assert.equal(r.ok, false, 'expected validation errors');
  return r.ok ? [] : [...r.errors];
}

function pa(name: string, spec: string, namespace = 'demo', apiVersion = 'security.istio.io/v1'): string {
  return `apiVersion: ${apiVersion}\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n${spec}`;
}

const WE = (name: string, labels: string): string => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: demo}
spec: {address: 10.0.0.1, labels: ${labels}}
`;

test('PeerAuthentication: mesh-wide, namespace and workload policies with port-level overrides load', () => {
  const r = load(
    pa('default', '  mtls: {mode: STRICT}\n', 'istio-system'),
    pa('ns', '  mtls: {mode: PERMISSIVE}\n', 'demo', 'security.istio.io/v1beta1'),
    pa('wl', '  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n    8080: {mode: DISABLE}\n    "9090": {mode: STRICT}\n'),
    pa('empty', '  selector: {matchLabels: {app: b}}\n'),
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const list = r.config.peerAuthentications!;
  assert.deepEqual(list.map((p) => [p.meta.namespace, p.meta.name, p.mode, p.selector, p.portLevelMtls]), [
    ['istio-system', 'default', 'STRICT', null, []],
    ['demo', 'ns', 'PERMISSIVE', null, []],
    ['demo', 'wl', 'UNSET', { app: 'a' }, [{ port: 8080, mode: 'DISABLE' }, { port: 9090, mode: 'STRICT' }]],
    ['demo', 'empty', 'UNSET', { app: 'b' }, []],
  ]);
  assert.ok(Object.isFrozen(list[2]!.portLevelMtls));
});

test('PeerAuthentication: field errors carry their path, line and reason', () => {
  const errs = issues(pa('bad', [
    '  selector: {matchLabels: {}}',
    '  mtls: {mode: MUTUAL}',
    '  portLevelMtls:',
    '    0: {mode: STRICT}',
    '    http: {mode: STRICT}',
    '    8080: {mode: strict, extra: 1}',
    '  unknownField: 1',
    '',
  ].join('\n')));
  const got = errs.map((e) => `${e.path}: ${e.message}`).sort();
  assert.deepEqual(got, [
    "spec.mtls.mode: unknown mode 'MUTUAL'; expected one of UNSET, DISABLE, PERMISSIVE, STRICT",
    "spec.portLevelMtls[\"8080\"].extra: unknown field 'extra'",
    "spec.portLevelMtls[\"8080\"].mode: unknown mode 'strict'; expected one of UNSET, DISABLE, PERMISSIVE, STRICT",
    "spec.portLevelMtls[\"0\"]: invalid port '0'; expected a port number 1..65535",
    "spec.portLevelMtls.http: invalid port 'http'; expected a port number 1..65535",
    'spec.selector.matchLabels: must not be empty (omit selector for a namespace-wide policy)',
    "spec.unknownField: unknown field 'unknownField'",
  ].sort());
  const mode = errs.find((e) => e.path === 'spec.mtls.mode')!;
  assert.equal(mode.kind, 'PeerAuthentication');
  assert.equal(mode.name, 'bad');
  assert.equal(mode.line, 6);
});

test('PeerAuthentication: portLevelMtls needs a selector; wrong apiVersion is rejected', () => {
  const errs = issues(
    pa('ns', '  portLevelMtls: {8080: {mode: DISABLE}}\n'),
    pa('v', '  mtls: {mode: STRICT}\n', 'other', 'networking.istio.io/v1'),
  );
  assert.deepEqual(errs.map((e) => `${e.name} ${e.path}: ${e.message}`), [
    'ns spec.portLevelMtls: requires selector (port-level mTLS applies to selected workloads only)',
    "v apiVersion: unknown apiVersion 'networking.istio.io/v1' for PeerAuthentication; expected one of security.istio.io/v1, security.istio.io/v1beta1",
  ]);
});

test('PeerAuthentication: one namespace-wide policy per namespace, one workload policy per workload', () => {
  const errs = issues(
    WE('a', '{app: a, tier: web}'),
    pa('first', '  mtls: {mode: STRICT}\n'),
    pa('second', '  mtls: {mode: DISABLE}\n'),
    pa('other-ns', '  mtls: {mode: DISABLE}\n', 'elsewhere'),
    pa('by-app', '  selector: {matchLabels: {app: a}}\n  mtls: {mode: STRICT}\n'),
    pa('by-tier', '  selector: {matchLabels: {tier: web}}\n  mtls: {mode: DISABLE}\n'),
    pa('by-nothing', '  selector: {matchLabels: {app: none}}\n  mtls: {mode: DISABLE}\n'),
  );
  assert.deepEqual(errs.map((e) => `${e.name} ${e.path}: ${e.message}`), [
    'second spec: namespace demo already has the namespace-wide PeerAuthentication first (at most one policy without selector per namespace)',
    'by-tier spec.selector: selects WorkloadEntry demo/a, which PeerAuthentication demo/by-app already selects (at most one policy per workload)',
  ]);
});
