/**
 * Compiles `HttpConnectionManager.access_log[]` (Envoy's `config.accesslog.v3.AccessLog`) into
 * AccessLogModel: the sink (`remora.access_loggers.v1.JsonAccessLog`, or Envoy's `FileAccessLog`
 * with a `path` only, which writes the same JSON line with the default masking), and the
 * `AccessLogFilter` tree — status code, duration, response flags, gRPC status, runtime sampling,
 * and / or, not-health-check, and the CEL `extension_filter` Istio's Telemetry generates, whose
 * expression is parsed and type-checked here, once. Everything unsupported is an issue with its
 * field path.
 */
import type { AccessLogFilterModel, AccessLogModel, ComparisonOp, MaskingModel } from '../access-log-model';
import { ResponseFlag, responseFlagBit } from '../../core/response-flags';
import { CelCompileError, parseCel } from './cel/cel-parser';
import { bool, CompileDeps, Issues, joinPath, list, msg, num, onlyFields, str, strList, wrapped } from './context';
import { compileFractionalPercent, ZERO_PERCENT } from './fractional-percent';
import type { ProtoObject } from './proto-json';

export const JSON_ACCESS_LOG_TYPE_URL = 'type.googleapis.com/remora.access_loggers.v1.JsonAccessLog';
export const FILE_ACCESS_LOG_TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
export const CEL_FILTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter';

/** The default masking lists (json_access_log.proto `Masking`). */
export const DEFAULT_MASKING: MaskingModel = Object.freeze({
  headers: Object.freeze(['authorization', 'cookie', 'set-cookie', 'proxy-authorization', 'x-api-key']),
  queryParameters: Object.freeze(['password', 'token', 'access_token', 'api_key', 'secret']),
  jsonFields: Object.freeze(['password', 'token', 'secret', 'authorization']),
});

/** Envoy response-flag codes Remora never sets: accepted in a response_flag_filter, they simply never match. */
const FOREIGN_FLAG_CODES: ReadonlySet<string> = new Set(['LH', 'UC', 'IH', 'UMSDR', 'RFCF', 'NFCF', 'DT', 'UPE', 'NC', 'OM', 'DF', 'DO', 'DR']);
const ALL_FLAGS = Object.values(ResponseFlag).reduce((a, b) => a | b, 0);

const GRPC_STATUS_NAMES = [
  'OK', 'CANCELED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE',
  'DATA_LOSS', 'UNAUTHENTICATED',
];

const UNSUPPORTED_FILTERS: Readonly<Record<string, string>> = {
  traceable_filter: 'traceable_filter is not supported by Remora',
  header_filter: "header_filter is not supported by Remora; use an extension_filter with a CEL expression such as request.headers['x-debug'] == 'true'",
  metadata_filter: 'metadata_filter is not supported by Remora',
  log_type_filter: 'log_type_filter is not supported by Remora (every entry is written at the end of the stream)',
};

const MAX_FILTER_DEPTH = 16;

/** The HCM's `access_log` entries ([] when none). */
export function compileAccessLogs(issues: Issues, _deps: CompileDeps, hcm: ProtoObject, path: string): AccessLogModel[] {
  const entries = list(hcm, 'access_log');
  const out: AccessLogModel[] = [];
  for (let i = 0; i < entries.length; i++) {
    const m = compileAccessLog(issues, entries[i]!, `${joinPath(path, 'access_log')}[${i}]`);
    if (m !== null) out.push(m);
  }
  return out;
}

/** One `AccessLog` entry at `path`; null (issues recorded) when invalid. */
export function compileAccessLog(issues: Issues, entry: ProtoObject, path: string): AccessLogModel | null {
  const before = issues.count;
  onlyFields(issues, entry, path, ['name', 'filter', 'typed_config']);
  const name = str(entry, 'name') ?? '';
  const f = msg(entry, 'filter');
  const filter = f === undefined ? null : compileFilter(issues, f, joinPath(path, 'filter'), 0);
  const tc = msg(entry, 'typed_config');
  const tp = joinPath(path, 'typed_config');
  let sink: Omit<AccessLogModel, 'name' | 'filter'> | null = null;
  if (tc === undefined) issues.add(tp, 'is required');
  else if (tc['@type'] === JSON_ACCESS_LOG_TYPE_URL) sink = compileJsonAccessLog(issues, tc, tp);
  else if (tc['@type'] === FILE_ACCESS_LOG_TYPE_URL) sink = compileFileAccessLog(issues, tc, tp);
  else issues.add(joinPath(tp, '@type'), `access logger '${String(tc['@type'])}' is not supported by Remora (use ${JSON_ACCESS_LOG_TYPE_URL} or ${FILE_ACCESS_LOG_TYPE_URL})`);
  if (sink === null || issues.count !== before) return null;
  return { name, filter, ...sink };
}

function compilePath(issues: Issues, tc: ProtoObject, path: string): string {
  const p = str(tc, 'path') ?? '';
  if (p === '') issues.add(joinPath(path, 'path'), 'is required (a file path or /dev/stdout)');
  else if (p.includes('\0')) issues.add(joinPath(path, 'path'), 'must not contain NUL');
  return p;
}

function compileJsonAccessLog(issues: Issues, tc: ProtoObject, path: string): Omit<AccessLogModel, 'name' | 'filter'> {
  onlyFields(issues, tc, path, ['path', 'success_sample_percent', 'request_headers', 'mask']);
  const p = compilePath(issues, tc, path);
  const pct = wrapped<number>(tc, 'success_sample_percent') ?? 100;
  if (!(pct >= 0 && pct <= 100)) issues.add(joinPath(path, 'success_sample_percent'), `must be in 0..100, got ${pct}`);
  const requestHeaders: string[] = [];
  const hs = strList(tc, 'request_headers');
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!.trim().toLowerCase();
    if (h === '' || !/^:?[a-z0-9!#$%&'*+.^_`|~-]+$/.test(h)) issues.add(`${joinPath(path, 'request_headers')}[${i}]`, `invalid header name '${hs[i]}'`);
    else if (!requestHeaders.includes(h)) requestHeaders.push(h);
  }
  return { path: p, successSamplePercent: pct, requestHeaders, mask: compileMasking(issues, msg(tc, 'mask'), joinPath(path, 'mask')) };
}

function compileFileAccessLog(issues: Issues, tc: ProtoObject, path: string): Omit<AccessLogModel, 'name' | 'filter'> {
  for (const k of ['format', 'json_format', 'typed_json_format', 'log_format']) {
    if (tc[k] !== undefined) {
      issues.add(joinPath(path, k), `is not supported by Remora: the file access log always writes Remora's JSON line (fields documented in remora/access_loggers/v1/json_access_log.proto); remove ${k}, or use ${JSON_ACCESS_LOG_TYPE_URL} for sampling, headers and masking`);
    }
  }
  onlyFields(issues, tc, path, ['path', 'format', 'json_format', 'typed_json_format', 'log_format']);
  return { path: compilePath(issues, tc, path), successSamplePercent: 100, requestHeaders: [], mask: DEFAULT_MASKING };
}

function compileMasking(issues: Issues, m: ProtoObject | undefined, path: string): MaskingModel {
  if (m === undefined) return DEFAULT_MASKING;
  onlyFields(issues, m, path, ['headers', 'query_parameters', 'json_fields', 'replace_defaults']);
  const replace = bool(m, 'replace_defaults') ?? false;
  const merge = (dflt: readonly string[], k: string): string[] => {
    const own = strList(m, k).map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
    const all = replace ? own : [...dflt, ...own];
    return [...new Set(all)];
  };
  return {
    headers: merge(DEFAULT_MASKING.headers, 'headers'),
    queryParameters: merge(DEFAULT_MASKING.queryParameters, 'query_parameters'),
    jsonFields: merge(DEFAULT_MASKING.jsonFields, 'json_fields'),
  };
}

const FILTER_KINDS = [
  'status_code_filter', 'duration_filter', 'not_health_check_filter', 'runtime_filter', 'and_filter', 'or_filter',
  'response_flag_filter', 'grpc_status_filter', 'extension_filter',
];

/** One `AccessLogFilter` at `path`; null (issues recorded) when invalid. */
function compileFilter(issues: Issues, f: ProtoObject, path: string, depth: number): AccessLogFilterModel | null {
  if (depth > MAX_FILTER_DEPTH) {
    issues.add(path, `filters nested deeper than ${MAX_FILTER_DEPTH}`);
    return null;
  }
  for (const k of Object.keys(UNSUPPORTED_FILTERS)) if (f[k] !== undefined) issues.add(joinPath(path, k), UNSUPPORTED_FILTERS[k]!);
  const before = issues.count;
  onlyFields(issues, f, path, [...FILTER_KINDS, ...Object.keys(UNSUPPORTED_FILTERS)]);
  if (issues.count !== before) return null;
  let sc: ProtoObject | undefined;
  if ((sc = msg(f, 'status_code_filter')) !== undefined) {
    const c = compileComparison(issues, sc, joinPath(path, 'status_code_filter'));
    return c === null ? null : { kind: 'status_code', op: c.op, value: c.value };
  }
  if ((sc = msg(f, 'duration_filter')) !== undefined) {
    const c = compileComparison(issues, sc, joinPath(path, 'duration_filter'));
    return c === null ? null : { kind: 'duration', op: c.op, valueMs: c.value };
  }
  if ((sc = msg(f, 'not_health_check_filter')) !== undefined) {
    onlyFields(issues, sc, joinPath(path, 'not_health_check_filter'), []);
    return { kind: 'not_health_check' };
  }
  if ((sc = msg(f, 'runtime_filter')) !== undefined) return compileRuntimeFilter(issues, sc, joinPath(path, 'runtime_filter'));
  for (const k of ['and_filter', 'or_filter'] as const) {
    if ((sc = msg(f, k)) !== undefined) {
      const p = joinPath(path, k);
      onlyFields(issues, sc, p, ['filters']);
      const subs = list(sc, 'filters');
      if (subs.length < 2) issues.add(joinPath(p, 'filters'), 'needs at least 2 filters');
      const filters: AccessLogFilterModel[] = [];
      for (let i = 0; i < subs.length; i++) {
        const m = compileFilter(issues, subs[i]!, `${joinPath(p, 'filters')}[${i}]`, depth + 1);
        if (m !== null) filters.push(m);
      }
      return issues.count === before ? { kind: k === 'and_filter' ? 'and' : 'or', filters } : null;
    }
  }
  if ((sc = msg(f, 'response_flag_filter')) !== undefined) return compileResponseFlagFilter(issues, sc, joinPath(path, 'response_flag_filter'));
  if ((sc = msg(f, 'grpc_status_filter')) !== undefined) return compileGrpcStatusFilter(issues, sc, joinPath(path, 'grpc_status_filter'));
  if ((sc = msg(f, 'extension_filter')) !== undefined) return compileExtensionFilter(issues, sc, joinPath(path, 'extension_filter'));
  issues.add(path, `one of ${FILTER_KINDS.join(', ')} is required`);
  return null;
}

function compileComparison(issues: Issues, o: ProtoObject, path: string): { op: ComparisonOp; value: number } | null {
  onlyFields(issues, o, path, ['comparison']);
  const c = msg(o, 'comparison');
  const cp = joinPath(path, 'comparison');
  if (c === undefined) {
    issues.add(cp, 'is required');
    return null;
  }
  onlyFields(issues, c, cp, ['op', 'value']);
  const op = str(c, 'op') ?? 'EQ';
  if (op !== 'EQ' && op !== 'GE' && op !== 'LE') {
    issues.add(joinPath(cp, 'op'), `unknown op '${op}'`);
    return null;
  }
  const v = msg(c, 'value');
  const vp = joinPath(cp, 'value');
  if (v === undefined) {
    issues.add(vp, 'is required');
    return null;
  }
  // RuntimeUInt32: Remora has no runtime layer, so runtime_key is accepted and default_value is used.
  onlyFields(issues, v, vp, ['default_value', 'runtime_key']);
  return { op, value: num(v, 'default_value') ?? 0 };
}

function compileRuntimeFilter(issues: Issues, o: ProtoObject, path: string): AccessLogFilterModel | null {
  const before = issues.count;
  onlyFields(issues, o, path, ['runtime_key', 'percent_sampled', 'use_independent_randomness']);
  if ((str(o, 'runtime_key') ?? '') === '') issues.add(joinPath(path, 'runtime_key'), 'is required (Remora has no runtime layer; percent_sampled is used)');
  const ps = msg(o, 'percent_sampled');
  const pct = ps === undefined ? ZERO_PERCENT : compileFractionalPercent(issues, ps, joinPath(path, 'percent_sampled'));
  if (pct === null || issues.count !== before) return null;
  return { kind: 'runtime', numerator: pct.numerator, denominator: pct.denominator };
}

function compileResponseFlagFilter(issues: Issues, o: ProtoObject, path: string): AccessLogFilterModel | null {
  onlyFields(issues, o, path, ['flags']);
  const flags = strList(o, 'flags');
  if (flags.length === 0) return { kind: 'response_flag', mask: ALL_FLAGS };
  let mask = 0;
  let ok = true;
  for (let i = 0; i < flags.length; i++) {
    const bit = responseFlagBit(flags[i]!);
    if (bit !== undefined) mask |= bit;
    else if (!FOREIGN_FLAG_CODES.has(flags[i]!)) {
      issues.add(`${joinPath(path, 'flags')}[${i}]`, `unknown response flag '${flags[i]}'`);
      ok = false;
    }
  }
  return ok ? { kind: 'response_flag', mask } : null;
}

function compileGrpcStatusFilter(issues: Issues, o: ProtoObject, path: string): AccessLogFilterModel | null {
  onlyFields(issues, o, path, ['statuses', 'exclude']);
  const statuses: number[] = [];
  const raw = o['statuses'];
  const items = Array.isArray(raw) ? raw : [];
  for (let i = 0; i < items.length; i++) {
    const s = items[i];
    const n = typeof s === 'number' ? s : GRPC_STATUS_NAMES.indexOf(String(s));
    if (n < 0 || n > 16) issues.add(`${joinPath(path, 'statuses')}[${i}]`, `unknown gRPC status '${String(s)}'`);
    else statuses.push(n);
  }
  return statuses.length === items.length ? { kind: 'grpc_status', statuses, exclude: bool(o, 'exclude') ?? false } : null;
}

function compileExtensionFilter(issues: Issues, o: ProtoObject, path: string): AccessLogFilterModel | null {
  onlyFields(issues, o, path, ['name', 'typed_config']);
  const tc = msg(o, 'typed_config');
  const tp = joinPath(path, 'typed_config');
  if (tc === undefined) {
    issues.add(tp, 'is required');
    return null;
  }
  if (tc['@type'] !== CEL_FILTER_TYPE_URL) {
    issues.add(joinPath(tp, '@type'), `access log filter extension '${String(tc['@type'])}' is not supported by Remora (use ${CEL_FILTER_TYPE_URL})`);
    return null;
  }
  onlyFields(issues, tc, tp, ['expression']);
  const expression = str(tc, 'expression') ?? '';
  const ep = joinPath(tp, 'expression');
  try {
    return { kind: 'cel', expression, expr: parseCel(expression) };
  } catch (err) {
    if (!(err instanceof CelCompileError)) throw err;
    issues.add(ep, err.message);
    return null;
  }
}
