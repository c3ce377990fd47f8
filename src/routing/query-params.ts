/**
 * The query string of a request `:path`, parsed and percent-decoded the way Envoy's
 * `QueryParamsMulti::parseAndDecodeQueryString` does (split on `&`, name and value split on the first
 * `=`, `%XX` decoded, `+` left as is, malformed escapes kept literally), and the compiled
 * `RouteMatch.query_parameters` matcher, which looks at the first value of a repeated name. Parsing is
 * done at most once per request and only when a candidate route has query matchers.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-queryparametermatcher
 */
import type { QueryParameterMatcherModel } from '../config/model';
import { StringMatcher } from './string-matcher';

/** Decoded query parameters in request order (repeated names kept). Created per request. */
export class QueryParams {
  private readonly names: string[];
  private readonly values: string[];

  private constructor(names: string[], values: string[]) {
    this.names = names;
    this.values = values;
  }

  /**
   * Parses the query of `path`. `pathEnd` is the index of the first `?` or `#` (or `path.length`); the
   * query runs from the `?` to the first `#` or the end. Never throws.
   */
  static parse(path: string, pathEnd: number): QueryParams {
    const names: string[] = [];
    const values: string[] = [];
    if (pathEnd < path.length && path.charCodeAt(pathEnd) === 0x3f /* ? */) {
      let end = path.indexOf('#', pathEnd + 1);
      if (end === -1) end = path.length;
      let start = pathEnd + 1;
      while (start < end) {
        let amp = path.indexOf('&', start);
        if (amp === -1 || amp > end) amp = end;
        const eq = path.indexOf('=', start);
        if (eq !== -1 && eq < amp) {
          names.push(percentDecode(path.slice(start, eq)));
          values.push(percentDecode(path.slice(eq + 1, amp)));
        } else {
          names.push(percentDecode(path.slice(start, amp)));
          values.push('');
        }
        start = amp + 1;
      }
    }
    return new QueryParams(names, values);
  }

  /** The decoded value of the first parameter named `name` (after decoding), or undefined. */
  getFirst(name: string): string | undefined {
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === name) return this.values[i];
    return undefined;
  }

  /** Number of parameters (repeated names counted). */
  get size(): number {
    return this.names.length;
  }
}

/**
 * Decodes `%XX` escapes (hex digits of either case) into bytes and the bytes as UTF-8 (invalid
 * sequences become U+FFFD); other characters are kept, `+` included. Characters up to U+00FF stand
 * for one byte each (Node decodes raw request bytes as latin1). Returns `s` itself when it has no `%`.
 */
export function percentDecode(s: string): string {
  if (s.indexOf('%') === -1) return s;
  const bytes = Buffer.allocUnsafe(s.length * 3);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 /* % */ && i + 2 < s.length) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        bytes[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    if (c <= 0xff) {
      bytes[n++] = c;
    } else {
      const cp = s.codePointAt(i) as number;
      n += bytes.write(String.fromCodePoint(cp), n, 'utf8');
      if (cp > 0xffff) i++;
    }
  }
  return bytes.toString('utf8', 0, n);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/** A compiled `QueryParameterMatcher`. Immutable; shared across requests. */
export class CompiledQueryParameterMatcher {
  readonly name: string;
  /** null means `present_match: true`. */
  private readonly matcher: StringMatcher | null;

  constructor(model: QueryParameterMatcherModel) {
    this.name = model.name;
    this.matcher = model.match === null ? null : StringMatcher.compile(model.match);
  }

  /** True when the first parameter with this name exists and (if a string matcher is set) matches. */
  matches(params: QueryParams): boolean {
    const v = params.getFirst(this.name);
    if (v === undefined) return false;
    return this.matcher === null ? true : this.matcher.match(v);
  }
}
