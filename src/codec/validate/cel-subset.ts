/**
 * A config-time compiler for the small, statically typed subset of CEL that buf.validate `cel`
 * rules mostly use (`this.tier != 2 || this.age >= 18`, `this % 2 == 0`, `size(this) < 10`), turning
 * one expression into a plain JS function so the fast validation path (fast-validator.ts) does not
 * run the CEL interpreter per message. It only decides *verdicts*: the function returns true when
 * the rule passes, false when it fails, and throws `CelUndecided` on anything it will not decide at
 * run time (int overflow, division by zero, an int64 outside the safe range); the caller then asks
 * protovalidate, which stays the reference for results and violation texts. The compiler is
 * deliberately strict: operands of one operator must have the same CEL type (no heterogeneous numeric
 * comparison), only `this`, its scalar/enum fields, literals, `! - * / % + - < <= > >= == != && || ?:`
 * and `size`/`startsWith`/`endsWith`/`contains` on strings are accepted; anything else returns null
 * from `compileCelSubset` (the message then keeps the protovalidate path). CEL semantics followed:
 * int/uint are 64-bit with overflow errors, `/` and `%` truncate toward zero and fail on zero, `&&`
 * and `||` short-circuit, string `size` counts code points. https://github.com/google/cel-spec
 */

/** The CEL types the subset evaluates (values: int/uint/double as JS numbers, bool, string). */
export type CelSubsetType = 'int' | 'uint' | 'double' | 'bool' | 'string';

/** Thrown at evaluation when the subset will not decide (the caller falls back to protovalidate). */
export class CelUndecided extends Error {
  constructor(reason: string) {
    super(`CEL subset cannot decide: ${reason}`);
  }
}

/** One readable field of `this` when `this` is a message. */
export interface CelFieldAccess {
  readonly type: CelSubsetType;
  /** Reads the field's CEL value (its default when unset) from the decoded message. */
  readonly read: (self: unknown) => unknown;
}

/** What `this` is: a scalar of a CEL type, or a message with (some) readable fields. */
export type CelThisBinding =
  | { readonly kind: 'scalar'; readonly type: CelSubsetType; readonly read: (self: unknown) => unknown }
  | { readonly kind: 'message'; readonly field: (name: string) => CelFieldAccess | null };

/** A compiled rule: true = passes, false = violated; throws CelUndecided. */
export type CelPredicate = (self: unknown) => boolean;

type Fn = (self: unknown) => unknown;
interface Node { readonly type: CelSubsetType; readonly fn: Fn }

class Unsupported extends Error {}

const MAX_INT = 9223372036854775807n;
const MIN_INT = -9223372036854775808n;
const MAX_UINT = 18446744073709551615n;

/**
 * Compiles `expression` against `binding`; null when the expression is outside the subset (or not
 * valid CEL). A rule's result must be a bool or a string (empty string = pass).
 */
export function compileCelSubset(expression: string, binding: CelThisBinding): CelPredicate | null {
  let node: Node;
  try {
    const p = new Parser(tokenize(expression), binding);
    node = p.expr();
    p.end();
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
  const fn = node.fn;
  if (node.type === 'bool') return fn as CelPredicate;
  if (node.type === 'string') return (self) => (fn(self) as string).length === 0;
  return null;
}

// ------------------------------------------------------------------ lexer

type TokKind = 'int' | 'uint' | 'double' | 'string' | 'ident' | 'op' | 'eof';
interface Tok { readonly kind: TokKind; readonly text: string; readonly value: number | string }

const OPS2 = ['&&', '||', '==', '!=', '<=', '>='];
const OPS1 = '!-*/%+<>()?:.,';

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    if (c >= '0' && c <= '9' || (c === '.' && i + 1 < n && src[i + 1]! >= '0' && src[i + 1]! <= '9')) {
      i = number(src, i, out);
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(src[j]!)) j++;
      const word = src.slice(i, j);
      // Raw and bytes literals (r"..", b"..") are outside the subset.
      if (j < n && (src[j] === '"' || src[j] === '\'')) throw new Unsupported();
      out.push({ kind: 'ident', text: word, value: word });
      i = j;
      continue;
    }
    if (c === '"' || c === '\'') { i = stringLiteral(src, i, out); continue; }
    const two = src.slice(i, i + 2);
    if (OPS2.includes(two)) { out.push({ kind: 'op', text: two, value: two }); i += 2; continue; }
    if (OPS1.includes(c)) { out.push({ kind: 'op', text: c, value: c }); i++; continue; }
    throw new Unsupported();
  }
  out.push({ kind: 'eof', text: '', value: '' });
  return out;
}

function number(src: string, i: number, out: Tok[]): number {
  const n = src.length;
  let j = i;
  if (src[j] === '0' && (src[j + 1] === 'x' || src[j + 1] === 'X')) {
    j += 2;
    const s = j;
    while (j < n && /[0-9a-fA-F]/.test(src[j]!)) j++;
    if (j === s) throw new Unsupported();
    return intToken(BigInt(src.slice(i, j)), src, j, out);
  }
  while (j < n && src[j]! >= '0' && src[j]! <= '9') j++;
  let isDouble = false;
  if (src[j] === '.' && j + 1 < n && src[j + 1]! >= '0' && src[j + 1]! <= '9') {
    isDouble = true;
    j++;
    while (j < n && src[j]! >= '0' && src[j]! <= '9') j++;
  }
  if (src[j] === 'e' || src[j] === 'E') {
    let k = j + 1;
    if (src[k] === '+' || src[k] === '-') k++;
    if (k < n && src[k]! >= '0' && src[k]! <= '9') {
      isDouble = true;
      j = k;
      while (j < n && src[j]! >= '0' && src[j]! <= '9') j++;
    }
  }
  if (isDouble) {
    out.push({ kind: 'double', text: src.slice(i, j), value: Number(src.slice(i, j)) });
    return j;
  }
  return intToken(BigInt(src.slice(i, j)), src, j, out);
}

function intToken(v: bigint, src: string, j: number, out: Tok[]): number {
  if (src[j] === 'u' || src[j] === 'U') {
    if (v > MAX_UINT || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Unsupported();
    out.push({ kind: 'uint', text: String(v), value: Number(v) });
    return j + 1;
  }
  // A literal beyond the safe range (or int64) is left to protovalidate.
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Unsupported();
  out.push({ kind: 'int', text: String(v), value: Number(v) });
  return j;
}

function stringLiteral(src: string, i: number, out: Tok[]): number {
  const q = src[i]!;
  // Triple-quoted strings are outside the subset.
  if (src[i + 1] === q && src[i + 2] === q) throw new Unsupported();
  let j = i + 1;
  let s = '';
  for (;;) {
    if (j >= src.length) throw new Unsupported();
    const c = src[j]!;
    if (c === q) break;
    if (c === '\n' || c === '\r') throw new Unsupported();
    if (c === '\\') {
      const e = src[j + 1];
      if (e === 'n') s += '\n';
      else if (e === 't') s += '\t';
      else if (e === 'r') s += '\r';
      else if (e === '\\' || e === '"' || e === '\'') s += e;
      else throw new Unsupported();
      j += 2;
      continue;
    }
    s += c;
    j++;
  }
  out.push({ kind: 'string', text: s, value: s });
  return j + 1;
}

// ------------------------------------------------------------------ parser + typed compile

class Parser {
  private pos = 0;
  constructor(private readonly toks: Tok[], private readonly binding: CelThisBinding) {}

  private peek(): Tok { return this.toks[this.pos]!; }
  private isOp(text: string): boolean { const t = this.peek(); return t.kind === 'op' && t.text === text; }
  private take(text: string): void {
    if (!this.isOp(text)) throw new Unsupported();
    this.pos++;
  }

  end(): void { if (this.peek().kind !== 'eof') throw new Unsupported(); }

  expr(): Node {
    const cond = this.or();
    if (!this.isOp('?')) return cond;
    this.pos++;
    const a = this.or();
    this.take(':');
    const b = this.expr();
    if (cond.type !== 'bool' || a.type !== b.type) throw new Unsupported();
    const c = cond.fn, x = a.fn, y = b.fn;
    return { type: a.type, fn: (s) => (c(s) === true ? x(s) : y(s)) };
  }

  private or(): Node {
    let left = this.and();
    while (this.isOp('||')) {
      this.pos++;
      const right = this.and();
      if (left.type !== 'bool' || right.type !== 'bool') throw new Unsupported();
      const l = left.fn, r = right.fn;
      left = { type: 'bool', fn: (s) => l(s) === true || r(s) === true };
    }
    return left;
  }

  private and(): Node {
    let left = this.relation();
    while (this.isOp('&&')) {
      this.pos++;
      const right = this.relation();
      if (left.type !== 'bool' || right.type !== 'bool') throw new Unsupported();
      const l = left.fn, r = right.fn;
      left = { type: 'bool', fn: (s) => l(s) === true && r(s) === true };
    }
    return left;
  }

  private relation(): Node {
    let left = this.addition();
    for (;;) {
      const t = this.peek();
      if (t.kind === 'ident' && t.text === 'in') throw new Unsupported();
      if (t.kind !== 'op' || !['==', '!=', '<', '<=', '>', '>='].includes(t.text)) return left;
      this.pos++;
      const right = this.addition();
      if (left.type !== right.type) throw new Unsupported();
      const l = left.fn, r = right.fn;
      const ordered = t.text !== '==' && t.text !== '!=';
      // Strings order by code point in CEL, not by UTF-16 unit: leave ordering to protovalidate.
      if (ordered && (left.type === 'string' || left.type === 'bool')) throw new Unsupported();
      let fn: Fn;
      switch (t.text) {
        case '==': fn = (s) => l(s) === r(s); break;
        case '!=': fn = (s) => l(s) !== r(s); break;
        case '<': fn = (s) => (l(s) as number) < (r(s) as number); break;
        case '<=': fn = (s) => (l(s) as number) <= (r(s) as number); break;
        case '>': fn = (s) => (l(s) as number) > (r(s) as number); break;
        default: fn = (s) => (l(s) as number) >= (r(s) as number); break;
      }
      left = { type: 'bool', fn };
    }
  }

  private addition(): Node {
    let left = this.multiplication();
    for (;;) {
      if (!this.isOp('+') && !this.isOp('-')) return left;
      const op = this.peek().text;
      this.pos++;
      const right = this.multiplication();
      if (left.type !== right.type) throw new Unsupported();
      const l = left.fn, r = right.fn;
      const type = left.type;
      if (type === 'string' && op === '+') left = { type, fn: (s) => (l(s) as string) + (r(s) as string) };
      else if (type === 'double') left = { type, fn: op === '+' ? (s) => (l(s) as number) + (r(s) as number) : (s) => (l(s) as number) - (r(s) as number) };
      else if (type === 'int' || type === 'uint') {
        const check = type === 'int' ? checkInt : checkUint;
        left = { type, fn: op === '+' ? (s) => check((l(s) as number) + (r(s) as number)) : (s) => check((l(s) as number) - (r(s) as number)) };
      } else throw new Unsupported();
    }
  }

  private multiplication(): Node {
    let left = this.unary();
    for (;;) {
      if (!this.isOp('*') && !this.isOp('/') && !this.isOp('%')) return left;
      const op = this.peek().text;
      this.pos++;
      const right = this.unary();
      if (left.type !== right.type) throw new Unsupported();
      const l = left.fn, r = right.fn;
      const type = left.type;
      if (type === 'double') {
        if (op === '%') throw new Unsupported();
        left = { type, fn: op === '*' ? (s) => (l(s) as number) * (r(s) as number) : (s) => (l(s) as number) / (r(s) as number) };
      } else if (type === 'int' || type === 'uint') {
        const check = type === 'int' ? checkInt : checkUint;
        if (op === '*') left = { type, fn: (s) => check((l(s) as number) * (r(s) as number)) };
        else if (op === '/') left = { type, fn: (s) => intDivide(l(s) as number, r(s) as number) };
        else left = { type, fn: (s) => intModulo(l(s) as number, r(s) as number) };
      } else throw new Unsupported();
    }
  }

  private unary(): Node {
    if (this.isOp('!')) {
      this.pos++;
      const x = this.unary();
      if (x.type !== 'bool') throw new Unsupported();
      const f = x.fn;
      return { type: 'bool', fn: (s) => f(s) !== true };
    }
    if (this.isOp('-')) {
      this.pos++;
      // A negative literal folds (CEL parses `-9223372036854775808` as one literal).
      const t = this.peek();
      if (t.kind === 'int' || t.kind === 'double') {
        this.pos++;
        const v = -(t.value as number);
        return this.member({ type: t.kind, fn: () => v });
      }
      const x = this.unary();
      const f = x.fn;
      if (x.type === 'int') return { type: 'int', fn: (s) => checkInt(-(f(s) as number)) };
      if (x.type === 'double') return { type: 'double', fn: (s) => -(f(s) as number) };
      throw new Unsupported();
    }
    return this.member(this.primary());
  }

  private member(base: Node): Node {
    let node = base;
    while (this.isOp('.')) {
      this.pos++;
      const t = this.peek();
      if (t.kind !== 'ident') throw new Unsupported();
      this.pos++;
      if (!this.isOp('(')) throw new Unsupported(); // field selection only on `this` (primary)
      node = this.call(t.text, node);
    }
    return node;
  }

  private call(name: string, target: Node | null): Node {
    this.take('(');
    const args: Node[] = [];
    if (!this.isOp(')')) {
      for (;;) {
        args.push(this.expr());
        if (!this.isOp(',')) break;
        this.pos++;
      }
    }
    this.take(')');
    if (name === 'size') {
      const x = target ?? (args.length === 1 ? args.pop()! : null);
      if (x === null || args.length !== 0 || x.type !== 'string') throw new Unsupported();
      const f = x.fn;
      return { type: 'int', fn: (s) => codePoints(f(s) as string) };
    }
    if (target === null || target.type !== 'string' || args.length !== 1 || args[0]!.type !== 'string') throw new Unsupported();
    const t = target.fn, a = args[0]!.fn;
    switch (name) {
      case 'startsWith': return { type: 'bool', fn: (s) => (t(s) as string).startsWith(a(s) as string) };
      case 'endsWith': return { type: 'bool', fn: (s) => (t(s) as string).endsWith(a(s) as string) };
      case 'contains': return { type: 'bool', fn: (s) => (t(s) as string).includes(a(s) as string) };
      default: throw new Unsupported();
    }
  }

  private primary(): Node {
    const t = this.peek();
    this.pos++;
    switch (t.kind) {
      case 'int': case 'uint': case 'double': { const v = t.value; return { type: t.kind, fn: () => v }; }
      case 'string': { const v = t.value; return { type: 'string', fn: () => v }; }
      case 'op':
        if (t.text === '(') {
          const e = this.expr();
          this.take(')');
          return e;
        }
        throw new Unsupported();
      case 'ident': {
        if (t.text === 'true' || t.text === 'false') { const v = t.text === 'true'; return { type: 'bool', fn: () => v }; }
        if (t.text === 'size' && this.isOp('(')) return this.call('size', null);
        if (t.text !== 'this') throw new Unsupported();
        const b = this.binding;
        if (b.kind === 'scalar') return { type: b.type, fn: b.read };
        // `this.field` on a message; `this` itself (a message value) is not a subset value.
        if (!this.isOp('.')) throw new Unsupported();
        this.pos++;
        const f = this.peek();
        if (f.kind !== 'ident') throw new Unsupported();
        this.pos++;
        if (this.isOp('(')) throw new Unsupported();
        const access = b.field(f.text);
        if (access === null) throw new Unsupported();
        return { type: access.type, fn: access.read };
      }
      default:
        throw new Unsupported();
    }
  }
}

function checkInt(v: number): number {
  if (!Number.isSafeInteger(v)) throw new CelUndecided('int outside the safe range');
  return v;
}

function checkUint(v: number): number {
  if (!Number.isSafeInteger(v)) throw new CelUndecided('uint outside the safe range');
  if (v < 0) throw new CelUndecided('uint overflow');
  return v;
}

function intDivide(a: number, b: number): number {
  if (b === 0) throw new CelUndecided('division by zero');
  const q = BigInt(a) / BigInt(b);
  if (q > MAX_INT || q < MIN_INT) throw new CelUndecided('overflow');
  return checkInt(Number(q));
}

function intModulo(a: number, b: number): number {
  if (b === 0) throw new CelUndecided('modulus by zero');
  const m = a % b;
  return m === 0 ? 0 : m; // no -0
}

/** Code points of `s` (a lone surrogate counts as one), as CEL's size() and protovalidate count them. */
export function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) { n--; i++; }
    }
  }
  return n;
}
