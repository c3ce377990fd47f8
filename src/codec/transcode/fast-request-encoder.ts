/**
 * A request encoder compiled at config time from a request message's DescMessage: it turns the
 * ProtoJSON tree the binding assembled (body, path variables, query) straight into a gRPC frame
 * (5-byte prefix + binary message) in one buffer, with tags and field order precomputed, instead of
 * @bufbuild/protobuf's `fromJson` → reflective `toBinary` → frame copy. It covers the common
 * shapes only — singular and repeated scalars, enums and (non-well-known) messages, given as plain
 * JSON values (strings for string/bytes/enum names, numbers for numeric fields, booleans) — and
 * gives up (returns null) on anything else: an unknown or duplicated key, `null`, a numeric string,
 * a map, a oneof member, a well-known type, an unknown enum name, malformed base64, an ill-formed
 * string, a value out of range. The caller then takes the reflective path, which accepts or rejects
 * the tree exactly as before; when this encoder answers, its bytes equal `toBinary(fromJson(tree))`
 * (fields in number order, implicit-presence zero values omitted, packed repeated scalars as
 * `packed` says; checked against the reflective encoder by tests). The encoder keeps one scratch
 * array of lengths between its size and write passes: it is synchronous and not re-entrant, and it
 * belongs to one compiled binding.
 */
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { Wire, wireOf } from '../scalar-wire';
import { varint32Size, writeVarint32 } from '../../core/varint';

const FRAME_HEADER = 5;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const FLOAT32_MAX = 3.4028234663852886e38;
const TWO_32 = 4294967296;
const SINT64_EXACT = 2 ** 52;
/** FeatureSet.FieldPresence.IMPLICIT / LEGACY_REQUIRED (descriptor values). */
const PRESENCE_IMPLICIT = 2;
const PRESENCE_LEGACY_REQUIRED = 3;
const MAX_DEPTH = 32;
/** Frames of up to a quarter of this share one allocation. */
const SLAB_BYTES = 256 * 1024;

const enum Kind {
  Scalar = 0,
  Enum = 1,
  Message = 2,
  ScalarList = 3,
  EnumList = 4,
  MessageList = 5,
  /** Present in the JSON → give up (maps, oneof members, well-known types, groups). */
  Unsupported = 6,
}

class FieldPlan {
  /** The tag of one value (for packed lists: the tag of the packed run). */
  readonly tag: number;
  readonly tagSize: number;
  message: MessagePlan | null = null;

  constructor(
    readonly kind: Kind,
    readonly jsonName: string,
    readonly protoName: string,
    readonly scalar: ScalarType,
    /** Singular field whose zero value is not written. */
    readonly implicit: boolean,
    readonly packed: boolean,
    number: number,
    readonly enumByName: ReadonlyMap<string, number> | null,
    readonly enumNumbers: ReadonlySet<number> | null,
  ) {
    const wire = packed || kind === Kind.Message || kind === Kind.MessageList ? Wire.LengthDelimited : wireOf(scalar);
    this.tag = ((number << 3) | wire) >>> 0;
    this.tagSize = varint32Size(this.tag);
  }
}

class MessagePlan {
  /** In field-number order (the order toBinary writes). */
  fields: readonly FieldPlan[] = [];
}

/** Size of a non-negative integer < 2^64 held exactly in a double (or of a negative int as 10 bytes). */
function varintSizeOf(v: number): number {
  if (v < 0) return 10;
  if (v <= UINT32_MAX) return varint32Size(v);
  let n = 5;
  let x = Math.floor(v / 0x800000000); // v >> 35
  while (x > 0) {
    n++;
    x = Math.floor(x / 128);
  }
  return n;
}

/** Decoded length of plain base64 (standard or URL-safe, optional padding); -1 when not plain. */
function base64Length(s: string): number {
  let n = s.length;
  let pad = 0;
  while (pad < 2 && n > 0 && s.charCodeAt(n - 1) === 0x3d) {
    n--;
    pad++;
  }
  if (n % 4 === 1 || (pad > 0 && (n + pad) % 4 !== 0)) return -1;
  return Math.floor((n * 3) / 4);
}

/** The compiled encoder of one request message type. */
export class FastRequestEncoder {
  private readonly root: MessagePlan;
  /** Lengths of length-delimited values, in traversal order (size pass → write pass). */
  private lens: number[] = [];
  private li = 0;
  /** Where frames are cut from (see `take`). */
  private slab: Buffer | null = null;
  private slabOffset = 0;

  private constructor(root: MessagePlan) {
    this.root = root;
  }

  /** The encoder of `message`, or null when the type itself cannot be encoded this way (required fields, groups). */
  static compile(message: DescMessage): FastRequestEncoder | null {
    const plans = new Map<DescMessage, MessagePlan>();
    const root = planMessage(message, plans, 0);
    return root === null ? null : new FastRequestEncoder(root);
  }

  /**
   * `json` (a ProtoJSON object tree, not modified) as one uncompressed gRPC frame, or null when it
   * has anything this encoder does not handle (see the file comment): the caller then encodes it
   * the reflective way.
   */
  encodeFrame(json: Record<string, unknown>): Buffer | null {
    this.lens.length = 0;
    const size = this.sizeMessage(this.root, json, 0);
    if (size < 0 || size > UINT32_MAX) return null;
    const buf = this.take(FRAME_HEADER + size);
    buf[0] = 0;
    buf.writeUInt32BE(size, 1);
    this.li = 0;
    const end = this.writeMessage(this.root, json, buf, FRAME_HEADER);
    this.lens.length = 0;
    return end === FRAME_HEADER + size ? buf : null;
  }

  /**
   * `n` uninitialised bytes carved from this encoder's slab (a fresh ArrayBuffer per frame costs
   * more than the encoding of a 10 KiB message); frames larger than a quarter slab get their own.
   * A slab lives until every frame cut from it is garbage, as with Node's own Buffer pool.
   */
  private take(n: number): Buffer {
    if (n > SLAB_BYTES >>> 2) return Buffer.allocUnsafeSlow(n);
    let slab = this.slab;
    let off = this.slabOffset;
    if (slab === null || off + n > slab.length) {
      slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.slab = slab;
      off = 0;
    }
    // 8-byte aligned starts, as Node's pool.
    this.slabOffset = (off + n + 7) & ~7;
    return slab.subarray(off, off + n);
  }

  // ------------------------------------------------------------------ size pass (validates)

  private sizeMessage(plan: MessagePlan, obj: Record<string, unknown>, depth: number): number {
    if (depth > MAX_DEPTH) return -1;
    const fields = plan.fields;
    let size = 0;
    let matched = 0;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (f.kind === Kind.Unsupported) {
        if (hasOwn(obj, f.jsonName) || hasOwn(obj, f.protoName)) return -1;
        continue;
      }
      let v = obj[f.jsonName];
      if (f.protoName !== f.jsonName) {
        const p = obj[f.protoName];
        if (p !== undefined) {
          if (v !== undefined) return -1; // both spellings: the reflective path decides
          v = p;
        }
      }
      if (v === undefined) continue;
      matched++;
      const s = this.sizeField(f, v, depth);
      if (s < 0) return -1;
      size += s;
    }
    // An unknown key (or one this plan does not know) → reflective path.
    let keys = 0;
    for (const k in obj) {
      if (hasOwn(obj, k)) keys++;
    }
    return keys === matched ? size : -1;
  }

  private sizeField(f: FieldPlan, v: unknown, depth: number): number {
    switch (f.kind) {
      case Kind.Scalar: {
        if (f.implicit && isZero(f.scalar, v)) return validScalar(f.scalar, v) ? 0 : -1;
        const s = this.sizeScalar(f.scalar, v);
        return s < 0 ? -1 : f.tagSize + s;
      }
      case Kind.Enum: {
        const n = enumNumber(f, v);
        if (n === null) return -1;
        if (f.implicit && n === 0) return 0;
        return f.tagSize + (n < 0 ? 10 : varint32Size(n));
      }
      case Kind.Message: {
        if (!isObject(v)) return -1;
        const slot = this.lens.length;
        this.lens.push(0);
        const s = this.sizeMessage(f.message!, v, depth + 1);
        if (s < 0) return -1;
        this.lens[slot] = s;
        return f.tagSize + varint32Size(s) + s;
      }
      case Kind.MessageList: {
        if (!Array.isArray(v)) return -1;
        let total = 0;
        for (let i = 0; i < v.length; i++) {
          const e: unknown = v[i];
          if (!isObject(e)) return -1;
          const slot = this.lens.length;
          this.lens.push(0);
          const s = this.sizeMessage(f.message!, e, depth + 1);
          if (s < 0) return -1;
          this.lens[slot] = s;
          total += f.tagSize + varint32Size(s) + s;
        }
        return total;
      }
      case Kind.ScalarList:
      case Kind.EnumList: {
        if (!Array.isArray(v)) return -1;
        if (f.packed) {
          if (v.length === 0) return 0;
          const slot = this.lens.length;
          this.lens.push(0);
          let payload = 0;
          for (let i = 0; i < v.length; i++) {
            const s = f.kind === Kind.EnumList ? enumSize(f, v[i]) : this.sizeScalar(f.scalar, v[i]);
            if (s < 0) return -1;
            payload += s;
          }
          this.lens[slot] = payload;
          return f.tagSize + varint32Size(payload) + payload;
        }
        let total = 0;
        for (let i = 0; i < v.length; i++) {
          const s = f.kind === Kind.EnumList ? enumSize(f, v[i]) : this.sizeScalar(f.scalar, v[i]);
          if (s < 0) return -1;
          total += f.tagSize + s;
        }
        return total;
      }
      default:
        return -1;
    }
  }

  /** Encoded size of one scalar value without its tag; -1 when not handled. Pushes string/bytes lengths. */
  private sizeScalar(t: ScalarType, v: unknown): number {
    switch (t) {
      case ScalarType.STRING: {
        if (typeof v !== 'string' || !isWellFormed(v)) return -1;
        const n = Buffer.byteLength(v, 'utf8');
        this.lens.push(n);
        return varint32Size(n) + n;
      }
      case ScalarType.BYTES: {
        if (typeof v !== 'string') return -1;
        const n = base64Length(v);
        if (n < 0) return -1;
        this.lens.push(n);
        return varint32Size(n) + n;
      }
      default:
        return validScalar(t, v) ? numericSize(t, v as number | boolean) : -1;
    }
  }

  // ------------------------------------------------------------------ write pass

  private writeMessage(plan: MessagePlan, obj: Record<string, unknown>, buf: Buffer, pos: number): number {
    const fields = plan.fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      let v = obj[f.jsonName];
      if (f.kind === Kind.Unsupported) continue;
      if (v === undefined && f.protoName !== f.jsonName) v = obj[f.protoName];
      if (v === undefined) continue;
      pos = this.writeField(f, v, buf, pos);
      if (pos < 0) return -1;
    }
    return pos;
  }

  private writeField(f: FieldPlan, v: unknown, buf: Buffer, pos: number): number {
    switch (f.kind) {
      case Kind.Scalar:
        if (f.implicit && isZero(f.scalar, v)) return pos;
        pos = writeVarint32(buf, pos, f.tag);
        return this.writeScalar(f.scalar, v, buf, pos);
      case Kind.Enum: {
        const n = enumNumber(f, v)!;
        if (f.implicit && n === 0) return pos;
        pos = writeVarint32(buf, pos, f.tag);
        return writeInt32Varint(buf, pos, n);
      }
      case Kind.Message: {
        pos = writeVarint32(buf, pos, f.tag);
        pos = writeVarint32(buf, pos, this.lens[this.li++]!);
        return this.writeMessage(f.message!, v as Record<string, unknown>, buf, pos);
      }
      case Kind.MessageList: {
        const list = v as unknown[];
        for (let i = 0; i < list.length; i++) {
          pos = writeVarint32(buf, pos, f.tag);
          pos = writeVarint32(buf, pos, this.lens[this.li++]!);
          pos = this.writeMessage(f.message!, list[i] as Record<string, unknown>, buf, pos);
          if (pos < 0) return -1;
        }
        return pos;
      }
      case Kind.ScalarList:
      case Kind.EnumList: {
        const list = v as unknown[];
        if (f.packed) {
          if (list.length === 0) return pos;
          pos = writeVarint32(buf, pos, f.tag);
          pos = writeVarint32(buf, pos, this.lens[this.li++]!);
          for (let i = 0; i < list.length; i++) {
            pos = f.kind === Kind.EnumList ? writeInt32Varint(buf, pos, enumNumber(f, list[i])!) : this.writeScalar(f.scalar, list[i], buf, pos);
            if (pos < 0) return -1;
          }
          return pos;
        }
        for (let i = 0; i < list.length; i++) {
          pos = writeVarint32(buf, pos, f.tag);
          pos = f.kind === Kind.EnumList ? writeInt32Varint(buf, pos, enumNumber(f, list[i])!) : this.writeScalar(f.scalar, list[i], buf, pos);
          if (pos < 0) return -1;
        }
        return pos;
      }
      default:
        return -1;
    }
  }

  private writeScalar(t: ScalarType, v: unknown, buf: Buffer, pos: number): number {
    switch (t) {
      case ScalarType.STRING: {
        const n = this.lens[this.li++]!;
        pos = writeVarint32(buf, pos, n);
        return pos + buf.write(v as string, pos, n, 'utf8');
      }
      case ScalarType.BYTES: {
        const n = this.lens[this.li++]!;
        pos = writeVarint32(buf, pos, n);
        if (n === 0) return (v as string).length === 0 ? pos : -1;
        // Node's decoder skips characters outside the alphabet: a short write means malformed input.
        const w = buf.write(v as string, pos, n, 'base64');
        return w === n ? pos + n : -1;
      }
      case ScalarType.BOOL:
        buf[pos] = v === true ? 1 : 0;
        return pos + 1;
      case ScalarType.DOUBLE:
        buf.writeDoubleLE(v as number, pos);
        return pos + 8;
      case ScalarType.FLOAT:
        buf.writeFloatLE(v as number, pos);
        return pos + 4;
      case ScalarType.FIXED32:
        buf.writeUInt32LE(v as number, pos);
        return pos + 4;
      case ScalarType.SFIXED32:
        buf.writeInt32LE(v as number, pos);
        return pos + 4;
      case ScalarType.INT32:
        return writeInt32Varint(buf, pos, v as number);
      case ScalarType.UINT32:
        return writeVarint32(buf, pos, v as number);
      case ScalarType.SINT32: {
        const n = v as number;
        return writeVarint32(buf, pos, ((n << 1) ^ (n >> 31)) >>> 0);
      }
      case ScalarType.INT64:
      case ScalarType.UINT64:
        return writeVarint64(buf, pos, v as number);
      case ScalarType.SINT64: {
        const n = v as number;
        return writeVarint64(buf, pos, n >= 0 ? n * 2 : -n * 2 - 1);
      }
      case ScalarType.FIXED64:
      case ScalarType.SFIXED64: {
        const n = v as number;
        buf.writeUInt32LE(n >>> 0, pos);
        buf.writeUInt32LE(Math.floor(n / TWO_32) >>> 0, pos + 4);
        return pos + 8;
      }
      default:
        return -1;
    }
  }
}

/** String.prototype.isWellFormed (Node 20; not in the ES2022 lib): no lone surrogates, as the reflective path's UTF-8 check. */
function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

function hasOwn(obj: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, k);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A numeric/bool value the reflective path accepts as given (JSON numbers / booleans only). */
function validScalar(t: ScalarType, v: unknown): boolean {
  switch (t) {
    case ScalarType.STRING:
      return typeof v === 'string' && isWellFormed(v);
    case ScalarType.BYTES:
      return typeof v === 'string' && base64Length(v) >= 0;
    case ScalarType.BOOL:
      return typeof v === 'boolean';
    case ScalarType.DOUBLE:
      return typeof v === 'number' && Number.isFinite(v);
    case ScalarType.FLOAT:
      return typeof v === 'number' && Number.isFinite(v) && v <= FLOAT32_MAX && v >= -FLOAT32_MAX;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= UINT32_MAX;
    case ScalarType.INT64:
    case ScalarType.SFIXED64:
      return typeof v === 'number' && Number.isSafeInteger(v);
    case ScalarType.SINT64:
      // Zigzag doubles the magnitude: exact in a double only up to 2^52.
      return typeof v === 'number' && Number.isSafeInteger(v) && v <= SINT64_EXACT && v >= -SINT64_EXACT;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    default:
      return false;
  }
}

/** The zero value of an implicit-presence field (not written); only meaningful for valid values. */
function isZero(t: ScalarType, v: unknown): boolean {
  switch (t) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return v === '';
    case ScalarType.BOOL:
      return v === false;
    default:
      return v === 0;
  }
}

/** Size without tag of a validated numeric / bool value. */
function numericSize(t: ScalarType, v: number | boolean): number {
  switch (t) {
    case ScalarType.BOOL: return 1;
    case ScalarType.DOUBLE: case ScalarType.FIXED64: case ScalarType.SFIXED64: return 8;
    case ScalarType.FLOAT: case ScalarType.FIXED32: case ScalarType.SFIXED32: return 4;
    case ScalarType.INT32: return (v as number) < 0 ? 10 : varint32Size(v as number);
    case ScalarType.UINT32: return varint32Size(v as number);
    case ScalarType.SINT32: { const n = v as number; return varint32Size(((n << 1) ^ (n >> 31)) >>> 0); }
    case ScalarType.INT64: case ScalarType.UINT64: return varintSizeOf(v as number);
    case ScalarType.SINT64: { const n = v as number; return varintSizeOf(n >= 0 ? n * 2 : -n * 2 - 1); }
    default: return -1;
  }
}

/** The enum number of a JSON value (a known name, or a known number); null otherwise. */
function enumNumber(f: FieldPlan, v: unknown): number | null {
  if (typeof v === 'string') {
    const n = f.enumByName!.get(v);
    return n === undefined ? null : n;
  }
  if (typeof v === 'number' && f.enumNumbers!.has(v)) return v;
  return null;
}

function enumSize(f: FieldPlan, v: unknown): number {
  const n = enumNumber(f, v);
  if (n === null) return -1;
  return n < 0 ? 10 : varint32Size(n);
}

/** int32 as varint: negative values sign-extended to 64 bits (10 bytes). */
function writeInt32Varint(buf: Buffer, pos: number, v: number): number {
  if (v >= 0) return writeVarint32(buf, pos, v);
  return writeVarint64(buf, pos, v);
}

/** A safe integer (negative: two's complement 64-bit) as varint. */
function writeVarint64(buf: Buffer, pos: number, v: number): number {
  let lo = v >>> 0;
  let hi = Math.floor(v / TWO_32) >>> 0;
  while (hi > 0 || lo > 0x7f) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}

function planMessage(message: DescMessage, plans: Map<DescMessage, MessagePlan>, depth: number): MessagePlan | null {
  const known = plans.get(message);
  if (known !== undefined) return known;
  if (depth > MAX_DEPTH) return null;
  // Required fields (proto2) make the reflective encoder check presence: not handled here.
  for (const f of message.fields) if (f.presence === PRESENCE_LEGACY_REQUIRED) return null;
  const plan = new MessagePlan();
  plans.set(message, plan);
  const out: FieldPlan[] = [];
  const sorted = [...message.fields].sort((a, b) => a.number - b.number);
  for (let i = 0; i < sorted.length; i++) out.push(planField(sorted[i]!, plans, depth));
  plan.fields = out;
  return plan;
}

function unsupported(f: DescField): FieldPlan {
  return new FieldPlan(Kind.Unsupported, f.jsonName, f.name, ScalarType.INT32, false, false, f.number, null, null);
}

function enumMaps(f: DescField): [Map<string, number>, Set<number>] {
  const e = f.enum!;
  const byName = new Map<string, number>();
  const numbers = new Set<number>();
  for (const v of e.values) {
    byName.set(v.name, v.number);
    numbers.add(v.number);
  }
  return [byName, numbers];
}

function planField(f: DescField, plans: Map<DescMessage, MessagePlan>, depth: number): FieldPlan {
  // A name Object.prototype also has (`constructor`, `__proto__`, …) is not read by plain lookup.
  if (f.oneof !== undefined || f.name in Object.prototype || f.jsonName in Object.prototype) return unsupported(f);
  const implicit = f.presence === PRESENCE_IMPLICIT;
  switch (f.fieldKind) {
    case 'scalar':
      return new FieldPlan(Kind.Scalar, f.jsonName, f.name, f.scalar, implicit, false, f.number, null, null);
    case 'enum': {
      if (f.enum.typeName === 'google.protobuf.NullValue') return unsupported(f);
      const [byName, numbers] = enumMaps(f);
      return new FieldPlan(Kind.Enum, f.jsonName, f.name, ScalarType.INT32, implicit, false, f.number, byName, numbers);
    }
    case 'message': {
      if (f.delimitedEncoding || f.message.typeName.startsWith('google.protobuf.')) return unsupported(f);
      const sub = planMessage(f.message, plans, depth + 1);
      if (sub === null) return unsupported(f);
      const p = new FieldPlan(Kind.Message, f.jsonName, f.name, ScalarType.INT32, false, false, f.number, null, null);
      p.message = sub;
      return p;
    }
    case 'list': {
      if (f.listKind === 'scalar') {
        const packed = f.packed && wireOf(f.scalar) !== Wire.LengthDelimited;
        return new FieldPlan(Kind.ScalarList, f.jsonName, f.name, f.scalar, false, packed, f.number, null, null);
      }
      if (f.listKind === 'enum') {
        if (f.enum.typeName === 'google.protobuf.NullValue') return unsupported(f);
        const [byName, numbers] = enumMaps(f);
        return new FieldPlan(Kind.EnumList, f.jsonName, f.name, ScalarType.INT32, false, f.packed, f.number, byName, numbers);
      }
      if (f.delimitedEncoding || f.message.typeName.startsWith('google.protobuf.')) return unsupported(f);
      const sub = planMessage(f.message, plans, depth + 1);
      if (sub === null) return unsupported(f);
      const p = new FieldPlan(Kind.MessageList, f.jsonName, f.name, ScalarType.INT32, false, false, f.number, null, null);
      p.message = sub;
      return p;
    }
    default:
      return unsupported(f);
  }
}
