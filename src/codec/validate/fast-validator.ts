/**
 * The compiled fast path of schema validation: at config time, one `FastValidator` per request
 * message type is built from the buf.validate rules of that type and of every message type it
 * reaches; at request time `isValid(bytes)` reads the wire format once (a strict reader that reads
 * every value exactly as @bufbuild/protobuf's `BinaryReader` does for `fromBinary`, into flat
 * per-type value arrays, no message objects) and checks the rules with precompiled predicates. It only answers "certainly
 * valid": `true` means `fromBinary` would decode the bytes and protovalidate would find no
 * violation; `false` means "not certain" (a violation, bytes that do not decode, or a case the fast
 * path does not decide: a repeated message field, a wire type `fromBinary` would reinterpret, an int
 * outside the safe range in a CEL rule), and the caller runs protovalidate, which produces the
 * rejection (so violation paths, rule ids and texts are protovalidate's own). A message type whose
 * rules are outside the compiled subset gets no fast validator (`compileFastValidator` returns null).
 *
 * Compiled subset (protovalidate 1.x semantics, github.com/bufbuild/protovalidate): field `required`
 * and `ignore`; string const/len/min_len/max_len/len_bytes/min_bytes/max_bytes/pattern (compiled once by the RE2
 * engine, config/re2-regex.ts)/prefix/suffix/contains/not_contains/in/not_in/email/uuid/tuuid/ulid; every
 * numeric type's const/gt/gte/lt/lte (including exclusive ranges)/in/not_in/finite; bool const; enum
 * const/defined_only/in/not_in (open enums); repeated min_items/max_items/unique/items; map
 * min_pairs/max_pairs/keys/values; nested and recursive messages; proto oneof `required`; message
 * `oneof` rules; field and message `cel` rules within the CEL subset (cel-subset.ts).
 */
import { getOption, isFieldSet, type ScalarType, type DescEnum, type DescField, type DescMessage, type DescOneof, type Message } from '@bufbuild/protobuf';
import { FeatureSet_FieldPresence } from '@bufbuild/protobuf/wkt';
import {
  field as fieldRulesExt, Ignore, message as messageRulesExt, oneof as oneofRulesExt, type FieldRules, type MessageRules,
} from '@bufbuild/protovalidate/gen/buf/validate/validate_pb.js';
import { CelUndecided, codePoints, compileCelSubset, type CelFieldAccess, type CelPredicate, type CelSubsetType } from './cel-subset';
import { Re2Regex } from '../../config/re2-regex';
import { Wire, wireOf } from '../scalar-wire';

/** The protobuf scalar types (descriptors.ts `ScalarType`), inlined: no getter per access on the hot path. */
const enum S {
  DOUBLE = 1, FLOAT = 2, INT64 = 3, UINT64 = 4, INT32 = 5, FIXED64 = 6, FIXED32 = 7, BOOL = 8, STRING = 9,
  BYTES = 12, UINT32 = 13, SFIXED32 = 15, SFIXED64 = 16, SINT32 = 17, SINT64 = 18,
}

/** The descriptor's scalar type as the inlined enum (same numbers). */
function sc(t: ScalarType | S): S {
  return t as number as S;
}

/** A compiled check of one value (a field's value, a list item, a map key or value). */
type ValueCheck = (v: unknown) => boolean;

/** The decoded values of one message: one slot per field, in field order (undefined = never read). */
type Values = unknown[];

const enum Kind { Scalar = 0, Enum = 1, Message = 2, List = 3, Map = 4 }

/** How one field is read and checked. */
class FieldPlan {
  /** Decoded nested plan for message fields, list-of-message items and map message values. */
  message: MessagePlan | null = null;
  /** `required` applies (not cancelled by ignore ALWAYS). */
  required = false;
  /** Rules apply only when the field is set (explicit presence, or ignore IF_ZERO_VALUE). */
  onlyIfSet = false;
  /** Rules never apply (ignore ALWAYS). */
  ignored = false;
  /** Value rules for scalar/enum fields; list/map-level rules for lists and maps. */
  check: ValueCheck | null = null;
  /** List items / map values. */
  itemCheck: ValueCheck | null = null;
  itemSkipZero = false;
  /** Map keys. */
  keyCheck: ValueCheck | null = null;
  keySkipZero = false;
  /** True when the field (or what it holds) has anything to check. */
  active = false;
  /** The wire type of one (unpacked) value. */
  readonly wire: number;

  constructor(
    readonly desc: DescField,
    readonly slot: number,
    readonly kind: Kind,
    /** Scalar type of the value (scalar fields, list items, map values); INT32 for enums. */
    readonly scalar: S,
    /** Map key scalar type (maps only). */
    readonly mapKey: S,
    /** Element kind: of list items (lists) or of map values (maps). */
    readonly mapValueKind: Kind,
    readonly explicitPresence: boolean,
    /** Slots of the other members of the field's oneof (empty when not in one). */
    readonly oneofSiblings: readonly number[],
  ) {
    this.wire = kind === Kind.Message || mapValueKind === Kind.Message && kind !== Kind.Map ? Wire.LengthDelimited : wireTypeOf(scalar);
  }
}

/** How one message type is read and checked. */
class MessagePlan {
  fields: FieldPlan[] = [];
  /** Field plans by field number (dense up to 1024; larger numbers through `byNumberMap`). */
  byNumber: (FieldPlan | undefined)[] = [];
  byNumberMap: Map<number, FieldPlan> | null = null;
  /** Fields with something to check, in declaration order. */
  active: FieldPlan[] = [];
  messageCel: CelPredicate[] = [];
  /** Message oneof rules: slots of the fields, and whether one must be set. */
  oneofRules: { slots: FieldPlan[]; required: boolean }[] = [];
  /** Proto oneofs with `(buf.validate.oneof).required`: the member plans. */
  requiredOneofs: FieldPlan[][] = [];
  /** Anything to check in this message or below. */
  hasRules = false;

  constructor(readonly desc: DescMessage) {}

  find(no: number): FieldPlan | undefined {
    return no < 1024 ? this.byNumber[no] : this.byNumberMap?.get(no);
  }
}

/** The compiled "certainly valid" check of one message type. Immutable; shared by all streams. */
export class FastValidator {
  private readonly scratch = new Scratch();

  constructor(private readonly plan: MessagePlan) {}

  /**
   * True when `bytes` certainly decode as the type and satisfy every rule; false when not certain
   * (the caller then runs the reference validator). Never throws.
   */
  isValid(bytes: Uint8Array): boolean {
    try {
      const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const reader = new WireReader(buf, this.scratch);
      const values = readMessage(this.plan, reader, buf.length);
      if (values === null) return false;
      return checkMessage(this.plan, values);
    } catch {
      return false;
    }
  }
}

// ------------------------------------------------------------------ compile

class Unsupported extends Error {}

/**
 * Compiles the fast validator of `schema`, or returns null when any reachable message type has a
 * rule (or a field shape) outside the compiled subset.
 */
export function compileFastValidator(schema: DescMessage): FastValidator | null {
  const plans = new Map<string, MessagePlan>();
  try {
    const root = planMessage(schema, plans);
    // Rules of messages reached through cycles are known only now: settle `hasRules` to a fixpoint.
    let changed = true;
    while (changed) {
      changed = false;
      for (const p of plans.values()) {
        for (const f of p.fields) {
          if (f.message !== null && f.message.hasRules && !f.active && !f.ignored) {
            f.active = true;
            p.active = p.fields.filter((x) => x.active);
            changed = true;
          }
        }
        if (!p.hasRules && (p.active.length > 0 || p.messageCel.length > 0 || p.oneofRules.length > 0 || p.requiredOneofs.length > 0)) {
          p.hasRules = true;
          changed = true;
        }
      }
    }
    return new FastValidator(root);
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
}

function planMessage(desc: DescMessage, plans: Map<string, MessagePlan>): MessagePlan {
  const existing = plans.get(desc.typeName);
  if (existing !== undefined) return existing;
  const plan = new MessagePlan(desc);
  plans.set(desc.typeName, plan);
  const mrules: MessageRules = getOption(desc, messageRulesExt);
  if (hasUnknown(mrules)) throw new Unsupported();
  const oneofRuleFields = new Set<string>();
  for (const r of mrules.oneof) for (const n of r.fields) oneofRuleFields.add(n);
  const slots = new Map<DescField, number>();
  desc.fields.forEach((f, i) => slots.set(f, i));
  for (let i = 0; i < desc.fields.length; i++) {
    const f = desc.fields[i]!;
    const fp = planField(f, i, slots, oneofRuleFields.has(f.name), plans);
    plan.fields.push(fp);
    if (f.number < 1024) plan.byNumber[f.number] = fp;
    else (plan.byNumberMap ??= new Map()).set(f.number, fp);
  }
  plan.active = plan.fields.filter((x) => x.active);
  const binding = {
    kind: 'message' as const,
    field: (name: string): CelFieldAccess | null => {
      const fp = plan.fields.find((x) => x.desc.name === name);
      if (fp === undefined || (fp.kind !== Kind.Scalar && fp.kind !== Kind.Enum)) return null;
      const type = celType(fp.scalar, fp.desc);
      if (type === null) return null;
      const slot = fp.slot;
      const read = celReader(fp.scalar, fp.kind === Kind.Enum ? fp.desc.enum!.values[0]!.number : null);
      return { type, read: (self) => read((self as Values)[slot]) };
    },
  };
  for (const e of mrules.celExpression) plan.messageCel.push(celOrThrow(e, binding));
  for (const r of mrules.cel) plan.messageCel.push(celOrThrow(r.expression, binding));
  for (const r of mrules.oneof) {
    if (r.fields.length === 0) throw new Unsupported();
    const seen = new Set<string>();
    const members: FieldPlan[] = [];
    for (const n of r.fields) {
      if (seen.has(n)) throw new Unsupported();
      seen.add(n);
      const fp = plan.fields.find((x) => x.desc.name === n);
      if (fp === undefined) throw new Unsupported();
      members.push(fp);
    }
    plan.oneofRules.push({ slots: members, required: r.required });
  }
  for (const o of desc.oneofs) {
    const orules = getOption(o, oneofRulesExt);
    if (hasUnknown(orules)) throw new Unsupported();
    if (orules.required) plan.requiredOneofs.push(o.fields.map((f) => plan.fields[slots.get(f)!]!));
  }
  plan.hasRules = plan.active.length > 0 || plan.messageCel.length > 0 || plan.oneofRules.length > 0 || plan.requiredOneofs.length > 0;
  return plan;
}

function hasUnknown(m: Message): boolean {
  const u = (m as { $unknown?: unknown[] }).$unknown;
  return u !== undefined && u.length > 0;
}

function celOrThrow(expression: string, binding: Parameters<typeof compileCelSubset>[1]): CelPredicate {
  const p = compileCelSubset(expression, binding);
  if (p === null) throw new Unsupported();
  return p;
}

function siblingsOf(f: DescField, oneof: DescOneof | undefined, slots: Map<DescField, number>): number[] {
  if (oneof === undefined) return [];
  return oneof.fields.filter((x) => x !== f).map((x) => slots.get(x)!);
}

function planField(f: DescField, slot: number, slots: Map<DescField, number>, inOneofRule: boolean, plans: Map<string, MessagePlan>): FieldPlan {
  if ((f as { longAsString?: boolean }).longAsString === true) throw new Unsupported();
  // A proto2 `[default = ..]` changes what an unset field reads as: left to protovalidate.
  if ((f.fieldKind === 'scalar' || f.fieldKind === 'enum') && f.getDefaultValue() !== undefined) throw new Unsupported();
  const rules: FieldRules = getOption(f, fieldRulesExt);
  if (hasUnknown(rules)) throw new Unsupported();
  let ignore = rules.ignore;
  if (!isFieldSet(rules, rulesField('ignore')) && inOneofRule) ignore = Ignore.IF_ZERO_VALUE;
  if (ignore !== Ignore.UNSPECIFIED && ignore !== Ignore.IF_ZERO_VALUE && ignore !== Ignore.ALWAYS) throw new Unsupported();
  const siblings = siblingsOf(f, f.oneof, slots);
  let fp: FieldPlan;
  switch (f.fieldKind) {
    case 'scalar': {
      if (sc(f.scalar) === S.BYTES && hasRules(rules)) throw new Unsupported();
      fp = new FieldPlan(f, slot, Kind.Scalar, sc(f.scalar), S.INT32, Kind.Scalar, f.presence !== FeatureSet_FieldPresence.IMPLICIT, siblings);
      fp.check = scalarCheck(rules, sc(f.scalar), null);
      fp.onlyIfSet = fp.explicitPresence || ignore === Ignore.IF_ZERO_VALUE;
      break;
    }
    case 'enum': {
      if (!f.enum.open) throw new Unsupported();
      fp = new FieldPlan(f, slot, Kind.Enum, S.INT32, S.INT32, Kind.Scalar, f.presence !== FeatureSet_FieldPresence.IMPLICIT, siblings);
      fp.check = scalarCheck(rules, S.INT32, f.enum);
      fp.onlyIfSet = fp.explicitPresence || ignore === Ignore.IF_ZERO_VALUE;
      break;
    }
    case 'message': {
      if (f.delimitedEncoding) throw new Unsupported();
      if (rules.cel.length > 0 || rules.celExpression.length > 0 || rules.type.case !== undefined) throw new Unsupported();
      fp = new FieldPlan(f, slot, Kind.Message, S.INT32, S.INT32, Kind.Scalar, true, siblings);
      fp.message = planMessage(f.message, plans);
      fp.onlyIfSet = true;
      break;
    }
    case 'list': {
      const kind = f.listKind === 'message' ? Kind.Message : f.listKind === 'enum' ? Kind.Enum : Kind.Scalar;
      if (f.listKind === 'message' && f.delimitedEncoding) throw new Unsupported();
      if (f.listKind === 'enum' && !f.enum.open) throw new Unsupported();
      const scalar = f.listKind === 'scalar' ? sc(f.scalar) : S.INT32;
      fp = new FieldPlan(f, slot, Kind.List, scalar, S.INT32, kind, false, siblings);
      if (rules.cel.length > 0 || rules.celExpression.length > 0) throw new Unsupported();
      if (f.listKind === 'message') fp.message = planMessage(f.message, plans);
      if (rules.type.case !== undefined) {
        if (rules.type.case !== 'repeated') throw new Unsupported();
        const r = rules.type.value;
        if (hasUnknown(r)) throw new Unsupported();
        const checks: ValueCheck[] = [];
        if (isFieldSet(r, repeatedField('min_items'))) { const min = r.minItems; checks.push((v) => BigInt((v as unknown[]).length) >= min); }
        if (isFieldSet(r, repeatedField('max_items'))) { const max = r.maxItems; checks.push((v) => BigInt((v as unknown[]).length) <= max); }
        if (r.unique) {
          if (f.listKind === 'message' || scalar === S.BYTES) throw new Unsupported();
          checks.push((v) => isUnique(v as unknown[]));
        }
        fp.check = all(checks);
        if (r.items !== undefined) {
          const e = elementPlan(r.items, f.listKind === 'message', scalar, f.listKind === 'enum' ? f.enum : null);
          fp.itemCheck = e.check;
          fp.itemSkipZero = e.skipZero;
        }
      }
      fp.onlyIfSet = ignore === Ignore.IF_ZERO_VALUE;
      break;
    }
    case 'map': {
      const vkind = f.mapKind === 'message' ? Kind.Message : f.mapKind === 'enum' ? Kind.Enum : Kind.Scalar;
      if (f.mapKind === 'enum' && !f.enum.open) throw new Unsupported();
      const vscalar = f.mapKind === 'scalar' ? sc(f.scalar) : S.INT32;
      fp = new FieldPlan(f, slot, Kind.Map, vscalar, sc(f.mapKey), vkind, false, siblings);
      if (rules.cel.length > 0 || rules.celExpression.length > 0) throw new Unsupported();
      if (f.mapKind === 'message') fp.message = planMessage(f.message, plans);
      if (rules.type.case !== undefined) {
        if (rules.type.case !== 'map') throw new Unsupported();
        const r = rules.type.value;
        if (hasUnknown(r)) throw new Unsupported();
        const checks: ValueCheck[] = [];
        if (isFieldSet(r, mapField('min_pairs'))) { const min = r.minPairs; checks.push((v) => BigInt((v as Map<unknown, unknown>).size) >= min); }
        if (isFieldSet(r, mapField('max_pairs'))) { const max = r.maxPairs; checks.push((v) => BigInt((v as Map<unknown, unknown>).size) <= max); }
        fp.check = all(checks);
        if (r.keys !== undefined) {
          const e = elementPlan(r.keys, false, sc(f.mapKey), null);
          fp.keyCheck = e.check;
          fp.keySkipZero = e.skipZero;
        }
        if (r.values !== undefined) {
          const e = elementPlan(r.values, f.mapKind === 'message', vscalar, f.mapKind === 'enum' ? f.enum : null);
          fp.itemCheck = e.check;
          fp.itemSkipZero = e.skipZero;
        }
      }
      fp.onlyIfSet = ignore === Ignore.IF_ZERO_VALUE;
      break;
    }
  }
  fp.required = rules.required && ignore !== Ignore.ALWAYS;
  fp.ignored = ignore === Ignore.ALWAYS;
  if (fp.ignored) { fp.check = null; fp.itemCheck = null; fp.keyCheck = null; }
  fp.active = fp.required || (!fp.ignored && (fp.check !== null || fp.itemCheck !== null || fp.keyCheck !== null || (fp.message !== null && fp.message.hasRules)));
  return fp;
}

/**
 * The rules of one element: a repeated field's `items`, a map's `keys` or `values`. A message
 * element takes no rules of its own here (its message's rules apply when it is read), only `ignore`
 * UNSPECIFIED or IF_ZERO_VALUE; a scalar or enum element gets its compiled check, dropped by
 * `ignore: ALWAYS` and skipped on zero by IF_ZERO_VALUE. Anything else is Unsupported.
 */
function elementPlan(r: FieldRules, isMessage: boolean, scalar: S, enumDesc: DescEnum | null): { check: ValueCheck | null; skipZero: boolean } {
  if (isMessage) {
    if (r.cel.length > 0 || r.celExpression.length > 0 || r.type.case !== undefined || r.required || hasUnknown(r)) throw new Unsupported();
    if (r.ignore !== Ignore.UNSPECIFIED && r.ignore !== Ignore.IF_ZERO_VALUE) throw new Unsupported();
    return { check: null, skipZero: false };
  }
  if (r.required) throw new Unsupported();
  const check = scalarCheck(r, scalar, enumDesc); // compiled first: an unsupported rule stays Unsupported even when ignored
  if (r.ignore === Ignore.ALWAYS) return { check: null, skipZero: false };
  if (r.ignore === Ignore.IF_ZERO_VALUE) return { check, skipZero: true };
  if (r.ignore !== Ignore.UNSPECIFIED) throw new Unsupported();
  return { check, skipZero: false };
}

function hasRules(r: FieldRules): boolean {
  return r.required || r.cel.length > 0 || r.celExpression.length > 0 || r.type.case !== undefined;
}

function rulesField(name: string): DescField {
  return fieldByName(getOptionSchemaOf('FieldRules'), name);
}
function repeatedField(name: string): DescField {
  return fieldByName(getOptionSchemaOf('RepeatedRules'), name);
}
function mapField(name: string): DescField {
  return fieldByName(getOptionSchemaOf('MapRules'), name);
}

function getOptionSchemaOf(name: string): DescMessage {
  const m = fieldRulesExt.file.messages.find((x) => x.name === name);
  if (m === undefined) throw new Error(`buf/validate/validate.proto lacks ${name}`);
  return m;
}

function fieldByName(m: DescMessage, name: string): DescField {
  const f = m.fields.find((x) => x.name === name);
  if (f === undefined) throw new Error(`${m.typeName} lacks ${name}`);
  return f;
}

function all(checks: ValueCheck[]): ValueCheck | null {
  if (checks.length === 0) return null;
  if (checks.length === 1) return checks[0]!;
  if (checks.length === 2) { const a = checks[0]!, b = checks[1]!; return (v) => a(v) && b(v); }
  return (v) => {
    for (let i = 0; i < checks.length; i++) if (!checks[i]!(v)) return false;
    return true;
  };
}

/** The CEL type of a scalar (or enum: int) value, null for bytes. */
function celType(scalar: S, desc: DescField | null): CelSubsetType | null {
  if (desc !== null && (desc.fieldKind === 'enum')) return 'int';
  switch (scalar) {
    case S.STRING: return 'string';
    case S.BOOL: return 'bool';
    case S.DOUBLE: case S.FLOAT: return 'double';
    case S.INT32: case S.SINT32: case S.SFIXED32:
    case S.INT64: case S.SINT64: case S.SFIXED64: return 'int';
    case S.UINT32: case S.FIXED32: case S.UINT64: case S.FIXED64: return 'uint';
    default: return null;
  }
}

/** Reads a decoded value (undefined = unset: the zero value) as a CEL subset value. */
function celReader(scalar: S, enumZero: number | null): (v: unknown) => unknown {
  if (enumZero !== null) return (v) => (v === undefined ? enumZero : v);
  switch (scalar) {
    case S.STRING: return (v) => (v === undefined ? '' : v);
    case S.BOOL: return (v) => (v === undefined ? false : v);
    case S.INT64: case S.SINT64: case S.SFIXED64:
    case S.UINT64: case S.FIXED64:
      return (v) => {
        if (v === undefined) return 0;
        const n = Number(v as bigint);
        if (!Number.isSafeInteger(n)) throw new CelUndecided('int64 outside the safe range');
        return n;
      };
    default: return (v) => (v === undefined ? 0 : v);
  }
}

/**
 * The value check of a scalar or enum value under `rules` (a field's rules, or items/keys/values
 * rules), null when nothing applies. Throws Unsupported outside the subset.
 */
function scalarCheck(rules: FieldRules, scalar: S, enumDesc: DescEnum | null): ValueCheck | null {
  const checks: ValueCheck[] = [];
  const type = enumDesc !== null ? 'int' as const : celType(scalar, null);
  if (rules.cel.length > 0 || rules.celExpression.length > 0) {
    if (type === null) throw new Unsupported();
    const read = celReader(scalar, enumDesc !== null ? enumDesc.values[0]!.number : null);
    const binding = { kind: 'scalar' as const, type, read };
    for (const e of rules.celExpression) { const p = celOrThrow(e, binding); checks.push((v) => p(v)); }
    for (const r of rules.cel) { const p = celOrThrow(r.expression, binding); checks.push((v) => p(v)); }
  }
  const t = rules.type;
  if (t.case !== undefined) {
    if (hasUnknown(t.value)) throw new Unsupported();
    if (enumDesc !== null) {
      if (t.case !== 'enum') throw new Unsupported();
      enumChecks(t.value as unknown as Record<string, unknown> & Message, enumDesc, checks);
    } else if (t.case === 'string') {
      if (scalar !== S.STRING) throw new Unsupported();
      stringChecks(t.value as unknown as Record<string, unknown> & Message, checks);
    } else if (t.case === 'bool') {
      if (scalar !== S.BOOL) throw new Unsupported();
      const r = t.value;
      if (setFields(r, ['const']).has('const')) { const c = r.const; checks.push((v) => v === c); }
    } else {
      if (NUMERIC_CASE[scalar] !== t.case) throw new Unsupported();
      numericChecks(t.value as unknown as Record<string, unknown> & Message, scalar === S.FLOAT || scalar === S.DOUBLE, checks);
    }
  }
  return all(checks);
}

const NUMERIC_CASE: Partial<Record<S, string>> = {
  [S.INT32]: 'int32', [S.INT64]: 'int64', [S.UINT32]: 'uint32', [S.UINT64]: 'uint64',
  [S.SINT32]: 'sint32', [S.SINT64]: 'sint64', [S.FIXED32]: 'fixed32', [S.FIXED64]: 'fixed64',
  [S.SFIXED32]: 'sfixed32', [S.SFIXED64]: 'sfixed64', [S.FLOAT]: 'float', [S.DOUBLE]: 'double',
};

/** The names of the set fields of a rules message, checked against the compiled ones. */
function setFields(r: Message, allowed: readonly string[]): Set<string> {
  const schema = getOptionSchemaOf(r.$typeName.slice('buf.validate.'.length));
  const out = new Set<string>();
  for (const f of schema.fields) {
    if (!isFieldSet(r, f)) continue;
    if (f.name === 'example') continue; // documentation only (its predefined rule is `true`)
    if (!allowed.includes(f.name)) throw new Unsupported();
    out.add(f.name);
  }
  return out;
}

type Num = number | bigint;

function numericChecks(r: Record<string, unknown> & Message, float: boolean, checks: ValueCheck[]): void {
  const set = setFields(r, ['const', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in', 'finite']);
  const isNaNv = (x: unknown): boolean => typeof x === 'number' && Number.isNaN(x);
  if (set.has('const')) { const c = r['const'] as Num; checks.push((v) => v === c); }
  const lt = r['lessThan'] as { case: 'lt' | 'lte' | undefined; value: Num };
  const gt = r['greaterThan'] as { case: 'gt' | 'gte' | undefined; value: Num };
  if (isNaNv(lt.value) || isNaNv(gt.value)) throw new Unsupported();
  const hi = lt.case === undefined ? null : lt;
  const lo = gt.case === undefined ? null : gt;
  if (hi !== null || lo !== null) {
    const above = hi === null ? null : hi.case === 'lt' ? mkGe(hi.value) : mkGt(hi.value);
    const below = lo === null ? null : lo.case === 'gt' ? mkLe(lo.value) : mkLt(lo.value);
    const nanFails = float;
    if (above !== null && below !== null) {
      const normal = hi!.value >= lo!.value;
      checks.push(normal
        ? (v) => !((nanFails && v !== v) || above(v as Num) || below(v as Num))
        : (v) => !((nanFails && v !== v) || (above(v as Num) && below(v as Num))));
    } else if (below !== null) {
      checks.push((v) => !((nanFails && v !== v) || below(v as Num)));
    } else {
      checks.push((v) => !((nanFails && v !== v) || above!(v as Num)));
    }
  }
  const inList = r['in'] as Num[];
  if (inList.length > 0) { const l = inList.slice(); checks.push((v) => includes(l, v)); }
  const notIn = r['notIn'] as Num[];
  if (notIn.length > 0) { const l = notIn.slice(); checks.push((v) => !includes(l, v)); }
  if (set.has('finite') && r['finite'] === true) checks.push((v) => typeof v !== 'number' || Number.isFinite(v));
}

function mkGe(b: Num): (v: Num) => boolean { return (v) => v >= b; }
function mkGt(b: Num): (v: Num) => boolean { return (v) => v > b; }
function mkLe(b: Num): (v: Num) => boolean { return (v) => v <= b; }
function mkLt(b: Num): (v: Num) => boolean { return (v) => v < b; }

function includes(list: readonly unknown[], v: unknown): boolean {
  for (let i = 0; i < list.length; i++) if (list[i] === v) return true;
  return false;
}

function enumChecks(r: Record<string, unknown> & Message, e: DescEnum, checks: ValueCheck[]): void {
  const set = setFields(r, ['const', 'defined_only', 'in', 'not_in']);
  if (set.has('const')) { const c = r['const'] as number; checks.push((v) => v === c); }
  if (r['definedOnly'] === true) { const defined = new Set(e.values.map((x) => x.number)); checks.push((v) => defined.has(v as number)); }
  const inList = r['in'] as number[];
  if (inList.length > 0) { const l = inList.slice(); checks.push((v) => includes(l, v)); }
  const notIn = r['notIn'] as number[];
  if (notIn.length > 0) { const l = notIn.slice(); checks.push((v) => !includes(l, v)); }
}

const EMAIL = /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const WELL_KNOWN: Readonly<Record<string, RegExp>> = {
  email: EMAIL,
  uuid: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
  tuuid: /^[0-9a-fA-F]{32}$/,
  ulid: /^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$/,
};

function stringChecks(r: Record<string, unknown> & Message, checks: ValueCheck[]): void {
  const set = setFields(r, ['const', 'len', 'min_len', 'max_len', 'len_bytes', 'min_bytes', 'max_bytes', 'pattern', 'prefix', 'suffix', 'contains', 'not_contains', 'in', 'not_in', 'email', 'uuid', 'tuuid', 'ulid']);
  if (set.has('const')) { const c = r['const'] as string; checks.push((v) => v === c); }
  if (set.has('len')) { const n = Number(r['len'] as bigint); checks.push((v) => codePoints(v as string) === n); }
  if (set.has('min_len')) { const n = Number(r['minLen'] as bigint); checks.push((v) => (v as string).length >= n && codePoints(v as string) >= n); }
  if (set.has('max_len')) { const n = Number(r['maxLen'] as bigint); checks.push((v) => codePoints(v as string) <= n); }
  if (set.has('len_bytes')) { const n = Number(r['lenBytes'] as bigint); checks.push((v) => utf8Length(v as string) === n); }
  if (set.has('min_bytes')) { const n = Number(r['minBytes'] as bigint); checks.push((v) => utf8Length(v as string) >= n); }
  if (set.has('max_bytes')) { const n = Number(r['maxBytes'] as bigint); checks.push((v) => utf8Length(v as string) <= n); }
  if (set.has('pattern')) {
    // RE2, as protovalidate matches (linear time: a pattern cannot be made to backtrack by the input).
    let re: Re2Regex;
    try {
      re = Re2Regex.compile(r['pattern'] as string);
    } catch {
      throw new Unsupported(); // protovalidate reports the bad pattern its own way
    }
    checks.push((v) => re.find(v as string));
  }
  if (set.has('prefix')) { const s = r['prefix'] as string; checks.push((v) => (v as string).startsWith(s)); }
  if (set.has('suffix')) { const s = r['suffix'] as string; checks.push((v) => (v as string).endsWith(s)); }
  if (set.has('contains')) { const s = r['contains'] as string; checks.push((v) => (v as string).includes(s)); }
  if (set.has('not_contains')) { const s = r['notContains'] as string; checks.push((v) => !(v as string).includes(s)); }
  const inList = r['in'] as string[];
  if (inList.length > 0) { const l = inList.slice(); checks.push((v) => includes(l, v)); }
  const notIn = r['notIn'] as string[];
  if (notIn.length > 0) { const l = notIn.slice(); checks.push((v) => !includes(l, v)); }
  const wk = r['wellKnown'] as { case: string | undefined; value: unknown };
  if (wk.case !== undefined && wk.value === true) {
    const re = WELL_KNOWN[wk.case];
    if (re === undefined) throw new Unsupported();
    checks.push((v) => re.test(v as string));
  }
}

/** UTF-8 length of a JS string (a lone surrogate counts 3 bytes: TextEncoder writes U+FFFD). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) < 0xe000) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

function isUnique(list: readonly unknown[]): boolean {
  const n = list.length;
  if (n <= 16) {
    for (let i = 1; i < n; i++) for (let j = 0; j < i; j++) if (list[j] === list[i]) return false;
    return true;
  }
  const seen = new Set<unknown>();
  let added = 0;
  for (let i = 0; i < n; i++) {
    const v = list[i];
    if (typeof v === 'number' && Number.isNaN(v)) continue;
    seen.add(v);
    if (seen.size !== ++added) return false;
  }
  return true;
}

// ------------------------------------------------------------------ read

/** The wire type a value of `scalar` is written with (not packed). */
function wireTypeOf(scalar: S): Wire {
  return wireOf(scalar as number as ScalarType);
}

/** Not decided by the fast reader (truncated or odd bytes): `fromBinary` decides. */
class ReadUndecided extends Error {}

/**
 * A strict protobuf wire reader over one message. It reads every value exactly as @bufbuild/protobuf's
 * `BinaryReader` does (same varint truncation, same UTF-8 decoding), but gives up (throws
 * `ReadUndecided`) wherever that reader would read past the end, so accepted bytes always decode
 * the same way under `fromBinary`.
 */
class WireReader {
  pos = 0;
  readonly len: number;

  constructor(readonly buf: Buffer, private readonly scratch: Scratch) {
    this.len = buf.length;
  }

  /** An unsigned 32-bit varint (the low 32 bits of up to 10 bytes), as `varint32read`. */
  uint32(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    let result = b & 0x7f;
    if (b < 0x80) return this.bounded(result);
    b = buf[this.pos++]!;
    result |= (b & 0x7f) << 7;
    if (b < 0x80) return this.bounded(result);
    b = buf[this.pos++]!;
    result |= (b & 0x7f) << 14;
    if (b < 0x80) return this.bounded(result);
    b = buf[this.pos++]!;
    result |= (b & 0x7f) << 21;
    if (b < 0x80) return this.bounded(result);
    b = buf[this.pos++]!;
    result |= (b & 0x0f) << 28;
    for (let n = 5; (b & 0x80) !== 0 && n < 10; n++) b = buf[this.pos++]!;
    if ((b & 0x80) !== 0) throw new ReadUndecided();
    return this.bounded(result >>> 0);
  }

  private bounded(v: number): number {
    if (this.pos > this.len) throw new ReadUndecided();
    return v;
  }

  /** The low 64 bits of a varint, unsigned. */
  varint64(): bigint {
    const buf = this.buf;
    let lo = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const b = buf[this.pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) { this.bounded(0); return BigInt(lo >>> 0); }
    }
    let v = BigInt(lo >>> 0);
    for (let shift = 28n; shift < 70n; shift += 7n) {
      const b = buf[this.pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) { this.bounded(0); return BigInt.asUintN(64, v); }
    }
    throw new ReadUndecided();
  }

  /** Skips an unknown field's value (groups are left to fromBinary). */
  skip(wt: number): void {
    switch (wt) {
      case Wire.Varint:
        while ((this.buf[this.pos++]! & 0x80) !== 0) { /* continuation */ }
        break;
      case Wire.Fixed64: this.pos += 8; break;
      case Wire.Fixed32: this.pos += 4; break;
      case Wire.LengthDelimited: { const n = this.uint32(); this.pos += n; break; }
      default: throw new ReadUndecided();
    }
    this.bounded(0);
  }

  /** A length-delimited string, decoded as protobuf-es decodes it (TextDecoder, replacement, BOM dropped). */
  string(): string {
    const n = this.uint32();
    const start = this.pos;
    const end = start + n;
    if (end > this.len) throw new ReadUndecided();
    this.pos = end;
    const buf = this.buf;
    for (let i = start; i < end; i++) {
      if (buf[i]! >= 0x80) return this.scratch.utf8.decode(buf.subarray(start, end));
    }
    return buf.toString('latin1', start, end);
  }

  private fixed(n: number): number {
    const start = this.pos;
    this.pos += n;
    if (this.pos > this.len) throw new ReadUndecided();
    return start;
  }

  /** Reads one scalar as `fromBinary` reads a value of type `t`. */
  scalar(t: S): unknown {
    switch (t) {
      case S.STRING: return this.string();
      case S.INT32: return this.uint32() | 0;
      case S.UINT32: return this.uint32();
      case S.SINT32: { const z = this.uint32(); return (z >>> 1) ^ -(z & 1); }
      case S.BOOL: return this.varint64() !== 0n;
      case S.INT64: return BigInt.asIntN(64, this.varint64());
      case S.UINT64: return this.varint64();
      case S.SINT64: { const z = this.varint64(); return BigInt.asIntN(64, (z >> 1n) ^ -(z & 1n)); }
      case S.DOUBLE: return this.buf.readDoubleLE(this.fixed(8));
      case S.FLOAT: return this.buf.readFloatLE(this.fixed(4));
      case S.FIXED32: return this.buf.readUInt32LE(this.fixed(4));
      case S.SFIXED32: return this.buf.readInt32LE(this.fixed(4));
      case S.FIXED64: return this.buf.readBigUInt64LE(this.fixed(8));
      case S.SFIXED64: return this.buf.readBigInt64LE(this.fixed(8));
      case S.BYTES: {
        const n = this.uint32();
        const start = this.pos;
        this.pos += n;
        if (this.pos > this.len) throw new ReadUndecided();
        return this.buf.subarray(start, start + n);
      }
    }
    throw new ReadUndecided();
  }
}

/** Per-validator decoding helpers (not per request). */
class Scratch {
  /** protobuf-es decodes strings with a default TextDecoder (non-fatal, BOM stripped): the same here. */
  readonly utf8 = new TextDecoder();
}

/**
 * Reads the fields of one message up to `length` bytes from the reader's position, as `fromBinary`
 * walks them; null when the bytes take a path the fast reader leaves to `fromBinary` (a wire type
 * it would reinterpret, a group, a repeated message field, an unknown field in a map entry).
 */
function readMessage(plan: MessagePlan, r: WireReader, length: number): Values | null {
  const end = r.pos + length;
  if (end > r.len) return null;
  const values: Values = new Array(plan.fields.length);
  while (r.pos < end) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === 0) return null;
    const f = plan.find(no);
    if (f === undefined) {
      r.skip(wt);
      continue;
    }
    switch (f.kind) {
      case Kind.Scalar:
      case Kind.Enum:
        if (wt !== f.wire) return null;
        values[f.slot] = r.scalar(sc(f.scalar));
        break;
      case Kind.Message: {
        if (wt !== Wire.LengthDelimited || values[f.slot] !== undefined) return null; // a repeated occurrence merges
        const nested = readMessage(f.message!, r, r.uint32());
        if (nested === null) return null;
        values[f.slot] = nested;
        break;
      }
      case Kind.List: {
        let list = values[f.slot] as unknown[] | undefined;
        if (list === undefined) values[f.slot] = list = [];
        if (f.mapValueKind === Kind.Message) {
          if (wt !== Wire.LengthDelimited) return null;
          const nested = readMessage(f.message!, r, r.uint32());
          if (nested === null) return null;
          list.push(nested);
          break;
        }
        if (wt === Wire.LengthDelimited && f.wire !== Wire.LengthDelimited) {
          const e = r.uint32() + r.pos;
          if (e > r.len) return null;
          while (r.pos < e) list.push(r.scalar(sc(f.scalar)));
          if (r.pos !== e) return null;
          break;
        }
        if (wt !== f.wire) return null;
        list.push(r.scalar(sc(f.scalar)));
        break;
      }
      case Kind.Map: {
        if (wt !== Wire.LengthDelimited) return null;
        let map = values[f.slot] as Map<unknown, unknown> | undefined;
        if (map === undefined) values[f.slot] = map = new Map();
        if (!readMapEntry(f, r, map)) return null;
        break;
      }
    }
    const sib = f.oneofSiblings;
    for (let i = 0; i < sib.length; i++) values[sib[i]!] = undefined;
  }
  return r.pos === end ? values : null;
}

function readMapEntry(f: FieldPlan, r: WireReader, map: Map<unknown, unknown>): boolean {
  const len = r.uint32();
  const end = r.pos + len;
  if (end > r.len) return false;
  let key: unknown = undefined;
  let val: unknown = undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === 1) {
      if (wt !== wireTypeOf(sc(f.mapKey))) return false;
      key = r.scalar(sc(f.mapKey));
    } else if (no === 2) {
      if (f.mapValueKind === Kind.Message) {
        if (wt !== Wire.LengthDelimited || val !== undefined) return false;
        const nested = readMessage(f.message!, r, r.uint32());
        if (nested === null) return false;
        val = nested;
      } else {
        if (wt !== f.wire) return false;
        val = r.scalar(sc(f.scalar));
      }
    } else {
      return false;
    }
  }
  if (r.pos !== end) return false;
  if (key === undefined) key = zeroOf(sc(f.mapKey));
  if (val === undefined) val = f.mapValueKind === Kind.Message ? new Array(f.message!.fields.length) : f.mapValueKind === Kind.Enum ? f.desc.enum!.values[0]!.number : zeroOf(sc(f.scalar));
  // protobuf-es keys maps by a string form for 64-bit integers and bools; equal keys collide alike.
  map.set(typeof key === 'bigint' ? String(key) : key, val);
  return true;
}

function zeroOf(t: S): unknown {
  switch (t) {
    case S.STRING: return '';
    case S.BOOL: return false;
    case S.INT64: case S.SINT64: case S.SFIXED64: case S.UINT64: case S.FIXED64: return 0n;
    case S.BYTES: return new Uint8Array(0);
    default: return 0;
  }
}

function isZero(v: unknown): boolean {
  if (v === undefined) return true;
  switch (typeof v) {
    case 'string': return v.length === 0;
    case 'number': return v === 0;
    case 'bigint': return v === 0n;
    case 'boolean': return !v;
    default: return v instanceof Uint8Array && v.length === 0;
  }
}

// ------------------------------------------------------------------ check

/** True when the field holds a value (explicit presence: read; implicit: non-zero; list/map: non-empty). */
function isSet(f: FieldPlan, v: unknown): boolean {
  if (v === undefined) return false;
  switch (f.kind) {
    case Kind.Message: return true;
    case Kind.List: return (v as unknown[]).length > 0;
    case Kind.Map: return (v as Map<unknown, unknown>).size > 0;
    default: return f.explicitPresence || !isZero(v);
  }
}

function checkMessage(plan: MessagePlan, values: Values): boolean {
  const active = plan.active;
  for (let i = 0; i < active.length; i++) {
    const f = active[i]!;
    const v = values[f.slot];
    if (f.required && !isSet(f, v)) return false;
    if (f.ignored) continue;
    if (f.onlyIfSet && !isSet(f, v)) continue;
    if (!checkField(f, v)) return false;
  }
  const cel = plan.messageCel;
  for (let i = 0; i < cel.length; i++) if (!cel[i]!(values)) return false;
  const rules = plan.oneofRules;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    let n = 0;
    for (let j = 0; j < r.slots.length; j++) if (isSet(r.slots[j]!, values[r.slots[j]!.slot])) n++;
    if (n > 1 || (r.required && n === 0)) return false;
  }
  const req = plan.requiredOneofs;
  for (let i = 0; i < req.length; i++) {
    const members = req[i]!;
    let any = false;
    for (let j = 0; j < members.length; j++) if (values[members[j]!.slot] !== undefined) { any = true; break; }
    if (!any) return false;
  }
  return true;
}

function checkField(f: FieldPlan, raw: unknown): boolean {
  switch (f.kind) {
    case Kind.Scalar:
    case Kind.Enum: {
      const v = raw === undefined ? (f.kind === Kind.Enum ? f.desc.enum!.values[0]!.number : zeroOf(sc(f.scalar))) : raw;
      return f.check === null || f.check(v);
    }
    case Kind.Message: {
      // onlyIfSet holds for messages: raw is the nested values.
      const m = f.message!;
      return !m.hasRules || checkMessage(m, raw as Values);
    }
    case Kind.List: {
      const list = raw === undefined ? EMPTY : raw as unknown[];
      if (f.check !== null && !f.check(list)) return false;
      if (f.mapValueKind === Kind.Message) {
        const m = f.message!;
        if (!m.hasRules) return true;
        for (let i = 0; i < list.length; i++) if (!checkMessage(m, list[i] as Values)) return false;
        return true;
      }
      const item = f.itemCheck;
      if (item === null) return true;
      for (let i = 0; i < list.length; i++) {
        const v = list[i];
        if (f.itemSkipZero && isZero(v)) continue;
        if (!item(v)) return false;
      }
      return true;
    }
    case Kind.Map: {
      const map = raw === undefined ? EMPTY_MAP : raw as Map<unknown, unknown>;
      if (f.check !== null && !f.check(map)) return false;
      const key = f.keyCheck, val = f.itemCheck;
      const m = f.mapValueKind === Kind.Message && f.message!.hasRules ? f.message! : null;
      if (key === null && val === null && m === null) return true;
      for (const [k0, v] of map) {
        if (key !== null) {
          const k = keyValue(sc(f.mapKey), k0);
          if (!(f.keySkipZero && isZero(k)) && !key(k)) return false;
        }
        if (m !== null && !checkMessage(m, v as Values)) return false;
        if (val !== null && !(f.itemSkipZero && isZero(v)) && !val(v)) return false;
      }
      return true;
    }
  }
}

/** A map key back from its stored form (64-bit integer keys are stored as strings). */
function keyValue(t: S, k: unknown): unknown {
  return typeof k === 'string' && t !== S.STRING ? BigInt(k) : k;
}

const EMPTY: readonly unknown[] = Object.freeze([]);
const EMPTY_MAP: ReadonlyMap<unknown, unknown> = new Map();
