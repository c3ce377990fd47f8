/**
 * Compiles `envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication` and its per-route
 * `PerRouteConfig` into frozen `JwtAuthnConfig` / `JwtAuthnPerRoute` values.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/jwt_authn_filter
 *
 * Providers: `issuer`, `audiences`, `local_jwks` (`inline_string` / `inline_bytes`, parsed and
 * checked here) or `remote_jwks` (`http_uri.uri` fetched directly — `http_uri.cluster` is accepted
 * and ignored —, `http_uri.timeout`, `cache_duration` (default 5 min), `async_fetch`
 * (`failed_refetch_duration`, default 1 s; keys are always prefetched)), `from_headers`
 * (default `Authorization: Bearer `), `from_params` (default `access_token` when neither is set),
 * `forward` (default false: the token header is removed before forwarding), `forward_payload_header`
 * (+ `pad_forward_payload_header`), `claim_to_headers`, `clock_skew_seconds` (default 60, at most
 * 300: skew is bounded), `require_expiration`; `payload_in_metadata`, `header_in_metadata`,
 * `failed_status_in_metadata`, `jwt_cache_config` and `clear_route_cache` are accepted and ignored
 * (Remora has no dynamic metadata; the principal goes on the stream context instead).
 * Rules: `match` with `prefix` or `path` (+ `case_sensitive`), and `requires` (`provider_name`,
 * `provider_and_audiences`, `requires_any`, `requires_all`, `allow_missing`,
 * `allow_missing_or_failed`) or `requirement_name` into `requirement_map`; `bypass_cors_preflight`.
 * Rejected as unsupported: `subjects`, `max_lifetime`, `from_cookies`, `normalize_payload_in_metadata`,
 * `remote_jwks.retry_policy`, `local_jwks.filename`, `filter_state_rules`, `strip_failure_response`,
 * other route match specifiers. HMAC (`oct`) keys are never used (see key-set.ts).
 */
import type { ValidationResult } from '../../core/errors';
import { Issues, bool, joinPath, list, msg, num, onlyFields, optDurationMs, str, strList } from '../../config/compile/context';
import type { ProtoObject } from '../../config/compile/proto-json';
import { KeySet } from './key-set';

export const JWT_AUTHN_NAME = 'envoy.filters.http.jwt_authn';
export const JWT_AUTHN_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
export const JWT_AUTHN_PER_ROUTE_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig';

/** Default and maximum `clock_skew_seconds`. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;
export const MAX_CLOCK_SKEW_SECONDS = 300;
/** A token longer than this is refused before any parsing (401). */
export const MAX_TOKEN_BYTES = 8192;
const DEFAULT_CACHE_DURATION_MS = 5 * 60_000;
const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export interface JwtTokenHeader {
  /** Lower-case header name. */
  readonly name: string;
  /** Text before the token (`Bearer `); '' = the whole value. Matched case-insensitively. */
  readonly valuePrefix: string;
}

export type JwksSourceConfig =
  | { readonly kind: 'local'; readonly jwks: string }
  | {
    readonly kind: 'remote';
    readonly uri: string;
    readonly timeoutMs: number;
    readonly cacheDurationMs: number;
    /** `async_fetch.failed_refetch_duration`; null = the registration default (1 s). */
    readonly failedRefetchMs: number | null;
  };

export interface JwtProviderConfig {
  readonly name: string;
  /** Required `iss`; '' = any issuer (Envoy: an empty issuer is not checked). */
  readonly issuer: string;
  /** `aud` must intersect these; empty = not checked. */
  readonly audiences: readonly string[];
  readonly jwks: JwksSourceConfig;
  /** Keep the token in the request sent upstream. */
  readonly forward: boolean;
  readonly fromHeaders: readonly JwtTokenHeader[];
  readonly fromParams: readonly string[];
  /** Lower-case header for the base64url payload; null = none. */
  readonly forwardPayloadHeader: string | null;
  readonly padForwardPayloadHeader: boolean;
  /** Claims copied to request headers: `claim` is the dotted path split. */
  readonly claimToHeaders: readonly { readonly header: string; readonly claim: readonly string[] }[];
  readonly clockSkewSeconds: number;
  readonly requireExpiration: boolean;
}

export type JwtRequirementConfig =
  | { readonly kind: 'provider'; readonly provider: string; readonly audiences: readonly string[] | null }
  | { readonly kind: 'any'; readonly requirements: readonly JwtRequirementConfig[] }
  | { readonly kind: 'all'; readonly requirements: readonly JwtRequirementConfig[] }
  | { readonly kind: 'allow_missing' }
  | { readonly kind: 'allow_missing_or_failed' };

export interface JwtRuleConfig {
  readonly match: { readonly kind: 'prefix' | 'path'; readonly value: string; readonly caseSensitive: boolean };
  /** Null when `requirement_name` names a `requirement_map` entry (resolved at compile). */
  readonly requires: JwtRequirementConfig;
}

export interface JwtAuthnConfig {
  readonly kind: 'jwt_authn';
  /** Providers by name, in config order. */
  readonly providers: Readonly<Record<string, JwtProviderConfig>>;
  readonly rules: readonly JwtRuleConfig[];
  readonly requirementMap: Readonly<Record<string, JwtRequirementConfig>>;
  readonly bypassCorsPreflight: boolean;
}

export type JwtAuthnPerRoute =
  | { readonly kind: 'jwt_authn_per_route'; readonly disabled: true; readonly requirementName: null }
  | { readonly kind: 'jwt_authn_per_route'; readonly disabled: false; readonly requirementName: string };

const PROVIDER_FIELDS = [
  'issuer', 'audiences', 'remote_jwks', 'local_jwks', 'forward', 'from_headers', 'from_params', 'forward_payload_header',
  'pad_forward_payload_header', 'payload_in_metadata', 'header_in_metadata', 'failed_status_in_metadata', 'clock_skew_seconds',
  'jwt_cache_config', 'claim_to_headers', 'clear_route_cache', 'require_expiration',
];

function headerName(issues: Issues, v: string | undefined, path: string): string | null {
  if (v === undefined || v === '') {
    issues.add(path, 'is required');
    return null;
  }
  if (!HEADER_NAME_RE.test(v)) {
    issues.add(path, `invalid header name '${v}'`);
    return null;
  }
  return v.toLowerCase();
}

function compileJwks(issues: Issues, p: ProtoObject, path: string): JwksSourceConfig | null {
  const local = msg(p, 'local_jwks');
  const remote = msg(p, 'remote_jwks');
  if ((local === undefined) === (remote === undefined)) {
    issues.add(path, 'exactly one of local_jwks or remote_jwks is required');
    return null;
  }
  if (local !== undefined) {
    const lp = joinPath(path, 'local_jwks');
    onlyFields(issues, local, lp, ['inline_string', 'inline_bytes']);
    const s = str(local, 'inline_string') ?? (Buffer.isBuffer(local['inline_bytes']) ? (local['inline_bytes'] as Buffer).toString('utf8') : undefined);
    if (s === undefined) {
      issues.add(lp, 'inline_string or inline_bytes is required (filename is not supported by Remora)');
      return null;
    }
    const r = KeySet.parse(s);
    if (!r.ok) {
      issues.add(joinPath(lp, 'inline_string'), `invalid JWKS: ${r.error}`);
      return null;
    }
    return { kind: 'local', jwks: s };
  }
  const rp = joinPath(path, 'remote_jwks');
  onlyFields(issues, remote!, rp, ['http_uri', 'cache_duration', 'async_fetch']);
  const hu = msg(remote!, 'http_uri');
  const hp = joinPath(rp, 'http_uri');
  if (hu === undefined) {
    issues.add(hp, 'is required');
    return null;
  }
  onlyFields(issues, hu, hp, ['uri', 'cluster', 'timeout']);
  const uri = str(hu, 'uri') ?? '';
  let ok = true;
  try {
    const u = new URL(uri);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    issues.add(joinPath(hp, 'uri'), `must be an http:// or https:// URL, got '${uri}'`);
    ok = false;
  }
  const timeoutMs = optDurationMs(issues, hu, 'timeout', hp, DEFAULT_JWKS_TIMEOUT_MS) ?? DEFAULT_JWKS_TIMEOUT_MS;
  const cacheDurationMs = optDurationMs(issues, remote!, 'cache_duration', rp, DEFAULT_CACHE_DURATION_MS) ?? DEFAULT_CACHE_DURATION_MS;
  let failedRefetchMs: number | null = null;
  const af = msg(remote!, 'async_fetch');
  if (af !== undefined) {
    const ap = joinPath(rp, 'async_fetch');
    onlyFields(issues, af, ap, ['fast_listener', 'failed_refetch_duration']);
    failedRefetchMs = optDurationMs(issues, af, 'failed_refetch_duration', ap, null);
  }
  return ok ? { kind: 'remote', uri, timeoutMs, cacheDurationMs, failedRefetchMs } : null;
}

function compileProvider(issues: Issues, name: string, p: ProtoObject, path: string): JwtProviderConfig | null {
  const before = issues.count;
  onlyFields(issues, p, path, PROVIDER_FIELDS);
  const jwks = compileJwks(issues, p, path);
  const fromHeaders: JwtTokenHeader[] = [];
  list(p, 'from_headers').forEach((h, i) => {
    const hp = joinPath(path, `from_headers[${i}]`);
    onlyFields(issues, h, hp, ['name', 'value_prefix']);
    const n = headerName(issues, str(h, 'name'), joinPath(hp, 'name'));
    if (n !== null) fromHeaders.push({ name: n, valuePrefix: str(h, 'value_prefix') ?? '' });
  });
  const fromParams = strList(p, 'from_params');
  fromParams.forEach((q, i) => { if (q === '') issues.add(joinPath(path, `from_params[${i}]`), 'must not be empty'); });
  if (fromHeaders.length === 0 && fromParams.length === 0) {
    fromHeaders.push({ name: 'authorization', valuePrefix: 'Bearer ' });
    fromParams.push('access_token');
  }
  const fph = str(p, 'forward_payload_header');
  const forwardPayloadHeader = fph === undefined || fph === '' ? null : headerName(issues, fph, joinPath(path, 'forward_payload_header'));
  const claimToHeaders: { header: string; claim: string[] }[] = [];
  list(p, 'claim_to_headers').forEach((c, i) => {
    const cp = joinPath(path, `claim_to_headers[${i}]`);
    onlyFields(issues, c, cp, ['header_name', 'claim_name']);
    const header = headerName(issues, str(c, 'header_name'), joinPath(cp, 'header_name'));
    const claim = str(c, 'claim_name') ?? '';
    if (claim === '') issues.add(joinPath(cp, 'claim_name'), 'is required');
    if (header !== null && claim !== '') claimToHeaders.push({ header, claim: claim.split('.') });
  });
  const skew = num(p, 'clock_skew_seconds') ?? DEFAULT_CLOCK_SKEW_SECONDS;
  if (!Number.isInteger(skew) || skew < 0 || skew > MAX_CLOCK_SKEW_SECONDS) {
    issues.add(joinPath(path, 'clock_skew_seconds'), `must be an integer in 0..${MAX_CLOCK_SKEW_SECONDS} (Remora bounds clock skew), got ${skew}`);
  }
  if (issues.count !== before || jwks === null) return null;
  return {
    name,
    issuer: str(p, 'issuer') ?? '',
    audiences: strList(p, 'audiences'),
    jwks,
    forward: bool(p, 'forward') ?? false,
    fromHeaders,
    fromParams,
    forwardPayloadHeader,
    padForwardPayloadHeader: bool(p, 'pad_forward_payload_header') ?? false,
    claimToHeaders,
    // uint32 without a wrapper: 0 is "not specified" (binary xDS cannot tell them apart) → 60 s.
    clockSkewSeconds: skew === 0 ? DEFAULT_CLOCK_SKEW_SECONDS : skew,
    requireExpiration: bool(p, 'require_expiration') ?? false,
  };
}

function compileRequirement(issues: Issues, r: ProtoObject | undefined, providers: ReadonlySet<string>, path: string): JwtRequirementConfig | null {
  if (r === undefined) {
    issues.add(path, 'is required');
    return null;
  }
  onlyFields(issues, r, path, ['provider_name', 'provider_and_audiences', 'requires_any', 'requires_all', 'allow_missing', 'allow_missing_or_failed']);
  const set = ['provider_name', 'provider_and_audiences', 'requires_any', 'requires_all', 'allow_missing', 'allow_missing_or_failed'].filter((k) => r[k] !== undefined && r[k] !== '');
  if (set.length !== 1) {
    issues.add(path, set.length === 0 ? 'one of provider_name, provider_and_audiences, requires_any, requires_all, allow_missing or allow_missing_or_failed is required' : `only one requirement may be set (got ${set.join(', ')})`);
    return null;
  }
  const checkProvider = (name: string, p: string): boolean => {
    if (providers.has(name)) return true;
    issues.add(p, `unknown provider '${name}' (providers: ${[...providers].join(', ') || 'none'})`);
    return false;
  };
  switch (set[0]) {
    case 'provider_name': {
      const name = str(r, 'provider_name')!;
      return checkProvider(name, joinPath(path, 'provider_name')) ? { kind: 'provider', provider: name, audiences: null } : null;
    }
    case 'provider_and_audiences': {
      const pa = msg(r, 'provider_and_audiences')!;
      const pp = joinPath(path, 'provider_and_audiences');
      onlyFields(issues, pa, pp, ['provider_name', 'audiences']);
      const name = str(pa, 'provider_name') ?? '';
      if (!checkProvider(name, joinPath(pp, 'provider_name'))) return null;
      const aud = strList(pa, 'audiences');
      return { kind: 'provider', provider: name, audiences: aud.length > 0 ? aud : null };
    }
    case 'requires_any':
    case 'requires_all': {
      const key = set[0];
      const l = msg(r, key)!;
      const lp = joinPath(path, key);
      onlyFields(issues, l, lp, ['requirements']);
      const raw = list(l, 'requirements');
      if (raw.length < 2) issues.add(joinPath(lp, 'requirements'), `needs at least 2 requirements, got ${raw.length}`);
      const requirements: JwtRequirementConfig[] = [];
      raw.forEach((x, i) => {
        const c = compileRequirement(issues, x, providers, joinPath(lp, `requirements[${i}]`));
        if (c !== null) requirements.push(c);
      });
      if (requirements.length !== raw.length || raw.length < 2) return null;
      return { kind: key === 'requires_any' ? 'any' : 'all', requirements };
    }
    case 'allow_missing': return { kind: 'allow_missing' };
    default: return { kind: 'allow_missing_or_failed' };
  }
}

function compileRule(issues: Issues, r: ProtoObject, providers: ReadonlySet<string>, map: Readonly<Record<string, JwtRequirementConfig>>, path: string): JwtRuleConfig | null {
  const before = issues.count;
  onlyFields(issues, r, path, ['match', 'requires', 'requirement_name']);
  const m = msg(r, 'match');
  const mp = joinPath(path, 'match');
  let match: JwtRuleConfig['match'] | null = null;
  if (m === undefined) issues.add(mp, 'is required');
  else {
    onlyFields(issues, m, mp, ['prefix', 'path', 'case_sensitive']);
    const caseSensitive = (msg(m, 'case_sensitive')?.['value'] as boolean | undefined) ?? true;
    if (m['prefix'] !== undefined) match = { kind: 'prefix', value: str(m, 'prefix')!, caseSensitive };
    else if (m['path'] !== undefined) match = { kind: 'path', value: str(m, 'path')!, caseSensitive };
    else issues.add(mp, 'one of prefix or path is required (other route match specifiers are not supported by Remora)');
  }
  let requires: JwtRequirementConfig | null = null;
  const name = str(r, 'requirement_name');
  if (name !== undefined && name !== '') {
    if (r['requires'] !== undefined) issues.add(path, 'only one of requires or requirement_name may be set');
    requires = map[name] ?? null;
    if (requires === null) issues.add(joinPath(path, 'requirement_name'), `no requirement_map entry '${name}'`);
  } else if (r['requires'] !== undefined) {
    requires = compileRequirement(issues, msg(r, 'requires'), providers, joinPath(path, 'requires'));
  } else {
    // A rule without a requirement: matching requests are not verified (Envoy semantics).
    requires = { kind: 'allow_missing_or_failed' };
  }
  if (issues.count !== before || match === null || requires === null) return null;
  if (!match.caseSensitive) match = { ...match, value: match.value.toLowerCase() };
  return { match, requires };
}

/** Compiles a JwtAuthentication. Errors carry paths under `path`. */
export function compileJwtAuthn(o: ProtoObject, path: string): ValidationResult<JwtAuthnConfig> {
  const issues = new Issues();
  onlyFields(issues, o, path, ['providers', 'rules', 'requirement_map', 'bypass_cors_preflight']);
  const providers: Record<string, JwtProviderConfig> = {};
  const rawProviders = msg(o, 'providers') ?? {};
  for (const name of Object.keys(rawProviders)) {
    const p = compileProvider(issues, name, (rawProviders[name] ?? {}) as ProtoObject, joinPath(path, `providers[${name}]`));
    if (p !== null) providers[name] = p;
  }
  const names = new Set(Object.keys(rawProviders));
  const requirementMap: Record<string, JwtRequirementConfig> = {};
  const rawMap = msg(o, 'requirement_map') ?? {};
  for (const name of Object.keys(rawMap)) {
    const r = compileRequirement(issues, rawMap[name] as ProtoObject, names, joinPath(path, `requirement_map[${name}]`));
    if (r !== null) requirementMap[name] = r;
  }
  const rules: JwtRuleConfig[] = [];
  list(o, 'rules').forEach((r, i) => {
    const c = compileRule(issues, r, names, requirementMap, joinPath(path, `rules[${i}]`));
    if (c !== null) rules.push(c);
  });
  return issues.result<JwtAuthnConfig>({ kind: 'jwt_authn', providers, rules, requirementMap, bypassCorsPreflight: bool(o, 'bypass_cors_preflight') ?? false });
}

/** Compiles a PerRouteConfig: `disabled: true` or `requirement_name` (resolved per request in the filter's map). */
export function compileJwtAuthnPerRoute(o: ProtoObject, path: string): ValidationResult<JwtAuthnPerRoute> {
  const issues = new Issues();
  onlyFields(issues, o, path, ['disabled', 'requirement_name']);
  const disabled = bool(o, 'disabled') ?? false;
  const name = str(o, 'requirement_name') ?? '';
  if (disabled === (name !== '')) {
    issues.add(path, 'exactly one of disabled: true or requirement_name is required');
    return { ok: false, errors: issues.list };
  }
  return issues.result<JwtAuthnPerRoute>(disabled
    ? { kind: 'jwt_authn_per_route', disabled: true, requirementName: null }
    : { kind: 'jwt_authn_per_route', disabled: false, requirementName: name });
}
