/**
 * A parser and type checker for the subset of CEL (https://github.com/google/cel-spec) that access
 * log filters use — Envoy's `envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter`, which
 * is what Istio's Telemetry `accessLogging[].filter.expression` becomes. It runs once at config time
 * and produces the typed `CelExpr` AST of config/access-log-model.ts; anything outside the subset is
 * a `CelCompileError` naming the expression and the position, never a silently false filter.
 *
 * Subset: int / uint / double / string / bool / null literals; Envoy attributes (CEL_ATTRIBUTES) and
 * `request.headers['name']`; `!`, `&&`, `||`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `in [list]`,
 * `'name' in request.headers`; parentheses; `.startsWith()`, `.endsWith()`, `.contains()` on strings.
 * The whole expression must be a bool.
 */
import {
  CEL_ATTRIBUTES, type CelAttribute, type CelCompareOp, type CelExpr, type CelMethod, type CelType,
} from '../../access-log-model';

/** The only error the parser throws: the expression, the 0-based offset and what is wrong there. */
export class CelCompileError extends Error {
  readonly code = 'REMORA_ERR_CEL_COMPILE';
  constructor(readonly expression: string, readonly position: number, readonly reason: string) {
    super(`${reason} at column ${position + 1} of CEL expression '${expression.length > 200 ? expression.slice(0, 200) + '…' : expression}'`);
    this.name = 'CelCompileError';
  }
}

const MAX_LENGTH = 4096;
const MAX_DEPTH = 64;

type TokKind = 'int' | 'double' | 'string' | 'ident' | 'punct' | 'eof';
interface Token {
  readonly kind: TokKind;
  readonly text: string;
  readonly value: number | string | null;
  readonly pos: number;
}

const PUNCT2 = ['==', '!=', '<=', '>=', '&&', '||'];
const PUNCT1 = '()[].,!<>-+*/%?:{}';
const RESERVED = new Set(['as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while']);

/** Splits the source into tokens; throws CelCompileError on a character outside the grammar. */
function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const fail = (pos: number, why: string): never => { throw new CelCompileError(src, pos, why); };
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    const start = i;
    if (c >= '0' && c <= '9' || (c === '.' && src[i + 1] !== undefined && src[i + 1]! >= '0' && src[i + 1]! <= '9')) {
      if (c === '0' && (src[i + 1] === 'x' || src[i + 1] === 'X')) {
        i += 2;
        while (i < src.length && /[0-9a-fA-F]/.test(src[i]!)) i++;
        if (i === start + 2) fail(start, 'malformed hex literal');
        const v = parseInt(src.slice(start + 2, i), 16);
        if (src[i] === 'u' || src[i] === 'U') i++;
        out.push({ kind: 'int', text: src.slice(start, i), value: v, pos: start });
        continue;
      }
      let isDouble = false;
      while (i < src.length && src[i]! >= '0' && src[i]! <= '9') i++;
      if (src[i] === '.' && src[i + 1] !== undefined && src[i + 1]! >= '0' && src[i + 1]! <= '9') {
        isDouble = true;
        i++;
        while (i < src.length && src[i]! >= '0' && src[i]! <= '9') i++;
      }
      if (src[i] === 'e' || src[i] === 'E') {
        let j = i + 1;
        if (src[j] === '+' || src[j] === '-') j++;
        if (src[j] === undefined || src[j]! < '0' || src[j]! > '9') fail(i, 'malformed exponent');
        while (j < src.length && src[j]! >= '0' && src[j]! <= '9') j++;
        i = j;
        isDouble = true;
      }
      const text = src.slice(start, i);
      if (!isDouble && (src[i] === 'u' || src[i] === 'U')) i++;
      const v = Number(text);
      if (!Number.isFinite(v)) fail(start, 'number out of range');
      out.push({ kind: isDouble ? 'double' : 'int', text, value: v, pos: start });
      continue;
    }
    if (c === '"' || c === "'" || ((c === 'r' || c === 'R') && (src[i + 1] === '"' || src[i + 1] === "'"))) {
      const raw = c === 'r' || c === 'R';
      if (raw) i++;
      const q = src[i]!;
      if (src.startsWith(q + q + q, i)) fail(i, 'triple-quoted strings are not supported');
      i++;
      let s = '';
      for (;;) {
        if (i >= src.length) fail(start, 'unterminated string literal');
        const ch = src[i]!;
        if (ch === q) { i++; break; }
        if (ch === '\n' || ch === '\r') fail(i, 'newline in string literal');
        if (ch === '\\' && !raw) {
          const e = src[i + 1];
          switch (e) {
            case 'n': s += '\n'; i += 2; break;
            case 't': s += '\t'; i += 2; break;
            case 'r': s += '\r'; i += 2; break;
            case '\\': case '"': case "'": case '`': case '?': s += e; i += 2; break;
            case 'x': case 'u': {
              const len = e === 'x' ? 2 : 4;
              const hex = src.slice(i + 2, i + 2 + len);
              if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex)) fail(i, `malformed \\${e} escape`);
              s += String.fromCharCode(parseInt(hex, 16));
              i += 2 + len;
              break;
            }
            default: fail(i, 'unsupported escape sequence');
          }
          continue;
        }
        s += ch;
        i++;
      }
      out.push({ kind: 'string', text: src.slice(start, i), value: s, pos: start });
      continue;
    }
    if (c === '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      while (i < src.length && /[A-Za-z0-9_]/.test(src[i]!)) i++;
      out.push({ kind: 'ident', text: src.slice(start, i), value: null, pos: start });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (PUNCT2.includes(two)) {
      out.push({ kind: 'punct', text: two, value: null, pos: start });
      i += 2;
      continue;
    }
    if (PUNCT1.includes(c)) {
      out.push({ kind: 'punct', text: c, value: null, pos: start });
      i++;
      continue;
    }
    fail(start, `unexpected character '${c}'`);
  }
  out.push({ kind: 'eof', text: '', value: null, pos: src.length });
  return out;
}

/** A parsed, typed node before resolution: attribute paths are kept as dotted names until used. */
interface Typed {
  readonly expr: CelExpr;
  readonly type: CelType;
  readonly pos: number;
}

/** An identifier path not yet resolved to an attribute (`request`, `request.headers`, …). */
interface PathNode {
  readonly path: string;
  readonly pos: number;
}

class Parser {
  private i = 0;
  private depth = 0;

  constructor(private readonly src: string, private readonly toks: readonly Token[]) {}

  private fail(pos: number, why: string): never {
    throw new CelCompileError(this.src, pos, why);
  }

  private peek(): Token {
    return this.toks[this.i]!;
  }

  private isPunct(text: string): boolean {
    const t = this.toks[this.i]!;
    return t.kind === 'punct' && t.text === text;
  }

  private expect(text: string): Token {
    const t = this.peek();
    if (t.kind !== 'punct' || t.text !== text) this.fail(t.pos, `expected '${text}'${t.kind === 'eof' ? ' before the end' : `, found '${t.text}'`}`);
    this.i++;
    return t;
  }

  parse(): CelExpr {
    const e = this.expr();
    const t = this.peek();
    if (t.kind !== 'eof') this.fail(t.pos, `unexpected '${t.text}'`);
    if (e.type !== 'bool') this.fail(0, `the expression must be a bool, it is ${e.type}`);
    return e.expr;
  }

  private expr(): Typed {
    if (++this.depth > MAX_DEPTH) this.fail(this.peek().pos, `nesting deeper than ${MAX_DEPTH}`);
    const e = this.or();
    if (this.isPunct('?')) this.fail(this.peek().pos, "the conditional operator '?:' is not supported");
    this.depth--;
    return e;
  }

  private or(): Typed {
    let left = this.and();
    while (this.isPunct('||')) {
      const op = this.toks[this.i++]!;
      const right = this.and();
      this.boolOperand(left, '||', op.pos);
      this.boolOperand(right, '||', op.pos);
      left = { expr: { kind: 'or', left: left.expr, right: right.expr }, type: 'bool', pos: left.pos };
    }
    return left;
  }

  private and(): Typed {
    let left = this.relation();
    while (this.isPunct('&&')) {
      const op = this.toks[this.i++]!;
      const right = this.relation();
      this.boolOperand(left, '&&', op.pos);
      this.boolOperand(right, '&&', op.pos);
      left = { expr: { kind: 'and', left: left.expr, right: right.expr }, type: 'bool', pos: left.pos };
    }
    return left;
  }

  private boolOperand(e: Typed, op: string, pos: number): void {
    if (e.type !== 'bool') this.fail(e.pos, `operand of '${op}' (column ${pos + 1}) must be a bool, it is ${e.type}`);
  }

  private relation(): Typed {
    const left = this.unary();
    const t = this.peek();
    if (t.kind === 'ident' && t.text === 'in') {
      this.i++;
      return this.membership(left, t.pos);
    }
    if (t.kind !== 'punct' || !['==', '!=', '<', '<=', '>', '>='].includes(t.text)) {
      if (left.type === 'map') this.fail(left.pos, "'request.headers' can only be indexed (request.headers['name']) or used after 'in'");
      return left;
    }
    this.i++;
    const right = this.unary();
    const n = this.peek();
    if (n.kind === 'punct' && ['==', '!=', '<', '<=', '>', '>='].includes(n.text) || (n.kind === 'ident' && n.text === 'in')) {
      this.fail(n.pos, 'chained comparisons are not supported; use && and parentheses');
    }
    const op = t.text as CelCompareOp;
    this.checkComparable(left, right, op, t.pos);
    return { expr: { kind: 'compare', op, left: left.expr, right: right.expr }, type: 'bool', pos: left.pos };
  }

  private checkComparable(a: Typed, b: Typed, op: CelCompareOp, pos: number): void {
    const equality = op === '==' || op === '!=';
    if (a.type === 'map' || b.type === 'map' || a.type === 'list' || b.type === 'list') this.fail(pos, `cannot compare ${a.type} with ${b.type} using '${op}'`);
    if (equality && (a.type === 'null' || b.type === 'null')) return;
    const numeric = (t: CelType): boolean => t === 'int' || t === 'double' || t === 'flags';
    if (numeric(a.type) && numeric(b.type)) return;
    if ((a.type === 'flags' && b.type === 'string') || (a.type === 'string' && b.type === 'flags')) {
      if (!equality) this.fail(pos, `response.flags compares with a string only using '==' or '!='`);
      return;
    }
    if (a.type === 'string' && b.type === 'string') return;
    if (a.type === 'bool' && b.type === 'bool') {
      if (!equality) this.fail(pos, `bools compare only with '==' or '!='`);
      return;
    }
    this.fail(pos, `cannot compare ${a.type} with ${b.type} using '${op}'`);
  }

  private membership(arg: Typed, pos: number): Typed {
    if (this.isPunct('[')) {
      const open = this.expect('[');
      const items: CelExpr[] = [];
      if (!this.isPunct(']')) {
        for (;;) {
          const item = this.expr();
          this.checkComparable(arg, item, '==', item.pos);
          items.push(item.expr);
          if (!this.isPunct(',')) break;
          this.i++;
          if (this.isPunct(']')) break;
        }
      }
      this.expect(']');
      void open;
      return { expr: { kind: 'in', arg: arg.expr, list: items }, type: 'bool', pos: arg.pos };
    }
    const right = this.unary();
    if (right.type !== 'map') this.fail(right.pos, "the right side of 'in' must be a list literal or request.headers");
    if (arg.type !== 'string') this.fail(arg.pos, `'in request.headers' needs a string header name, got ${arg.type}`);
    void pos;
    return { expr: { kind: 'in', arg: arg.expr, list: null }, type: 'bool', pos: arg.pos };
  }

  private unary(): Typed {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === '!') {
      this.i++;
      if (++this.depth > MAX_DEPTH) this.fail(t.pos, `nesting deeper than ${MAX_DEPTH}`);
      const arg = this.unary();
      this.depth--;
      if (arg.type !== 'bool') this.fail(arg.pos, `operand of '!' must be a bool, it is ${arg.type}`);
      return { expr: { kind: 'not', arg: arg.expr }, type: 'bool', pos: t.pos };
    }
    if (t.kind === 'punct' && t.text === '-') {
      this.i++;
      const n = this.peek();
      if (n.kind !== 'int' && n.kind !== 'double') this.fail(t.pos, "unary '-' is supported only before a number literal");
      this.i++;
      const v = -(n.value as number);
      return { expr: { kind: 'literal', type: n.kind, value: v }, type: n.kind, pos: t.pos };
    }
    return this.member();
  }

  private member(): Typed {
    const t = this.peek();
    if (t.kind === 'ident' && !['true', 'false', 'null', 'in'].includes(t.text)) return this.attribute();
    let e = this.primary();
    if (this.isPunct('.') || this.isPunct('[')) {
      if (this.isPunct('.')) e = this.methodCall(e);
      else this.fail(this.peek().pos, `cannot index a ${e.type}`);
    }
    return e;
  }

  private primary(): Typed {
    const t = this.peek();
    switch (t.kind) {
      case 'int':
      case 'double':
      case 'string':
        this.i++;
        return { expr: { kind: 'literal', type: t.kind, value: t.value }, type: t.kind, pos: t.pos };
      case 'ident':
        this.i++;
        if (t.text === 'true' || t.text === 'false') return { expr: { kind: 'literal', type: 'bool', value: t.text === 'true' }, type: 'bool', pos: t.pos };
        if (t.text === 'null') return { expr: { kind: 'literal', type: 'null', value: null }, type: 'null', pos: t.pos };
        return this.fail(t.pos, `unexpected '${t.text}'`);
      case 'punct':
        if (t.text === '(') {
          this.i++;
          const e = this.expr();
          this.expect(')');
          return { expr: e.expr, type: e.type, pos: t.pos };
        }
        if (t.text === '[') this.fail(t.pos, "list literals are supported only after 'in'");
        if (t.text === '{') this.fail(t.pos, 'map literals are not supported');
        return this.fail(t.pos, `unexpected '${t.text}'`);
      case 'eof':
        return this.fail(t.pos, 'unexpected end of expression');
    }
  }

  /** An attribute path: `a.b.c`, then `[...]` on request.headers, then at most one method call. */
  private attribute(): Typed {
    const first = this.toks[this.i++]!;
    if (RESERVED.has(first.text)) this.fail(first.pos, `'${first.text}' is a reserved word`);
    let node: PathNode = { path: first.text, pos: first.pos };
    if (this.isPunct('(')) this.fail(this.peek().pos, `function '${first.text}()' is not supported`);
    while (this.isPunct('.')) {
      const next = this.toks[this.i + 1]!;
      if (next.kind !== 'ident') this.fail(next.pos, "expected a field name after '.'");
      if (this.toks[this.i + 2]!.kind === 'punct' && this.toks[this.i + 2]!.text === '(') break; // a method call on the resolved value
      this.i += 2;
      node = { path: `${node.path}.${next.text}`, pos: node.pos };
    }
    let e: Typed;
    if (node.path === 'request.headers') {
      if (this.isPunct('[')) {
        const open = this.expect('[');
        const key = this.peek();
        if (key.kind !== 'string') this.fail(key.pos, "request.headers[...] needs a string literal header name");
        this.i++;
        this.expect(']');
        void open;
        e = { expr: { kind: 'header', name: (key.value as string).toLowerCase() }, type: 'string', pos: node.pos };
      } else {
        e = { expr: { kind: 'headers' }, type: 'map', pos: node.pos };
      }
    } else {
      const type = (CEL_ATTRIBUTES as Readonly<Record<string, CelType>>)[node.path];
      if (type === undefined) this.fail(node.pos, `unsupported attribute '${node.path}' (supported: ${Object.keys(CEL_ATTRIBUTES).join(', ')}, request.headers['name'])`);
      e = { expr: { kind: 'attribute', name: node.path as CelAttribute }, type, pos: node.pos };
      if (this.isPunct('[')) this.fail(this.peek().pos, `cannot index '${node.path}'`);
    }
    if (this.isPunct('.')) e = this.methodCall(e);
    if (this.isPunct('[')) this.fail(this.peek().pos, `cannot index a ${e.type}`);
    return e;
  }

  private methodCall(target: Typed): Typed {
    this.expect('.');
    const name = this.peek();
    if (name.kind !== 'ident') this.fail(name.pos, "expected a method name after '.'");
    this.i++;
    if (!this.isPunct('(')) this.fail(name.pos, `unsupported field '${name.text}' on a ${target.type}`);
    if (name.text !== 'startsWith' && name.text !== 'endsWith' && name.text !== 'contains') this.fail(name.pos, `unsupported function '${name.text}()' (supported: startsWith, endsWith, contains)`);
    this.expect('(');
    const arg = this.expr();
    this.expect(')');
    if (target.type !== 'string') this.fail(name.pos, `${name.text}() needs a string receiver, got ${target.type}`);
    if (arg.type !== 'string') this.fail(arg.pos, `${name.text}() needs a string argument, got ${arg.type}`);
    const e: Typed = { expr: { kind: 'method', method: name.text as CelMethod, target: target.expr, arg: arg.expr }, type: 'bool', pos: target.pos };
    if (this.isPunct('.')) this.fail(this.peek().pos, 'method calls on a bool are not supported');
    return e;
  }
}

/**
 * Parses and type-checks `src`. Throws only CelCompileError (empty, too long, outside the subset,
 * not a bool). Config time only.
 */
export function parseCel(src: string): CelExpr {
  if (src.trim() === '') throw new CelCompileError(src, 0, 'empty expression');
  if (src.length > MAX_LENGTH) throw new CelCompileError(src, MAX_LENGTH, `expression longer than ${MAX_LENGTH} characters`);
  return new Parser(src, tokenize(src)).parse();
}
