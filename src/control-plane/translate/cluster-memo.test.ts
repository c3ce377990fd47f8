/**
 * ClusterMemo: translations through the memo equal translations without it, whatever the sequence
 * of configs and options, and clusters whose inputs did not change are shared (the same objects)
 * across nodes and across VirtualService-only changes.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TYPE_URL, type NodeIdentity, type XdsResourceSet } from '../cache/resources';
import { DescriptorSources } from '../sources/descriptor-sources';
import { MeshConfigLoader } from '../mesh/mesh-config-loader';
import { formatMeshIssue, type MeshConfig } from '../mesh';
import { ClusterMemo, DEFAULT_TRANSLATE_OPTIONS, translateForNode, type TranslateOptions } from './index';

function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

const FIXTURES = path.join(repoRoot(), 'test/fixtures/mesh');
const FILE = 'greeter.yaml';
const TEXT = readFileSync(path.join(FIXTURES, FILE), 'utf8');
const NODES: NodeIdentity[] = JSON.parse(readFileSync(path.join(FIXTURES, 'greeter.nodes.json'), 'utf8'));
const MTLS: TranslateOptions = {
  ...DEFAULT_TRANSLATE_OPTIONS,
  mtls: { trustDomain: 'cluster.local', trustBundlePem: '-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n', rootNamespace: 'istio-system' },
};

function load(loader: MeshConfigLoader, text: string): MeshConfig {
  const r = loader.load(new Map([[FILE, text]]));
  if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
  return r.config;
}

function withWeights(v1: number): string {
  const out = TEXT.replace('weight: 90', `weight: ${v1}`).replace('weight: 10', `weight: ${100 - v1}`);
  assert.notEqual(out, TEXT);
  return out;
}

function clusters(set: XdsResourceSet): ReadonlyMap<string, unknown> {
  return set.byType.get(TYPE_URL.CLUSTER)!;
}

function assignments(set: XdsResourceSet): ReadonlyMap<string, unknown> {
  return set.byType.get(TYPE_URL.ENDPOINT)!;
}

test('translations through the memo equal translations without it, node after node', () => {
  const mesh = load(new MeshConfigLoader(new DescriptorSources()), TEXT);
  const memo = new ClusterMemo();
  for (const opts of [DEFAULT_TRANSLATE_OPTIONS, MTLS, DEFAULT_TRANSLATE_OPTIONS]) {
    for (const node of NODES) assert.deepStrictEqual(translateForNode(mesh, node, opts, memo), translateForNode(mesh, node, opts));
  }
  assert.ok(memo.size > 0);
});

test('nodes calling the same service share its Cluster and CLA objects; without a memo they do not', () => {
  const mesh = load(new MeshConfigLoader(new DescriptorSources()), TEXT);
  const memo = new ClusterMemo();
  const [a, b] = [NODES[0]!, NODES[1]!].map((n) => translateForNode(mesh, n, DEFAULT_TRANSLATE_OPTIONS, memo));
  const shared = [...clusters(a!).keys()].filter((name) => clusters(b!).has(name));
  assert.ok(shared.length > 0, 'the fixture nodes call a common service');
  for (const name of shared) {
    assert.equal(clusters(a!).get(name), clusters(b!).get(name), name);
    if (assignments(a!).has(name)) assert.equal(assignments(a!).get(name), assignments(b!).get(name), name);
  }
  const [c, d] = [NODES[0]!, NODES[1]!].map((n) => translateForNode(mesh, n));
  assert.notEqual(clusters(c!).get(shared[0]!), clusters(d!).get(shared[0]!));
});

test('a VirtualService-only change keeps the clusters; the routes follow the change', () => {
  const loader = new MeshConfigLoader(new DescriptorSources());
  const memo = new ClusterMemo();
  const node = NODES[0]!;
  const before = translateForNode(load(loader, TEXT), node, DEFAULT_TRANSLATE_OPTIONS, memo);
  const edited = load(loader, withWeights(70));
  assert.equal(loader.stats.incremental, 1, 'the edit took the incremental path');
  const after = translateForNode(edited, node, DEFAULT_TRANSLATE_OPTIONS, memo);
  assert.deepStrictEqual(after, translateForNode(edited, node));
  for (const [name, c] of clusters(after)) assert.equal(c, clusters(before).get(name), name);
  assert.notDeepStrictEqual(after.byType.get(TYPE_URL.ROUTE), before.byType.get(TYPE_URL.ROUTE));
});

test('a change to what clusters read (endpoints, mTLS options) is never served from the memo', () => {
  const loader = new MeshConfigLoader(new DescriptorSources());
  const memo = new ClusterMemo();
  const node = NODES[0]!;
  translateForNode(load(loader, TEXT), node, DEFAULT_TRANSLATE_OPTIONS, memo);
  const moved = load(loader, TEXT.replace('address: 127.0.0.1', 'address: 127.0.0.9'));
  assert.equal(loader.stats.full, 2, 'a WorkloadEntry edit takes the full path');
  const after = translateForNode(moved, node, DEFAULT_TRANSLATE_OPTIONS, memo);
  assert.deepStrictEqual(after, translateForNode(moved, node));
  assert.match(JSON.stringify([...assignments(after).values()]), /127\.0\.0\.9/);
  const secured = translateForNode(moved, node, MTLS, memo);
  assert.deepStrictEqual(secured, translateForNode(moved, node, MTLS));
  assert.notDeepStrictEqual(clusters(secured), clusters(after));
});
