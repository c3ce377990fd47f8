/**
 * Shared plumbing for the compile functions: an error collector (`Issues`), typed accessors over
 * canonical ProtoObjects, the "only these fields are supported" check, Duration → milliseconds,
 * socket addresses, DataSources and ADS config sources. Compile functions never throw for bad input;
 * they record an issue with its full field path and carry on so that every problem is reported.
 */
import * as net from 'node:net';
import type { ConfigIssue, ValidationResult } from '../../core/errors';
import type { SocketAddressModel } from '../model';
import { deepFreeze } from '../model';
import type { CompileDeps } from './http-filter-compiler';
import { joinPath, type ProtoObject } from './proto-json';

export { joinPath };

export const UNSUPPORTED = 'field is not supported by Remora';

/** Collects issues for one compile run. */
export class Issues {
  readonly list: ConfigIssue[] = [];

  /** Records one issue. */
  add(path: string, message: string): void {
    this.list.push({ path, message });
  }

  /** Copies the errors of a failed result in; returns the value or null. */
  take<T>(r: ValidationResult<T>): T | null {
    if (r.ok) return r.value;
    for (const e of r.errors) this.list.push(e);
    return null;
  }

  get count(): number {
    return this.list.length;
  }

  /** The final result: the deep-frozen value when no issue was recorded. */
  result<T>(value: T): ValidationResult<T> {
    if (this.list.length > 0) return { ok: false, errors: this.list };
    return { ok: true, value: deepFreeze(value) };
  }
}

/**
 * Reports every present field of `obj` not in `supported` (and not `@type`) as unsupported.
 * Proto3 zero values (false, 0, '', [], {}) are treated as unset so that JSON and binary input
 * (where zero scalars are absent) behave the same.
 */
export function onlyFields(issues: Issues, obj: ProtoObject, path: string, supported: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (key === '@type' || supported.includes(key)) continue;
    if (isZero(obj[key])) continue;
    issues.add(joinPath(path, key), UNSUPPORTED);
  }
}

function isZero(v: unknown): boolean {
  if (v === false || v === 0 || v === '' || v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (Buffer.isBuffer(v)) return v.length === 0;
  return false;
}

export function msg(o: ProtoObject, k: string): ProtoObject | undefined {
  const v = o[k];
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) ? (v as ProtoObject) : undefined;
}
export function str(o: ProtoObject, k: string): string | undefined {
  const v = o[k];
  return typeof v === 'string' ? v : undefined;
}
export function num(o: ProtoObject, k: string): number | undefined {
  const v = o[k];
  return typeof v === 'number' ? v : undefined;
}
export function bool(o: ProtoObject, k: string): boolean | undefined {
  const v = o[k];
  return typeof v === 'boolean' ? v : undefined;
}
export function list(o: ProtoObject, k: string): ProtoObject[] {
  const v = o[k];
  return Array.isArray(v) ? (v as ProtoObject[]) : [];
}
export function strList(o: ProtoObject, k: string): string[] {
  const v = o[k];
  return Array.isArray(v) ? (v as string[]) : [];
}
/** The `value` of a wrapper field (`{value}`), or undefined when the field is absent. */
export function wrapped<T>(o: ProtoObject, k: string): T | undefined {
  const w = msg(o, k);
  return w === undefined ? undefined : (w['value'] as T);
}
export function has(o: ProtoObject, k: string): boolean {
  return o[k] !== undefined;
}

/** A canonical Duration in milliseconds (nanoseconds rounded up to the next ms); null when negative (issue recorded). */
export function durationMs(issues: Issues, d: ProtoObject, path: string): number | null {
  const s = Number(d['seconds'] ?? 0);
  const n = Number(d['nanos'] ?? 0);
  if (s < 0 || n < 0) {
    issues.add(path, 'must be a non-negative duration');
    return null;
  }
  return s * 1000 + Math.ceil(n / 1e6);
}

/**
 * Reads an optional Duration field: absent → `dflt`; `0s` → null (Envoy: disabled) unless
 * `zeroIsNull` is false; negative → issue.
 */
export function optDurationMs(issues: Issues, o: ProtoObject, k: string, path: string, dflt: number | null, zeroIsNull = true): number | null {
  const d = msg(o, k);
  if (d === undefined) return dflt;
  const ms = durationMs(issues, d, joinPath(path, k));
  if (ms === null) return dflt;
  return ms === 0 && zeroIsNull ? null : ms;
}

/** Reads an optional UInt32Value-style wrapper with range check; absent → dflt. */
export function wrappedInt(issues: Issues, o: ProtoObject, k: string, path: string, dflt: number, min: number, max: number): number {
  const v = wrapped<number>(o, k);
  if (v === undefined) return dflt;
  if (v < min || v > max) {
    issues.add(joinPath(path, k), `must be in ${min}..${max}`);
    return dflt;
  }
  return v;
}

export type HostRule = 'ip' | 'ip-or-hostname';

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * Compiles an `envoy.config.core.v3.Address` holding a `socket_address`. `hostRule` 'ip' demands an
 * IP literal (listeners, STATIC and EDS endpoints, as Envoy); `minPort` is 0 for listeners (ephemeral
 * bind) and 1 for upstream endpoints.
 */
export function compileSocketAddress(issues: Issues, addr: ProtoObject | undefined, path: string, hostRule: HostRule, minPort: number): SocketAddressModel | null {
  if (addr === undefined) {
    issues.add(path, 'address is required');
    return null;
  }
  onlyFields(issues, addr, path, ['socket_address']);
  const sa = msg(addr, 'socket_address');
  const sp = joinPath(path, 'socket_address');
  if (sa === undefined) {
    if (Object.keys(addr).length === 0) issues.add(sp, 'socket_address is required');
    return null;
  }
  onlyFields(issues, sa, sp, ['address', 'port_value', 'protocol']);
  const before = issues.count;
  if (sa['protocol'] !== undefined && sa['protocol'] !== 'TCP') issues.add(joinPath(sp, 'protocol'), 'only TCP is supported by Remora');
  const host = str(sa, 'address') ?? '';
  if (host === '') issues.add(joinPath(sp, 'address'), 'address is required');
  else if (hostRule === 'ip' && net.isIP(host) === 0) issues.add(joinPath(sp, 'address'), `must be an IP address, got '${host}'`);
  else if (hostRule === 'ip-or-hostname' && net.isIP(host) === 0 && !HOSTNAME_RE.test(host)) issues.add(joinPath(sp, 'address'), `invalid host name '${host}'`);
  const port = num(sa, 'port_value') ?? 0;
  if (port < minPort || port > 65535) issues.add(joinPath(sp, 'port_value'), `must be in ${minPort}..65535`);
  return issues.count === before ? { host, port } : null;
}

/**
 * Reads an `envoy.config.core.v3.DataSource` (filename | inline_string | inline_bytes). A file that
 * cannot be read is reported at `<path>.filename`. Returns null (with an issue) when unusable.
 */
export function compileDataSource(issues: Issues, deps: CompileDeps, ds: ProtoObject | undefined, path: string): Buffer | null {
  if (ds === undefined) {
    issues.add(path, 'is required');
    return null;
  }
  onlyFields(issues, ds, path, ['filename', 'inline_string', 'inline_bytes']);
  const file = str(ds, 'filename');
  if (file !== undefined) {
    try {
      return deps.readFile(file);
    } catch (e) {
      issues.add(joinPath(path, 'filename'), `cannot read file '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return null;
    }
  }
  const s = str(ds, 'inline_string');
  if (s !== undefined) return Buffer.from(s, 'utf8');
  const b = ds['inline_bytes'];
  if (Buffer.isBuffer(b)) return b;
  if (ds['environment_variable'] === undefined) issues.add(path, 'one of filename, inline_string or inline_bytes is required');
  return null;
}

/**
 * Checks an `envoy.config.core.v3.ConfigSource` that must be `{ads: {}}` (optionally with
 * `resource_api_version: V3`). Returns true when valid.
 */
export function checkAdsConfigSource(issues: Issues, cs: ProtoObject | undefined, path: string): boolean {
  if (cs === undefined) {
    issues.add(path, 'is required');
    return false;
  }
  const before = issues.count;
  onlyFields(issues, cs, path, ['ads', 'resource_api_version']);
  const v = cs['resource_api_version'];
  if (v !== undefined && v !== 'V3' && v !== 'AUTO') issues.add(joinPath(path, 'resource_api_version'), 'only V3 is supported');
  if (msg(cs, 'ads') === undefined && issues.count === before) issues.add(path, 'only `ads: {}` config sources are supported by Remora');
  return issues.count === before;
}

export type { CompileDeps };
