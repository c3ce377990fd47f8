import { existsSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  compileCluster, compileClusterLoadAssignment, compileListener, compileRouteConfiguration, decodeProtoBinary, packAny,
  ROUTER_TYPE_URL, type CompileDeps, type ProtoObject,
} from '../../config/compile';
import { loadEnvoyProtos } from '../../xds/protos';
import { TYPE_URL, type NodeIdentity, type XdsResourceSet } from '../cache/resources';
import { formatMeshIssue, loadMeshConfig, type MeshConfig } from '../mesh';
import { translateForNode, translationKey } from './index';
import { GLOBAL_RATELIMIT_TYPE_URL, LOCAL_RATELIMIT_TYPE_URL } from './rate-limits';
import { FAULT_TYPE_URL } from './resilience';

/** The repository root (the folder holding package.json), from source or from dist/. */
function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}


const root = loadEnvoyProtos();
const FIXTURES = path.join(repoRoot(), 'test/fixtures/mesh');

function mesh(...files: string[]): MeshConfig {
  const r = loadMeshConfig(new Map(files.map((f) => [f, readFileSync(path.join(FIXTURES, f), 'utf8')])));
  if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
  return r.config;
}

function node(id: string, metadata: Record<string, unknown>): NodeIdentity {
  return { id, cluster: '', metadata };
}

const CLIENT = node('client', { WORKLOAD_NAME: 'client', NAMESPACE: 'demo' });
const GREETER_V1 = node('greeter-v1', { WORKLOAD_NAME: 'greeter-v1', NAMESPACE: 'demo', APP_PORTS: [50061] });
const PROXYLESS = node('grpc', { PROXYLESS: true });

function of(set: XdsResourceSet, type: keyof typeof TYPE_URL): ReadonlyMap<string, ProtoObject> {
  return set.byType.get(TYPE_URL[type])!;
}

/** Structural JSON of a ProtoObject for deep comparison (Buffers compared by content). */
function plain(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}

/** The HTTP filters translation emits, accepted opaquely (their own compilers are tested with the filters). */
const MESH_FILTER_TYPES = new Set([
  ROUTER_TYPE_URL, FAULT_TYPE_URL, LOCAL_RATELIMIT_TYPE_URL, GLOBAL_RATELIMIT_TYPE_URL,
]);
const meshFilters: CompileDeps = {
  filters: {
    compile(_n, tc, p) {
      return MESH_FILTER_TYPES.has(tc['@type'] as string) ? { ok: true, value: null } : { ok: false, errors: [{ path: p, message: 'unknown filter' }] };
    },
    compilePerRoute(_n, tc, p) {
      return tc['@type'] === FAULT_TYPE_URL ? { ok: true, value: null } : { ok: false, errors: [{ path: p, message: 'none' }] };
    },
  },
  readFile() { throw new Error('no files'); },
};

const allNodes = (): [string, MeshConfig, NodeIdentity][] => {
  const greeter = mesh('greeter.yaml');
  const features = mesh('features.yaml');
  const resilience = mesh('resilience.yaml');
  const fNodes = JSON.parse(readFileSync(path.join(FIXTURES, 'features.nodes.json'), 'utf8')) as NodeIdentity[];
  return [
    ['client', greeter, CLIENT], ['greeter-v1', greeter, GREETER_V1], ['proxyless', greeter, PROXYLESS],
    ...fNodes.map((n): [string, MeshConfig, NodeIdentity] => [`features/${n.id}`, features, n]),
    ['resilience/client', resilience, CLIENT], ['resilience/greeter-v1', resilience, GREETER_V1], ['resilience/proxyless', resilience, PROXYLESS],
  ];
};

test('every translated resource is a valid Envoy v3 message: packAny → decode round-trips losslessly', () => {
  let count = 0;
  for (const [label, m, n] of allNodes()) {
    for (const [url, resources] of translateForNode(m, n).byType) {
      const typeName = url.slice(url.lastIndexOf('/') + 1);
      for (const [name, obj] of resources) {
        const any = packAny(root, url, obj);
        assert.equal(any.type_url, url);
        const back = decodeProtoBinary(root, typeName, any.value);
        assert.deepEqual(plain(back), plain(obj), `${label} ${typeName} ${name} does not round-trip (unknown field or bad enum?)`);
        count++;
      }
    }
  }
  assert.ok(count > 50, `only ${count} resources checked`);
});

test("sidecar resources compile with Remora's own data-plane compiler", () => {
  for (const [label, m, n] of allNodes()) {
    if (label.endsWith('proxyless') || label === 'features/grpc-client') continue;
    const set = translateForNode(m, n);
    const check = (what: string, r: { ok: boolean; errors?: readonly { path: string; message: string }[] }) => {
      assert.ok(r.ok, `${label} ${what}: ${JSON.stringify((r as { errors?: unknown }).errors)}`);
    };
    for (const [name, l] of of(set, 'LISTENER')) check(`listener ${name}`, compileListener(l, meshFilters));
    for (const [name, r] of of(set, 'ROUTE')) check(`route ${name}`, compileRouteConfiguration(r, meshFilters));
    for (const [name, c] of of(set, 'CLUSTER')) check(`cluster ${name}`, compileCluster(c, meshFilters));
    for (const [name, e] of of(set, 'ENDPOINT')) check(`cla ${name}`, compileClusterLoadAssignment(e));
  }
});

test('references are closed: every RDS name, routed cluster and EDS service name resolves', () => {
  for (const [label, m, n] of allNodes()) {
    const set = translateForNode(m, n);
    const routes = of(set, 'ROUTE');
    const clusters = of(set, 'CLUSTER');
    const clas = of(set, 'ENDPOINT');
    for (const l of of(set, 'LISTENER').values()) {
      const hcm = (l['api_listener'] as ProtoObject | undefined)?.['api_listener']
        ?? ((((l['filter_chains'] as ProtoObject[])[0]!['filters'] as ProtoObject[])[0]!)['typed_config']);
      const rds = (hcm as ProtoObject)['rds'] as ProtoObject;
      assert.ok(routes.has(rds['route_config_name'] as string), `${label}: missing route config ${String(rds['route_config_name'])}`);
      const filters = (hcm as ProtoObject)['http_filters'] as ProtoObject[];
      assert.equal((filters.at(-1)!['typed_config'] as ProtoObject)['@type'], ROUTER_TYPE_URL, 'router filter last');
    }
    for (const rc of routes.values()) {
      for (const vh of rc['virtual_hosts'] as ProtoObject[]) {
        for (const r of vh['routes'] as ProtoObject[]) {
          const a = r['route'] as ProtoObject | undefined;
          if (a === undefined) continue;
          const names = a['cluster'] !== undefined ? [a['cluster'] as string] : ((a['weighted_clusters'] as ProtoObject)['clusters'] as ProtoObject[]).map((c) => c['name'] as string);
          for (const c of names) assert.ok(clusters.has(c), `${label}: route to missing cluster ${c}`);
        }
      }
    }
    for (const c of clusters.values()) {
      if (c['type'] !== 'EDS') continue;
      const svc = (c['eds_cluster_config'] as ProtoObject)['service_name'] as string;
      assert.ok(clas.has(svc), `${label}: EDS cluster ${String(c['name'])} has no CLA`);
    }
  }
});

test('outbound: one virtual host per host:port, VirtualService routes in order, 90/10 weighted split', () => {
  const set = translateForNode(mesh('greeter.yaml'), CLIENT);
  const rc = of(set, 'ROUTE').get('outbound')!;
  const vhosts = rc['virtual_hosts'] as ProtoObject[];
  assert.deepEqual(vhosts.map((v) => v['domains']), [['greeter.demo.svc', 'greeter.demo.svc:50051']]);
  const routes = vhosts[0]!['routes'] as ProtoObject[];
  assert.deepEqual(routes.map((r) => r['name']), ['canary', 'split']);
  assert.deepEqual((routes[0]!['match'] as ProtoObject)['headers'], [{ name: 'x-canary', string_match: { exact: 'true' } }]);
  assert.equal((routes[0]!['route'] as ProtoObject)['cluster'], 'outbound|50051|v2|greeter.demo.svc');
  const wc = ((routes[1]!['route'] as ProtoObject)['weighted_clusters'] as ProtoObject)['clusters'] as ProtoObject[];
  assert.deepEqual(wc.map((c) => [c['name'], (c['weight'] as ProtoObject)['value']]), [
    ['outbound|50051|v1|greeter.demo.svc', 90], ['outbound|50051|v2|greeter.demo.svc', 10],
  ]);
  // Istio: no VirtualService timeout → 0s (disabled).
  assert.deepEqual((routes[1]!['route'] as ProtoObject)['timeout'], { seconds: 0, nanos: 0 });
  const l = of(set, 'LISTENER').get('outbound')!;
  assert.deepEqual(l['address'], { socket_address: { address: '0.0.0.0', port_value: 15001 } });
  assert.equal(of(set, 'LISTENER').has('inbound'), false, 'the client backs no service');
});

test('no VirtualService → a default route "/" to the whole service', () => {
  const m = mesh('features.yaml');
  const set = translateForNode(m, node('f', { WORKLOAD_NAME: 'frontend', NAMESPACE: 'web' }));
  const vh = (of(set, 'ROUTE').get('outbound')!['virtual_hosts'] as ProtoObject[]).find((v) => v['name'] === 'payments.web.svc:80')!;
  assert.deepEqual(vh['routes'], [{
    name: 'default', match: { prefix: '/' },
    route: {
      cluster: 'outbound|80||payments.web.svc', timeout: { seconds: 0, nanos: 0 }, max_stream_duration: { grpc_timeout_header_max: { seconds: 0, nanos: 0 } },
      // Remora's default: retry only what the upstream never received.
      retry_policy: { retry_on: 'connect-failure,refused-stream', num_retries: { value: 2 } },
    },
  }]);
});

test('sourceLabels: a match applies only to callers whose labels select it', () => {
  const m = mesh('features.yaml');
  const names = (n: NodeIdentity) => ((of(translateForNode(m, n), 'ROUTE').get('outbound')!['virtual_hosts'] as ProtoObject[])
    .find((v) => v['name'] === 'shop.web.svc:8080')!['routes'] as ProtoObject[]).map((r) => r['name']);
  assert.ok(names(node('f', { WORKLOAD_NAME: 'frontend', NAMESPACE: 'web', LABELS: { app: 'frontend' } })).includes('from-frontend'));
  assert.ok(!names(node('o', { WORKLOAD_NAME: 'other', NAMESPACE: 'web', LABELS: { app: 'other' } })).includes('from-frontend'));
});

test('EDS: endpoints per subset, IP literals, locality weight, endpoint weights; DNS → STRICT_DNS', () => {
  const m = mesh('features.yaml');
  const set = translateForNode(m, node('f', { WORKLOAD_NAME: 'frontend', NAMESPACE: 'web' }));
  const cla = of(set, 'ENDPOINT');
  const eps = (name: string) => ((cla.get(name)!['endpoints'] as ProtoObject[])[0]!['lb_endpoints'] as ProtoObject[])
    .map((e) => (((e['endpoint'] as ProtoObject)['address'] as ProtoObject)['socket_address'] as ProtoObject));
  assert.deepEqual(eps('outbound|8080||shop.web.svc'), [{ address: '10.0.0.1', port_value: 8081 }, { address: '10.0.0.2', port_value: 18080 }]);
  assert.deepEqual(eps('outbound|8080|canary|shop.web.svc'), [{ address: '10.0.0.1', port_value: 8081 }]);
  assert.deepEqual(eps('outbound|9090|stable|shop.web.svc'), [{ address: '10.0.0.2', port_value: 9090 }]);
  const group = (cla.get('outbound|8080|stable|shop.web.svc')!['endpoints'] as ProtoObject[])[0]!;
  assert.deepEqual(group['load_balancing_weight'], { value: 1 });
  assert.deepEqual((group['lb_endpoints'] as ProtoObject[])[0]!['load_balancing_weight'], { value: 3 });
  const clusters = of(set, 'CLUSTER');
  assert.equal(clusters.get('outbound|8080||shop.web.svc')!['lb_policy'], 'LEAST_REQUEST');
  assert.equal(clusters.get('outbound|8080|canary|shop.web.svc')!['lb_policy'], 'RANDOM');
  assert.equal(clusters.get('outbound|8080||shop.web.svc')!['typed_extension_protocol_options'], undefined, 'HTTP port: HTTP/1.1');
  assert.ok(clusters.get('outbound|9090||shop.web.svc')!['typed_extension_protocol_options'], 'GRPC port: h2');
  assert.equal(clusters.get('outbound|443||api.example.com')!['type'], 'STRICT_DNS');
  assert.equal(cla.has('outbound|443||api.example.com'), false);
});

test('inbound: the workload backing a service gets listener + route "inbound" → inbound|<app port>|| (h2 for GRPC)', () => {
  const set = translateForNode(mesh('greeter.yaml'), GREETER_V1);
  const l = of(set, 'LISTENER').get('inbound')!;
  // The WorkloadEntry names the port callers reach this workload on: the inbound listener binds it.
  assert.deepEqual(l['address'], { socket_address: { address: '0.0.0.0', port_value: 15106 } });
  const c = of(set, 'CLUSTER').get('inbound|50061||')!;
  assert.equal(c['type'], 'STATIC');
  assert.ok(c['typed_extension_protocol_options']);
  const vhosts = of(set, 'ROUTE').get('inbound')!['virtual_hosts'] as ProtoObject[];
  assert.deepEqual(vhosts.map((v) => v['domains']), [['greeter.demo.svc', 'greeter.demo.svc:50051'], ['*']]);
  // INBOUND_PORT / OUTBOUND_PORT metadata override.
  const set2 = translateForNode(mesh('greeter.yaml'), node('x', { ...GREETER_V1.metadata, INBOUND_PORT: 17000, OUTBOUND_PORT: '17001' }));
  assert.equal(((of(set2, 'LISTENER').get('inbound')!['address'] as ProtoObject)['socket_address'] as ProtoObject)['port_value'], 17000);
  assert.equal(((of(set2, 'LISTENER').get('outbound')!['address'] as ProtoObject)['socket_address'] as ProtoObject)['port_value'], 17001);
});

test('proxyless: api_listeners named <host>:<port> and <host>, route config with both domains, ROUND_ROBIN only', () => {
  const set = translateForNode(mesh('greeter.yaml'), PROXYLESS);
  assert.deepEqual([...of(set, 'LISTENER').keys()], ['greeter.demo.svc', 'greeter.demo.svc:50051']);
  for (const l of of(set, 'LISTENER').values()) {
    const hcm = (l['api_listener'] as ProtoObject)['api_listener'] as ProtoObject;
    assert.equal((hcm['rds'] as ProtoObject)['route_config_name'], 'greeter.demo.svc:50051');
  }
  const rc = of(set, 'ROUTE').get('greeter.demo.svc:50051')!;
  assert.deepEqual((rc['virtual_hosts'] as ProtoObject[])[0]!['domains'], ['greeter.demo.svc:50051', 'greeter.demo.svc']);
  const r = ((rc['virtual_hosts'] as ProtoObject[])[0]!['routes'] as ProtoObject[])[1]!['route'] as ProtoObject;
  assert.equal(r['timeout'], undefined, 'gRPC uses max_stream_duration, not timeout');
  const f = translateForNode(mesh('features.yaml'), node('g', {}));
  assert.equal(of(f, 'CLUSTER').get('outbound|8080||shop.web.svc')!['lb_policy'], undefined);
  assert.equal(of(f, 'CLUSTER').get('outbound|443||api.example.com')!['type'], 'LOGICAL_DNS');
  assert.equal(of(f, 'LISTENER').has('shop.web.svc'), false, 'multi-port hosts get no bare-host listener');
});

test('EGRESS_HOSTS scopes a node to the hosts it calls (plus clusters its routes reference)', () => {
  const m = mesh('features.yaml');
  const set = translateForNode(m, node('p', { WORKLOAD_NAME: 'x', NAMESPACE: 'web', EGRESS_HOSTS: ['payments.web.svc'] }));
  assert.deepEqual([...of(set, 'CLUSTER').keys()], ['outbound|80||payments.web.svc']);
  assert.deepEqual((of(set, 'ROUTE').get('outbound')!['virtual_hosts'] as ProtoObject[]).map((v) => v['name']), ['payments.web.svc:80']);
});

test('translation is pure and deterministic: same output regardless of document order; frozen; keyed by identity', () => {
  const text = readFileSync(path.join(FIXTURES, 'features.yaml'), 'utf8');
  const docs = text.split(/^---\n/m);
  const reversed = loadMeshConfig(new Map([['f.yaml', [...docs].reverse().join('---\n')]]));
  assert.ok(reversed.ok);
  const a = translateForNode(mesh('features.yaml'), node('n1', { WORKLOAD_NAME: 'frontend', NAMESPACE: 'web' }));
  const b = translateForNode(reversed.config, node('n2', { WORKLOAD_NAME: 'frontend', NAMESPACE: 'web' }));
  for (const [url, m] of a.byType) {
    assert.deepEqual([...m.keys()], [...m.keys()].sort(), 'sorted by name');
    assert.deepEqual(plain([...m]), plain([...b.byType.get(url)!]));
  }
  const cla = [...of(a, 'ENDPOINT').values()][0]!;
  assert.ok(Object.isFrozen(cla) && Object.isFrozen(cla['endpoints']));
  assert.equal(translationKey(node('n1', { WORKLOAD_NAME: 'frontend', NAMESPACE: 'web' })), translationKey(node('n2', { NAMESPACE: 'web', WORKLOAD_NAME: 'frontend' })));
  assert.notEqual(translationKey(CLIENT), translationKey(GREETER_V1));
});
