import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadMeshConfig } from './load-mesh-config';
import { formatMeshIssue } from './model';
import { DescriptorSources } from '../sources/descriptor-sources';
import { codecFilters } from '../translate/codec-filters';
import type { NodeView } from '../translate/node-view';

/** The repository root (the folder with package.json), from src/ (tsx) or dist/src/ alike. */
const REPO = ((): string => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();
const GREETER = path.join(REPO, 'proto/greeter.proto');

const WORKLOAD = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: greeter-v1, namespace: demo }
spec: { address: 127.0.0.1, ports: { grpc: 15106 }, labels: { app: greeter, version: v1 } }
`;

function transcoder(extra = '', descriptors = `protoFiles: [${GREETER}]`, name = 'greeter-json'): string {
  return `apiVersion: remora.dev/v1alpha1
kind: GrpcTranscoder
metadata: { name: ${name}, namespace: demo }
spec:
  workloadSelector: { labels: { app: greeter } }
  services: [remora.examples.greeter.v1.Greeter]
  descriptors: { ${descriptors} }
${extra}`;
}

function load(docs: string[], dir = '/tmp', sources = new DescriptorSources()) {
  return loadMeshConfig(new Map([[path.join(dir, 'mesh.yaml'), docs.join('---\n')]]), undefined, sources);
}

function node(labels: Record<string, string>, namespace = 'demo'): NodeView {
  return { id: 'n', workloadName: 'greeter-v1', namespace, labels, serviceAccount: null, appPorts: [50051], proxyless: false, egressHosts: null, outboundPort: null, inboundPort: null };
}

test('a GrpcTranscoder compiles its .proto files and becomes the inbound transcoder filter', () => {
  const r = load([WORKLOAD, transcoder(`  options:
    printOptions: { addWhitespace: true, preserveProtoFieldNames: true }
    ignoredQueryParameters: [api_key]
    urlUnescapeSpec: ALL_CHARACTERS_EXCEPT_SLASH
    rejectUnknownMethod: true
    maxRequestBodySize: 1024
  validation: { methods: [remora.examples.greeter.v1.Greeter/SayHello] }
`)]);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatMeshIssue).join('\n'));
  const t = r.config.grpcTranscoders![0]!;
  assert.ok(Buffer.isBuffer(t.descriptorSet) && t.descriptorSet.length > 0);
  const filters = codecFilters(r.config, node({ app: 'greeter', version: 'v1' }));
  assert.deepEqual(filters.map((f) => f['name']), ['envoy.filters.http.grpc_json_transcoder', 'remora.filters.http.grpc_validation']);
  const cfg = filters[0]!['typed_config'] as Record<string, unknown>;
  assert.equal(cfg['@type'], 'type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder');
  assert.equal(cfg['proto_descriptor_bin'], t.descriptorSet);
  assert.deepEqual(cfg['services'], ['remora.examples.greeter.v1.Greeter']);
  assert.deepEqual(cfg['print_options'], { add_whitespace: true, preserve_proto_field_names: true });
  assert.deepEqual(cfg['ignored_query_parameters'], ['api_key']);
  assert.equal(cfg['url_unescape_spec'], 'ALL_CHARACTERS_EXCEPT_SLASH');
  assert.deepEqual(cfg['request_validation_options'], { reject_unknown_method: true });
  assert.deepEqual(cfg['max_request_body_size'], { value: 1024 });
  assert.equal('auto_mapping' in cfg, false, 'unset options are left to the filter');
  const v = filters[1]!['typed_config'] as Record<string, unknown>;
  assert.equal(v['@type'], 'type.googleapis.com/remora.filters.http.grpc_validation.v1.GrpcValidation');
  assert.deepEqual(v['methods'], ['remora.examples.greeter.v1.Greeter/SayHello']);
  assert.deepEqual(codecFilters(r.config, node({ app: 'other' })), [], 'other workloads get nothing');
  assert.deepEqual(codecFilters(r.config, node({ app: 'greeter' }, 'prod')), [], 'other namespaces get nothing');
});

test('a GrpcValidation document becomes the validation filter alone', () => {
  const r = load([WORKLOAD, `apiVersion: remora.dev/v1alpha1
kind: GrpcValidation
metadata: { name: greeter-validate, namespace: demo }
spec:
  workloadSelector: { matchLabels: { app: greeter } }
  descriptors: { protoFiles: [${GREETER}] }
  services: [remora.examples.greeter.v1.Greeter]
  failFast: true
`]);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatMeshIssue).join('\n'));
  const filters = codecFilters(r.config, node({ app: 'greeter' }));
  assert.deepEqual(filters.map((f) => f['name']), ['remora.filters.http.grpc_validation']);
  const v = filters[0]!['typed_config'] as Record<string, unknown>;
  assert.deepEqual(v['services'], ['remora.examples.greeter.v1.Greeter']);
  assert.equal(v['fail_fast'], true);
});

test('relative protoFiles resolve against the mesh file directory; a syntax error is reported with file:line', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-mesh-proto-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'proto'));
  fs.copyFileSync(GREETER, path.join(dir, 'proto', 'greeter.proto'));
  const ok = load([WORKLOAD, transcoder('', 'protoFiles: [proto/greeter.proto]')], dir);
  assert.ok(ok.ok, ok.ok ? '' : ok.errors.map(formatMeshIssue).join('\n'));
  fs.writeFileSync(path.join(dir, 'proto', 'greeter.proto'), 'syntax = "proto3";\npackage a;\nmessage B {\n  int32 x = \n}\n');
  const bad = load([WORKLOAD, transcoder('', 'protoFiles: [proto/greeter.proto]')], dir);
  assert.equal(bad.ok, false);
  const msg = bad.ok ? '' : bad.errors.map(formatMeshIssue).join('\n');
  assert.match(msg, new RegExp(`spec\\.descriptors\\.protoFiles\\[0\\]: ${path.join(dir, 'proto', 'greeter.proto').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:5: `));
});

test('checks services, methods, the descriptor source and one transcoder per workload', () => {
  const r = load([
    WORKLOAD,
    transcoder('  validation: { methods: [remora.examples.greeter.v1.Greeter/Nope] }\n').replace('services: [remora.examples.greeter.v1.Greeter]', 'services: [remora.examples.greeter.v1.Greeter, x.Missing]'),
    transcoder('  validation: { services: [remora.examples.greeter.v1.Greeter] }\n', 'reflection: true', 'second'),
    transcoder('', `protoFiles: [${GREETER}], descriptorSet: x.pb`, 'third'),
    transcoder('', `protoFiles: [${GREETER}]`, 'fourth'),
  ]);
  assert.equal(r.ok, false);
  const msgs = r.ok ? [] : r.errors.map(formatMeshIssue);
  const has = (re: RegExp) => assert.ok(msgs.some((m) => re.test(m)), `${re} in\n${msgs.join('\n')}`);
  has(/spec\.validation\.methods\[0\]: service '.*Greeter' has no method 'Nope'/);
  has(/GrpcTranscoder\/second .*spec\.validation: needs protoFiles or descriptorSet/);
  has(/GrpcTranscoder\/third .*spec\.descriptors: only one of protoFiles, descriptorSet or reflection/);
  has(/GrpcTranscoder\/fourth .*spec\.workloadSelector: WorkloadEntry demo\/greeter-v1 is already selected for transcoding/);
  has(/spec\.services\[1\]: service 'x\.Missing' is not in the descriptors/);
});

test('descriptors from server reflection: the sidecar gets a ReflectionTranscoder aimed at the app port', () => {
  const r = load([WORKLOAD, transcoder('  options: { autoMapping: true, printOptions: { addWhitespace: true } }\n', 'reflection: true')]);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatMeshIssue).join('\n'));
  const t = r.config.grpcTranscoders![0]!;
  assert.deepEqual(t.descriptors, { kind: 'reflection' });
  assert.equal(t.descriptorSet, null);
  const filters = codecFilters(r.config, node({ app: 'greeter', version: 'v1' }));
  assert.deepEqual(filters, [{
    name: 'envoy.filters.http.grpc_json_transcoder',
    typed_config: {
      '@type': 'type.googleapis.com/remora.filters.http.grpc_json_transcoder.v1.ReflectionTranscoder',
      config: { services: ['remora.examples.greeter.v1.Greeter'], auto_mapping: true, print_options: { add_whitespace: true } },
      reflection_target: '127.0.0.1:50051',
    },
  }]);
  // No known app port: no transcoder (the sidecar would not know whom to ask).
  assert.deepEqual(codecFilters(r.config, { ...node({ app: 'greeter' }), appPorts: [] }), []);
  const v = load([WORKLOAD, `apiVersion: remora.dev/v1alpha1
kind: GrpcValidation
metadata: { name: v, namespace: demo }
spec:
  services: [remora.examples.greeter.v1.Greeter]
  descriptors: { reflection: true }
`]);
  assert.equal(v.ok, false);
  assert.match(v.ok ? '' : v.errors.map(formatMeshIssue).join('\n'), /spec\.descriptors\.reflection: server reflection is supported on GrpcTranscoder only/);
});
