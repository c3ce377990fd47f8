/**
 * Compiles Envoy's `type.matcher.v3.StringMatcher` and `RegexMatcher` (RE2 `safe_regex`) into
 * `StringMatchModel`, and `SubjectAltNameMatcher` into `SanMatcherModel`. Patterns are compiled by
 * the RE2 engine (`../re2-regex.ts`): RE2's syntax, semantics and error messages, linear-time
 * matching; the matchers use full-match semantics, as Envoy's safe_regex matches the whole input.
 */
import type { SanMatcherModel, StringMatchModel } from '../model';
import { Re2Regex } from '../re2-regex';
import { Issues, joinPath, msg, onlyFields, str, bool } from './context';
import type { ProtoObject } from './proto-json';

/** Compiles an RE2 pattern; records RE2's error at `path` and returns null when it does not compile. */
export function compileRe2(issues: Issues, pattern: string, path: string): Re2Regex | null {
  try {
    return Re2Regex.compile(pattern);
  } catch (e) {
    issues.add(path, `invalid regex: ${(e as Error).message}`);
    return null;
  }
}

/** Compiles a `RegexMatcher` (`google_re2: {}` or no engine, plus `regex`). */
export function compileRegexMatcher(issues: Issues, m: ProtoObject | undefined, path: string): Re2Regex | null {
  if (m === undefined) {
    issues.add(path, 'is required');
    return null;
  }
  onlyFields(issues, m, path, ['google_re2', 'regex']);
  const g = msg(m, 'google_re2');
  if (g !== undefined) onlyFields(issues, g, joinPath(path, 'google_re2'), []);
  const re = str(m, 'regex');
  if (re === undefined || re === '') {
    issues.add(joinPath(path, 'regex'), 'must be a non-empty regex');
    return null;
  }
  return compileRe2(issues, re, joinPath(path, 'regex'));
}

/** Compiles a `StringMatcher` (exact | prefix | suffix | contains | safe_regex, with `ignore_case`). */
export function compileStringMatcher(issues: Issues, m: ProtoObject | undefined, path: string): StringMatchModel | null {
  if (m === undefined) {
    issues.add(path, 'is required');
    return null;
  }
  onlyFields(issues, m, path, ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case']);
  const ignoreCase = bool(m, 'ignore_case') ?? false;
  if (m['safe_regex'] !== undefined) {
    const re = compileRegexMatcher(issues, msg(m, 'safe_regex'), joinPath(path, 'safe_regex'));
    return re === null ? null : { kind: 'regex', regex: re };
  }
  for (const kind of ['exact', 'prefix', 'suffix', 'contains'] as const) {
    const v = str(m, kind);
    if (v === undefined) continue;
    if (kind !== 'exact' && v === '') {
      issues.add(joinPath(path, kind), 'must not be empty');
      return null;
    }
    return { kind, value: ignoreCase ? v.toLowerCase() : v, ignoreCase };
  }
  if (m['custom'] === undefined) issues.add(path, 'one of exact, prefix, suffix, contains or safe_regex is required');
  return null;
}

const SAN_TYPES = new Set(['DNS', 'URI', 'IP_ADDRESS', 'EMAIL']);

/** Compiles a `SubjectAltNameMatcher` (`san_type` DNS/URI/IP_ADDRESS/EMAIL + `matcher`). */
export function compileSanMatcher(issues: Issues, m: ProtoObject, path: string): SanMatcherModel | null {
  onlyFields(issues, m, path, ['san_type', 'matcher']);
  const t = str(m, 'san_type');
  let ok = true;
  if (t === undefined || !SAN_TYPES.has(t)) {
    issues.add(joinPath(path, 'san_type'), t === 'OTHER_NAME' ? 'OTHER_NAME is not supported by Remora' : 'must be one of DNS, URI, IP_ADDRESS, EMAIL');
    ok = false;
  }
  const matcher = compileStringMatcher(issues, msg(m, 'matcher'), joinPath(path, 'matcher'));
  if (!ok || matcher === null) return null;
  return { type: t as SanMatcherModel['type'], matcher };
}
