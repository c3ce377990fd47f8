/**
 * Parser of `google.api.http` path templates (google/api/http.proto):
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     FieldPath = IDENT { "." IDENT } ;
 *     Verb     = ":" LITERAL ;
 *
 * into a flat segment list plus the variables' segment ranges. `{var}` is `{var=*}`. Rules the Spec
 * and both reference implementations enforce are config errors here: `**` only as the last segment,
 * no variable inside a variable, no empty segment (`//`, a trailing `/`), a field path of
 * identifiers. `/` alone is accepted as the template with no segment (Envoy accepts it too).
 * Parsing happens at config time only.
 */

export type TemplateSegment =
  | { readonly kind: 'literal'; readonly value: string }
  /** `*`: exactly one non-empty segment. */
  | { readonly kind: 'single' }
  /** `**`: zero or more segments (last only). */
  | { readonly kind: 'multi' };

export interface TemplateVariable {
  /** The dotted field path, split (`book.name` → ['book', 'name']). */
  readonly fieldPath: readonly string[];
  /** Index of the first segment the variable covers. */
  readonly start: number;
  /** Index after the last segment it covers. */
  readonly end: number;
  /** True when the variable covers more than one segment or a `**` (its value keeps `%2F` encoded). */
  readonly multiSegment: boolean;
}

export interface PathTemplate {
  /** The template text as written. */
  readonly source: string;
  readonly segments: readonly TemplateSegment[];
  readonly variables: readonly TemplateVariable[];
  /** The custom verb without its `:`; null when none. */
  readonly verb: string | null;
}

/** A template that does not follow the grammar; `position` is the 0-based offset of the problem. */
export class PathTemplateError extends Error {
  constructor(readonly template: string, readonly position: number, reason: string) {
    super(`invalid path template ${JSON.stringify(template)} at ${position}: ${reason}`);
    this.name = 'PathTemplateError';
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Characters a LITERAL may not contain (they are template syntax). */
function isSyntax(c: string): boolean {
  return c === '/' || c === '{' || c === '}' || c === '*' || c === ':' || c === '=' || c === '?' || c === '#';
}

/** Parses a template; throws PathTemplateError naming the position and the rule broken. */
export function parsePathTemplate(source: string): PathTemplate {
  const p = new Parser(source);
  return p.parse();
}

class Parser {
  private i = 0;
  private readonly segments: TemplateSegment[] = [];
  private readonly variables: TemplateVariable[] = [];

  constructor(private readonly s: string) {}

  private fail(reason: string, at = this.i): never {
    throw new PathTemplateError(this.s, at, reason);
  }

  parse(): PathTemplate {
    const s = this.s;
    if (s.length === 0 || s[0] !== '/') this.fail('a template starts with "/"', 0);
    this.i = 1;
    let verb: string | null = null;
    if (s.length === 1) return { source: s, segments: [], variables: [], verb: null };
    if (s[1] === ':') this.fail('a verb needs at least one segment before it');
    this.segmentList(false);
    if (this.i < s.length && s[this.i] === ':') {
      this.i++;
      const start = this.i;
      while (this.i < s.length && !isSyntax(s[this.i]!)) this.i++;
      if (this.i === start) this.fail('empty verb after ":"');
      verb = s.slice(start, this.i);
    }
    if (this.i !== s.length) this.fail(`unexpected ${JSON.stringify(s[this.i])}`);
    const segs = this.segments;
    for (let k = 0; k < segs.length; k++) {
      if (segs[k]!.kind === 'multi' && k !== segs.length - 1) this.fail('"**" must be the last segment', this.s.indexOf('**'));
    }
    const seen = new Set<string>();
    for (const v of this.variables) {
      const name = v.fieldPath.join('.');
      if (seen.has(name)) this.fail(`variable ${name} appears twice`);
      seen.add(name);
    }
    return { source: s, segments: segs, variables: this.variables, verb };
  }

  /** Segments separated by "/", until "}" (inside a variable), ":" (verb) or the end. */
  private segmentList(inVariable: boolean): void {
    const s = this.s;
    for (;;) {
      this.segment(inVariable);
      if (this.i < s.length && s[this.i] === '/') {
        this.i++;
        if (this.i >= s.length || s[this.i] === '/' || s[this.i] === ':' || s[this.i] === '}') this.fail('empty segment');
        continue;
      }
      return;
    }
  }

  private segment(inVariable: boolean): void {
    const s = this.s;
    const c = s[this.i];
    if (c === undefined) this.fail('empty segment');
    if (c === '*') {
      if (s[this.i + 1] === '*') {
        this.i += 2;
        this.segments.push({ kind: 'multi' });
      } else {
        this.i++;
        this.segments.push({ kind: 'single' });
      }
      if (this.i < s.length && s[this.i] !== '/' && s[this.i] !== ':' && s[this.i] !== '}') this.fail('a wildcard must be a whole segment');
      return;
    }
    if (c === '{') {
      if (inVariable) this.fail('a variable cannot contain another variable');
      this.variable();
      return;
    }
    const start = this.i;
    while (this.i < s.length && !isSyntax(s[this.i]!)) this.i++;
    if (this.i === start) this.fail(`unexpected ${JSON.stringify(c)}`);
    if (this.i < s.length && (s[this.i] === '*' || s[this.i] === '{' || s[this.i] === '=')) this.fail('a literal must be a whole segment');
    this.segments.push({ kind: 'literal', value: s.slice(start, this.i) });
  }

  private variable(): void {
    const s = this.s;
    const open = this.i;
    this.i++;
    const nameStart = this.i;
    while (this.i < s.length && s[this.i] !== '=' && s[this.i] !== '}') this.i++;
    const name = s.slice(nameStart, this.i);
    const fieldPath = name.split('.');
    if (name.length === 0 || !fieldPath.every((p) => IDENT.test(p))) this.fail(`invalid field path ${JSON.stringify(name)}`, nameStart);
    const first = this.segments.length;
    if (this.i < s.length && s[this.i] === '=') {
      this.i++;
      if (s[this.i] === '}') this.fail('empty variable template');
      this.segmentList(true);
    } else {
      this.segments.push({ kind: 'single' });
    }
    if (s[this.i] !== '}') this.fail('unterminated variable', open);
    this.i++;
    const end = this.segments.length;
    let multi = end - first > 1;
    for (let k = first; k < end; k++) if (this.segments[k]!.kind === 'multi') multi = true;
    this.variables.push({ fieldPath, start: first, end, multiSegment: multi });
  }
}

/**
 * The template's canonical text (variables reduced to their segments, names dropped): two
 * templates with the same canonical text and verb match exactly the same paths, which is how
 * duplicates are detected.
 */
export function canonicalTemplate(t: PathTemplate): string {
  let out = '';
  for (const seg of t.segments) out += seg.kind === 'literal' ? `/${seg.value}` : seg.kind === 'single' ? '/*' : '/**';
  if (out === '') out = '/';
  return t.verb === null ? out : `${out}:${t.verb}`;
}
