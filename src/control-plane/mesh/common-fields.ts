/**
 * Validators for the Istio value types shared by several kinds: durations (Go/Istio syntax such as
 * `1.5s`, `500ms`, `1m30s`), StringMatch (exactly one of exact/prefix/regex, the regex checked by the
 * RE2 engine the sidecars match with), header operations (`set`/`add`/`remove`), and the load-balancer `simple`
 * policy. Each returns null/undefined after recording an issue.
 */
import type { DocContext, Path } from './document-context';
import type { HeaderOperations, HeadersSpec, StringMatch } from './model';
import { Re2Regex } from '../../config/re2-regex';

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, 'µs': 0.001, ns: 0.000001 };

/**
 * Parses an Istio duration (`10s`, `1.5s`, `250ms`, `1h30m`) into whole milliseconds. Istio rules:
 * at least 1ms, millisecond precision. Returns null with a reason on error.
 */
export function parseDurationMs(text: string): { ms: number } | { error: string } {
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/y;
  let total = 0;
  let pos = 0;
  if (text === '') return { error: 'empty duration' };
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null) return { error: `invalid duration '${text}'; expected e.g. "1.5s", "500ms" or "1m30s"` };
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (total < 1) return { error: `duration '${text}' must be at least 1ms` };
  if (Math.abs(total - Math.round(total)) > 1e-9) return { error: `duration '${text}' must have millisecond precision` };
  return { ms: Math.round(total) };
}

export function readDuration(ctx: DocContext, o: Record<string, unknown>, key: string, path: Path): number | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') {
    ctx.err([...path, key], `expected a duration string like "1.5s", got ${typeof v} ${JSON.stringify(v)}`);
    return null;
  }
  const r = parseDurationMs(v);
  if ('error' in r) {
    ctx.err([...path, key], r.error);
    return null;
  }
  return r.ms;
}

/** Istio StringMatch: a mapping with exactly one of exact, prefix, regex. */
export function readStringMatch(ctx: DocContext, v: unknown, path: Path, allowPrefix = true): StringMatch | null {
  const o = ctx.object(v, path, allowPrefix ? ['exact', 'prefix', 'regex'] : ['exact', 'regex']);
  if (o === null) return null;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined && o[k] !== null);
  const kinds = keys.filter((k) => k === 'exact' || k === 'prefix' || k === 'regex');
  if (kinds.length !== 1) {
    if (keys.length === kinds.length) ctx.err(path, `exactly one of ${allowPrefix ? 'exact, prefix or regex' : 'exact or regex'} is required`);
    return null;
  }
  const kind = kinds[0] as StringMatch['kind'];
  const value = ctx.string(o, kind, path);
  if (value === undefined) return null;
  if (kind === 'regex') {
    // Istio's regex fields are RE2 (Envoy's safe_regex): check with the engine the sidecars use.
    try {
      Re2Regex.compile(value);
    } catch (e) {
      ctx.err([...path, kind], `invalid regex: ${(e as Error).message}`);
      return null;
    }
  }
  if (kind === 'prefix' && value === '') {
    ctx.err([...path, kind], 'must not be empty');
    return null;
  }
  return { kind, value };
}

function readHeaderOps(ctx: DocContext, v: unknown, path: Path): HeaderOperations | null {
  const o = ctx.object(v, path, ['set', 'add', 'remove']);
  if (o === null) return null;
  const pairs = (key: 'set' | 'add'): [string, string][] => {
    const m = o[key];
    if (m === undefined || m === null) return [];
    if (typeof m !== 'object' || Array.isArray(m)) {
      ctx.err([...path, key], 'expected a mapping of header name to value');
      return [];
    }
    const out: [string, string][] = [];
    for (const name of Object.keys(m as object).sort()) {
      const val = (m as Record<string, unknown>)[name];
      if (typeof val !== 'string') ctx.err([...path, key, name], 'header values must be strings');
      else if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) ctx.err([...path, key, name], `invalid header name '${name}'`);
      else out.push([name.toLowerCase(), val]);
    }
    return out;
  };
  return { set: pairs('set'), add: pairs('add'), remove: ctx.stringList(o, 'remove', path).map((h) => h.toLowerCase()) };
}

const EMPTY_OPS: HeaderOperations = { set: [], add: [], remove: [] };

/** Istio Headers: `{request: {set, add, remove}, response: {...}}`. */
export function readHeaders(ctx: DocContext, v: unknown, path: Path): HeadersSpec | null {
  if (v === undefined || v === null) return null;
  const o = ctx.object(v, path, ['request', 'response']);
  if (o === null) return null;
  const request = o['request'] === undefined || o['request'] === null ? EMPTY_OPS : readHeaderOps(ctx, o['request'], [...path, 'request']);
  const response = o['response'] === undefined || o['response'] === null ? EMPTY_OPS : readHeaderOps(ctx, o['response'], [...path, 'response']);
  if (request === null || response === null) return null;
  return { request, response };
}
