/**
 * VirtualService `corsPolicy` → the inbound HCM's gRPC-Web + CORS filters and the Envoy CorsPolicy
 * of the inbound route: validation errors with paths, the translated policy (checked by compiling
 * it with the data plane's CORS filter compiler), and configs without a corsPolicy unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProtoObject } from '../../config/compile/proto-json';
import { compileCorsPolicy } from '../../filters/cors/config';
import { formatMeshIssue, loadMeshConfig, type MeshConfig } from '../mesh';
import { nodeView } from './node-view';
import { browserFilters, inboundCorsPerFilterConfig } from './cors';

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: greeter, namespace: demo}
spec:
  hosts: [greeter.demo.svc]
  ports: [{number: 8080, name: grpc, protocol: GRPC}]
  workloadSelector: {labels: {app: greeter}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: greeter-v1, namespace: demo}
spec: {address: 127.0.0.1, ports: {grpc: 15106}, labels: {app: greeter}}
`;

const VS = (cors: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: demo}
spec:
  hosts: [greeter.demo.svc]
  http:
  - route: [{destination: {host: greeter.demo.svc}}]
${cors}`;

function load(...docs: string[]) {
  return loadMeshConfig(new Map([['m.yaml', [SE, ...docs].join('---\n')]]));
}

function mesh(...docs: string[]): MeshConfig {
  const r = load(...docs);
  if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
  return r.config;
}

const SERVER = nodeView({ id: 's', cluster: '', metadata: { WORKLOAD_NAME: 'greeter-v1', NAMESPACE: 'demo', LABELS: { app: 'greeter' } } });

test('corsPolicy → CorsPolicy on the inbound route and grpc_web + cors filters', () => {
  const m = mesh(VS(`    corsPolicy:
      allowOrigins: [{exact: "https://app.example"}, {regex: "https://.*\\\\.corp\\\\.example"}]
      allowMethods: [POST, GET]
      allowHeaders: [content-type, x-grpc-web]
      exposeHeaders: [grpc-status, grpc-message]
      maxAge: 24h
      allowCredentials: true
      unmatchedPreflights: IGNORE
`));
  const cfg = inboundCorsPerFilterConfig(m, 'greeter.demo.svc');
  assert.ok(cfg !== null);
  const policy = cfg['envoy.filters.http.cors'] as ProtoObject;
  assert.deepEqual(policy, {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
    allow_origin_string_match: [{ exact: 'https://app.example' }, { safe_regex: { regex: 'https://.*\\.corp\\.example' } }],
    allow_methods: 'POST,GET',
    allow_headers: 'content-type,x-grpc-web',
    expose_headers: 'grpc-status,grpc-message',
    max_age: '86400',
    allow_credentials: { value: true },
    forward_not_matching_preflights: { value: false },
  });
  // The data plane accepts what the control plane emits.
  const compiled = compileCorsPolicy(policy, 'p');
  assert.ok(compiled.ok, JSON.stringify(!compiled.ok && compiled.errors));
  assert.equal(compiled.value.forwardNotMatchingPreflights, false);
  assert.deepEqual(browserFilters(m, SERVER).map((f) => f['name']), ['envoy.filters.http.grpc_web', 'envoy.filters.http.cors']);
});

test('no corsPolicy: no filters, no per-route config', () => {
  const m = mesh(VS(''));
  assert.equal(inboundCorsPerFilterConfig(m, 'greeter.demo.svc'), null);
  assert.deepEqual(browserFilters(m, SERVER), []);
});

test('invalid corsPolicy fields are reported with their paths', () => {
  const r = load(VS(`    corsPolicy:
      allowOrigin: ["*"]
      allowOrigins: [{suffix: x}]
      allowMethods: ["PO ST"]
      maxAge: 1500ms
      unmatchedPreflights: DROP
`));
  assert.ok(!r.ok);
  const text = r.errors.map(formatMeshIssue).join('\n');
  for (const p of ['corsPolicy.allowOrigin', 'corsPolicy.allowOrigins[0]', 'corsPolicy.allowMethods[0]', 'corsPolicy.maxAge', 'corsPolicy.unmatchedPreflights']) {
    assert.ok(text.includes(p), `${p} missing in:\n${text}`);
  }
});
