/**
 * Envoy's `StringMatcher` (envoy.type.matcher.v3.StringMatcher) compiled once per config update into
 * one monomorphic `StringMatcher` class: the kind is an integer switched on per call, ignore-case
 * patterns are lowercased (ASCII only, as Envoy's `absl::EqualsIgnoreCase`) ahead of time and compared
 * without allocating, and regexes (compiled RE2, linear-time) match the whole value, as RE2's
 * `FullMatch` in Envoy. Also holds the small ASCII case-folding helpers the path matchers share.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/type/matcher/v3/string.proto
 */
import type { StringMatchModel } from '../config/model';
import type { Re2Regex } from '../config/re2-regex';

const EXACT = 0;
const PREFIX = 1;
const SUFFIX = 2;
const CONTAINS = 3;
const REGEX = 4;
const EXACT_IGNORE_CASE = 5;
const PREFIX_IGNORE_CASE = 6;
const SUFFIX_IGNORE_CASE = 7;
const CONTAINS_IGNORE_CASE = 8;

/**
 * A compiled string matcher. Immutable and safe to share across requests and connections.
 * `match()` is synchronous, never throws and never allocates.
 */
export class StringMatcher {
  /** @internal the compiled kind (one of the module constants). */
  readonly kind: number;
  /** The pattern; ASCII-lowercased for the ignore-case kinds; '' for regex. */
  private readonly pattern: string;
  /** The RE2 pattern for the regex kind, else null. */
  private readonly regex: Re2Regex | null;

  private constructor(kind: number, pattern: string, regex: Re2Regex | null) {
    this.kind = kind;
    this.pattern = pattern;
    this.regex = regex;
  }

  /** Compiles a `StringMatchModel`. Called at config time only. */
  static compile(model: StringMatchModel): StringMatcher {
    if (model.kind === 'regex') return new StringMatcher(REGEX, '', model.regex);
    let kind: number;
    switch (model.kind) {
      case 'exact': kind = EXACT; break;
      case 'prefix': kind = PREFIX; break;
      case 'suffix': kind = SUFFIX; break;
      default: kind = CONTAINS; break;
    }
    // A pattern without ASCII letters compares the same either way: use the cheaper native kinds.
    if (model.ignoreCase && hasAsciiLetter(model.value)) {
      return new StringMatcher(kind + EXACT_IGNORE_CASE, asciiLowerCase(model.value), null);
    }
    return new StringMatcher(kind, model.value, null);
  }

  /** True when `value` matches (for regex: the whole value matches). */
  match(value: string): boolean {
    const p = this.pattern;
    switch (this.kind) {
      case EXACT: return value === p;
      case PREFIX: return value.startsWith(p);
      case SUFFIX: return value.endsWith(p);
      case CONTAINS: return value.includes(p);
      case REGEX: return (this.regex as Re2Regex).fullMatch(value);
      case EXACT_IGNORE_CASE: return value.length === p.length && regionMatchesIgnoreCase(value, 0, p);
      case PREFIX_IGNORE_CASE: return value.length >= p.length && regionMatchesIgnoreCase(value, 0, p);
      case SUFFIX_IGNORE_CASE:
        return value.length >= p.length && regionMatchesIgnoreCase(value, value.length - p.length, p);
      case CONTAINS_IGNORE_CASE: return indexOfIgnoreCase(value, p) !== -1;
      default: return false;
    }
  }
}

/** Compiles a `StringMatchModel` (alias of `StringMatcher.compile`). Config time only. */
export function compileStringMatcher(model: StringMatchModel): StringMatcher {
  return StringMatcher.compile(model);
}

/** ASCII-only lowercase (as `absl::AsciiStrToLower`); returns `s` itself when nothing changes. */
export function asciiLowerCase(s: string): string {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) break;
  }
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 65 && c <= 90 ? String.fromCharCode(c | 0x20) : s[i];
  }
  return out;
}

/**
 * True when `value[offset, offset + lowerPattern.length)` equals `lowerPattern` ignoring ASCII case.
 * `lowerPattern` must already be ASCII-lowercased; the caller checks that the region is in bounds.
 */
export function regionMatchesIgnoreCase(value: string, offset: number, lowerPattern: string): boolean {
  const n = lowerPattern.length;
  for (let i = 0; i < n; i++) {
    let c = value.charCodeAt(offset + i);
    if (c >= 65 && c <= 90) c |= 0x20;
    if (c !== lowerPattern.charCodeAt(i)) return false;
  }
  return true;
}

/** Index of the first ASCII-case-insensitive occurrence of `lowerPattern` in `value`, or -1. */
export function indexOfIgnoreCase(value: string, lowerPattern: string): number {
  const last = value.length - lowerPattern.length;
  for (let i = 0; i <= last; i++) {
    if (regionMatchesIgnoreCase(value, i, lowerPattern)) return i;
  }
  return -1;
}

/** True when `s` has an ASCII letter (so ASCII case folding can change a comparison). */
export function hasAsciiLetter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) | 0x20;
    if (c >= 97 && c <= 122) return true;
  }
  return false;
}
