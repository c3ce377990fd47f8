/**
 * Compiles `remora.filters.http.global_ratelimit.v1alpha1.GlobalRateLimit` (proto/remora/filters/
 * http/global_ratelimit/v1alpha1/global_ratelimit.proto) into a frozen `GlobalRateLimitConfig`: the
 * filter-level config (domain and Redis required) and the per-route override (Redis must be unset,
 * or `disabled: true`). Every problem is reported with its field path; nothing here runs per request.
 */
import * as net from 'node:net';
import type { ValidationResult } from '../../core/errors';
import { Issues, bool, joinPath, list, msg, num, onlyFields, optDurationMs, str } from '../../config/compile/context';
import type { ProtoObject } from '../../config/compile/proto-json';
import type { RedisTarget } from './redis-rate-limiter';

export const GLOBAL_RATELIMIT_NAME = 'remora.filters.http.global_ratelimit';
export const GLOBAL_RATELIMIT_TYPE_URL = 'type.googleapis.com/remora.filters.http.global_ratelimit.v1alpha1.GlobalRateLimit';

export const DEFAULT_REDIS_TIMEOUT_MS = 25;
export const DEFAULT_KEY_PREFIX = 'remora:rl:';
export const MAX_DESCRIPTORS = 16;

/** Separates a key's parts: header values cannot contain control characters, so keys cannot collide. */
export const KEY_SEPARATOR = '\x1f';

export type HeaderMatcherConfig =
  | { readonly kind: 'exact'; readonly name: string; readonly value: string }
  | { readonly kind: 'prefix'; readonly name: string; readonly value: string }
  | { readonly kind: 'present'; readonly name: string; readonly present: boolean };

export type EntryActionConfig =
  | { readonly kind: 'request_headers'; readonly header: string; readonly key: string; readonly skipIfAbsent: boolean }
  | { readonly kind: 'remote_address'; readonly key: string }
  | { readonly kind: 'generic_key'; readonly key: string; readonly value: string }
  | { readonly kind: 'header_value_match'; readonly key: string; readonly value: string; readonly headers: readonly HeaderMatcherConfig[] };

export type LimitUnit = 'SECOND' | 'MINUTE' | 'HOUR';

const UNIT_MS: Readonly<Record<LimitUnit, number>> = { SECOND: 1000, MINUTE: 60_000, HOUR: 3_600_000 };
const UNIT_TAG: Readonly<Record<LimitUnit, string>> = { SECOND: 's', MINUTE: 'm', HOUR: 'h' };

export interface DescriptorConfig {
  readonly entries: readonly EntryActionConfig[];
  readonly requestsPerUnit: number;
  readonly unit: LimitUnit;
  readonly windowMs: number;
  /** Appended to the descriptor's key: separator + unit tag, so two units never share a counter. */
  readonly keySuffix: string;
}

export interface GlobalRateLimitConfig {
  readonly kind: 'global_ratelimit';
  /** Per route: the filter is off for this route. */
  readonly disabled: boolean;
  /** The counters' namespace; null on a per-route config that inherits the filter's. */
  readonly domain: string | null;
  /** Null on a per-route config (it uses the filter's). */
  readonly redis: (RedisTarget & { readonly timeoutMs: number; readonly keyPrefix: string }) | null;
  readonly failureModeDeny: boolean;
  readonly descriptors: readonly DescriptorConfig[];
  readonly sliding: boolean;
  readonly enableRateLimitHeaders: boolean;
}

const TOP_FIELDS = ['domain', 'redis', 'failure_mode_deny', 'descriptors', 'algorithm', 'enable_x_ratelimit_headers', 'disabled'];

/** Compiles the filter-level config (`http_filters[].typed_config`). */
export function compileGlobalRateLimit(typed: ProtoObject, path: string): ValidationResult<GlobalRateLimitConfig> {
  return compile(typed, path, false);
}

/** Compiles a `typed_per_filter_config` override. */
export function compileGlobalRateLimitPerRoute(typed: ProtoObject, path: string): ValidationResult<GlobalRateLimitConfig> {
  return compile(typed, path, true);
}

function compile(typed: ProtoObject, path: string, perRoute: boolean): ValidationResult<GlobalRateLimitConfig> {
  const issues = new Issues();
  onlyFields(issues, typed, path, TOP_FIELDS);
  const disabled = bool(typed, 'disabled') ?? false;
  if (disabled && !perRoute) issues.add(joinPath(path, 'disabled'), 'only valid per route (a filter without descriptors limits nothing)');
  if (disabled && perRoute) {
    for (const k of TOP_FIELDS) {
      if (k !== 'disabled' && typed[k] !== undefined) issues.add(joinPath(path, k), 'must be unset when disabled is true');
    }
    return issues.result(disabledConfig());
  }

  const rawDomain = str(typed, 'domain') ?? '';
  let domain: string | null = rawDomain;
  if (rawDomain === '') {
    if (perRoute) domain = null;
    else issues.add(joinPath(path, 'domain'), 'is required');
  } else if (rawDomain.length > 128 || hasControl(rawDomain)) {
    issues.add(joinPath(path, 'domain'), 'must be 1..128 characters without control characters');
  }

  let redis: GlobalRateLimitConfig['redis'] = null;
  const redisObj = msg(typed, 'redis');
  if (perRoute) {
    if (redisObj !== undefined) issues.add(joinPath(path, 'redis'), 'cannot be set per route (the filter config owns the Redis connection)');
  } else {
    redis = compileRedis(issues, redisObj, joinPath(path, 'redis'));
  }

  const algorithm = typed['algorithm'] ?? 'SLIDING_WINDOW';
  if (algorithm !== 'SLIDING_WINDOW' && algorithm !== 'FIXED_WINDOW') issues.add(joinPath(path, 'algorithm'), `unknown algorithm '${String(algorithm)}'`);

  const descs = list(typed, 'descriptors');
  const descriptors: DescriptorConfig[] = [];
  if (descs.length > MAX_DESCRIPTORS) issues.add(joinPath(path, 'descriptors'), `at most ${MAX_DESCRIPTORS} descriptors`);
  if (perRoute && descs.length === 0) issues.add(joinPath(path, 'descriptors'), 'a per-route config needs descriptors (or disabled: true)');
  for (let i = 0; i < descs.length; i++) {
    const d = compileDescriptor(issues, descs[i]!, `${joinPath(path, 'descriptors')}[${i}]`);
    if (d !== null) descriptors.push(d);
  }

  return issues.result<GlobalRateLimitConfig>({
    kind: 'global_ratelimit',
    disabled,
    domain,
    redis,
    failureModeDeny: bool(typed, 'failure_mode_deny') ?? false,
    descriptors,
    sliding: algorithm !== 'FIXED_WINDOW',
    enableRateLimitHeaders: bool(typed, 'enable_x_ratelimit_headers') ?? false,
  });
}

function disabledConfig(): GlobalRateLimitConfig {
  return { kind: 'global_ratelimit', disabled: true, domain: null, redis: null, failureModeDeny: false, descriptors: [], sliding: true, enableRateLimitHeaders: false };
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** `host:port` or `[v6]:port`; null (issue recorded) when invalid. */
export function parseHostPort(address: string): RedisTarget | null {
  let host: string;
  let portText: string;
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    if (end < 0 || address[end + 1] !== ':') return null;
    host = address.slice(1, end);
    portText = address.slice(end + 2);
    if (net.isIPv6(host) === false) return null;
  } else {
    const colon = address.lastIndexOf(':');
    if (colon <= 0 || address.indexOf(':') !== colon) return null;
    host = address.slice(0, colon);
    portText = address.slice(colon + 1);
    if (net.isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(host)) return null;
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  return { host, port };
}

function compileRedis(issues: Issues, r: ProtoObject | undefined, path: string): GlobalRateLimitConfig['redis'] {
  if (r === undefined) {
    issues.add(path, 'is required');
    return null;
  }
  onlyFields(issues, r, path, ['address', 'timeout', 'key_prefix']);
  const address = str(r, 'address') ?? '';
  let target: RedisTarget | null = null;
  if (address === '') issues.add(joinPath(path, 'address'), 'is required');
  else {
    target = parseHostPort(address);
    if (target === null) issues.add(joinPath(path, 'address'), `expected host:port (or [v6]:port), got '${address}'`);
  }
  const before = issues.count;
  const timeoutMs = optDurationMs(issues, r, 'timeout', path, DEFAULT_REDIS_TIMEOUT_MS, false) ?? DEFAULT_REDIS_TIMEOUT_MS;
  if (issues.count === before && (timeoutMs < 1 || timeoutMs > 10_000)) issues.add(joinPath(path, 'timeout'), 'must be in 1ms..10s');
  const keyPrefix = str(r, 'key_prefix') ?? DEFAULT_KEY_PREFIX;
  if (hasControl(keyPrefix) || keyPrefix.length > 256) issues.add(joinPath(path, 'key_prefix'), 'must be at most 256 characters without control characters');
  return target === null ? null : { host: target.host, port: target.port, timeoutMs, keyPrefix: keyPrefix === '' ? DEFAULT_KEY_PREFIX : keyPrefix };
}

function compileDescriptor(issues: Issues, d: ProtoObject, path: string): DescriptorConfig | null {
  const before = issues.count;
  onlyFields(issues, d, path, ['entries', 'limit']);
  const rawEntries = list(d, 'entries');
  const entries: EntryActionConfig[] = [];
  if (rawEntries.length === 0) issues.add(joinPath(path, 'entries'), 'at least one entry is required');
  for (let i = 0; i < rawEntries.length; i++) {
    const e = compileAction(issues, rawEntries[i]!, `${joinPath(path, 'entries')}[${i}]`);
    if (e !== null) entries.push(e);
  }
  const lp = joinPath(path, 'limit');
  const limit = msg(d, 'limit');
  let rpu = 0;
  let unit: LimitUnit = 'SECOND';
  if (limit === undefined) issues.add(lp, 'is required');
  else {
    onlyFields(issues, limit, lp, ['requests_per_unit', 'unit']);
    rpu = num(limit, 'requests_per_unit') ?? 0;
    if (!Number.isInteger(rpu) || rpu < 1) issues.add(joinPath(lp, 'requests_per_unit'), 'must be at least 1');
    const u = limit['unit'];
    if (u === 'SECOND' || u === 'MINUTE' || u === 'HOUR') unit = u;
    else issues.add(joinPath(lp, 'unit'), u === undefined || u === 'UNKNOWN' ? 'is required (SECOND, MINUTE or HOUR)' : `unknown unit '${String(u)}'`);
  }
  if (issues.count !== before) return null;
  return { entries, requestsPerUnit: rpu, unit, windowMs: UNIT_MS[unit], keySuffix: KEY_SEPARATOR + UNIT_TAG[unit] };
}

/** A descriptor key: non-empty, no '=' and no control characters (the key format relies on it). */
function checkKey(issues: Issues, key: string, path: string): void {
  if (key === '' ) issues.add(path, 'is required');
  else if (key.includes('=') || hasControl(key)) issues.add(path, "must not contain '=' or control characters");
}

function compileAction(issues: Issues, a: ProtoObject, path: string): EntryActionConfig | null {
  const kinds = ['request_headers', 'remote_address', 'generic_key', 'header_value_match'].filter((k) => a[k] !== undefined);
  onlyFields(issues, a, path, ['request_headers', 'remote_address', 'generic_key', 'header_value_match']);
  if (kinds.length !== 1) {
    issues.add(path, 'exactly one of request_headers, remote_address, generic_key or header_value_match is required');
    return null;
  }
  const kind = kinds[0]!;
  const p = joinPath(path, kind);
  const o = msg(a, kind) ?? {};
  const before = issues.count;
  switch (kind) {
    case 'request_headers': {
      onlyFields(issues, o, p, ['header_name', 'descriptor_key', 'skip_if_absent']);
      const header = (str(o, 'header_name') ?? '').toLowerCase();
      if (header === '') issues.add(joinPath(p, 'header_name'), 'is required');
      const key = str(o, 'descriptor_key') ?? '';
      checkKey(issues, key, joinPath(p, 'descriptor_key'));
      return issues.count === before ? { kind: 'request_headers', header, key, skipIfAbsent: bool(o, 'skip_if_absent') ?? false } : null;
    }
    case 'remote_address':
      onlyFields(issues, o, p, []);
      return issues.count === before ? { kind: 'remote_address', key: 'remote_address' } : null;
    case 'generic_key': {
      onlyFields(issues, o, p, ['descriptor_value', 'descriptor_key']);
      const value = str(o, 'descriptor_value') ?? '';
      if (value === '') issues.add(joinPath(p, 'descriptor_value'), 'is required');
      else if (hasControl(value)) issues.add(joinPath(p, 'descriptor_value'), 'must not contain control characters');
      const key = str(o, 'descriptor_key') || 'generic_key';
      checkKey(issues, key, joinPath(p, 'descriptor_key'));
      return issues.count === before ? { kind: 'generic_key', key, value } : null;
    }
    default: {
      onlyFields(issues, o, p, ['descriptor_value', 'descriptor_key', 'headers']);
      const value = str(o, 'descriptor_value') ?? '';
      if (value === '') issues.add(joinPath(p, 'descriptor_value'), 'is required');
      else if (hasControl(value)) issues.add(joinPath(p, 'descriptor_value'), 'must not contain control characters');
      const key = str(o, 'descriptor_key') || 'header_match';
      checkKey(issues, key, joinPath(p, 'descriptor_key'));
      const hs = list(o, 'headers');
      if (hs.length === 0) issues.add(joinPath(p, 'headers'), 'at least one header matcher is required');
      const headers: HeaderMatcherConfig[] = [];
      for (let i = 0; i < hs.length; i++) {
        const m = compileHeaderMatch(issues, hs[i]!, `${joinPath(p, 'headers')}[${i}]`);
        if (m !== null) headers.push(m);
      }
      return issues.count === before ? { kind: 'header_value_match', key, value, headers } : null;
    }
  }
}

function compileHeaderMatch(issues: Issues, h: ProtoObject, path: string): HeaderMatcherConfig | null {
  onlyFields(issues, h, path, ['name', 'exact_match', 'prefix_match', 'present_match']);
  const name = (str(h, 'name') ?? '').toLowerCase();
  if (name === '') issues.add(joinPath(path, 'name'), 'is required');
  const kinds = ['exact_match', 'prefix_match', 'present_match'].filter((k) => h[k] !== undefined);
  if (kinds.length !== 1) {
    issues.add(path, 'exactly one of exact_match, prefix_match or present_match is required');
    return null;
  }
  if (name === '') return null;
  switch (kinds[0]) {
    case 'exact_match': return { kind: 'exact', name, value: str(h, 'exact_match') ?? '' };
    case 'prefix_match': return { kind: 'prefix', name, value: str(h, 'prefix_match') ?? '' };
    default: return { kind: 'present', name, present: bool(h, 'present_match') ?? false };
  }
}
