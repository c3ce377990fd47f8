/**
 * Compiles `envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit` (listener-level
 * `typed_config` and route-level `typed_per_filter_config`, which replaces the listener config for
 * that route, as in Envoy) into a frozen `LocalRateLimitConfig`, and registers the filter.
 * Everything is validated once here with full field paths: the token buckets, the enabled/enforced
 * fractions, the header lists, the descriptor table (exact key/value entry lists, each with its own
 * bucket, looked up through a precomputed string key). Token bucket *state* is not part of the config:
 * the factory creates it (filter.ts). Envoy reference:
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/local_rate_limit_filter
 *
 * Gaps, all rejected or documented rather than silently ignored:
 * - Request descriptors come from the matched route's `rate_limits` (route level, else the virtual
 *   host's: `vh_rate_limits: OVERRIDE`; compiled by config/compile/rate-limit-actions.ts, produced by
 *   routing/rate-limit-descriptors.ts). A descriptor entry matches by exact value only (no empty-value
 *   wildcards); `vh_rate_limits: INCLUDE`/`IGNORE` are rejected (the deprecated route-level
 *   `include_vh_rate_limits: true` does include them).
 * - `runtime_key`s are accepted and ignored (Remora has no runtime layer; `default_value` applies).
 * - `local_rate_limit_per_downstream_connection: true`, `local_cluster_rate_limit`, a non-zero
 *   `stage` and `vh_rate_limits` other than OVERRIDE are rejected as unsupported.
 * - A limited gRPC request always gets RESOURCE_EXHAUSTED (Envoy's `rate_limited_as_resource_exhausted:
 *   true`), per Remora's error mapping; the HTTP status is `status` (default 429).
 */
import type { ValidationResult } from '../../core/errors';
import type { FractionalPercentModel, HeaderValueOptionModel } from '../../config/model';
import { compileFractionalPercent, ZERO_PERCENT } from '../../config/compile/fractional-percent';
import { bool, Issues, joinPath, list, msg, num, onlyFields, str, UNSUPPORTED, wrapped } from '../../config/compile/context';
import { compileHeaderMutations } from '../../config/compile/headers';
import type { ProtoObject } from '../../config/compile/proto-json';
import type { FilterRegistration } from '../filter';
import type { TokenBucketSpec } from './token-bucket';
import { LocalRateLimitFactory } from './filter';
import { descriptorKey } from '../../routing/rate-limit-descriptors';

export const LOCAL_RATELIMIT_NAME = 'envoy.filters.http.local_ratelimit';
export const LOCAL_RATELIMIT_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';

/** A compiled `envoy.type.v3.FractionalPercent` (enablement and enforcement). */
export type FractionModel = FractionalPercentModel;

export interface LocalRateLimitDescriptorModel {
  /** The entries in order, as configured. */
  readonly entries: readonly { readonly key: string; readonly value: string }[];
  /** `descriptorKey(entries)`: the lookup key of this entry list. */
  readonly key: string;
  readonly tokenBucket: TokenBucketSpec;
}

export interface LocalRateLimitConfig {
  readonly kind: 'local_ratelimit';
  readonly statPrefix: string;
  /** HTTP status of a limited request (`status`, default 429; codes below 400 become 429 as in Envoy). */
  readonly httpStatus: number;
  /** The default bucket; null when unset (allowed at listener level only: nothing is limited by default). */
  readonly tokenBucket: TokenBucketSpec | null;
  /** `filter_enabled.default_value`; absent → 0% (Envoy's safe default). */
  readonly enabled: FractionModel;
  /** `filter_enforced.default_value`; absent → 0%: enabled but not enforced only counts. */
  readonly enforced: FractionModel;
  readonly requestHeadersToAddWhenNotEnforced: readonly HeaderValueOptionModel[];
  /** Added to the responses of limited requests. */
  readonly responseHeadersToAdd: readonly HeaderValueOptionModel[];
  readonly descriptors: readonly LocalRateLimitDescriptorModel[];
  /** `enable_x_ratelimit_headers: DRAFT_VERSION_03`. */
  readonly xRateLimitHeaders: boolean;
  /** `always_consume_default_token_bucket`, default true. */
  readonly alwaysConsumeDefaultTokenBucket: boolean;
}

const SUPPORTED_FIELDS = [
  'stat_prefix', 'status', 'token_bucket', 'filter_enabled', 'filter_enforced', 'request_headers_to_add_when_not_enforced',
  'response_headers_to_add', 'descriptors', 'stage', 'local_rate_limit_per_downstream_connection', 'enable_x_ratelimit_headers',
  'vh_rate_limits', 'always_consume_default_token_bucket', 'rate_limited_as_resource_exhausted',
];


/** envoy.type.v3.StatusCode names → codes. */
const HTTP_STATUS_CODES: Readonly<Record<string, number>> = {
  Continue: 100, OK: 200, Created: 201, Accepted: 202, NonAuthoritativeInformation: 203, NoContent: 204, ResetContent: 205,
  PartialContent: 206, MultiStatus: 207, AlreadyReported: 208, IMUsed: 226, MultipleChoices: 300, MovedPermanently: 301,
  Found: 302, SeeOther: 303, NotModified: 304, UseProxy: 305, TemporaryRedirect: 307, PermanentRedirect: 308, BadRequest: 400,
  Unauthorized: 401, PaymentRequired: 402, Forbidden: 403, NotFound: 404, MethodNotAllowed: 405, NotAcceptable: 406,
  ProxyAuthenticationRequired: 407, RequestTimeout: 408, Conflict: 409, Gone: 410, LengthRequired: 411, PreconditionFailed: 412,
  PayloadTooLarge: 413, URITooLong: 414, UnsupportedMediaType: 415, RangeNotSatisfiable: 416, ExpectationFailed: 417,
  MisdirectedRequest: 421, UnprocessableEntity: 422, Locked: 423, FailedDependency: 424, UpgradeRequired: 426,
  PreconditionRequired: 428, TooManyRequests: 429, RequestHeaderFieldsTooLarge: 431, InternalServerError: 500,
  NotImplemented: 501, BadGateway: 502, ServiceUnavailable: 503, GatewayTimeout: 504, HTTPVersionNotSupported: 505,
  VariantAlsoNegotiates: 506, InsufficientStorage: 507, LoopDetected: 508, NotExtended: 510, NetworkAuthenticationRequired: 511,
};

// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

const ZERO: FractionModel = ZERO_PERCENT;

/** The lookup key of a descriptor entry list (the route's request descriptors use the same form). */
export { descriptorKey };

/** Compiles a required `envoy.type.v3.FractionalPercent` at `path`. */
export function compileFraction(issues: Issues, o: ProtoObject | undefined, path: string): FractionModel | null {
  if (o === undefined) {
    issues.add(path, 'is required');
    return null;
  }
  return compileFractionalPercent(issues, o, path);
}

/** Compiles an `envoy.type.v3.TokenBucket` at `path` (max_tokens ≥ 1, tokens_per_fill ≥ 1, fill_interval > 0). */
export function compileTokenBucket(issues: Issues, o: ProtoObject | undefined, path: string): TokenBucketSpec | null {
  if (o === undefined) {
    issues.add(path, 'is required');
    return null;
  }
  const before = issues.count;
  onlyFields(issues, o, path, ['max_tokens', 'tokens_per_fill', 'fill_interval']);
  const maxTokens = num(o, 'max_tokens') ?? 0;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) issues.add(joinPath(path, 'max_tokens'), `must be at least 1, got ${maxTokens}`);
  const perFillW = msg(o, 'tokens_per_fill');
  const tokensPerFill = perFillW === undefined ? 1 : Number(perFillW['value'] ?? 0);
  if (!Number.isInteger(tokensPerFill) || tokensPerFill < 1) issues.add(joinPath(path, 'tokens_per_fill'), `must be at least 1, got ${tokensPerFill}`);
  const fi = msg(o, 'fill_interval');
  let fillIntervalMs = 0;
  if (fi === undefined) {
    issues.add(joinPath(path, 'fill_interval'), 'is required');
  } else {
    const s = Number(fi['seconds'] ?? 0);
    const n = Number(fi['nanos'] ?? 0);
    fillIntervalMs = s * 1000 + n / 1e6;
    if (!(fillIntervalMs > 0)) issues.add(joinPath(path, 'fill_interval'), `must be a positive duration, got ${s}s ${n}ns`);
  }
  return issues.count === before ? { maxTokens, tokensPerFill, fillIntervalMs } : null;
}

function compileRuntimeFraction(issues: Issues, o: ProtoObject, k: string, path: string): FractionModel {
  const rf = msg(o, k);
  if (rf === undefined) return ZERO;
  const p = joinPath(path, k);
  onlyFields(issues, rf, p, ['default_value', 'runtime_key']);
  return compileFraction(issues, msg(rf, 'default_value'), joinPath(p, 'default_value')) ?? ZERO;
}

/** Compiles `items` (HeaderValueOption[]) of field `field` through the shared header-mutation rules. */
function compileHeaderList(issues: Issues, o: ProtoObject, field: string, path: string): HeaderValueOptionModel[] {
  const items = list(o, field);
  if (items.length === 0) return [];
  if (items.length > 10) issues.add(joinPath(path, field), `at most 10 headers, got ${items.length}`);
  const tmp = new Issues();
  const m = compileHeaderMutations(tmp, { response_headers_to_add: items }, path);
  const from = joinPath(path, 'response_headers_to_add');
  const to = joinPath(path, field);
  for (const e of tmp.list) issues.add(e.path.startsWith(from) ? to + e.path.slice(from.length) : e.path, e.message);
  return [...m.responseHeadersToAdd];
}

function compileStatus(issues: Issues, o: ProtoObject, path: string): number {
  const s = msg(o, 'status');
  if (s === undefined) return 429;
  const p = joinPath(path, 'status');
  onlyFields(issues, s, p, ['code']);
  const raw = s['code'];
  const code = typeof raw === 'number' ? raw : typeof raw === 'string' ? HTTP_STATUS_CODES[raw] : undefined;
  if (code === undefined || code < 100 || code > 599) {
    issues.add(joinPath(p, 'code'), `unknown HTTP status '${String(raw)}'`);
    return 429;
  }
  // Envoy: a code below 400 is not a rate-limit response; 429 is used instead.
  return code < 400 ? 429 : code;
}

function compileDescriptors(issues: Issues, o: ProtoObject, path: string): LocalRateLimitDescriptorModel[] {
  const items = list(o, 'descriptors');
  const out: LocalRateLimitDescriptorModel[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < items.length; i++) {
    const dp = `${joinPath(path, 'descriptors')}[${i}]`;
    const d = items[i];
    const before = issues.count;
    onlyFields(issues, d, dp, ['entries', 'token_bucket']);
    const rawEntries = list(d, 'entries');
    if (rawEntries.length === 0) issues.add(joinPath(dp, 'entries'), 'at least one entry is required');
    const entries: { key: string; value: string }[] = [];
    for (let j = 0; j < rawEntries.length; j++) {
      const ep = `${joinPath(dp, 'entries')}[${j}]`;
      onlyFields(issues, rawEntries[j], ep, ['key', 'value']);
      const key = str(rawEntries[j], 'key') ?? '';
      const value = str(rawEntries[j], 'value') ?? '';
      if (key === '') issues.add(joinPath(ep, 'key'), 'must not be empty');
      if (value === '') issues.add(joinPath(ep, 'value'), 'must not be empty (Remora matches exact entries only)');
      if (CONTROL_RE.test(key)) issues.add(joinPath(ep, 'key'), 'must not contain control characters');
      if (CONTROL_RE.test(value)) issues.add(joinPath(ep, 'value'), 'must not contain control characters');
      entries.push({ key, value });
    }
    const tokenBucket = compileTokenBucket(issues, msg(d, 'token_bucket'), joinPath(dp, 'token_bucket'));
    if (issues.count !== before || tokenBucket === null) continue;
    const key = descriptorKey(entries);
    if (seen.has(key)) {
      issues.add(dp, `duplicate descriptor ${entries.map((e) => `${e.key}=${e.value}`).join(',')}`);
      continue;
    }
    seen.add(key);
    out.push({ entries, key, tokenBucket });
  }
  return out;
}

function compileInto(issues: Issues, o: ProtoObject, path: string, perRoute: boolean): LocalRateLimitConfig {
  onlyFields(issues, o, path, SUPPORTED_FIELDS);
  const statPrefix = str(o, 'stat_prefix') ?? '';
  if (statPrefix === '') issues.add(joinPath(path, 'stat_prefix'), 'is required');
  const tb = msg(o, 'token_bucket');
  let tokenBucket: TokenBucketSpec | null = null;
  if (tb !== undefined || perRoute) tokenBucket = compileTokenBucket(issues, tb, joinPath(path, 'token_bucket'));
  if (bool(o, 'local_rate_limit_per_downstream_connection') === true) {
    issues.add(joinPath(path, 'local_rate_limit_per_downstream_connection'), `${UNSUPPORTED} (only a bucket shared by all connections of the listener)`);
  }
  const stage = num(o, 'stage') ?? 0;
  if (stage !== 0) issues.add(joinPath(path, 'stage'), `${UNSUPPORTED} (only stage 0; route rate_limits with another stage are rejected too)`);
  const vh = str(o, 'vh_rate_limits');
  if (vh !== undefined && vh !== 'OVERRIDE') issues.add(joinPath(path, 'vh_rate_limits'), `${UNSUPPORTED} (only OVERRIDE: the virtual host's rate_limits apply to routes without their own)`);
  if (o['local_cluster_rate_limit'] !== undefined) issues.add(joinPath(path, 'local_cluster_rate_limit'), UNSUPPORTED);
  const xrl = str(o, 'enable_x_ratelimit_headers') ?? 'OFF';
  if (xrl !== 'OFF' && xrl !== 'DRAFT_VERSION_03') issues.add(joinPath(path, 'enable_x_ratelimit_headers'), `unknown value '${xrl}'`);
  return {
    kind: 'local_ratelimit',
    statPrefix,
    httpStatus: compileStatus(issues, o, path),
    tokenBucket,
    enabled: compileRuntimeFraction(issues, o, 'filter_enabled', path),
    enforced: compileRuntimeFraction(issues, o, 'filter_enforced', path),
    requestHeadersToAddWhenNotEnforced: compileHeaderList(issues, o, 'request_headers_to_add_when_not_enforced', path),
    responseHeadersToAdd: compileHeaderList(issues, o, 'response_headers_to_add', path),
    descriptors: compileDescriptors(issues, o, path),
    xRateLimitHeaders: xrl === 'DRAFT_VERSION_03',
    alwaysConsumeDefaultTokenBucket: wrapped<boolean>(o, 'always_consume_default_token_bucket') ?? true,
  };
}

/** Compiles a listener-level LocalRateLimit; `token_bucket` may be unset there. Errors carry paths under `path`. */
export function compileLocalRateLimit(typedConfig: ProtoObject, path: string): ValidationResult<LocalRateLimitConfig> {
  const issues = new Issues();
  const c = compileInto(issues, typedConfig, path, false);
  return issues.result(c);
}

/** Compiles a route-level LocalRateLimit (`typed_per_filter_config`); Envoy requires its `token_bucket`. */
export function compileLocalRateLimitPerRoute(typedConfig: ProtoObject, path: string): ValidationResult<LocalRateLimitConfig> {
  const issues = new Issues();
  const c = compileInto(issues, typedConfig, path, true);
  return issues.result(c);
}

export const localRateLimitRegistration: FilterRegistration<LocalRateLimitConfig, LocalRateLimitConfig> = {
  name: LOCAL_RATELIMIT_NAME,
  typeUrl: LOCAL_RATELIMIT_TYPE_URL,
  perRouteTypeUrl: LOCAL_RATELIMIT_TYPE_URL,
  compile: compileLocalRateLimit,
  compilePerRoute: compileLocalRateLimitPerRoute,
  createFactory: (config, ctx) => new LocalRateLimitFactory(config, ctx),
};
