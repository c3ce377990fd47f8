/**
 * ProtoJSON pieces the transcoder adds around @bufbuild/protobuf's `fromJson`/`toJson`: field
 * lookup by proto or JSON name, conversion of one path/query string into the JSON value ProtoJSON
 * accepts for a field (bools, enum numbers, well-known types in their string forms), and
 * case-insensitive enum canonicalisation for the JSON body. Everything here is driven by
 * descriptors resolved at config time (DescField/DescMessage objects); nothing looks types up by
 * name per request.
 */
import type { DescField, DescMessage, DescEnum, JsonValue, JsonObject } from '@bufbuild/protobuf';
import { ScalarType } from '@bufbuild/protobuf';

/** Well-known message types whose ProtoJSON form is a string or scalar (settable from a path or query). */
const SCALAR_LIKE_WKT = new Set([
  'google.protobuf.Timestamp', 'google.protobuf.Duration', 'google.protobuf.FieldMask',
  'google.protobuf.DoubleValue', 'google.protobuf.FloatValue', 'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value', 'google.protobuf.Int32Value', 'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue', 'google.protobuf.StringValue', 'google.protobuf.BytesValue',
  'google.protobuf.Value',
]);

/** Field by proto name or JSON name, per message, built once (a cache keyed by the immutable DescMessage). */
export class FieldIndex {
  private readonly byMessage = new Map<DescMessage, Map<string, DescField>>();

  /** The field named `name` (proto name or json_name) in `message`, or undefined. */
  get(message: DescMessage, name: string): DescField | undefined {
    let m = this.byMessage.get(message);
    if (m === undefined) {
      m = new Map();
      for (const f of message.fields) { m.set(f.name, f); m.set(f.jsonName, f); }
      this.byMessage.set(message, m);
    }
    return m.get(name);
  }

  /** Precomputes every message reachable from `root` (so request time never mutates the index). */
  warm(root: DescMessage): void {
    const stack = [root];
    while (stack.length > 0) {
      const m = stack.pop()!;
      if (this.byMessage.has(m)) continue;
      this.get(m, '');
      for (const f of m.fields) {
        if (f.fieldKind === 'message' || (f.fieldKind === 'list' && f.listKind === 'message')) stack.push(f.message!);
        else if (f.fieldKind === 'map' && f.mapKind === 'message') stack.push(f.message!);
      }
    }
  }
}

/** True when a singular field of this kind can take a value from a path segment or query parameter. */
export function isScalarLike(f: DescField): boolean {
  if (f.fieldKind === 'scalar' || f.fieldKind === 'enum') return true;
  if (f.fieldKind === 'message') return SCALAR_LIKE_WKT.has(f.message.typeName);
  return false;
}

/** For repeated fields: true when the element is a scalar, an enum or a scalar-like WKT. */
export function isScalarLikeList(f: DescField): boolean {
  if (f.fieldKind !== 'list') return false;
  if (f.listKind === 'scalar' || f.listKind === 'enum') return true;
  return SCALAR_LIKE_WKT.has(f.message.typeName);
}

function scalarOf(f: DescField): ScalarType | null {
  if (f.fieldKind === 'scalar') return f.scalar;
  if (f.fieldKind === 'list' && f.listKind === 'scalar') return f.scalar;
  return null;
}

function enumOf(f: DescField): DescEnum | null {
  if (f.fieldKind === 'enum') return f.enum;
  if (f.fieldKind === 'list' && f.listKind === 'enum') return f.enum;
  return null;
}

const WRAPPER_SCALAR: Readonly<Record<string, ScalarType>> = {
  'google.protobuf.DoubleValue': ScalarType.DOUBLE, 'google.protobuf.FloatValue': ScalarType.FLOAT,
  'google.protobuf.Int64Value': ScalarType.INT64, 'google.protobuf.UInt64Value': ScalarType.UINT64,
  'google.protobuf.Int32Value': ScalarType.INT32, 'google.protobuf.UInt32Value': ScalarType.UINT32,
  'google.protobuf.BoolValue': ScalarType.BOOL, 'google.protobuf.StringValue': ScalarType.STRING,
  'google.protobuf.BytesValue': ScalarType.BYTES,
};

const INT_RE = /^-?\d+$/;

/**
 * The JSON value for a path/query string bound to `f` (singular or one element of a repeated
 * field): strings stay strings (ProtoJSON accepts numbers as strings), bools from
 * `true`/`false`/`1`/`0`, enums by name (optionally case-insensitive) or number, WKTs in their
 * string forms. Returns `undefined` when the text cannot be a value of that type (the caller
 * answers 400 naming the field); range and format checks are left to `fromJson`.
 */
export function stringToJsonValue(f: DescField, text: string, enumCaseInsensitive: boolean): JsonValue | undefined {
  const e = enumOf(f);
  if (e !== null) {
    if (INT_RE.test(text)) return Number(text);
    if (e.values.some((v) => v.name === text)) return text;
    if (enumCaseInsensitive) {
      const up = text.toUpperCase();
      const v = e.values.find((x) => x.name.toUpperCase() === up);
      if (v !== undefined) return v.name;
    }
    return undefined;
  }
  let s = scalarOf(f);
  if (s === null && f.message !== undefined) {
    const w = WRAPPER_SCALAR[f.message.typeName];
    if (w !== undefined) s = w;
    else return text; // Timestamp, Duration, FieldMask, Value: their ProtoJSON string forms
  }
  if (s === ScalarType.BOOL) {
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
    return undefined;
  }
  return text;
}

/**
 * Rewrites enum names in a parsed JSON value to their canonical case (config option
 * `caseInsensitiveEnumParsing`), walking `message`'s fields; unknown keys are left for `fromJson`.
 */
export function canonicalizeEnums(message: DescMessage, json: JsonValue, index: FieldIndex, depth = 0): void {
  if (depth > 100 || json === null || typeof json !== 'object' || Array.isArray(json)) return;
  const obj = json as JsonObject;
  for (const key of Object.keys(obj)) {
    const f = index.get(message, key);
    if (f === undefined) continue;
    const v = obj[key]!;
    const e = enumOf(f) ?? (f.fieldKind === 'map' && f.mapKind === 'enum' ? f.enum : null);
    if (e !== null) {
      const fix = (x: JsonValue): JsonValue => {
        if (typeof x !== 'string') return x;
        const up = x.toUpperCase();
        const ev = e.values.find((y) => y.name.toUpperCase() === up);
        return ev !== undefined ? ev.name : x;
      };
      if (Array.isArray(v)) obj[key] = v.map(fix);
      else if (f.fieldKind === 'map' && v !== null && typeof v === 'object') for (const k of Object.keys(v)) (v as JsonObject)[k] = fix((v as JsonObject)[k]!);
      else obj[key] = fix(v);
      continue;
    }
    const m = f.message;
    if (m === undefined || m.typeName.startsWith('google.protobuf.')) continue;
    if (f.fieldKind === 'list' && Array.isArray(v)) for (const x of v) canonicalizeEnums(m, x, index, depth + 1);
    else if (f.fieldKind === 'map' && v !== null && typeof v === 'object') for (const x of Object.values(v)) canonicalizeEnums(m, x!, index, depth + 1);
    else canonicalizeEnums(m, v, index, depth + 1);
  }
}
