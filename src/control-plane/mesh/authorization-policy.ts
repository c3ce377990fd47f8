/**
 * Validates `security.istio.io/v1` (and `v1beta1`) `AuthorizationPolicy` documents into
 * `AuthorizationPolicy`: which workloads enforce it (`selector.matchLabels` in the policy's
 * namespace; no selector = every workload of the namespace; a policy in the root namespace
 * `istio-system` applies mesh-wide), the `action` (ALLOW, the default, DENY or AUDIT; CUSTOM is not
 * supported yet) and the `rules` with their `from.source`, `to.operation` and `when` conditions,
 * with Istio's field names and semantics. Every value is checked here with its field path (wildcards
 * only as a single leading or trailing `*`, CIDRs, ports, condition keys), so translation
 * (`translate/authorization.ts`, Envoy's `envoy.filters.http.rbac`) never fails. Documented in
 * docs/mesh-config.md "AuthorizationPolicy".
 */
import { readSelector } from './selector-scopes';
import { isIP } from 'node:net';
import type { DocContext, Path } from './document-context';
import type { Labels, ResourceMeta } from './model';

/** API versions accepted for the security kinds (Istio's `v1` and its `v1beta1` alias). */
export const SECURITY_API_VERSIONS: readonly string[] = ['security.istio.io/v1', 'security.istio.io/v1beta1'];

/** Istio's root namespace: a policy there applies to every workload of the mesh. */
export const ROOT_NAMESPACE = 'istio-system';

export type AuthorizationAction = 'ALLOW' | 'DENY' | 'AUDIT';

/** `rules[].from[].source`: every list may be empty (= not constrained). */
export interface AuthorizationSource {
  readonly principals: readonly string[];
  readonly notPrincipals: readonly string[];
  readonly requestPrincipals: readonly string[];
  readonly notRequestPrincipals: readonly string[];
  readonly namespaces: readonly string[];
  readonly notNamespaces: readonly string[];
  readonly ipBlocks: readonly string[];
  readonly notIpBlocks: readonly string[];
  readonly remoteIpBlocks: readonly string[];
  readonly notRemoteIpBlocks: readonly string[];
}

/** `rules[].to[].operation`. Ports are validated integers 0..65535. */
export interface AuthorizationOperation {
  readonly hosts: readonly string[];
  readonly notHosts: readonly string[];
  readonly ports: readonly number[];
  readonly notPorts: readonly number[];
  readonly methods: readonly string[];
  readonly notMethods: readonly string[];
  readonly paths: readonly string[];
  readonly notPaths: readonly string[];
}

/** The condition keys Remora supports (Istio's names). */
export type ConditionKind =
  | 'request.headers' | 'source.ip' | 'remote.ip' | 'source.namespace' | 'source.principal' | 'request.auth.principal'
  | 'request.auth.audiences' | 'request.auth.presenter' | 'request.auth.claims' | 'destination.port';

/** `rules[].when[]`: at least one of values / notValues is non-empty. */
export interface AuthorizationCondition {
  readonly key: string;
  readonly kind: ConditionKind;
  /** The header name (lower-cased) for `request.headers[...]`, the claim path for `request.auth.claims[...]`; else []. */
  readonly args: readonly string[];
  readonly values: readonly string[];
  readonly notValues: readonly string[];
}

export interface AuthorizationRule {
  readonly from: readonly AuthorizationSource[];
  readonly to: readonly AuthorizationOperation[];
  readonly when: readonly AuthorizationCondition[];
}

export interface AuthorizationPolicy {
  readonly meta: ResourceMeta;
  /** `selector.matchLabels`; null = every workload of the namespace (mesh-wide in ROOT_NAMESPACE). */
  readonly selector: Labels | null;
  readonly action: AuthorizationAction;
  /** Empty = matches nothing (an ALLOW policy without rules denies everything it selects). */
  readonly rules: readonly AuthorizationRule[];
}

const SOURCE_FIELDS = [
  'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces',
  'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks',
] as const;
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
const SIMPLE_KEYS: readonly ConditionKind[] = [
  'source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'request.auth.principal', 'request.auth.audiences',
  'request.auth.presenter', 'destination.port',
];
const NOT_SUPPORTED_KEYS = ['destination.ip', 'connection.sni'];
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** Null when `v` is `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `v6/n`; else the reason. */
export function cidrProblem(v: string): string | null {
  const slash = v.indexOf('/');
  const addr = slash === -1 ? v : v.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return `'${v}' is not an IP address or CIDR range`;
  if (slash === -1) return null;
  const len = v.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) return `'${v}' has an invalid prefix length (0..${max})`;
  return null;
}

/** Istio's wildcard rule: `*` alone, or one leading or trailing `*` (never in the middle). */
function wildcardProblem(v: string): string | null {
  if (v === '*') return null;
  const inner = v.slice(1, -1);
  if (inner.includes('*') || (v.startsWith('*') && v.endsWith('*'))) return `'${v}': '*' is allowed only alone, as a prefix or as a suffix`;
  return null;
}

function checkValues(ctx: DocContext, values: readonly string[], p: Path, check: (v: string) => string | null): void {
  values.forEach((v, i) => {
    const problem = CONTROL_RE.test(v) ? 'must not contain control characters' : check(v);
    if (problem !== null) ctx.err([...p, i], problem);
  });
}

function pathProblem(v: string): string | null {
  if (v.includes('{')) return `'${v}': path templates ({*}, {**}) are not supported yet`;
  if (!v.startsWith('/') && !v.startsWith('*')) return `'${v}' must start with '/' or '*'`;
  return wildcardProblem(v);
}

function portValue(ctx: DocContext, v: unknown, p: Path): number | null {
  const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) {
    ctx.err(p, `expected a port number 0..65535, got ${JSON.stringify(v)}`);
    return null;
  }
  return n;
}

function portList(ctx: DocContext, o: Record<string, unknown>, key: string, path: Path): number[] {
  const raw = ctx.list(o, key, path);
  const out: number[] = [];
  raw.forEach((v, i) => {
    const n = portValue(ctx, v, [...path, key, i]);
    if (n !== null) out.push(n);
  });
  return out;
}

function readSource(ctx: DocContext, v: unknown, path: Path): AuthorizationSource | null {
  const sp = [...path, 'source'];
  const outer = ctx.object(v, path, ['source']);
  if (outer === null) return null;
  if (outer['source'] === undefined || outer['source'] === null) {
    ctx.err(sp, 'is required');
    return null;
  }
  const o = ctx.object(outer['source'], sp, SOURCE_FIELDS, ['serviceAccounts', 'notServiceAccounts']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const s = {} as Record<(typeof SOURCE_FIELDS)[number], string[]>;
  for (const f of SOURCE_FIELDS) s[f] = ctx.stringList(o, f, sp);
  if (SOURCE_FIELDS.every((f) => s[f].length === 0) && ctx.errorCount === before) ctx.err(sp, 'must not be empty (set at least one field)');
  for (const f of ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces'] as const) {
    checkValues(ctx, s[f], [...sp, f], wildcardProblem);
  }
  for (const f of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const) checkValues(ctx, s[f], [...sp, f], cidrProblem);
  return ctx.errorCount === before ? s : null;
}

function readOperation(ctx: DocContext, v: unknown, path: Path): AuthorizationOperation | null {
  const op = [...path, 'operation'];
  const outer = ctx.object(v, path, ['operation']);
  if (outer === null) return null;
  if (outer['operation'] === undefined || outer['operation'] === null) {
    ctx.err(op, 'is required');
    return null;
  }
  const o = ctx.object(outer['operation'], op, OPERATION_FIELDS);
  if (o === null) return null;
  const before = ctx.errorCount;
  const hosts = ctx.stringList(o, 'hosts', op);
  const notHosts = ctx.stringList(o, 'notHosts', op);
  const methods = ctx.stringList(o, 'methods', op);
  const notMethods = ctx.stringList(o, 'notMethods', op);
  const paths = ctx.stringList(o, 'paths', op);
  const notPaths = ctx.stringList(o, 'notPaths', op);
  const ports = portList(ctx, o, 'ports', op);
  const notPorts = portList(ctx, o, 'notPorts', op);
  for (const [f, vals] of [['hosts', hosts], ['notHosts', notHosts], ['methods', methods], ['notMethods', notMethods]] as const) {
    checkValues(ctx, vals, [...op, f], wildcardProblem);
  }
  checkValues(ctx, paths, [...op, 'paths'], pathProblem);
  checkValues(ctx, notPaths, [...op, 'notPaths'], pathProblem);
  const all = [hosts, notHosts, methods, notMethods, paths, notPaths, ports, notPorts];
  if (all.every((l) => l.length === 0) && ctx.errorCount === before) ctx.err(op, 'must not be empty (set at least one field)');
  return ctx.errorCount === before ? { hosts, notHosts, ports, notPorts, methods, notMethods, paths, notPaths } : null;
}

/** Parses a condition key into its kind and arguments; null (with the reason) when unsupported. */
export function parseConditionKey(key: string): { kind: ConditionKind; args: string[] } | string {
  if ((SIMPLE_KEYS as readonly string[]).includes(key)) return { kind: key as ConditionKind, args: [] };
  const h = /^request\.headers\[([^\][]+)\]$/.exec(key);
  if (h !== null) {
    if (!HEADER_NAME_RE.test(h[1]!)) return `invalid header name '${h[1]}' in key '${key}'`;
    return { kind: 'request.headers', args: [h[1]!.toLowerCase()] };
  }
  if (/^request\.auth\.claims(\[[^\][]+\])+$/.test(key)) {
    const args = key.slice('request.auth.claims['.length, -1).split('][');
    return { kind: 'request.auth.claims', args };
  }
  if (NOT_SUPPORTED_KEYS.includes(key) || key.startsWith('experimental.')) return `condition key '${key}' is not supported by Remora`;
  if (key.startsWith('request.headers') || key.startsWith('request.auth.claims')) return `malformed key '${key}' (expected ${key.startsWith('request.headers') ? 'request.headers[<name>]' : 'request.auth.claims[<claim>] or request.auth.claims[<a>][<b>]'})`;
  return `unknown condition key '${key}' (supported: request.headers[<name>], ${SIMPLE_KEYS.join(', ')}, request.auth.claims[<claim>])`;
}

function readCondition(ctx: DocContext, v: unknown, path: Path): AuthorizationCondition | null {
  const o = ctx.object(v, path, ['key', 'values', 'notValues']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const key = ctx.string(o, 'key', path, true);
  const values = ctx.stringList(o, 'values', path);
  const notValues = ctx.stringList(o, 'notValues', path);
  if (ctx.errorCount === before && values.length === 0 && notValues.length === 0) ctx.err(path, 'at least one of values or notValues must be non-empty');
  if (key === undefined) return null;
  const parsed = parseConditionKey(key);
  if (typeof parsed === 'string') {
    ctx.err([...path, 'key'], parsed);
    return null;
  }
  const check = parsed.kind === 'source.ip' || parsed.kind === 'remote.ip'
    ? cidrProblem
    : parsed.kind === 'destination.port'
      ? (x: string) => (/^\d{1,5}$/.test(x) && Number(x) <= 65535 ? null : `'${x}' is not a port number 0..65535`)
      : wildcardProblem;
  checkValues(ctx, values, [...path, 'values'], check);
  checkValues(ctx, notValues, [...path, 'notValues'], check);
  return ctx.errorCount === before ? { key, kind: parsed.kind, args: parsed.args, values, notValues } : null;
}

function readRule(ctx: DocContext, v: unknown, path: Path): AuthorizationRule | null {
  const o = ctx.object(v, path, ['from', 'to', 'when']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const from: AuthorizationSource[] = [];
  ctx.list(o, 'from', path).forEach((x, i) => { const s = readSource(ctx, x, [...path, 'from', i]); if (s !== null) from.push(s); });
  const to: AuthorizationOperation[] = [];
  ctx.list(o, 'to', path).forEach((x, i) => { const s = readOperation(ctx, x, [...path, 'to', i]); if (s !== null) to.push(s); });
  const when: AuthorizationCondition[] = [];
  ctx.list(o, 'when', path).forEach((x, i) => { const s = readCondition(ctx, x, [...path, 'when', i]); if (s !== null) when.push(s); });
  return ctx.errorCount === before ? { from, to, when } : null;
}

/** Validates one AuthorizationPolicy `spec`; null (with issues recorded) when invalid. */
export function readAuthorizationPolicy(ctx: DocContext, meta: ResourceMeta, spec: unknown): AuthorizationPolicy | null {
  const sp: Path = ['spec'];
  // `spec: {}` is valid (an ALLOW policy matching nothing).
  const o = ctx.object(spec, sp, ['selector', 'action', 'rules'], ['provider', 'targetRef', 'targetRefs']);
  if (o === null) return null;
  const before = ctx.errorCount;
  // An empty selector selects every workload of the namespace, as no selector does.
  const selector = readSelector(ctx, o, sp, 'namespace');
  let action: AuthorizationAction = 'ALLOW';
  const a = ctx.string(o, 'action', sp);
  if (a !== undefined) {
    if (a === 'CUSTOM') ctx.err([...sp, 'action'], 'CUSTOM (external authorization) is not supported yet');
    else if (a === 'ALLOW' || a === 'DENY' || a === 'AUDIT') action = a;
    else ctx.err([...sp, 'action'], `must be ALLOW, DENY or AUDIT, got '${a}'`);
  }
  const rules: AuthorizationRule[] = [];
  ctx.list(o, 'rules', sp).forEach((x, i) => {
    // `rules: [{}]` (an empty rule) matches every request.
    const r = x === null ? { from: [], to: [], when: [] } : readRule(ctx, x, [...sp, 'rules', i]);
    if (r !== null) rules.push(r);
  });
  return ctx.errorCount === before ? { meta, selector, action, rules } : null;
}

/** Does the policy apply to a workload in `namespace` with `labels`? */
export function policySelects(p: AuthorizationPolicy, namespace: string, labels: Labels): boolean {
  if (p.meta.namespace !== namespace && p.meta.namespace !== ROOT_NAMESPACE) return false;
  if (p.selector === null) return true;
  for (const k of Object.keys(p.selector)) if (labels[k] !== p.selector[k]) return false;
  return true;
}
