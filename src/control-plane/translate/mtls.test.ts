/**
 * Automatic mTLS translation (mtls.ts) over test/fixtures/mesh/mtls.yaml: the golden with a CA
 * (`mtls.ca.golden.json`; regenerate with UPDATE_GOLDEN=1 like golden.test.ts), the per-mode
 * inbound listener shapes, the outbound UpstreamTlsContext (SNI, SPIFFE SANs of the backing
 * service accounts), the ROOTCA secret, "no CA = unchanged", and that every emitted resource is a
 * valid Envoy message and compiles with the sidecar's own compilers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { compileCluster, compileListener, decodeProtoBinary, packAny, ROUTER_TYPE_URL, type CompileDeps, type ProtoObject } from '../../config/compile';
import { compileSecret } from '../../config/compile/secret';
import { systemClock } from '../../core/clock';
import { loadEnvoyProtos } from '../../xds/protos';
import { MeshCa } from '../ca/mesh-ca';
import { TYPE_URL, type NodeIdentity, type XdsResourceSet } from '../cache/resources';
import { formatMeshIssue, loadMeshConfig, type MeshConfig } from '../mesh';
import { effectiveMtlsMode, type MtlsTranslateOptions } from './mtls';
import { DEFAULT_TRANSLATE_OPTIONS, translateForNode, type TranslateOptions } from './translate-for-node';

function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}
const FIXTURES = path.join(repoRoot(), 'test/fixtures/mesh');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const root = loadEnvoyProtos();

const BUNDLE = '-----BEGIN CERTIFICATE-----\nTEST-BUNDLE\n-----END CERTIFICATE-----\n';
const MTLS: MtlsTranslateOptions = { trustDomain: 'cluster.local', trustBundlePem: BUNDLE, rootNamespace: 'istio-system' };
const WITH_CA: TranslateOptions = { ...DEFAULT_TRANSLATE_OPTIONS, mtls: MTLS };

function loadFixture(): MeshConfig {
  const r = loadMeshConfig(new Map([['test/fixtures/mesh/mtls.yaml', readFileSync(path.join(FIXTURES, 'mtls.yaml'), 'utf8')]]));
  if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
  return r.config;
}
const mesh = loadFixture();
const nodes: NodeIdentity[] = JSON.parse(readFileSync(path.join(FIXTURES, 'mtls.nodes.json'), 'utf8'));
const byId = (id: string): NodeIdentity => nodes.find((n) => n.id === id)!;

function of(set: XdsResourceSet, type: keyof typeof TYPE_URL): ReadonlyMap<string, ProtoObject> {
  return set.byType.get(TYPE_URL[type]) ?? new Map();
}
function inboundOf(set: XdsResourceSet): ProtoObject {
  return of(set, 'LISTENER').get('inbound')!;
}
function plain(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}
function stable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stable);
  if (v instanceof Map) return stable(Object.fromEntries(v));
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = stable((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

test('golden: mtls with a CA (mtls.ca.golden.json)', () => {
  const out: Record<string, unknown> = {};
  for (const n of nodes) {
    const byType: Record<string, unknown> = {};
    for (const [url, resources] of translateForNode(mesh, n, WITH_CA).byType) byType[url.slice(url.lastIndexOf('.') + 1)] = Object.fromEntries(resources);
    out[n.id] = byType;
  }
  const actual = `${JSON.stringify(stable(out), null, 2)}\n`;
  const file = path.join(FIXTURES, 'mtls.ca.golden.json');
  if (UPDATE) {
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1`);
  assert.equal(actual, readFileSync(file, 'utf8'), 'translation differs from mtls.ca.golden.json (UPDATE_GOLDEN=1 regenerates)');
});

test('mode resolution: mesh < namespace < workload, UNSET inherits, port-level overrides, strictest port wins', () => {
  const m = (ns: string, labels: Record<string, string>, ports: number[] = []) => effectiveMtlsMode(mesh, 'istio-system', ns, labels, ports);
  assert.equal(m('store', { app: 'catalog' }), 'STRICT', 'mesh-wide');
  assert.equal(m('shop', { app: 'frontend' }), 'PERMISSIVE', 'namespace over mesh');
  assert.equal(m('shop', { app: 'cart' }), 'STRICT', 'workload over namespace');
  assert.equal(m('shop', { app: 'payments' }), 'DISABLE');
  assert.equal(m('shop', { app: 'legacy' }, [9000]), 'PERMISSIVE', 'UNSET workload mode inherits the namespace');
  assert.equal(m('shop', { app: 'legacy' }, [8080]), 'DISABLE', 'port-level override');
  assert.equal(m('shop', { app: 'legacy' }, [8080, 9000]), 'PERMISSIVE', 'one socket: the strictest of its ports');
  assert.equal(effectiveMtlsMode(mesh, 'elsewhere', 'store', { app: 'catalog' }, []), 'PERMISSIVE', 'another root namespace: Istio default');
});

test('inbound listener: STRICT one TLS chain, PERMISSIVE tls_inspector + tls/raw_buffer chains sharing the HCM, DISABLE plaintext', () => {
  const strict = inboundOf(translateForNode(mesh, byId('cart~shop'), WITH_CA));
  const chains = strict['filter_chains'] as ProtoObject[];
  assert.equal(chains.length, 1);
  assert.equal(strict['listener_filters'], undefined);
  const ts = chains[0]!['transport_socket'] as ProtoObject;
  const ctx = ts['typed_config'] as ProtoObject;
  assert.equal(ctx['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
  assert.deepEqual(ctx['require_client_certificate'], { value: true });
  const common = ctx['common_tls_context'] as ProtoObject;
  assert.deepEqual(plain(common['tls_certificate_sds_secret_configs']), [{ name: 'default', sds_config: { ads: {}, resource_api_version: 'V3' } }]);
  assert.deepEqual(plain(common['combined_validation_context']), {
    default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }] },
    validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: { ads: {}, resource_api_version: 'V3' } },
  });
  assert.deepEqual(plain(common['tls_params']), { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_3' });
  assert.equal((strict['address'] as { socket_address: { port_value: number } }).socket_address.port_value, 15106, 'the WorkloadEntry port');

  const permissive = inboundOf(translateForNode(mesh, byId('frontend~shop'), WITH_CA));
  assert.deepEqual(plain(permissive['listener_filters']), [{
    name: 'envoy.filters.listener.tls_inspector',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
  }]);
  const [tlsChain, rawChain] = permissive['filter_chains'] as ProtoObject[];
  assert.deepEqual(tlsChain!['filter_chain_match'], { transport_protocol: 'tls' });
  assert.deepEqual(rawChain!['filter_chain_match'], { transport_protocol: 'raw_buffer' });
  assert.ok(tlsChain!['transport_socket'] !== undefined);
  assert.equal(rawChain!['transport_socket'], undefined);
  assert.deepEqual(plain(tlsChain!['filters']), plain(rawChain!['filters']), 'both chains run the same HCM');

  for (const id of ['legacy~shop', 'payments~shop']) {
    const withCa = inboundOf(translateForNode(mesh, byId(id), WITH_CA));
    const without = inboundOf(translateForNode(mesh, byId(id)));
    assert.deepEqual(plain(withCa), plain(without), `${id}: DISABLE is the plaintext listener`);
  }
});

test('outbound clusters: auto-mTLS to mesh workloads with Istio SNI and the backing service accounts as SANs', () => {
  const set = translateForNode(mesh, byId('frontend~shop'), WITH_CA);
  const clusters = of(set, 'CLUSTER');
  const tlsOf = (name: string): ProtoObject | null => {
    const ts = clusters.get(name)!['transport_socket'] as ProtoObject | undefined;
    return ts === undefined ? null : (ts['typed_config'] as ProtoObject);
  };
  const sans = (name: string): string[] => {
    const common = tlsOf(name)!['common_tls_context'] as ProtoObject;
    const dvc = (common['combined_validation_context'] as ProtoObject)['default_validation_context'] as ProtoObject;
    return (dvc['match_typed_subject_alt_names'] as { san_type: string; matcher: { exact: string } }[]).map((m) => `${m.san_type} ${m.matcher.exact}`);
  };
  const cart = tlsOf('outbound|50051||cart.shop.svc')!;
  assert.equal(cart['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  assert.equal(cart['sni'], 'outbound_.50051_._.cart.shop.svc');
  assert.deepEqual((cart['common_tls_context'] as ProtoObject)['alpn_protocols'], ['h2']);
  assert.deepEqual(sans('outbound|50051||cart.shop.svc'), ['URI spiffe://cluster.local/ns/shop/sa/cart']);
  assert.deepEqual(sans('outbound|50051||catalog.store.svc'), ['URI spiffe://cluster.local/ns/store/sa/catalog', 'URI spiffe://cluster.local/ns/store/sa/catalog-v2']);
  assert.deepEqual(sans('outbound|50051|v1|catalog.store.svc'), ['URI spiffe://cluster.local/ns/store/sa/catalog']);
  assert.equal(tlsOf('outbound|50051|v2|catalog.store.svc')!['sni'], 'outbound_.50051_.v2_.catalog.store.svc');
  assert.deepEqual(sans('outbound|80||frontend.shop.svc'), ['URI spiffe://cluster.local/ns/shop/sa/frontend']);
  assert.deepEqual((tlsOf('outbound|80||frontend.shop.svc')!['common_tls_context'] as ProtoObject)['alpn_protocols'], ['http/1.1']);
  assert.equal(tlsOf('outbound|50051||payments.shop.svc'), null, 'destination DISABLE → plaintext');
  assert.equal(tlsOf('outbound|8080||legacy.shop.svc'), null, 'destination port-level DISABLE → plaintext');
  assert.equal(tlsOf('outbound|443||api.weather.example'), null, 'MESH_EXTERNAL → no mesh mTLS');
});

test('ROOTCA secret for sidecars; proxyless output is unchanged; without a CA nothing changes', () => {
  const sidecar = translateForNode(mesh, byId('cart~shop'), WITH_CA);
  assert.deepEqual(plain(Object.fromEntries(of(sidecar, 'SECRET'))), {
    ROOTCA: { name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: BUNDLE } } },
  });
  const proxyless = byId('proxyless');
  assert.deepEqual(plain(stable(translateForNode(mesh, proxyless, WITH_CA).byType)), plain(stable(translateForNode(mesh, proxyless).byType)));
  assert.equal(translateForNode(mesh, proxyless, WITH_CA).byType.has(TYPE_URL.SECRET), false);
  for (const n of nodes) {
    const set = translateForNode(mesh, n);
    assert.equal(set.byType.has(TYPE_URL.SECRET), false);
    assert.ok(!JSON.stringify(plain(stable(set.byType))).includes('transport_socket'), `${n.id}: no TLS without a CA`);
  }
});

const filterDeps: CompileDeps = {
  filters: {
    compile(_n, tc, p) {
      return tc['@type'] === ROUTER_TYPE_URL ? { ok: true, value: null } : { ok: false, errors: [{ path: p, message: 'unknown filter' }] };
    },
    compilePerRoute(_n, _tc, p) {
      return { ok: false, errors: [{ path: p, message: 'none' }] };
    },
  },
  readFile() { throw new Error('no files'); },
};

test('every resource with mTLS round-trips through the Envoy protos and compiles with the sidecar compilers', () => {
  // A real bundle so the Secret's PEM parses.
  const ca = MeshCa.createSelfSigned({ clock: systemClock });
  const opts: TranslateOptions = { ...DEFAULT_TRANSLATE_OPTIONS, mtls: { ...MTLS, trustBundlePem: ca.trustBundlePem() } };
  let tlsResources = 0;
  for (const n of nodes) {
    const set = translateForNode(mesh, n, opts);
    for (const [url, resources] of set.byType) {
      const typeName = url.slice(url.lastIndexOf('/') + 1);
      for (const [name, obj] of resources) {
        const back = decodeProtoBinary(root, typeName, packAny(root, url, obj).value);
        assert.deepEqual(plain(back), plain(obj), `${n.id} ${typeName} ${name} does not round-trip`);
      }
    }
    if (n.id === 'proxyless') continue;
    const check = (what: string, r: { ok: boolean }) => assert.ok(r.ok, `${n.id} ${what}: ${JSON.stringify((r as { errors?: unknown }).errors)}`);
    for (const [name, l] of of(set, 'LISTENER')) check(`listener ${name}`, compileListener(l, filterDeps));
    for (const [name, c] of of(set, 'CLUSTER')) {
      check(`cluster ${name}`, compileCluster(c, filterDeps));
      if (c['transport_socket'] !== undefined) tlsResources++;
    }
    for (const [name, s] of of(set, 'SECRET')) check(`secret ${name}`, compileSecret(s, filterDeps));
  }
  assert.ok(tlsResources >= 5, `only ${tlsResources} TLS clusters checked`);
});
