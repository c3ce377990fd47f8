/**
 * RequestAuthentication → the `envoy.filters.http.jwt_authn` HTTP filter of a sidecar's inbound
 * HCM, shaped as Istio generates it: every `jwtRule` of every RequestAuthentication that selects
 * the workload (same namespace; no selector = all its workloads; policies in (file, index) order)
 * becomes a provider `origins-<n>` (issuer, audiences, inline `local_jwks` or `remote_jwks` with
 * the URI — its `cluster` is a placeholder the sidecar does not use —, `from_headers`,
 * `from_params`, `forward`, `forward_payload_header`, `claim_to_headers`, `payload_in_metadata`),
 * and one rule for prefix `/` requires any of the providers or `allow_missing`: a missing token
 * passes (an AuthorizationPolicy with `requestPrincipals` can demand one), an invalid one is 401.
 * CORS preflights bypass verification, as in Istio. Only sidecar nodes get it.
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import { labelsMatch } from '../mesh/load-mesh-config';
import type { MeshConfig } from '../mesh/model';
import type { JwtRule, RequestAuthentication } from '../mesh/request-authentication';
import { duration } from './envoy-builders';
import type { NodeView } from './node-view';

export const JWT_AUTHN_FILTER_NAME = 'envoy.filters.http.jwt_authn';
export const JWT_AUTHN_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
/** Istio's default JWKS cache duration (its `PILOT_JWT_PUB_KEY_REFRESH_INTERVAL` is 20 min; Envoy's default 5 min). */
const JWKS_CACHE_MS = 5 * 60_000;
/** `http_uri.cluster` is required by Envoy's proto; Remora's sidecar fetches the URI directly. */
const JWKS_CLUSTER_PLACEHOLDER = 'remora-jwks-direct';

/** The RequestAuthentications that apply to `node`, in (file, index) order. */
export function requestAuthenticationsFor(mesh: MeshConfig, node: NodeView): RequestAuthentication[] {
  const out: RequestAuthentication[] = [];
  for (const ra of mesh.requestAuthentications ?? []) {
    if (ra.meta.namespace !== node.namespace) continue;
    if (ra.selector !== null && !labelsMatch(ra.selector, node.labels)) continue;
    out.push(ra);
  }
  return out;
}

function provider(r: JwtRule): ProtoObject {
  const p: ProtoObject = { issuer: r.issuer, payload_in_metadata: r.issuer };
  if (r.audiences.length > 0) p['audiences'] = [...r.audiences];
  if (r.jwks !== null) p['local_jwks'] = { inline_string: r.jwks };
  else {
    p['remote_jwks'] = {
      http_uri: { uri: r.jwksUri, cluster: JWKS_CLUSTER_PLACEHOLDER, timeout: duration(r.timeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS) },
      cache_duration: duration(JWKS_CACHE_MS),
    };
  }
  if (r.forwardOriginalToken) p['forward'] = true;
  if (r.fromHeaders.length > 0) p['from_headers'] = r.fromHeaders.map((h) => (h.prefix === '' ? { name: h.name } : { name: h.name, value_prefix: h.prefix }));
  if (r.fromParams.length > 0) p['from_params'] = [...r.fromParams];
  if (r.outputPayloadToHeader !== null) p['forward_payload_header'] = r.outputPayloadToHeader;
  if (r.outputClaimToHeaders.length > 0) p['claim_to_headers'] = r.outputClaimToHeaders.map((c) => ({ header_name: c.header, claim_name: c.claim }));
  return p;
}

/** The JwtAuthentication typed config for `policies`, or null when they carry no jwtRules. */
export function jwtAuthnConfig(policies: readonly RequestAuthentication[]): ProtoObject | null {
  const providers: ProtoObject = {};
  const requirements: ProtoObject[] = [];
  let n = 0;
  for (const ra of policies) {
    for (const r of ra.jwtRules) {
      const name = `origins-${n++}`;
      providers[name] = provider(r);
      requirements.push({ provider_name: name });
    }
  }
  if (n === 0) return null;
  requirements.push({ allow_missing: {} });
  return {
    '@type': JWT_AUTHN_TYPE_URL,
    providers,
    rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements } } }],
    bypass_cors_preflight: true,
  };
}

/** The inbound HCM's jwt_authn filter entry for `node` ([] when no RequestAuthentication applies). */
export function requestAuthenticationFilters(mesh: MeshConfig, node: NodeView): ProtoObject[] {
  const cfg = jwtAuthnConfig(requestAuthenticationsFor(mesh, node));
  return cfg === null ? [] : [{ name: JWT_AUTHN_FILTER_NAME, typed_config: cfg }];
}
