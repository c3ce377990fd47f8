/**
 * RequestAuthentication: validation with field paths, and translation into the inbound HCM's
 * `envoy.filters.http.jwt_authn` in Istio's shape (providers `origins-<n>`, one `/` rule requiring
 * any provider or allow_missing), placed before RBAC and the router, and accepted by the sidecar's
 * own jwt_authn compiler after a round trip through the Envoy protos.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtoBinary, packAny, type ProtoObject } from '../../config/compile';
import { compileJwtAuthn } from '../../filters/jwt-authn/config';
import { loadEnvoyProtos } from '../../xds/protos';
import { TYPE_URL, type NodeIdentity } from '../cache/resources';
import { formatMeshIssue, loadMeshConfig, type MeshConfig, type MeshConfigIssue } from '../mesh';
import { translateForNode } from './index';
import { JWT_AUTHN_TYPE_URL } from './request-authentication';

const root = loadEnvoyProtos();
const JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1' }] });

const BASE = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.shop.svc]
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-1, namespace: shop}
spec: {address: 127.0.0.1, labels: {app: api}, ports: {http: 15106}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web-1, namespace: shop}
spec: {address: 127.0.0.1, labels: {app: web}}
`;

function load(extra: string): { ok: true; config: MeshConfig } | { ok: false; errors: readonly MeshConfigIssue[] } {
  return loadMeshConfig(new Map([['mesh.yaml', BASE + '---\n' + extra]]));
}

function ok(extra: string): MeshConfig {
  const r = load(extra);
  if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
  return r.config;
}

function errors(extra: string): string[] {
  const r = load(extra);
  assert.equal(r.ok, false);
  return (r as { errors: readonly MeshConfigIssue[] }).errors.map((e) => `${e.path}: ${e.message}`);
}

function node(workload: string): NodeIdentity {
  return { id: workload, cluster: '', metadata: { WORKLOAD_NAME: workload, NAMESPACE: 'shop', APP_PORTS: [8080] } };
}

function inboundFilters(m: MeshConfig, workload: string): ProtoObject[] {
  const l = translateForNode(m, node(workload)).byType.get(TYPE_URL.LISTENER)!.get('inbound');
  if (l === undefined) return [];
  const chains = l['filter_chains'] as ProtoObject[];
  const hcm = (chains[chains.length - 1]!['filters'] as ProtoObject[])[0]!['typed_config'] as ProtoObject;
  // istio.stats (telemetry) is on every sidecar HCM; these tests look at the request filters.
  return (hcm['http_filters'] as ProtoObject[]).filter((f) => f['name'] !== 'istio.stats');
}

const RA = `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  jwtRules:
  - issuer: https://issuer.test
    audiences: [api]
    jwks: '${JWKS}'
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders: [{header: x-sub, claim: sub}]
  - issuer: https://other.test
    jwksUri: https://other.test/.well-known/jwks.json
    fromHeaders: [{name: x-token, prefix: 'Token '}]
    fromParams: [tok]
    forwardOriginalToken: true
    timeout: 2s
`;

describe('RequestAuthentication', () => {
  it('translates to jwt_authn in Istio shape, first in the inbound HCM', () => {
    const m = ok(RA);
    const filters = inboundFilters(m, 'api-1');
    const names = filters.map((f) => f['name']);
    assert.equal(names[0], 'envoy.filters.http.jwt_authn');
    assert.equal(names[names.length - 1], 'envoy.filters.http.router');
    const cfg = filters[0]!['typed_config'] as ProtoObject;
    assert.equal(cfg['@type'], JWT_AUTHN_TYPE_URL);
    assert.deepEqual(cfg['rules'], [{
      match: { prefix: '/' },
      requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { provider_name: 'origins-1' }, { allow_missing: {} }] } },
    }]);
    const providers = cfg['providers'] as Record<string, ProtoObject>;
    assert.deepEqual(providers['origins-0'], {
      issuer: 'https://issuer.test', payload_in_metadata: 'https://issuer.test', audiences: ['api'], local_jwks: { inline_string: JWKS },
      forward_payload_header: 'x-jwt-payload', claim_to_headers: [{ header_name: 'x-sub', claim_name: 'sub' }],
    });
    const o1 = providers['origins-1']!;
    assert.equal(o1['forward'], true);
    assert.deepEqual(o1['from_headers'], [{ name: 'x-token', value_prefix: 'Token ' }]);
    assert.deepEqual(o1['from_params'], ['tok']);
    assert.equal((o1['remote_jwks'] as ProtoObject)['http_uri'] !== undefined, true);

    // Round trip through the Envoy protos, then the sidecar's compiler accepts it.
    const any = packAny(root, JWT_AUTHN_TYPE_URL, cfg);
    const decoded = decodeProtoBinary(root, 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication', any.value);
    const compiled = compileJwtAuthn(decoded, 'jwt');
    assert.ok(compiled.ok, JSON.stringify(!compiled.ok && compiled.errors));
    assert.equal(compiled.value.providers['origins-1']!.jwks.kind, 'remote');
    assert.deepEqual(compiled.value.providers['origins-1']!.fromHeaders, [{ name: 'x-token', valuePrefix: 'Token ' }]);
  });

  it('applies only to selected workloads; no selector = the whole namespace', () => {
    const m = ok(RA);
    assert.ok(!inboundFilters(m, 'web-1').some((f) => f['name'] === 'envoy.filters.http.jwt_authn'));
    const ns = ok(RA.replace("  selector: {matchLabels: {app: api}}\n", ''));
    assert.equal(inboundFilters(ns, 'api-1')[0]!['name'], 'envoy.filters.http.jwt_authn');
    assert.ok(!inboundFilters(ok(''), 'api-1').some((f) => f['name'] === 'envoy.filters.http.jwt_authn'), 'no policy, no filter');
  });

  it('accepts security.istio.io/v1beta1', () => {
    ok(RA.replace('security.istio.io/v1', 'security.istio.io/v1beta1'));
  });

  it('reports every problem with its field path', () => {
    const errs = errors(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: bad, namespace: shop}
spec:
  targetRef: {kind: Service, name: api}
  jwtRules:
  - audiences: [a]
    jwks: '{"keys": 5}'
  - issuer: i2
  - issuer: i3
    jwks: 'not json'
    jwksUri: ftp://x
  - issuer: i4
    jwks: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}'
    fromHeaders: [{prefix: 'Bearer '}]
    outputPayloadToHeader: 'bad header'
    bogus: 1
`);
    const expect = [
      /^spec\.targetRef: /,
      /^spec\.jwtRules\[0\]\.issuer: is required/,
      /^spec\.jwtRules\[0\]\.jwks: must be a JWK set/,
      /^spec\.jwtRules\[1\]: exactly one of jwks or jwksUri/,
      /^spec\.jwtRules\[2\]: exactly one of jwks or jwksUri/,
      /^spec\.jwtRules\[2\]\.jwks: must be a JWK set in JSON/,
      /^spec\.jwtRules\[2\]\.jwksUri: must be an http/,
      /^spec\.jwtRules\[3\]\.jwks: keys\[0\] is a symmetric/,
      /^spec\.jwtRules\[3\]\.fromHeaders\[0\]\.name: is required/,
      /^spec\.jwtRules\[3\]\.outputPayloadToHeader: invalid header name/,
      /^spec\.jwtRules\[3\]\.bogus: unknown field/,
    ];
    for (const re of expect) assert.ok(errs.some((e) => re.test(e)), `${re} not in:\n${errs.join('\n')}`);
  });

  it('rejects a duplicate issuer within one policy', () => {
    const errs = errors(RA.replace('https://other.test\n', 'https://issuer.test\n'));
    assert.ok(errs.some((e) => /jwtRules\[1\]\.issuer: issuer 'https:\/\/issuer.test' is already configured/.test(e)), errs.join('\n'));
  });
});
