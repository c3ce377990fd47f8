/**
 * Translates a `string.pattern` rule (RE2 syntax, which protovalidate matches with @bufbuild/re2)
 * into an equivalent JS `RegExp`, at config time, when the pattern stays inside a subset where both
 * engines agree on *whether* a string matches: literals, `.` (any code point but `\n`), classes
 * with ASCII escapes, `^`/`$` (text start/end), groups `( )`/`(?: )`, alternation and the
 * quantifiers `* + ? {n} {n,} {n,m}` (greedy or lazy). The RegExp uses the `u` flag so it walks
 * code points like RE2; `.` becomes `[^\n]` and `\s` RE2's ASCII `[\t\n\f\r ]` (JS's `.` and `\s`
 * differ). Anything else (flags, named groups, `\p`, `\x{..}`, `\Q..\E`, `\A`, `\z`, POSIX classes,
 * repeat counts over 1000) returns null, and the message keeps the protovalidate path.
 * https://github.com/google/re2/wiki/Syntax
 */

/** JS RegExp syntax characters that must stay escaped outside a class. */
const JS_SYNTAX = '^$\\.*+?()[]{}|/';
const RE2_PUNCT_ESCAPABLE = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** The JS RegExp matching exactly the strings the RE2 `pattern` matches (unanchored test), or null. */
export function re2ToRegExp(pattern: string): RegExp | null {
  let out = '';
  let i = 0;
  const n = pattern.length;
  let lastAtom = false; // a quantifier needs something to repeat
  let depth = 0;
  while (i < n) {
    const c = pattern[i]!;
    switch (c) {
      case '^': case '$': out += c; i++; lastAtom = false; continue;
      case '|': out += c; i++; lastAtom = false; continue;
      case '.': out += '[^\\n]'; i++; lastAtom = true; continue;
      case '(': {
        if (pattern[i + 1] === '?') {
          if (pattern[i + 2] !== ':') return null;
          out += '(?:';
          i += 3;
        } else {
          out += '(';
          i++;
        }
        depth++;
        lastAtom = false;
        continue;
      }
      case ')':
        if (depth === 0) return null;
        depth--;
        out += ')';
        i++;
        lastAtom = true;
        continue;
      case '*': case '+': case '?': {
        if (!lastAtom) return null;
        out += c;
        i++;
        if (pattern[i] === '?') { out += '?'; i++; }
        lastAtom = false;
        continue;
      }
      case '{': {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
        if (m === null || !lastAtom) return null; // a literal '{' is outside the subset
        const lo = Number(m[1]);
        const hi = m[3] === undefined || m[3] === '' ? null : Number(m[3]);
        if (lo > 1000 || (hi !== null && (hi > 1000 || hi < lo))) return null;
        out += m[0];
        i += m[0].length;
        if (pattern[i] === '?') { out += '?'; i++; }
        lastAtom = false;
        continue;
      }
      case '[': {
        const r = translateClass(pattern, i);
        if (r === null) return null;
        out += r.out;
        i = r.next;
        lastAtom = true;
        continue;
      }
      case '\\': {
        const e = escape(pattern, i, false);
        if (e === null) return null;
        out += e.out;
        i = e.next;
        lastAtom = e.atom;
        continue;
      }
      default: {
        const cp = pattern.codePointAt(i)!;
        const ch = String.fromCodePoint(cp);
        out += ch === ']' || ch === '}' ? `\\${ch}` : ch;
        i += ch.length;
        lastAtom = true;
      }
    }
  }
  if (depth !== 0) return null;
  try {
    return new RegExp(out, 'u');
  } catch {
    return null;
  }
}

function escape(p: string, i: number, inClass: boolean): { out: string; next: number; atom: boolean } | null {
  const e = p[i + 1];
  if (e === undefined) return null;
  switch (e) {
    case 'd': case 'D': case 'w': case 'W': return { out: `\\${e}`, next: i + 2, atom: true };
    case 's': return { out: inClass ? '\\t\\n\\f\\r ' : '[\\t\\n\\f\\r ]', next: i + 2, atom: true };
    case 'S': return inClass ? null : { out: '[^\\t\\n\\f\\r ]', next: i + 2, atom: true };
    case 'b': case 'B': return inClass ? null : { out: `\\${e}`, next: i + 2, atom: false };
    case 'n': case 't': case 'r': case 'f': case 'v': return { out: `\\${e}`, next: i + 2, atom: true };
    default:
      if (RE2_PUNCT_ESCAPABLE.includes(e)) {
        const needs = inClass ? '\\]^-[' : JS_SYNTAX;
        return { out: needs.includes(e) ? `\\${e}` : e, next: i + 2, atom: true };
      }
      return null;
  }
}

/** `[...]` / `[^...]` starting at `i`; ASCII escapes, ranges and literals. */
function translateClass(p: string, i: number): { out: string; next: number } | null {
  let j = i + 1;
  let out = '[';
  if (p[j] === '^') { out += '^'; j++; }
  let first = true;
  let prevLiteral: number | null = null; // code point of the last single literal (a range start)
  for (;;) {
    if (j >= p.length) return null;
    const c = p[j]!;
    if (c === ']' && !first) { j++; break; }
    first = false;
    if (c === '[') return null; // POSIX classes `[:alpha:]` and nested sets
    if (c === '-' && prevLiteral !== null && p[j + 1] !== undefined && p[j + 1] !== ']') {
      // A range prevLiteral-next.
      const r = classLiteral(p, j + 1);
      if (r === null || r.cp < prevLiteral) return null;
      out += `-${r.out}`;
      j = r.next;
      prevLiteral = null;
      continue;
    }
    if (c === '\\' && 'dDwWsS'.includes(p[j + 1] ?? '')) {
      const e = escape(p, j, true);
      if (e === null) return null;
      out += e.out;
      j = e.next;
      prevLiteral = null;
      continue;
    }
    const r = classLiteral(p, j);
    if (r === null) return null;
    out += r.out;
    j = r.next;
    prevLiteral = r.cp;
  }
  if (out === '[' || out === '[^') return null;
  return { out: `${out}]`, next: j };
}

function classLiteral(p: string, j: number): { out: string; next: number; cp: number } | null {
  const c = p[j]!;
  if (c === '\\') {
    const e = p[j + 1];
    if (e === undefined) return null;
    const ctl: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11 };
    if (ctl[e] !== undefined) return { out: `\\${e}`, next: j + 2, cp: ctl[e]! };
    if (!RE2_PUNCT_ESCAPABLE.includes(e)) return null;
    return { out: `\\${e}`, next: j + 2, cp: e.charCodeAt(0) };
  }
  const cp = p.codePointAt(j)!;
  const ch = String.fromCodePoint(cp);
  const out = ch === '-' || ch === '^' || ch === ']' || ch === '[' || ch === '\\' ? `\\${ch}` : ch;
  return { out, next: j + ch.length, cp };
}
