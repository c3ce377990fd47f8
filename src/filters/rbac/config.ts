/**
 * Compiles `envoy.extensions.filters.http.rbac.v3.RBAC` (listener-level `typed_config`) and
 * `RBACPerRoute` (`typed_per_filter_config`: `rbac` replaces the listener config for the route; an
 * absent `rbac` disables the filter there, as in Envoy) into a frozen `RbacConfig` holding the
 * compiled matcher trees (rbac-matcher.ts), and registers the filter. Every field is validated once
 * here with its full path; what Remora cannot evaluate is rejected, never ignored:
 * - Permissions: `and_rules`, `or_rules`, `not_rule`, `any`, `header` (route HeaderMatcher),
 *   `url_path` (`path` StringMatcher against `:path` without query), `destination_port`,
 *   `destination_port_range`, `metadata` (see below). `destination_ip`, `requested_server_name`,
 *   `uri_template` and `matcher` are rejected: the stream context has no local address or SNI.
 * - Principals: `and_ids`, `or_ids`, `not_id`, `any`, `authenticated` (`principal_name` against
 *   the verified peer certificate's URI SANs, then DNS SANs, then subject), `source_ip`,
 *   `direct_remote_ip` and `remote_ip` (all three the connection's peer address: Remora keeps no
 *   XFF-derived client address), `header`, `url_path`, `metadata`. `filter_state`,
 *   `sourced_metadata` and `custom` are rejected.
 * - `metadata`: only filter `istio_authn` (what Istio emits for requestPrincipals and
 *   `request.auth.*` conditions) with path `request.auth.principal`, `request.auth.audiences`,
 *   `request.auth.presenter` or `request.auth.claims` followed by the claim path; values
 *   `string_match`, `list_match.one_of`, `or_match`, `present_match`. They are evaluated against
 *   the request principal the JWT filter put on the stream (`ctx.requestPrincipal`).
 * - Policies: `permissions` and `principals` (each at least one); `condition` /
 *   `checked_condition` (CEL) are rejected. RBAC `audit_logging_options`, top-level `matcher` and
 *   `shadow_matcher` are rejected; stat prefixes and `track_per_rule_stats` are accepted.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/rbac_filter
 */
import type { ValidationResult } from '../../core/errors';
import { Issues, joinPath, list, msg, num, onlyFields, str } from '../../config/compile/context';
import { compileHeaderMatcher } from '../../config/compile/route-configuration';
import { compileStringMatcher } from '../../config/compile/string-matcher';
import type { ProtoObject } from '../../config/compile/proto-json';
import { CompiledHeaderMatcher } from '../../routing/header-matcher';
import { StringMatcher } from '../../routing/string-matcher';
import type { FilterRegistration } from '../filter';
import { RbacFactory } from './filter';
import { CidrRange } from './ip-address';
import {
  MD_AUDIENCES, MD_CLAIMS, MD_PRESENTER, MD_PRINCIPAL, MetadataMatch, RbacMatcher, RbacPolicy, RbacRules, ValueMatch, type RbacAction,
} from './rbac-matcher';

export const RBAC_NAME = 'envoy.filters.http.rbac';
export const RBAC_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const RBAC_PER_ROUTE_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';
/** The dynamic-metadata namespace Istio's authorization matchers read (request principal, claims). */
export const ISTIO_AUTHN_FILTER = 'istio_authn';

export interface RbacConfig {
  readonly kind: 'rbac';
  /** The enforced rules; null = nothing enforced (`rules` absent). */
  readonly rules: RbacRules | null;
  /** `shadow_rules`: evaluated and counted only; null when absent. */
  readonly shadow: RbacRules | null;
}

export interface RbacPerRouteConfig {
  readonly kind: 'rbac_per_route';
  /** The route's replacement config; null = the filter is disabled for the route. */
  readonly rbac: RbacConfig | null;
}

const ACTIONS: readonly RbacAction[] = ['ALLOW', 'DENY', 'LOG'];

// ------------------------------------------------------------------ leaves

function stringMatcher(issues: Issues, o: ProtoObject | undefined, path: string): StringMatcher | null {
  const m = compileStringMatcher(issues, o, path);
  return m === null ? null : StringMatcher.compile(m);
}

function cidr(issues: Issues, o: ProtoObject | undefined, path: string): RbacMatcher | null {
  if (o === undefined) {
    issues.add(path, 'is required');
    return null;
  }
  onlyFields(issues, o, path, ['address_prefix', 'prefix_len']);
  const addr = str(o, 'address_prefix') ?? '';
  const pl = msg(o, 'prefix_len');
  const len = pl === undefined ? 0 : Number(pl['value'] ?? 0);
  const r = CidrRange.compile(addr, len);
  if (typeof r === 'string') {
    issues.add(joinPath(path, addr === '' || r.includes('not an IP') ? 'address_prefix' : 'prefix_len'), r);
    return null;
  }
  return RbacMatcher.remoteIp(r);
}

function header(issues: Issues, o: ProtoObject | undefined, path: string): RbacMatcher | null {
  if (o === undefined) return null;
  const m = compileHeaderMatcher(issues, o, path);
  return m === null ? null : RbacMatcher.header(new CompiledHeaderMatcher(m));
}

function urlPath(issues: Issues, o: ProtoObject | undefined, path: string): RbacMatcher | null {
  if (o === undefined) return null;
  onlyFields(issues, o, path, ['path']);
  const m = stringMatcher(issues, msg(o, 'path'), joinPath(path, 'path'));
  return m === null ? null : RbacMatcher.urlPath(m);
}

function valueMatcher(issues: Issues, o: ProtoObject | undefined, path: string): ValueMatch | null {
  if (o === undefined) {
    issues.add(path, 'is required');
    return null;
  }
  onlyFields(issues, o, path, ['string_match', 'list_match', 'or_match', 'present_match']);
  if (o['string_match'] !== undefined) {
    const m = stringMatcher(issues, msg(o, 'string_match'), joinPath(path, 'string_match'));
    return m === null ? null : ValueMatch.string(m);
  }
  if (o['list_match'] !== undefined) {
    const lp = joinPath(path, 'list_match');
    const l = msg(o, 'list_match')!;
    onlyFields(issues, l, lp, ['one_of']);
    const inner = valueMatcher(issues, msg(l, 'one_of'), joinPath(lp, 'one_of'));
    return inner === null ? null : ValueMatch.oneOf(inner);
  }
  if (o['or_match'] !== undefined) {
    const op = joinPath(path, 'or_match');
    const om = msg(o, 'or_match')!;
    onlyFields(issues, om, op, ['value_matchers']);
    const vs = list(om, 'value_matchers');
    if (vs.length < 2) issues.add(joinPath(op, 'value_matchers'), 'needs at least 2 matchers');
    const out: ValueMatch[] = [];
    vs.forEach((v, i) => {
      const m = valueMatcher(issues, v, `${joinPath(op, 'value_matchers')}[${i}]`);
      if (m !== null) out.push(m);
    });
    return out.length === vs.length ? ValueMatch.or(out) : null;
  }
  if (o['present_match'] !== undefined) return ValueMatch.present(o['present_match'] === true);
  issues.add(path, 'one of string_match, list_match, or_match or present_match is required (others are not supported by Remora)');
  return null;
}

function metadata(issues: Issues, o: ProtoObject | undefined, path: string): RbacMatcher | null {
  if (o === undefined) return null;
  const before = issues.count;
  onlyFields(issues, o, path, ['filter', 'path', 'value', 'invert']);
  const filter = str(o, 'filter') ?? '';
  if (filter !== ISTIO_AUTHN_FILTER) {
    issues.add(joinPath(path, 'filter'), `only filter '${ISTIO_AUTHN_FILTER}' (the request principal and JWT claims) is supported by Remora, got '${filter}'`);
  }
  const segs = list(o, 'path');
  const keys: string[] = [];
  segs.forEach((s, i) => {
    const sp = `${joinPath(path, 'path')}[${i}]`;
    onlyFields(issues, s, sp, ['key']);
    const k = str(s, 'key') ?? '';
    if (k === '') issues.add(joinPath(sp, 'key'), 'is required');
    keys.push(k);
  });
  let source = -1;
  switch (keys[0]) {
    case 'request.auth.principal': source = MD_PRINCIPAL; break;
    case 'request.auth.audiences': source = MD_AUDIENCES; break;
    case 'request.auth.presenter': source = MD_PRESENTER; break;
    case 'request.auth.claims': source = MD_CLAIMS; break;
  }
  if (source === -1) {
    issues.add(joinPath(path, 'path'), `must start with request.auth.principal, request.auth.audiences, request.auth.presenter or request.auth.claims, got '${keys[0] ?? ''}'`);
  } else if (source === MD_CLAIMS ? keys.length < 2 : keys.length !== 1) {
    issues.add(joinPath(path, 'path'), source === MD_CLAIMS ? 'request.auth.claims needs a claim name after it' : `'${keys[0]}' takes no further keys`);
  }
  const value = valueMatcher(issues, msg(o, 'value'), joinPath(path, 'value'));
  if (issues.count !== before || value === null) return null;
  return RbacMatcher.metadata(new MetadataMatch(source, keys.slice(1), value, o['invert'] === true));
}

function port(issues: Issues, v: unknown, path: string): number | null {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
    issues.add(path, `must be a port in 0..65535, got ${JSON.stringify(v)}`);
    return null;
  }
  return v;
}

// ------------------------------------------------------------------ trees

const PERMISSION_FIELDS = [
  'and_rules', 'or_rules', 'not_rule', 'any', 'header', 'url_path', 'destination_port', 'destination_port_range', 'metadata',
];
const PRINCIPAL_FIELDS = [
  'and_ids', 'or_ids', 'not_id', 'any', 'authenticated', 'source_ip', 'direct_remote_ip', 'remote_ip', 'header', 'url_path', 'metadata',
];
const WHY_UNSUPPORTED: Readonly<Record<string, string>> = {
  destination_ip: 'destination_ip is not supported by Remora (the stream has no local address)',
  requested_server_name: 'requested_server_name is not supported by Remora (the stream has no SNI)',
  uri_template: 'uri_template is not supported by Remora',
  matcher: 'matcher (generic extension) is not supported by Remora',
  filter_state: 'filter_state is not supported by Remora',
  sourced_metadata: 'sourced_metadata is not supported by Remora',
  custom: 'custom principals are not supported by Remora',
};

/** The single oneof field set in `o`, or null (issue recorded) when none or several. */
function oneField(issues: Issues, o: ProtoObject, path: string, supported: readonly string[], what: string): string | null {
  const present = Object.keys(o).filter((k) => k !== '@type' && o[k] !== undefined);
  for (const k of present) {
    if (!supported.includes(k)) issues.add(joinPath(path, k), WHY_UNSUPPORTED[k] ?? 'field is not supported by Remora');
  }
  const ok = present.filter((k) => supported.includes(k));
  if (ok.length === 0) {
    if (present.length === 0) issues.add(path, `a ${what} needs one rule (${supported.join(', ')})`);
    return null;
  }
  if (ok.length > 1) {
    issues.add(path, `a ${what} takes exactly one rule, got ${ok.join(', ')}`);
    return null;
  }
  return present.length === 1 ? ok[0]! : null;
}

function children(issues: Issues, o: ProtoObject | undefined, path: string, field: 'rules' | 'ids', one: (issues: Issues, o: ProtoObject, path: string) => RbacMatcher | null): RbacMatcher[] | null {
  if (o === undefined) return null;
  onlyFields(issues, o, path, [field]);
  const items = list(o, field);
  const fp = joinPath(path, field);
  if (items.length === 0) issues.add(fp, 'needs at least one entry');
  const out: RbacMatcher[] = [];
  items.forEach((it, i) => {
    const m = one(issues, it, `${fp}[${i}]`);
    if (m !== null) out.push(m);
  });
  return out.length === items.length && items.length > 0 ? out : null;
}

/** Compiles an `envoy.config.rbac.v3.Permission`. */
export function compilePermission(issues: Issues, o: ProtoObject, path: string): RbacMatcher | null {
  const f = oneField(issues, o, path, PERMISSION_FIELDS, 'permission');
  const fp = f === null ? path : joinPath(path, f);
  switch (f) {
    case 'any': return RbacMatcher.any();
    case 'and_rules': { const c = children(issues, msg(o, f), fp, 'rules', compilePermission); return c === null ? null : RbacMatcher.and(c); }
    case 'or_rules': { const c = children(issues, msg(o, f), fp, 'rules', compilePermission); return c === null ? null : RbacMatcher.or(c); }
    case 'not_rule': {
      const n = msg(o, f);
      const c = n === undefined ? null : compilePermission(issues, n, fp);
      return c === null ? null : RbacMatcher.not(c);
    }
    case 'header': return header(issues, msg(o, f), fp);
    case 'url_path': return urlPath(issues, msg(o, f), fp);
    case 'metadata': return metadata(issues, msg(o, f), fp);
    case 'destination_port': {
      const p = port(issues, num(o, f), fp);
      return p === null ? null : RbacMatcher.portRange(p, p + 1);
    }
    case 'destination_port_range': {
      const r = msg(o, f)!;
      onlyFields(issues, r, fp, ['start', 'end']);
      const start = Number(r['start'] ?? 0);
      const end = Number(r['end'] ?? 0);
      if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end <= 65536 && start < end)) {
        issues.add(fp, `must be a non-empty range [start, end) within 0..65536, got [${start}, ${end})`);
        return null;
      }
      return RbacMatcher.portRange(start, end);
    }
    default: return null;
  }
}

/** Compiles an `envoy.config.rbac.v3.Principal`. */
export function compilePrincipal(issues: Issues, o: ProtoObject, path: string): RbacMatcher | null {
  const f = oneField(issues, o, path, PRINCIPAL_FIELDS, 'principal');
  const fp = f === null ? path : joinPath(path, f);
  switch (f) {
    case 'any': return RbacMatcher.any();
    case 'and_ids': { const c = children(issues, msg(o, f), fp, 'ids', compilePrincipal); return c === null ? null : RbacMatcher.and(c); }
    case 'or_ids': { const c = children(issues, msg(o, f), fp, 'ids', compilePrincipal); return c === null ? null : RbacMatcher.or(c); }
    case 'not_id': {
      const n = msg(o, f);
      const c = n === undefined ? null : compilePrincipal(issues, n, fp);
      return c === null ? null : RbacMatcher.not(c);
    }
    case 'authenticated': {
      const a = msg(o, f)!;
      onlyFields(issues, a, fp, ['principal_name']);
      if (a['principal_name'] === undefined) return RbacMatcher.authenticated(null);
      const m = stringMatcher(issues, msg(a, 'principal_name'), joinPath(fp, 'principal_name'));
      return m === null ? null : RbacMatcher.authenticated(m);
    }
    case 'source_ip':
    case 'direct_remote_ip':
    case 'remote_ip': return cidr(issues, msg(o, f), fp);
    case 'header': return header(issues, msg(o, f), fp);
    case 'url_path': return urlPath(issues, msg(o, f), fp);
    case 'metadata': return metadata(issues, msg(o, f), fp);
    default: return null;
  }
}

/** Compiles an `envoy.config.rbac.v3.RBAC` (action + policies). */
export function compileRbacRules(issues: Issues, o: ProtoObject, path: string): RbacRules | null {
  const before = issues.count;
  onlyFields(issues, o, path, ['action', 'policies']);
  const action = (str(o, 'action') ?? 'ALLOW') as RbacAction;
  if (!ACTIONS.includes(action)) issues.add(joinPath(path, 'action'), `must be ALLOW, DENY or LOG, got '${action}'`);
  const pm = msg(o, 'policies') ?? {};
  const policies: RbacPolicy[] = [];
  for (const name of Object.keys(pm).sort()) {
    const pp = `${joinPath(path, 'policies')}[${JSON.stringify(name)}]`;
    const p = msg(pm, name);
    if (p === undefined) {
      issues.add(pp, 'expected a Policy');
      continue;
    }
    onlyFields(issues, p, pp, ['permissions', 'principals']);
    const perms = list(p, 'permissions');
    const ids = list(p, 'principals');
    if (perms.length === 0) issues.add(joinPath(pp, 'permissions'), 'needs at least one permission');
    if (ids.length === 0) issues.add(joinPath(pp, 'principals'), 'needs at least one principal');
    const permissions: RbacMatcher[] = [];
    const principals: RbacMatcher[] = [];
    perms.forEach((x, i) => { const m = compilePermission(issues, x, `${joinPath(pp, 'permissions')}[${i}]`); if (m !== null) permissions.push(m); });
    ids.forEach((x, i) => { const m = compilePrincipal(issues, x, `${joinPath(pp, 'principals')}[${i}]`); if (m !== null) principals.push(m); });
    policies.push(new RbacPolicy(name, permissions, principals));
  }
  return issues.count === before ? new RbacRules(action, policies) : null;
}

const RBAC_FIELDS = ['rules', 'shadow_rules', 'rules_stat_prefix', 'shadow_rules_stat_prefix', 'track_per_rule_stats'];

function compileInto(issues: Issues, o: ProtoObject, path: string): RbacConfig {
  onlyFields(issues, o, path, RBAC_FIELDS);
  const r = msg(o, 'rules');
  const s = msg(o, 'shadow_rules');
  return {
    kind: 'rbac',
    rules: r === undefined ? null : compileRbacRules(issues, r, joinPath(path, 'rules')),
    shadow: s === undefined ? null : compileRbacRules(issues, s, joinPath(path, 'shadow_rules')),
  };
}

/** Compiles the filter's typed_config. */
export function compileRbac(o: ProtoObject, path: string): ValidationResult<RbacConfig> {
  const issues = new Issues();
  const cfg = compileInto(issues, o, path);
  return issues.result(cfg);
}

/** Compiles a route's `RBACPerRoute`. */
export function compileRbacPerRoute(o: ProtoObject, path: string): ValidationResult<RbacPerRouteConfig> {
  const issues = new Issues();
  onlyFields(issues, o, path, ['rbac']);
  const r = msg(o, 'rbac');
  const rbac = r === undefined ? null : compileInto(issues, r, joinPath(path, 'rbac'));
  return issues.result({ kind: 'rbac_per_route', rbac });
}

export const rbacRegistration: FilterRegistration<RbacConfig, RbacPerRouteConfig> = {
  name: RBAC_NAME,
  typeUrl: RBAC_TYPE_URL,
  perRouteTypeUrl: RBAC_PER_ROUTE_TYPE_URL,
  compile: compileRbac,
  compilePerRoute: compileRbacPerRoute,
  createFactory: (config, ctx) => new RbacFactory(config, ctx),
};
