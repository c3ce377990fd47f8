/**
 * AuthorizationPolicy → Envoy's `envoy.filters.http.rbac` filters on a sidecar's inbound HCM, the
 * way Istio's authz builder does it: one RBAC filter per action among the policies selecting the
 * workload (AUDIT as `LOG` first, then DENY, then ALLOW, all before the router), each rule a policy
 * named `ns[<ns>]-policy[<name>]-rule[<i>]`. A rule's `to` entries become its permissions (each an
 * `and_rules` of the operation's fields plus the `when` conditions on the destination), its `from`
 * entries its principals (each an `and_ids` of the source's fields plus the `when` conditions on the
 * caller); a missing side is `any`. Every value list is an `or_rules`/`or_ids`, every `not*` list a
 * `not_rule`/`not_id` around one. Value mapping (Istio's): principals → `authenticated.principal_name`
 * with `spiffe://` prepended; namespaces → a principal regex matching `/ns/<ns>/` inside the SPIFFE ID; ipBlocks →
 * `direct_remote_ip`; remoteIpBlocks → `remote_ip`; requestPrincipals and `request.auth.*` →
 * `metadata` on filter `istio_authn`; methods → `:method`; hosts → `:authority` ignoring case (a
 * host without a port also matches with any port); paths → `url_path`; ports → `destination_port`.
 * `*` alone matches any non-empty value; a leading/trailing `*` is a suffix/prefix match.
 * An ALLOW filter whose policies have no rules has no policies, so it denies every request (Istio's
 * "allow nothing"). Only sidecar nodes get these filters.
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import { policySelects, type AuthorizationCondition, type AuthorizationOperation, type AuthorizationPolicy, type AuthorizationSource } from '../mesh/authorization-policy';
import type { MeshConfig } from '../mesh/model';
import type { NodeView } from './node-view';

export const RBAC_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
/** HTTP filter names (unique per HCM): `envoy.filters.http.rbac` plus the action. */
export const RBAC_FILTER_NAMES = Object.freeze({
  AUDIT: 'envoy.filters.http.rbac.audit',
  DENY: 'envoy.filters.http.rbac.deny',
  ALLOW: 'envoy.filters.http.rbac.allow',
});
const AUTHN_FILTER = 'istio_authn';
const SPIFFE = 'spiffe://';

/**
 * The AuthorizationPolicies that apply to `node`: its namespace's (with a matching or no selector)
 * and the root namespace's, in (file, index) order.
 */
export function authorizationPoliciesFor(mesh: MeshConfig & { readonly authorizationPolicies?: readonly AuthorizationPolicy[] }, node: NodeView): AuthorizationPolicy[] {
  const out: AuthorizationPolicy[] = [];
  for (const p of mesh.authorizationPolicies ?? []) if (policySelects(p, node.namespace, node.labels)) out.push(p);
  return out;
}

/** RE2 literal for `s`. */
export function quoteRe2(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** Istio's StringMatcherWithPrefix: `*` → `.+`, `*x` → suffix (regex with a prefix), `x*` → prefix. */
function stringMatch(v: string, prefix = ''): ProtoObject {
  if (v === '*') return { safe_regex: { regex: '.+' } };
  if (v.startsWith('*')) {
    const rest = v.slice(1);
    return prefix === '' ? { suffix: rest } : { safe_regex: { regex: `${quoteRe2(prefix)}.*${quoteRe2(rest)}` } };
  }
  if (v.endsWith('*')) return { prefix: prefix + v.slice(0, -1) };
  return { exact: prefix + v };
}

function cidr(v: string): ProtoObject {
  const slash = v.indexOf('/');
  const addr = slash === -1 ? v : v.slice(0, slash);
  const len = slash === -1 ? (addr.includes(':') ? 128 : 32) : Number(v.slice(slash + 1));
  return { address_prefix: addr, prefix_len: { value: len } };
}

function principalId(v: string): ProtoObject {
  return { authenticated: { principal_name: stringMatch(v, SPIFFE) } };
}

function namespaceId(v: string): ProtoObject {
  return { authenticated: { principal_name: { safe_regex: { regex: `.*/ns/${v.replace(/\*/g, '.*')}/.*` } } } };
}

function metadataId(keys: readonly string[], value: ProtoObject): ProtoObject {
  return { metadata: { filter: AUTHN_FILTER, path: keys.map((key) => ({ key })), value } };
}

/** `request.headers[name]`: Istio matches each comma-separated value of the header. */
function headerId(name: string, v: string): ProtoObject {
  if (v === '*') return { header: { name, present_match: true } };
  const x = v.startsWith('*') ? `.*${quoteRe2(v.slice(1))}` : v.endsWith('*') ? `${quoteRe2(v.slice(0, -1))}.*` : quoteRe2(v);
  return { header: { name, safe_regex_match: { regex: `^${x}$|^${x},.*|.*,${x},.*|.*,${x}$` } } };
}

function methodRule(v: string): ProtoObject {
  if (v === '*') return { header: { name: ':method', present_match: true } };
  return { header: { name: ':method', string_match: stringMatch(v) } };
}

function hostRule(v: string): ProtoObject {
  const name = ':authority';
  if (v === '*') return { header: { name, present_match: true } };
  if (v.endsWith('*')) return { header: { name, string_match: { prefix: v.slice(0, -1), ignore_case: true } } };
  const withPort = v.includes(':') && !v.endsWith(']');
  if (withPort) return { header: { name, string_match: v.startsWith('*') ? { suffix: v.slice(1), ignore_case: true } : { exact: v, ignore_case: true } } };
  const host = v.startsWith('*') ? `.*${quoteRe2(v.slice(1))}` : quoteRe2(v);
  return { header: { name, safe_regex_match: { regex: `(?i)${host}(:[0-9]+)?` } } };
}

function pathRule(v: string): ProtoObject {
  return { url_path: { path: stringMatch(v) } };
}

function portRule(p: number): ProtoObject {
  return { destination_port: p };
}

type Ctor = (v: string) => ProtoObject;

/** Appends `or(values)` and `not(or(notValues))` for one field to `out`. */
function field<T>(out: ProtoObject[], values: readonly T[], notValues: readonly T[], make: (v: T) => ProtoObject, principal: boolean): void {
  const or = principal ? 'or_ids' : 'or_rules';
  const list = principal ? 'ids' : 'rules';
  if (values.length > 0) out.push({ [or]: { [list]: values.map(make) } });
  if (notValues.length > 0) out.push({ [principal ? 'not_id' : 'not_rule']: { [or]: { [list]: notValues.map(make) } } });
}

function isPermissionCondition(c: AuthorizationCondition): boolean {
  return c.kind === 'destination.port';
}

function conditionMaker(c: AuthorizationCondition): Ctor {
  switch (c.kind) {
    case 'request.headers': return (v) => headerId(c.args[0]!, v);
    case 'source.ip': return (v) => ({ direct_remote_ip: cidr(v) });
    case 'remote.ip': return (v) => ({ remote_ip: cidr(v) });
    case 'source.namespace': return namespaceId;
    case 'source.principal': return principalId;
    case 'request.auth.principal': return (v) => metadataId(['request.auth.principal'], { string_match: stringMatch(v) });
    case 'request.auth.audiences': return (v) => metadataId(['request.auth.audiences'], { string_match: stringMatch(v) });
    case 'request.auth.presenter': return (v) => metadataId(['request.auth.presenter'], { string_match: stringMatch(v) });
    case 'request.auth.claims': return (v) => metadataId(['request.auth.claims', ...c.args], { list_match: { one_of: { string_match: stringMatch(v) } } });
    case 'destination.port': return (v) => portRule(Number(v));
  }
}

function conditionRules(conds: readonly AuthorizationCondition[], principal: boolean): ProtoObject[] {
  const out: ProtoObject[] = [];
  for (const c of conds) field(out, c.values, c.notValues, conditionMaker(c), principal);
  return out;
}

function sourceIds(s: AuthorizationSource): ProtoObject[] {
  const out: ProtoObject[] = [];
  field(out, s.principals, s.notPrincipals, principalId, true);
  field(out, s.requestPrincipals, s.notRequestPrincipals, (v) => metadataId(['request.auth.principal'], { string_match: stringMatch(v) }), true);
  field(out, s.namespaces, s.notNamespaces, namespaceId, true);
  field(out, s.ipBlocks, s.notIpBlocks, (v) => ({ direct_remote_ip: cidr(v) }), true);
  field(out, s.remoteIpBlocks, s.notRemoteIpBlocks, (v) => ({ remote_ip: cidr(v) }), true);
  return out;
}

function operationRules(o: AuthorizationOperation): ProtoObject[] {
  const out: ProtoObject[] = [];
  field(out, o.hosts, o.notHosts, hostRule, false);
  field(out, o.methods, o.notMethods, methodRule, false);
  field(out, o.paths, o.notPaths, pathRule, false);
  field(out, o.ports, o.notPorts, portRule, false);
  return out;
}

function andOf(parts: ProtoObject[], principal: boolean): ProtoObject {
  if (parts.length === 0) return { any: true };
  return principal ? { and_ids: { ids: parts } } : { and_rules: { rules: parts } };
}

/** The Envoy RBAC policies of `policies` (all of one action), keyed by Istio's rule names. */
export function rbacPolicies(policies: readonly AuthorizationPolicy[]): ProtoObject {
  const out: ProtoObject = {};
  for (const p of policies) {
    p.rules.forEach((r, i) => {
      const whenPerm = conditionRules(r.when.filter(isPermissionCondition), false);
      const whenIds = conditionRules(r.when.filter((c) => !isPermissionCondition(c)), true);
      const permissions = r.to.length === 0 ? [andOf(whenPerm, false)] : r.to.map((o) => andOf([...operationRules(o), ...whenPerm], false));
      const principals = r.from.length === 0 ? [andOf(whenIds, true)] : r.from.map((s) => andOf([...sourceIds(s), ...whenIds], true));
      out[`ns[${p.meta.namespace}]-policy[${p.meta.name}]-rule[${i}]`] = { permissions, principals };
    });
  }
  return out;
}

/**
 * The inbound HTTP filters (before the router) enforcing `policies`: AUDIT (`LOG`), DENY, then
 * ALLOW, each present only when some policy has that action. Empty without policies.
 */
export function authorizationFilters(policies: readonly AuthorizationPolicy[]): ProtoObject[] {
  const out: ProtoObject[] = [];
  const actions = [['AUDIT', 'LOG'], ['DENY', 'DENY'], ['ALLOW', 'ALLOW']] as const;
  for (const [istio, envoy] of actions) {
    const selected = policies.filter((p) => p.action === istio);
    if (selected.length === 0) continue;
    out.push({
      name: RBAC_FILTER_NAMES[istio],
      typed_config: { '@type': RBAC_TYPE_URL, rules: { action: envoy, policies: rbacPolicies(selected) } },
    });
  }
  return out;
}
