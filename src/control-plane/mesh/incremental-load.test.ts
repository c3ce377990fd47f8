/**
 * Incremental reloads through a shared MeshDocumentCache: unchanged documents reuse their
 * validated value, while everything that depends on position or on other documents is recomputed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshDocumentCache } from './document-cache';
import { loadMeshConfig, type MeshConfigResult } from './load-mesh-config';
import type { MeshConfig } from './model';

const se = (name: string, host: string): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: demo}
spec:
  hosts: [${host}]
  ports: [{number: 50051, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
`;
const vs = (weightV1: number): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: demo}
spec:
  hosts: [a.demo.svc]
  http:
  - route:
    - {destination: {host: a.demo.svc}, weight: ${weightV1}}
    - {destination: {host: b.demo.svc}, weight: ${100 - weightV1}}
`;

function load(cache: MeshDocumentCache, ...docs: string[]): MeshConfigResult {
  return loadMeshConfig(new Map([['mesh.yaml', docs.join('---\n')]]), cache);
}

function ok(r: MeshConfigResult): MeshConfig {
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.config;
}

test('an edit re-validates only the changed document; unchanged ones keep their value object', () => {
  const cache = new MeshDocumentCache();
  const first = ok(load(cache, se('a', 'a.demo.svc'), se('b', 'b.demo.svc'), vs(90)));
  const second = ok(load(cache, se('a', 'a.demo.svc'), se('b', 'b.demo.svc'), vs(50)));
  assert.equal(second.serviceEntries[0], first.serviceEntries[0]);
  assert.equal(second.serviceEntries[1], first.serviceEntries[1]);
  assert.notEqual(second.virtualServices[0], first.virtualServices[0]);
  assert.equal(second.virtualServices[0]!.http[0]!.route[0]!.weight, 50);
  // Without a shared cache every value is new.
  const fresh = ok(loadMeshConfig(new Map([['mesh.yaml', [se('a', 'a.demo.svc'), se('b', 'b.demo.svc'), vs(50)].join('---\n')]])));
  assert.notEqual(fresh.serviceEntries[0], second.serviceEntries[0]);
  assert.deepEqual(fresh.serviceEntries[0], second.serviceEntries[0]);
});

test('a document that moved gets its new index (its cached value is not reused)', () => {
  const cache = new MeshDocumentCache();
  ok(load(cache, se('a', 'a.demo.svc'), se('b', 'b.demo.svc'), vs(90)));
  const moved = ok(load(cache, se('c', 'c.demo.svc'), se('a', 'a.demo.svc'), se('b', 'b.demo.svc'), vs(90)));
  const a = moved.serviceByHost.get('a.demo.svc')!;
  assert.equal(a.meta.index, 1);
  assert.equal(moved.virtualServices[0]!.meta.index, 3);
});

test('cross-document rules still run over cached documents: a duplicate added later is reported', () => {
  const cache = new MeshDocumentCache();
  ok(load(cache, se('a', 'a.demo.svc'), se('b', 'b.demo.svc'), vs(90)));
  const r = load(cache, se('a', 'a.demo.svc'), se('b', 'b.demo.svc'), vs(90), se('a', 'd.demo.svc'));
  assert.equal(r.ok, false);
  const issues = r.ok ? [] : r.errors;
  assert.equal(issues.length, 1);
  assert.equal(issues[0]!.index, 3);
  assert.equal(issues[0]!.path, 'metadata.name');
  assert.match(issues[0]!.message, /duplicate ServiceEntry demo\/a \(first defined in mesh.yaml, document 0\)/);
  // Removing the other declaration of host b makes the unchanged VirtualService dangle.
  const dangling = load(cache, se('a', 'a.demo.svc'), vs(90));
  assert.equal(dangling.ok, false);
  assert.match(dangling.ok ? '' : dangling.errors[0]!.message, /no ServiceEntry declares host 'b.demo.svc'/);
});

test('an unchanged invalid document reports its error again on every load', () => {
  const cache = new MeshDocumentCache();
  const bad = se('a', 'a.demo.svc').replace('number: 50051', 'number: 70000');
  for (let i = 0; i < 2; i++) {
    const r = load(cache, bad, se('b', 'b.demo.svc'));
    assert.equal(r.ok, false);
    assert.equal(r.ok ? '' : r.errors[0]!.path, 'spec.ports[0].number');
    assert.equal(r.ok ? 0 : r.errors[0]!.line, 6);
  }
});

test('documents split at --- lines keep file line numbers, with comments and CRLF on separators', () => {
  const cache = new MeshDocumentCache();
  const text = `${se('a', 'a.demo.svc')}--- # second\r\n${se('b', 'b.demo.svc').replace('number: 50051', 'number: 0')}`;
  const r = loadMeshConfig(new Map([['mesh.yaml', text]]), cache);
  assert.equal(r.ok, false);
  const issue = r.ok ? null : r.errors[0]!;
  assert.equal(issue?.index, 1);
  assert.equal(issue?.line, 15);
});
