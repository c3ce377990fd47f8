/**
 * ResourceEncoder: the per-generation content memo, and RouteConfigurations encoded one virtual host
 * at a time with exactly the bytes of encoding them whole (every route of the fixture meshes, plus
 * fields numbered on both sides of `virtual_hosts`).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packAny, type ProtoObject } from '../../config/compile/proto-json';
import { loadEnvoyProtos } from '../../xds/protos';
import { formatMeshIssue, loadMeshConfig } from '../mesh';
import { translateForNode } from '../translate';
import { TYPE_URL, type NodeIdentity } from './resources';
import { ResourceEncoder } from './resource-encoder';

const root = loadEnvoyProtos();
const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const cluster = (name: string) => ({ name, type: 'EDS', connect_timeout: { seconds: 1, nanos: 0 } });

function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

test('equal resources in new objects are encoded once (content memo), per generation', () => {
  const enc = new ResourceEncoder(root);
  const a = enc.encode(CLUSTER, cluster('c1'));
  assert.equal(enc.encode(CLUSTER, cluster('c1')), a, 'same content, new object: same encoding');
  assert.notEqual(enc.encode(CLUSTER, cluster('c2')), a);
  enc.nextGeneration();
  assert.equal(enc.encode(CLUSTER, cluster('c1')), a, 'kept from the previous generation');
  enc.nextGeneration();
  enc.nextGeneration();
  const again = enc.encode(CLUSTER, cluster('c1'));
  assert.notEqual(again, a, 'forgotten after two generations without use');
  assert.deepEqual(again, a);
});

test('every RouteConfiguration of the fixture meshes encodes to the bytes of a whole-message encoding', () => {
  const fixtures = path.join(repoRoot(), 'test/fixtures/mesh');
  let checked = 0;
  for (const name of ['greeter', 'features', 'resilience', 'mtls']) {
    const file = path.join(fixtures, `${name}.yaml`);
    const r = loadMeshConfig(new Map([[file, readFileSync(file, 'utf8')]]));
    if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
    const nodes: NodeIdentity[] = JSON.parse(readFileSync(path.join(fixtures, `${name}.nodes.json`), 'utf8'));
    const enc = new ResourceEncoder(root);
    for (const node of nodes) {
      for (const [rname, rc] of translateForNode(r.config, node).byType.get(TYPE_URL.ROUTE)!) {
        const got = enc.encode(TYPE_URL.ROUTE, rc);
        assert.equal(got.type_url, TYPE_URL.ROUTE);
        assert.ok(got.value.equals(packAny(root, TYPE_URL.ROUTE, rc).value), `${name} ${node.id} ${rname}`);
        checked++;
      }
    }
  }
  assert.ok(checked >= 10, `checked ${checked}`);
});

function vhost(i: number, weight: number): ProtoObject {
  return {
    name: `svc-${i}:80`, domains: [`svc-${i}`, `svc-${i}:80`],
    routes: [{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: [
      { name: `outbound|80|v1|svc-${i}`, weight: { value: weight } },
      { name: `outbound|80|v2|svc-${i}`, weight: { value: 100 - weight } },
    ] } } }],
  };
}

test('a RouteConfiguration edit re-encodes the virtual hosts it changed, with whole-message bytes', () => {
  const enc = new ResourceEncoder(root);
  // Fields numbered below (name = 1) and above (validate_clusters = 7, request_headers_to_remove = 8) virtual_hosts (2).
  const rc = (w: number): ProtoObject => ({
    request_headers_to_remove: ['x-internal'], name: 'outbound', validate_clusters: { value: false },
    virtual_hosts: [vhost(0, w), vhost(1, 50), vhost(2, 50)],
  });
  const first = enc.encode(TYPE_URL.ROUTE, rc(90));
  assert.ok(first.value.equals(packAny(root, TYPE_URL.ROUTE, rc(90)).value));
  assert.deepEqual(enc.stats, { resources: 1, elements: 3 });
  enc.nextGeneration();
  const second = enc.encode(TYPE_URL.ROUTE, rc(70));
  assert.ok(second.value.equals(packAny(root, TYPE_URL.ROUTE, rc(70)).value));
  assert.deepEqual(enc.stats, { resources: 2, elements: 4 }, 'only the edited virtual host was encoded again');
  // No virtual hosts at all: the general path.
  assert.ok(enc.encode(TYPE_URL.ROUTE, { name: 'empty' }).value.equals(packAny(root, TYPE_URL.ROUTE, { name: 'empty' }).value));
});

test('an unknown field in a RouteConfiguration fails like the general path does', () => {
  const enc = new ResourceEncoder(root);
  const bad = { name: 'x', virtual_hosts: [vhost(0, 50)], no_such_field: 1 };
  const general = (() => { try { packAny(root, TYPE_URL.ROUTE, bad); return null; } catch (e) { return (e as Error).message; } })();
  const ours = (() => { try { enc.encode(TYPE_URL.ROUTE, bad); return null; } catch (e) { return (e as Error).message; } })();
  assert.equal(ours, general);
});
