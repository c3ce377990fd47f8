/**
 * The proto3 JSON mapping over protobufjs reflection, producing Remora's canonical "ProtoObject":
 * plain objects with keepCase (proto) field names holding only the fields that were present, enums as
 * their NAME strings, 64-bit integers as JS numbers, bytes as Buffers, Duration/Timestamp as
 * `{seconds, nanos}`, wrappers as `{value}`, Struct/Value/ListValue as plain JSON and Any as
 * `{'@type': url, ...fields}` (expanded recursively). `parseProtoJson` builds it from JSON/YAML input
 * (accepting both snake_case names and lowerCamelCase json names, as Envoy does) and reports every
 * problem with its full field path; `decodeProtoBinary` builds the same shape from wire bytes (xDS);
 * `encodeProtoObject`/`packAny` go back to bytes. Compile functions only ever see ProtoObjects.
 */
import * as protobuf from 'protobufjs';
import type { ConfigIssue, ValidationResult } from '../../core/errors';

/** A message in canonical form (see the file comment). Values are unknown until a compiler checks them. */
export type ProtoObject = { [field: string]: unknown };

const TYPE_PREFIX = 'type.googleapis.com/';

const WRAPPERS: ReadonlySet<string> = new Set([
  '.google.protobuf.DoubleValue', '.google.protobuf.FloatValue', '.google.protobuf.Int64Value',
  '.google.protobuf.UInt64Value', '.google.protobuf.Int32Value', '.google.protobuf.UInt32Value',
  '.google.protobuf.BoolValue', '.google.protobuf.StringValue', '.google.protobuf.BytesValue',
]);

/** Joins a parent path and a field name (`a.b` or just `b` at the root). */
export function joinPath(parent: string, name: string): string {
  return parent === '' ? name : `${parent}.${name}`;
}

/** protoc's ToJsonName: drop underscores and upper-case the letter that follows each. */
function jsonNameOf(field: protobuf.Field): string {
  const explicit = field.options?.['json_name'];
  if (typeof explicit === 'string') return explicit;
  let out = '';
  let upper = false;
  for (let i = 0; i < field.name.length; i++) {
    const c = field.name[i]!;
    if (c === '_') { upper = true; continue; }
    out += upper ? c.toUpperCase() : c;
    upper = false;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Looks up a message type by full name (with or without the leading dot); null when unknown. */
function lookupMessage(root: protobuf.Root, name: string): protobuf.Type | null {
  try {
    const t = root.lookup(name.startsWith('.') ? name : `.${name}`);
    return t instanceof protobuf.Type ? t : null;
  } catch {
    return null;
  }
}

/** The message type named by an Any type URL, or null. */
export function typeForUrl(root: protobuf.Root, typeUrl: string): protobuf.Type | null {
  const slash = typeUrl.lastIndexOf('/');
  if (slash < 0) return null;
  return lookupMessage(root, typeUrl.slice(slash + 1));
}

// ------------------------------------------------------------------------------- JSON → ProtoObject

class JsonParser {
  readonly errors: ConfigIssue[] = [];
  private readonly nameMaps = new Map<protobuf.Type, Map<string, protobuf.Field>>();

  constructor(private readonly root: protobuf.Root) {}

  err(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  private fieldsByName(type: protobuf.Type): Map<string, protobuf.Field> {
    let m = this.nameMaps.get(type);
    if (m === undefined) {
      m = new Map();
      const fields = type.fieldsArray;
      for (let i = 0; i < fields.length; i++) {
        const f = fields[i]!;
        m.set(f.name, f);
        m.set(jsonNameOf(f), f);
      }
      this.nameMaps.set(type, m);
    }
    return m;
  }

  /** Parses `value` as message `type`; returns undefined (after recording errors) when unusable. */
  message(type: protobuf.Type, value: unknown, path: string): unknown {
    const special = this.wellKnown(type, value, path);
    if (special !== NOT_SPECIAL) return special;
    if (!isPlainObject(value)) {
      this.err(path, `expected an object (${type.name}), got ${describe(value)}`);
      return undefined;
    }
    const out: ProtoObject = {};
    const byName = this.fieldsByName(type);
    const oneofSetBy = new Map<string, string>();
    for (const key of Object.keys(value)) {
      const raw = value[key];
      const field = byName.get(key);
      if (field === undefined) {
        this.err(joinPath(path, key), `unknown field in ${type.fullName.slice(1)}`);
        continue;
      }
      const fpath = joinPath(path, field.name);
      if (Object.prototype.hasOwnProperty.call(out, field.name)) {
        this.err(fpath, 'field given twice (proto name and json name)');
        continue;
      }
      if (raw === undefined || (raw === null && field.resolvedType?.fullName !== '.google.protobuf.Value')) continue; // null = absent
      if (field.partOf !== null && field.partOf !== undefined) {
        const oneof = field.partOf.name;
        const prev = oneofSetBy.get(oneof);
        if (prev !== undefined) {
          this.err(fpath, `oneof '${oneof}' already set by '${prev}'; only one may be set`);
          continue;
        }
        oneofSetBy.set(oneof, field.name);
      }
      const parsed = this.field(field, raw, fpath);
      if (parsed !== undefined) out[field.name] = parsed;
    }
    return out;
  }

  private field(field: protobuf.Field, raw: unknown, path: string): unknown {
    if (field.map) {
      if (!isPlainObject(raw)) {
        this.err(path, `expected an object (map), got ${describe(raw)}`);
        return undefined;
      }
      const out: Record<string, unknown> = {};
      const keyType = (field as unknown as protobuf.MapField).keyType;
      for (const k of Object.keys(raw)) {
        const kpath = `${path}[${JSON.stringify(k)}]`;
        if (keyType !== 'string' && !this.validMapKey(keyType, k)) {
          this.err(kpath, `invalid ${keyType} map key`);
          continue;
        }
        const v = this.single(field, raw[k], kpath);
        if (v !== undefined) out[k] = v;
      }
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(raw)) {
        this.err(path, `expected an array, got ${describe(raw)}`);
        return undefined;
      }
      const out: unknown[] = [];
      let ok = true;
      for (let i = 0; i < raw.length; i++) {
        const v = this.single(field, raw[i], `${path}[${i}]`);
        if (v === undefined) ok = false;
        else out.push(v);
      }
      return ok ? out : undefined;
    }
    return this.single(field, raw, path);
  }

  private validMapKey(keyType: string, k: string): boolean {
    if (keyType === 'bool') return k === 'true' || k === 'false';
    return /^-?\d+$/.test(k);
  }

  private single(field: protobuf.Field, raw: unknown, path: string): unknown {
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Type) {
      if (raw === null && rt.fullName !== '.google.protobuf.Value') {
        this.err(path, 'null is not allowed here');
        return undefined;
      }
      return this.message(rt, raw, path);
    }
    if (rt instanceof protobuf.Enum) return this.enumValue(rt, raw, path);
    return this.scalar(field.type, raw, path);
  }

  enumValue(e: protobuf.Enum, raw: unknown, path: string): unknown {
    if (typeof raw === 'string') {
      if (Object.prototype.hasOwnProperty.call(e.values, raw)) return raw;
      this.err(path, `invalid enum value '${raw}' for ${e.name}; expected one of ${Object.keys(e.values).join(', ')}`);
      return undefined;
    }
    if (typeof raw === 'number' && Number.isInteger(raw)) {
      const name = e.valuesById[raw];
      if (name !== undefined) return name;
      this.err(path, `invalid enum number ${raw} for ${e.name}`);
      return undefined;
    }
    this.err(path, `expected an enum name (string) for ${e.name}, got ${describe(raw)}`);
    return undefined;
  }

  scalar(type: string, raw: unknown, path: string): unknown {
    switch (type) {
      case 'string':
        if (typeof raw === 'string') return raw;
        this.err(path, `expected a string, got ${describe(raw)}`);
        return undefined;
      case 'bool':
        if (typeof raw === 'boolean') return raw;
        this.err(path, `expected a boolean, got ${describe(raw)}`);
        return undefined;
      case 'bytes':
        if (typeof raw === 'string' && /^[A-Za-z0-9+/\-_]*={0,2}$/.test(raw)) return Buffer.from(raw, 'base64');
        if (Buffer.isBuffer(raw)) return raw;
        this.err(path, `expected a base64 string, got ${typeof raw === 'string' ? 'invalid base64' : describe(raw)}`);
        return undefined;
      case 'double':
      case 'float': {
        if (typeof raw === 'number') return raw;
        if (raw === 'NaN') return NaN;
        if (raw === 'Infinity') return Infinity;
        if (raw === '-Infinity') return -Infinity;
        if (typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))) return Number(raw);
        this.err(path, `expected a number, got ${describe(raw)}`);
        return undefined;
      }
      default:
        return this.integer(type, raw, path);
    }
  }

  private integer(type: string, raw: unknown, path: string): unknown {
    let n: number;
    if (typeof raw === 'number') n = raw;
    else if (typeof raw === 'string' && /^-?\d+(\.0*)?$/.test(raw.trim())) n = Number(raw.trim());
    else {
      this.err(path, `expected an integer, got ${describe(raw)}`);
      return undefined;
    }
    if (!Number.isInteger(n)) {
      this.err(path, `expected an integer, got ${String(raw)}`);
      return undefined;
    }
    const unsigned = type.startsWith('uint') || type.startsWith('fixed');
    const is64 = type.endsWith('64');
    if (unsigned && n < 0) {
      this.err(path, `must be >= 0 (${type})`);
      return undefined;
    }
    if (!is64) {
      const [lo, hi] = unsigned ? [0, 0xffffffff] : [-0x80000000, 0x7fffffff];
      if (n < lo || n > hi) {
        this.err(path, `out of range for ${type}`);
        return undefined;
      }
    } else if (!Number.isSafeInteger(n)) {
      this.err(path, `${type} value exceeds the safe integer range supported by Remora`);
      return undefined;
    }
    return n;
  }

  /** Handles the well-known types with special JSON forms; NOT_SPECIAL for ordinary messages. */
  private wellKnown(type: protobuf.Type, value: unknown, path: string): unknown {
    const name = type.fullName;
    if (!name.startsWith('.google.protobuf.')) return NOT_SPECIAL;
    switch (name) {
      case '.google.protobuf.Duration': return this.duration(value, path);
      case '.google.protobuf.Timestamp': return this.timestamp(value, path);
      case '.google.protobuf.Struct':
        if (isPlainObject(value)) return jsonClone(value);
        this.err(path, `expected an object (Struct), got ${describe(value)}`);
        return undefined;
      case '.google.protobuf.ListValue':
        if (Array.isArray(value)) return jsonClone(value);
        this.err(path, `expected an array (ListValue), got ${describe(value)}`);
        return undefined;
      case '.google.protobuf.Value':
        return jsonClone(value);
      case '.google.protobuf.Any': return this.any(value, path);
      case '.google.protobuf.FieldMask':
        if (typeof value === 'string') return { paths: value === '' ? [] : value.split(',') };
        this.err(path, `expected a string (FieldMask), got ${describe(value)}`);
        return undefined;
      default:
        if (WRAPPERS.has(name)) {
          const inner = type.fields['value']!;
          const v = this.scalar(inner.type, value, path);
          return v === undefined ? undefined : { value: v };
        }
        return NOT_SPECIAL; // Empty and others: ordinary message rules
    }
  }

  private duration(value: unknown, path: string): unknown {
    if (typeof value !== 'string') {
      this.err(path, `expected a duration string like "1.5s", got ${describe(value)}`);
      return undefined;
    }
    const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(value);
    if (m === null) {
      this.err(path, `invalid duration '${value}'; expected seconds with up to 9 fractional digits and an 's' suffix, e.g. "1.5s"`);
      return undefined;
    }
    const sign = m[1] === '-' ? -1 : 1;
    const seconds = Number(m[2]);
    const nanos = m[3] === undefined ? 0 : Number(m[3].padEnd(9, '0'));
    if (seconds > 315576000000) {
      this.err(path, 'duration out of range');
      return undefined;
    }
    return { seconds: sign * seconds, nanos: sign * nanos === 0 ? 0 : sign * nanos };
  }

  private timestamp(value: unknown, path: string): unknown {
    const m = typeof value === 'string'
      ? /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(value)
      : null;
    if (m === null) {
      this.err(path, 'expected an RFC 3339 timestamp string');
      return undefined;
    }
    const ms = Date.parse(`${m[1]}${m[3]}`);
    if (Number.isNaN(ms)) {
      this.err(path, 'invalid timestamp');
      return undefined;
    }
    return { seconds: Math.floor(ms / 1000), nanos: m[2] === undefined ? 0 : Number(m[2].padEnd(9, '0')) };
  }

  private any(value: unknown, path: string): unknown {
    if (!isPlainObject(value)) {
      this.err(path, `expected an object with '@type' (Any), got ${describe(value)}`);
      return undefined;
    }
    const url = value['@type'];
    if (typeof url !== 'string') {
      this.err(joinPath(path, '@type'), "missing '@type'");
      return undefined;
    }
    const type = typeForUrl(this.root, url);
    if (type === null) {
      this.err(joinPath(path, '@type'), `unknown type URL '${url}'`);
      return undefined;
    }
    const rest: Record<string, unknown> = {};
    for (const k of Object.keys(value)) if (k !== '@type') rest[k] = value[k];
    const isSpecial = type.fullName.startsWith('.google.protobuf.') && type.fullName !== '.google.protobuf.Empty';
    const inner = isSpecial ? this.message(type, rest['value'], joinPath(path, 'value')) : this.message(type, rest, path);
    if (inner === undefined) return undefined;
    if (isSpecial) return { '@type': url, value: inner };
    return { '@type': url, ...(inner as ProtoObject) };
  }
}

const NOT_SPECIAL = Symbol('not-special');

function jsonClone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(jsonClone);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = jsonClone(v[k]);
    return out;
  }
  return v;
}

/**
 * Parses a JSON/YAML value as message `fullTypeName` (e.g. 'envoy.config.bootstrap.v3.Bootstrap')
 * into a canonical ProtoObject. `path` prefixes every error path ('' at a document root). Collects
 * every error; never throws except for an unknown `fullTypeName` (a programming error).
 */
export function parseProtoJson(root: protobuf.Root, fullTypeName: string, value: unknown, path: string): ValidationResult<ProtoObject> {
  const type = lookupMessage(root, fullTypeName);
  if (type === null) throw new Error(`parseProtoJson: unknown message type ${fullTypeName}`);
  const p = new JsonParser(root);
  const out = p.message(type, value, path);
  if (p.errors.length > 0 || out === undefined) {
    return { ok: false, errors: p.errors.length > 0 ? p.errors : [{ path, message: 'invalid message' }] };
  }
  return { ok: true, value: out as ProtoObject };
}

// ------------------------------------------------------------------------------- binary → ProtoObject

const TO_OBJECT: protobuf.IConversionOptions = {
  enums: String, longs: Number, bytes: Buffer, defaults: false, arrays: false, objects: false, oneofs: false,
};

/**
 * Decodes wire bytes of `fullTypeName` into the same canonical ProtoObject `parseProtoJson` produces
 * (Anys expanded recursively; an Any of an unknown type throws). Throws on malformed bytes; callers at
 * a resource boundary turn that into a ValidationResult. Proto3 scalars equal to their default are
 * absent on the wire and therefore absent here.
 */
export function decodeProtoBinary(root: protobuf.Root, fullTypeName: string, bytes: Uint8Array): ProtoObject {
  const type = lookupMessage(root, fullTypeName);
  if (type === null) throw new Error(`decodeProtoBinary: unknown message type ${fullTypeName}`);
  const msg = type.decode(bytes);
  const obj = type.toObject(msg, TO_OBJECT);
  return normaliseDecoded(root, type, obj) as ProtoObject;
}

function normaliseDecoded(root: protobuf.Root, type: protobuf.Type, obj: Record<string, unknown>): unknown {
  switch (type.fullName) {
    case '.google.protobuf.Duration':
    case '.google.protobuf.Timestamp':
      return { seconds: Number(obj['seconds'] ?? 0), nanos: Number(obj['nanos'] ?? 0) };
    case '.google.protobuf.Struct': return structToJson(type, obj);
    case '.google.protobuf.Value': return valueToJson(type, obj);
    case '.google.protobuf.ListValue': return listToJson(type, obj);
    case '.google.protobuf.Any': {
      const url = String(obj['type_url'] ?? '');
      const inner = typeForUrl(root, url);
      if (inner === null) throw new Error(`unknown Any type URL '${url}'`);
      const value = (obj['value'] as Uint8Array | undefined) ?? Buffer.alloc(0);
      const decoded = normaliseDecoded(root, inner, inner.toObject(inner.decode(value), TO_OBJECT));
      if (inner.fullName.startsWith('.google.protobuf.') && inner.fullName !== '.google.protobuf.Empty') {
        return { '@type': url, value: decoded };
      }
      return { '@type': url, ...(decoded as ProtoObject) };
    }
    default:
      break;
  }
  if (WRAPPERS.has(type.fullName)) {
    const f = type.fields['value']!;
    return { value: obj['value'] ?? (f.type === 'bytes' ? Buffer.alloc(0) : f.typeDefault) };
  }
  return mapMessageFields(type, obj, (ft, v) => normaliseDecoded(root, ft, v as Record<string, unknown>));
}

function fieldNameById(type: protobuf.Type, id: number): string {
  return type.fieldsById[id]!.name;
}

function structToJson(type: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  const valueType = type.fieldsById[1]!.resolvedType as protobuf.Type;
  const fields = (obj[fieldNameById(type, 1)] ?? {}) as Record<string, Record<string, unknown>>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(fields)) out[k] = valueToJson(valueType, fields[k]!);
  return out;
}

function listToJson(type: protobuf.Type, obj: Record<string, unknown>): unknown[] {
  const valueType = type.fieldsById[1]!.resolvedType as protobuf.Type;
  const values = (obj[fieldNameById(type, 1)] ?? []) as Record<string, unknown>[];
  return values.map((v) => valueToJson(valueType, v));
}

function valueToJson(type: protobuf.Type, obj: Record<string, unknown>): unknown {
  const get = (id: number): unknown => obj[fieldNameById(type, id)];
  if (get(2) !== undefined) return get(2);
  if (get(3) !== undefined) return get(3);
  if (get(4) !== undefined) return get(4);
  if (get(5) !== undefined) return structToJson(type.fieldsById[5]!.resolvedType as protobuf.Type, get(5) as Record<string, unknown>);
  if (get(6) !== undefined) return listToJson(type.fieldsById[6]!.resolvedType as protobuf.Type, get(6) as Record<string, unknown>);
  return null;
}

// ------------------------------------------------------------------------------- ProtoObject → binary

/** Converts a canonical ProtoObject into the object shape protobufjs `fromObject` accepts. */
function toProtobufjs(root: protobuf.Root, type: protobuf.Type, obj: unknown): unknown {
  switch (type.fullName) {
    case '.google.protobuf.Struct': return jsonToStruct(type, obj as Record<string, unknown>);
    case '.google.protobuf.Value': return jsonToValue(type, obj);
    case '.google.protobuf.ListValue': return jsonToList(type, obj as unknown[]);
    case '.google.protobuf.Any': {
      const o = obj as ProtoObject;
      const url = String(o['@type']);
      const inner = typeForUrl(root, url);
      if (inner === null) throw new Error(`unknown Any type URL '${url}'`);
      const rest: ProtoObject = {};
      for (const k of Object.keys(o)) if (k !== '@type') rest[k] = o[k];
      const payload = inner.fullName.startsWith('.google.protobuf.') && inner.fullName !== '.google.protobuf.Empty' ? rest['value'] : rest;
      return { type_url: url, value: encodeType(root, inner, payload as ProtoObject) };
    }
    default:
      break;
  }
  if (WRAPPERS.has(type.fullName)) return obj;
  return mapMessageFields(type, obj as ProtoObject, (ft, v) => toProtobufjs(root, ft, v));
}

function jsonToStruct(type: protobuf.Type, obj: Record<string, unknown>): unknown {
  const valueType = type.fieldsById[1]!.resolvedType as protobuf.Type;
  const fields: Record<string, unknown> = {};
  for (const k of Object.keys(obj)) fields[k] = jsonToValue(valueType, obj[k]);
  return { [fieldNameById(type, 1)]: fields };
}

function jsonToList(type: protobuf.Type, arr: readonly unknown[]): unknown {
  const valueType = type.fieldsById[1]!.resolvedType as protobuf.Type;
  return { [fieldNameById(type, 1)]: arr.map((v) => jsonToValue(valueType, v)) };
}

function jsonToValue(type: protobuf.Type, v: unknown): unknown {
  const n = (id: number): string => fieldNameById(type, id);
  if (v === null || v === undefined) return { [n(1)]: 0 };
  if (typeof v === 'number') return { [n(2)]: v };
  if (typeof v === 'string') return { [n(3)]: v };
  if (typeof v === 'boolean') return { [n(4)]: v };
  if (Array.isArray(v)) return { [n(6)]: jsonToList(type.fieldsById[6]!.resolvedType as protobuf.Type, v) };
  return { [n(5)]: jsonToStruct(type.fieldsById[5]!.resolvedType as protobuf.Type, v as Record<string, unknown>) };
}

/** `encodeProtoObject` for a type already looked up (a resolved type of `root`). */
export function encodeType(root: protobuf.Root, type: protobuf.Type, obj: ProtoObject): Buffer {
  const msg = type.fromObject(toProtobufjs(root, type, obj) as Record<string, unknown>);
  return Buffer.from(type.encode(msg).finish());
}

/**
 * Encodes a canonical ProtoObject of `fullTypeName` to wire bytes (the inverse of
 * `decodeProtoBinary`). Throws on an unknown type or Any type URL; the input is assumed to have come
 * from `parseProtoJson`/`decodeProtoBinary` (it is not re-validated).
 */
export function encodeProtoObject(root: protobuf.Root, fullTypeName: string, obj: ProtoObject): Buffer {
  const type = lookupMessage(root, fullTypeName);
  if (type === null) throw new Error(`encodeProtoObject: unknown message type ${fullTypeName}`);
  return encodeType(root, type, obj);
}

/**
 * Packs a canonical ProtoObject into a `google.protobuf.Any` in protobufjs/proto-loader shape,
 * `{type_url, value: Buffer}`, for DiscoveryResponse.resources. `typeUrl` is the full URL
 * ('type.googleapis.com/envoy.config.cluster.v3.Cluster'); a bare type name gets the standard prefix.
 */
export function packAny(root: protobuf.Root, typeUrl: string, obj: ProtoObject): { type_url: string; value: Buffer } {
  const url = typeUrl.includes('/') ? typeUrl : TYPE_PREFIX + typeUrl;
  const rest: ProtoObject = {};
  for (const k of Object.keys(obj)) if (k !== '@type') rest[k] = obj[k];
  return { type_url: url, value: encodeProtoObject(root, url.slice(url.lastIndexOf('/') + 1), rest) };
}

/**
 * Copies `obj`, passing every message-typed field value (each map value and repeated element) through
 * `fn` with its resolved type; scalar and enum fields are copied as they are.
 */
function mapMessageFields(type: protobuf.Type, obj: Record<string, unknown>, fn: (t: protobuf.Type, v: unknown) => unknown): ProtoObject {
  const out: ProtoObject = {};
  for (const key of Object.keys(obj)) {
    const field = type.fields[key];
    const v = obj[key];
    if (field === undefined || !(field.resolvedType instanceof protobuf.Type)) {
      out[key] = v;
      continue;
    }
    const ft = field.resolvedType;
    if (field.map) {
      const m: Record<string, unknown> = {};
      for (const k of Object.keys(v as object)) m[k] = fn(ft, (v as Record<string, unknown>)[k]);
      out[key] = m;
    } else if (field.repeated) {
      out[key] = (v as unknown[]).map((e) => fn(ft, e));
    } else {
      out[key] = fn(ft, v);
    }
  }
  return out;
}
