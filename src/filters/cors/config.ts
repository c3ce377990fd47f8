/**
 * Compiles the CORS filter's configs and registers `envoy.filters.http.cors`: the listener-level
 * `envoy.extensions.filters.http.cors.v3.Cors` (an empty message) and the per-route
 * `envoy.extensions.filters.http.cors.v3.CorsPolicy` from `typed_per_filter_config`, with its origin
 * matchers compiled once (`StringMatcher`). Supported CorsPolicy fields: `allow_origin_string_match`,
 * `allow_methods`, `allow_headers`, `expose_headers`, `max_age`, `allow_credentials`,
 * `filter_enabled` and `shadow_enabled` (their `default_value`; Remora has no runtime layer, so
 * `runtime_key` is accepted and ignored), `allow_private_network_access`,
 * `forward_not_matching_preflights` (default true, as in Envoy).
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/cors_filter
 */
import type { ValidationResult } from '../../core/errors';
import type { FractionalPercentModel } from '../../config/model';
import { Issues, joinPath, list, msg, onlyFields, str } from '../../config/compile/context';
import { compileFractionalPercent } from '../../config/compile/fractional-percent';
import type { ProtoObject } from '../../config/compile/proto-json';
import { compileStringMatcher as compileStringMatcherModel } from '../../config/compile/string-matcher';
import { StringMatcher } from '../../routing/string-matcher';
import type { FilterRegistration } from '../filter';
import { CorsFactory } from './filter';

export const CORS_NAME = 'envoy.filters.http.cors';
export const CORS_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
export const CORS_POLICY_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';

export interface CorsConfig {
  readonly kind: 'cors';
}

/** A route's compiled CORS policy. Header values are the configured strings, sent as they are. */
export interface CorsPolicyConfig {
  readonly kind: 'cors_policy';
  /** Origins allowed (any matcher matching the Origin, or matching `*`, allows it). */
  readonly allowOrigins: readonly StringMatcher[];
  readonly allowMethods: string | null;
  readonly allowHeaders: string | null;
  readonly exposeHeaders: string | null;
  readonly maxAge: string | null;
  readonly allowCredentials: boolean;
  /** Enforcement sampling; null = always (Envoy's default when `filter_enabled` is absent). */
  readonly filterEnabled: FractionalPercentModel | null;
  /** Shadow evaluation (stats only) when not enforced; null = none. */
  readonly shadowEnabled: FractionalPercentModel | null;
  readonly allowPrivateNetworkAccess: boolean;
  readonly forwardNotMatchingPreflights: boolean;
}

const CORS_CONFIG: CorsConfig = Object.freeze({ kind: 'cors' });

const POLICY_FIELDS = [
  'allow_origin_string_match', 'allow_methods', 'allow_headers', 'expose_headers', 'max_age', 'allow_credentials',
  'filter_enabled', 'shadow_enabled', 'allow_private_network_access', 'forward_not_matching_preflights',
];

/** Validates the listener-level Cors config (no fields). */
export function compileCors(typedConfig: ProtoObject, path: string): ValidationResult<CorsConfig> {
  const issues = new Issues();
  onlyFields(issues, typedConfig, path, []);
  return issues.result<CorsConfig>(CORS_CONFIG);
}

function runtimePercent(issues: Issues, o: ProtoObject, key: string, path: string): FractionalPercentModel | null {
  const r = msg(o, key);
  if (r === undefined) return null;
  const p = joinPath(path, key);
  onlyFields(issues, r, p, ['default_value', 'runtime_key']);
  const d = msg(r, 'default_value');
  if (d === undefined) return { numerator: 0, denominator: 100 };
  return compileFractionalPercent(issues, d, joinPath(p, 'default_value'));
}

/** A BoolValue: absent → `dflt`; present without `value` (binary false) → false. */
function wrappedBool(o: ProtoObject, key: string, dflt: boolean): boolean {
  const w = msg(o, key);
  return w === undefined ? dflt : w['value'] === true;
}

/** A header value field: absent or '' → null; CR/LF rejected. */
function headerValue(issues: Issues, o: ProtoObject, key: string, path: string): string | null {
  const v = str(o, key);
  if (v === undefined || v === '') return null;
  if (/[\r\n\0]/.test(v)) {
    issues.add(joinPath(path, key), 'must not contain CR, LF or NUL');
    return null;
  }
  return v;
}

/** Compiles a route's CorsPolicy. Errors carry paths under `path`. */
export function compileCorsPolicy(typedConfig: ProtoObject, path: string): ValidationResult<CorsPolicyConfig> {
  const issues = new Issues();
  const o = typedConfig;
  onlyFields(issues, o, path, POLICY_FIELDS);
  const origins: StringMatcher[] = [];
  const raw = list(o, 'allow_origin_string_match');
  for (let i = 0; i < raw.length; i++) {
    const m = compileStringMatcherModel(issues, raw[i], `${joinPath(path, 'allow_origin_string_match')}[${i}]`);
    if (m !== null) origins.push(StringMatcher.compile(m));
  }
  const maxAge = headerValue(issues, o, 'max_age', path);
  if (maxAge !== null && !/^\d+$/.test(maxAge)) issues.add(joinPath(path, 'max_age'), `must be a number of seconds, got '${maxAge}'`);
  const policy: CorsPolicyConfig = {
    kind: 'cors_policy',
    allowOrigins: origins,
    allowMethods: headerValue(issues, o, 'allow_methods', path),
    allowHeaders: headerValue(issues, o, 'allow_headers', path),
    exposeHeaders: headerValue(issues, o, 'expose_headers', path),
    maxAge,
    allowCredentials: wrappedBool(o, 'allow_credentials', false),
    filterEnabled: runtimePercent(issues, o, 'filter_enabled', path),
    shadowEnabled: runtimePercent(issues, o, 'shadow_enabled', path),
    allowPrivateNetworkAccess: wrappedBool(o, 'allow_private_network_access', false),
    forwardNotMatchingPreflights: wrappedBool(o, 'forward_not_matching_preflights', true),
  };
  if (issues.count > 0) return { ok: false, errors: issues.list };
  Object.freeze(origins);
  return { ok: true, value: Object.freeze(policy) };
}

/** True for a compiled CorsPolicy (the filter's per-route config). */
export function isCorsPolicy(c: unknown): c is CorsPolicyConfig {
  return typeof c === 'object' && c !== null && (c as { kind?: unknown }).kind === 'cors_policy';
}

/** The registration to add to the ExtensionRegistry. */
export const corsFilter: FilterRegistration<CorsConfig, CorsPolicyConfig> = {
  name: CORS_NAME,
  typeUrl: CORS_TYPE_URL,
  perRouteTypeUrl: CORS_POLICY_TYPE_URL,
  compile: compileCors,
  compilePerRoute: compileCorsPolicy,
  createFactory: (_config, ctx) => new CorsFactory(ctx),
};
