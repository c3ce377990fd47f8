/**
 * The transcoder's route table: every (HTTP method, path template) binding in one trie keyed by
 * path segment, built at config time. Matching is independent of declaration order: at each
 * segment a literal child is tried before `*`, and `*` before `**`, backtracking when the rest does
 * not match or the method is not bound there. A custom verb belongs to its template (the Spec's
 * grammar): `/v1/m/abc:undelete` matches a template with verb `undelete` first, else the same path
 * with `abc:undelete` as a plain segment. Trailing empty segments are dropped (`/v1/shelves/` ≡
 * `/v1/shelves`, like Envoy); an empty segment elsewhere never matches `*`. A path bound for other
 * methods only yields `method_not_allowed` with the sorted `Allow` list (HTTP 405). Duplicate
 * templates (same method, same segments and verb) are a config error.
 */
import { decodeComponent, decodeMultiSegment, type UnescapeMode } from './percent-decoding';
import { canonicalTemplate, type PathTemplate } from './path-template';

/** Matches any method (a `custom` rule with kind `*`). */
export const ANY_METHOD = '*';

export interface HttpBinding<T> {
  /** Upper-case HTTP method, or ANY_METHOD. */
  readonly method: string;
  readonly template: PathTemplate;
  readonly target: T;
}

export type MatchResult<T> =
  | {
    readonly kind: 'match';
    readonly binding: HttpBinding<T>;
    /** The request's path segments, raw (still percent-encoded), the verb removed when the template has one. */
    readonly segments: readonly string[];
  }
  | { readonly kind: 'method_not_allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'no_match' };

/** Two bindings with the same method and template. */
export class DuplicateTemplateError extends Error {
  constructor(readonly method: string, readonly first: string, readonly second: string) {
    super(`duplicate HTTP rule: ${method} ${second} matches exactly the paths of ${method} ${first}`);
    this.name = 'DuplicateTemplateError';
  }
}

class Node<T> {
  readonly literals = new Map<string, Node<T>>();
  single: Node<T> | null = null;
  /** Bindings ending in `**` here: verb ('' for none) → method → binding. */
  multi: Map<string, Map<string, HttpBinding<T>>> | null = null;
  /** Bindings ending exactly here. */
  terminal: Map<string, Map<string, HttpBinding<T>>> | null = null;
}

const NO_MATCH = Object.freeze({ kind: 'no_match' as const });

export class PathMatcher<T> {
  private readonly root = new Node<T>();
  /** Verbs some template uses: a colon in the last segment is tried as a verb only for these. */
  private readonly verbs = new Set<string>();

  /** Builds the trie; throws DuplicateTemplateError for a repeated (method, template). */
  constructor(bindings: readonly HttpBinding<T>[]) {
    for (const b of bindings) this.insert(b);
  }

  private insert(b: HttpBinding<T>): void {
    let node = this.root;
    const segs = b.template.segments;
    const verb = b.template.verb ?? '';
    if (verb !== '') this.verbs.add(verb);
    let table: Map<string, Map<string, HttpBinding<T>>> | null = null;
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i]!;
      if (s.kind === 'multi') {
        node.multi ??= new Map();
        table = node.multi;
        break;
      }
      if (s.kind === 'single') {
        node.single ??= new Node<T>();
        node = node.single;
      } else {
        const key = decodeComponent(s.value) ?? s.value;
        let next = node.literals.get(key);
        if (next === undefined) {
          next = new Node<T>();
          node.literals.set(key, next);
        }
        node = next;
      }
    }
    if (table === null) {
      node.terminal ??= new Map();
      table = node.terminal;
    }
    let byMethod = table.get(verb);
    if (byMethod === undefined) {
      byMethod = new Map();
      table.set(verb, byMethod);
    }
    const prev = byMethod.get(b.method);
    if (prev !== undefined) throw new DuplicateTemplateError(b.method, prev.template.source, b.template.source);
    byMethod.set(b.method, b);
  }

  /**
   * Matches `method` and `path` (the `:path` without its query string). Never throws; work is
   * proportional to the path's segments (plus backtracking over wildcard alternatives).
   */
  match(method: string, path: string): MatchResult<T> {
    const segments = splitPath(path);
    if (segments === null) return NO_MATCH;
    const last = segments.length > 0 ? segments[segments.length - 1]! : '';
    const colon = last.lastIndexOf(':');
    if (colon > 0 && this.verbs.has(last.slice(colon + 1))) {
      const withVerb = segments.slice();
      withVerb[withVerb.length - 1] = last.slice(0, colon);
      const found = this.search(this.root, withVerb, 0, last.slice(colon + 1), method, null);
      if (found !== null) return { kind: 'match', binding: found, segments: withVerb };
    }
    const found = this.search(this.root, segments, 0, '', method, null);
    if (found !== null) return { kind: 'match', binding: found, segments };
    // Miss: is the path bound for other methods? (Only on this path do we collect them.)
    const allow = new Set<string>();
    if (colon > 0 && this.verbs.has(last.slice(colon + 1))) {
      const withVerb = segments.slice();
      withVerb[withVerb.length - 1] = last.slice(0, colon);
      this.search(this.root, withVerb, 0, last.slice(colon + 1), method, allow);
    }
    this.search(this.root, segments, 0, '', method, allow);
    if (allow.size === 0) return NO_MATCH;
    return { kind: 'method_not_allowed', allow: [...allow].sort() };
  }

  /** DFS: literal, then `*`, then `**`. With `allow` non-null, collects the methods bound at matching leaves. */
  private search(node: Node<T>, segs: readonly string[], i: number, verb: string, method: string, allow: Set<string> | null): HttpBinding<T> | null {
    if (i === segs.length) {
      const hit = pick(node.terminal, verb, method, allow);
      if (hit !== null) return hit;
    } else {
      const raw = segs[i]!;
      let lit = node.literals.get(raw);
      if (lit === undefined && raw.indexOf('%') >= 0) {
        const decoded = decodeComponent(raw);
        if (decoded !== null) lit = node.literals.get(decoded);
      }
      if (lit !== undefined) {
        const hit = this.search(lit, segs, i + 1, verb, method, allow);
        if (hit !== null) return hit;
      }
      if (node.single !== null && raw.length > 0) {
        const hit = this.search(node.single, segs, i + 1, verb, method, allow);
        if (hit !== null) return hit;
      }
    }
    return pick(node.multi, verb, method, allow);
  }
}

function pick<T>(table: Map<string, Map<string, HttpBinding<T>>> | null, verb: string, method: string, allow: Set<string> | null): HttpBinding<T> | null {
  if (table === null) return null;
  const byMethod = table.get(verb);
  if (byMethod === undefined) return null;
  if (allow !== null) {
    for (const m of byMethod.keys()) allow.add(m);
    return null;
  }
  return byMethod.get(method) ?? byMethod.get(ANY_METHOD) ?? null;
}

/**
 * `/a/b/` → ['a', 'b'] (trailing empty segments dropped), `/` → []. Null for a path that does not
 * start with `/`. Segments stay percent-encoded: splitting happens before any decoding.
 */
export function splitPath(path: string): string[] | null {
  if (path.length === 0 || path.charCodeAt(0) !== 0x2f) return null;
  const segs = path.length === 1 ? [] : path.slice(1).split('/');
  while (segs.length > 0 && segs[segs.length - 1] === '') segs.pop();
  return segs;
}

/** For error messages and duplicate checks: the canonical form of a binding. */
export function describeBinding(b: HttpBinding<unknown>): string {
  return `${b.method} ${canonicalTemplate(b.template)}`;
}

/** One path variable's value, decoded. */
export interface PathBinding {
  readonly fieldPath: readonly string[];
  readonly value: string;
}

/**
 * The values of `template`'s variables in a matched path (`segments` from MatchResult): a
 * single-segment variable fully decoded, a multi-segment one decoded per `mode` (the Spec keeps
 * `%2F`). Returns the index of the offending variable (a number) when a value is not valid UTF-8.
 */
export function extractVariables(template: PathTemplate, segments: readonly string[], mode: UnescapeMode): PathBinding[] | number {
  const out: PathBinding[] = [];
  const tsegs = template.segments;
  const vars = template.variables;
  for (let k = 0; k < vars.length; k++) {
    const v = vars[k]!;
    const endsInMulti = v.end === tsegs.length && tsegs.length > 0 && tsegs[tsegs.length - 1]!.kind === 'multi';
    const end = endsInMulti ? segments.length : v.end;
    const value = v.multiSegment ? decodeMultiSegment(segments.slice(v.start, end).join('/'), mode) : decodeComponent(segments[v.start] ?? '');
    if (value === null) return k;
    out.push({ fieldPath: v.fieldPath, value });
  }
  return out;
}
