/**
 * Subject Alternative Name matching, shared by upstream (server certificate) and downstream (client
 * certificate) validation: the one place that parses Node's `cert.subjectaltname` string and
 * applies Envoy's `match_typed_subject_alt_names` semantics. A certificate is accepted when ANY of its
 * SAN entries matches ANY matcher of the same SAN type (DNS, URI, IP_ADDRESS, EMAIL). String
 * matchers follow Envoy's `StringMatcher`: exact/prefix/suffix/contains (optionally ignoring ASCII
 * case) and `safe_regex`, which must match the WHOLE value (RE2 full match).
 * See https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/transport_sockets/tls/v3/common.proto
 * (`CertificateValidationContext.match_typed_subject_alt_names`).
 */
import type { SanMatcherModel, StringMatchModel } from '../config/model';
import type { Re2Regex } from '../config/re2-regex';

/** One parsed SAN entry of a certificate. */
export interface SanEntry {
  readonly type: SanMatcherModel['type'];
  readonly value: string;
}

/** A matcher list compiled once (regexes anchored for full match, case folded where asked). */
export interface CompiledSanMatchers {
  readonly matchers: readonly CompiledSanMatcher[];
}

interface CompiledSanMatcher {
  readonly type: SanMatcherModel['type'];
  readonly kind: 'exact' | 'prefix' | 'suffix' | 'contains' | 'regex';
  /** The literal to compare (lowercased when ignoreCase); '' for regex. */
  readonly value: string;
  readonly ignoreCase: boolean;
  /** The RE2 pattern (full match); null for literal matchers. */
  readonly regex: Re2Regex | null;
}

/** Compiles matcher models once (config time). Regexes are the model's compiled RE2 patterns (full match). */
export function compileSanMatchers(models: readonly SanMatcherModel[]): CompiledSanMatchers {
  const matchers: CompiledSanMatcher[] = [];
  for (let i = 0; i < models.length; i++) matchers.push(compileOne(models[i]));
  return Object.freeze({ matchers: Object.freeze(matchers) });
}

function compileOne(model: SanMatcherModel): CompiledSanMatcher {
  const m: StringMatchModel = model.matcher;
  if (m.kind === 'regex') {
    return Object.freeze({ type: model.type, kind: 'regex', value: '', ignoreCase: false, regex: m.regex });
  }
  return Object.freeze({
    type: model.type, kind: m.kind, value: m.ignoreCase ? m.value.toLowerCase() : m.value,
    ignoreCase: m.ignoreCase, regex: null,
  });
}

const TYPE_BY_PREFIX: Readonly<Record<string, SanMatcherModel['type']>> = {
  'DNS': 'DNS',
  'URI': 'URI',
  'IP Address': 'IP_ADDRESS',
  'email': 'EMAIL',
};

/**
 * Parses Node's `subjectaltname` string (`DNS:a, URI:spiffe://x, IP Address:1.2.3.4, email:e@x`).
 * Since Node 17.3/16.13.2 values with special characters are JSON-quoted (`DNS:"a,b"`); both forms
 * are handled. Entry types we do not match on (othername, DirName, …) are skipped. Never throws.
 */
export function parseSubjectAltNames(subjectaltname: string | undefined): SanEntry[] {
  const out: SanEntry[] = [];
  if (subjectaltname === undefined || subjectaltname.length === 0) return out;
  const s = subjectaltname;
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon === -1) break;
    const prefix = s.slice(i, colon);
    let value: string;
    let next: number;
    if (s.charCodeAt(colon + 1) === 0x22 /* " */) {
      // JSON string: find the closing quote, honouring backslash escapes.
      let j = colon + 2;
      while (j < s.length && s.charCodeAt(j) !== 0x22) j += s.charCodeAt(j) === 0x5c ? 2 : 1;
      try {
        value = JSON.parse(s.slice(colon + 1, j + 1)) as string;
      } catch {
        value = s.slice(colon + 2, j);
      }
      next = s.indexOf(', ', j + 1);
    } else {
      next = s.indexOf(', ', colon + 1);
      value = s.slice(colon + 1, next === -1 ? s.length : next);
    }
    const type = TYPE_BY_PREFIX[prefix];
    if (type !== undefined) out.push({ type, value: type === 'IP_ADDRESS' ? canonicalIp(value) : value });
    if (next === -1) break;
    i = next + 2;
  }
  return out;
}

/**
 * Canonical text for an IP SAN, so matchers written the usual way compare equal: IPv4 as is; IPv6 in
 * RFC 5952 form (lowercase, no leading zeros, longest zero run as `::`), as Envoy prints it. Node
 * prints IPv6 SANs uncompressed (`0:0:0:0:0:0:0:1`).
 */
export function canonicalIp(value: string): string {
  if (value.indexOf(':') === -1) return value;
  const parts = value.split(':');
  if (parts.length !== 8) return value.toLowerCase();
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) {
    const n = parseInt(parts[i], 16);
    if (!(n >= 0 && n <= 0xffff)) return value.toLowerCase();
    groups.push(n);
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestStart === -1) return groups.map(hex).join(':');
  return groups.slice(0, bestStart).map(hex).join(':') + '::' + groups.slice(bestStart + bestLen).map(hex).join(':');
}

function hex(n: number): string { return n.toString(16); }

/** True when `value` satisfies one compiled matcher (type already checked by the caller). */
function matchValue(m: CompiledSanMatcher, value: string): boolean {
  if (m.regex !== null) return m.regex.fullMatch(value);
  const v = m.ignoreCase ? value.toLowerCase() : value;
  switch (m.kind) {
    case 'exact': return v === m.value;
    case 'prefix': return v.startsWith(m.value);
    case 'suffix': return v.endsWith(m.value);
    case 'contains': return v.includes(m.value);
    default: return false;
  }
}

/**
 * True when any SAN entry matches any matcher of its type. An empty matcher list accepts every
 * certificate (there is nothing to check); an empty SAN list is rejected by a non-empty matcher list.
 */
export function sanEntriesMatch(compiled: CompiledSanMatchers, entries: readonly SanEntry[]): boolean {
  const matchers = compiled.matchers;
  if (matchers.length === 0) return true;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    for (let j = 0; j < matchers.length; j++) {
      const m = matchers[j];
      if (m.type === e.type && matchValue(m, e.value)) return true;
    }
  }
  return false;
}

/** Convenience: parse a certificate's `subjectaltname` and match it. */
export function subjectAltNameMatches(compiled: CompiledSanMatchers, subjectaltname: string | undefined): boolean {
  if (compiled.matchers.length === 0) return true;
  return sanEntriesMatch(compiled, parseSubjectAltNames(subjectaltname));
}
