/**
 * RateLimitPolicy → the HTTP filters of a sidecar's inbound HCM (rate limits protect the server, so
 * they run where its traffic arrives): `local.tokenBucket` becomes `envoy.filters.http.local_ratelimit`
 * (one bucket per sidecar, enforced at 100%, 429 / RESOURCE_EXHAUSTED with draft-03 `x-ratelimit-*`
 * headers) and `global` becomes `remora.filters.http.global_ratelimit`
 * (proto/remora/filters/http/global_ratelimit/v1alpha1/global_ratelimit.proto), local first.
 * `local.descriptors` become the filter's `descriptors` (a matched one replaces the default bucket:
 * `always_consume_default_token_bucket: false`) plus inbound virtual-host `rate_limits` actions that
 * produce them (`addInboundRateLimits`). Only
 * sidecar nodes get them; proxyless clients have no inbound listener.
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import { labelsMatch } from '../mesh/load-mesh-config';
import type { LocalRateLimitEntry, MeshConfig, RateLimitEntry, RateLimitPolicy } from '../mesh/model';
import { duration } from './envoy-builders';
import type { NodeView } from './node-view';

export const LOCAL_RATELIMIT_FILTER_NAME = 'envoy.filters.http.local_ratelimit';
export const LOCAL_RATELIMIT_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
export const GLOBAL_RATELIMIT_FILTER_NAME = 'remora.filters.http.global_ratelimit';
export const GLOBAL_RATELIMIT_TYPE_URL = 'type.googleapis.com/remora.filters.http.global_ratelimit.v1alpha1.GlobalRateLimit';

const ALWAYS: ProtoObject = { default_value: { numerator: 100, denominator: 'HUNDRED' } };

/**
 * The RateLimitPolicy that applies to `node` (its namespace and effective labels), or null. Policies
 * are in (file, index) order and validation allows one per WorkloadEntry; should a node's asserted
 * labels select several, the first one applies.
 */
export function rateLimitPolicyFor(mesh: MeshConfig, node: NodeView): RateLimitPolicy | null {
  for (const p of mesh.rateLimitPolicies ?? []) {
    if (p.meta.namespace === node.namespace && labelsMatch(p.selector, node.labels)) return p;
  }
  return null;
}

function action(e: RateLimitEntry): ProtoObject {
  switch (e.kind) {
    case 'header': return { request_headers: { header_name: e.header, descriptor_key: e.key } };
    case 'value': return { generic_key: { descriptor_key: e.key, descriptor_value: e.value } };
    case 'remoteAddress': return { remote_address: {} };
  }
}

function tokenBucket(b: { readonly maxTokens: number; readonly tokensPerFill: number; readonly fillIntervalMs: number }): ProtoObject {
  return { max_tokens: b.maxTokens, tokens_per_fill: { value: b.tokensPerFill }, fill_interval: duration(b.fillIntervalMs) };
}

/** The route action producing a local descriptor entry's value (its key is the descriptor key). */
function localAction(e: LocalRateLimitEntry): ProtoObject {
  switch (e.kind) {
    case 'header': return { request_headers: { header_name: e.header, descriptor_key: e.key } };
    case 'value': return { generic_key: { descriptor_key: e.key, descriptor_value: e.value } };
    case 'remoteAddress': return { remote_address: {} };
  }
}

/**
 * The virtual-host `rate_limits` that make requests produce the descriptors of `policy.local.descriptors`:
 * one RateLimit per distinct entry-source list (descriptors that differ only in their values share
 * one), in first-use order. Empty without local descriptors.
 */
export function localRateLimitActions(policy: RateLimitPolicy | null): ProtoObject[] {
  if (policy === null || policy.local === null) return [];
  const out: ProtoObject[] = [];
  const seen = new Set<string>();
  for (const d of policy.local.descriptors) {
    const actions = d.entries.map(localAction);
    const k = JSON.stringify(actions);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ actions });
  }
  return out;
}

/**
 * Adds `policy`'s local descriptor actions as `rate_limits` to each inbound virtual host (their
 * routes have none of their own, so Envoy's vh_rate_limits OVERRIDE applies them). Mutates the
 * freshly built `vhosts`; a no-op without local descriptors, so other configs are unchanged.
 */
export function addInboundRateLimits(vhosts: ProtoObject[], policy: RateLimitPolicy | null): void {
  const rateLimits = localRateLimitActions(policy);
  if (rateLimits.length === 0) return;
  for (const vh of vhosts) vh['rate_limits'] = rateLimits;
}

/** The inbound HTTP filters (before the router) for `policy`; empty when it is null. */
export function rateLimitFilters(policy: RateLimitPolicy | null): ProtoObject[] {
  if (policy === null) return [];
  const out: ProtoObject[] = [];
  if (policy.local !== null) {
    const local = policy.local;
    const cfg: ProtoObject = {
      '@type': LOCAL_RATELIMIT_TYPE_URL,
      stat_prefix: 'inbound_local_ratelimit',
      token_bucket: tokenBucket(local),
      filter_enabled: ALWAYS,
      filter_enforced: ALWAYS,
      enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
      rate_limited_as_resource_exhausted: true,
    };
    if (local.descriptors.length > 0) {
      cfg['descriptors'] = local.descriptors.map((d) => ({
        entries: d.entries.map((e) => ({ key: e.key, value: e.value })),
        token_bucket: tokenBucket(d),
      }));
      // A matched descriptor's bucket replaces the default one (it is not also charged).
      cfg['always_consume_default_token_bucket'] = { value: false };
    }
    out.push({ name: LOCAL_RATELIMIT_FILTER_NAME, typed_config: cfg });
  }
  if (policy.global !== null) {
    const g = policy.global;
    const redis: ProtoObject = { address: g.redisAddress };
    if (g.redisTimeoutMs !== null) redis['timeout'] = duration(g.redisTimeoutMs);
    const cfg: ProtoObject = {
      '@type': GLOBAL_RATELIMIT_TYPE_URL,
      domain: g.domain,
      redis,
      descriptors: g.descriptors.map((d) => ({
        entries: d.entries.map(action),
        limit: { requests_per_unit: d.requestsPerUnit, unit: d.unit },
      })),
      enable_x_ratelimit_headers: true,
    };
    if (g.failureModeDeny) cfg['failure_mode_deny'] = true;
    out.push({ name: GLOBAL_RATELIMIT_FILTER_NAME, typed_config: cfg });
  }
  return out;
}
