/**
 * A response printer compiled at config time for flat message types (only singular scalar and enum
 * fields, no oneofs): it reads the binary message and writes its ProtoJSON text directly, instead of
 * @bufbuild/protobuf's `fromBinary` → `toJsonString`. The output is the same text (fields in number
 * order, JSON or proto field names, implicit zero values omitted unless `alwaysEmitImplicit`, 64-bit
 * integers as strings, bytes as padded standard base64, enums by name unless `enumAsInteger` or
 * unknown, non-finite floats as "NaN"/"Infinity"/"-Infinity"). It gives up (null) on anything it
 * does not read the same way — an unknown field number (it may be an extension), a wire type that
 * does not match, a truncated or over-long value, a 64-bit value beyond 2^53 — and the caller takes
 * the reflective path, which prints or rejects the message as before. Checked against the
 * reflective printer by tests.
 */
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { Wire, wireOf } from '../scalar-wire';

const PRESENCE_IMPLICIT = 2;
const TWO_32 = 4294967296;
/** hi word bound for a 64-bit value below 2^53. */
const HI_SAFE = 0x200000;

/** What the printer needs from the transcoder's write options. */
export interface PrintOptions {
  readonly alwaysEmitImplicit: boolean;
  readonly enumAsInteger: boolean;
  readonly useProtoFieldName: boolean;
}

interface FieldPrinter {
  /** Position in `fields` (number order). */
  index: number;
  readonly number: number;
  readonly wire: Wire;
  readonly scalar: ScalarType;
  /** `"name":` (already JSON-quoted). */
  readonly key: string;
  readonly implicit: boolean;
  /** Enum value names by number (enum fields only). */
  readonly enumNames: ReadonlyMap<number, string> | null;
  /** The JSON text of the zero value (printed with alwaysEmitImplicit). */
  readonly zeroJson: string;
}

/** The compiled printer of one flat response type. */
export class FastResponsePrinter {
  private readonly byNumber: (FieldPrinter | undefined)[];
  /** Values of the message being printed, by field index (reset per call; not re-entrant). */
  private readonly values: (string | null)[];
  private readonly utf8 = new TextDecoder('utf-8');
  private pos = 0;
  private lo = 0;
  private hi = 0;

  private constructor(private readonly fields: readonly FieldPrinter[], private readonly emitImplicit: boolean) {
    let max = 0;
    for (const f of fields) if (f.number > max) max = f.number;
    this.byNumber = new Array<FieldPrinter | undefined>(max + 1).fill(undefined);
    for (let i = 0; i < fields.length; i++) this.byNumber[fields[i]!.number] = fields[i];
    this.values = new Array<string | null>(fields.length).fill(null);
  }

  /** The printer of `message`, or null when it is not flat (messages, lists, maps, oneofs, groups, well-known types). */
  static compile(message: DescMessage, opts: PrintOptions): FastResponsePrinter | null {
    if (message.typeName.startsWith('google.protobuf.') || message.fields.length === 0) return null;
    const sorted = [...message.fields].sort((a, b) => a.number - b.number);
    if (sorted[sorted.length - 1]!.number > 4096) return null;
    const out: FieldPrinter[] = [];
    for (const f of sorted) {
      const p = fieldPrinter(f, opts);
      if (p === null) return null;
      p.index = out.length;
      out.push(p);
    }
    return new FastResponsePrinter(out, opts.alwaysEmitImplicit);
  }

  /** The ProtoJSON text of `bytes`, or null to take the reflective path (see the file comment). */
  print(bytes: Uint8Array): string | null {
    const values = this.values;
    for (let i = 0; i < values.length; i++) values[i] = null;
    const ok = this.read(bytes);
    let out = '{';
    if (ok) {
      const fields = this.fields;
      for (let i = 0; i < fields.length; i++) {
        const f = fields[i]!;
        let v = values[i]!;
        if (v === null) {
          if (!f.implicit || !this.emitImplicit) continue;
          v = f.zeroJson;
        } else if (f.implicit && v === f.zeroJson && !this.emitImplicit) {
          continue;
        }
        out += out.length === 1 ? f.key + v : ',' + f.key + v;
      }
    }
    for (let i = 0; i < values.length; i++) values[i] = null;
    return ok ? out + '}' : null;
  }

  private read(b: Uint8Array): boolean {
    this.pos = 0;
    const end = b.length;
    const byNumber = this.byNumber;
    while (this.pos < end) {
      if (!this.varint(b)) return false;
      if (this.hi !== 0) return false;
      const tag = this.lo;
      const no = tag >>> 3;
      const f = no < byNumber.length ? byNumber[no] : undefined;
      if (f === undefined || (tag & 7) !== f.wire) return false;
      const v = this.value(b, f);
      if (v === null) return false;
      this.values[f.index] = v;
    }
    return this.pos === end;
  }

  /** One value's JSON text; null when unreadable or not handled. */
  private value(b: Uint8Array, f: FieldPrinter): string | null {
    switch (f.wire) {
      case Wire.Varint: {
        if (!this.varint(b)) return null;
        const lo = this.lo;
        const hi = this.hi;
        switch (f.scalar) {
          case ScalarType.BOOL: return lo !== 0 || hi !== 0 ? 'true' : 'false';
          case ScalarType.INT32: {
            const n = lo | 0;
            if (f.enumNames !== null) {
              const name = f.enumNames.get(n);
              return name === undefined ? String(n) : name;
            }
            return String(n);
          }
          case ScalarType.UINT32: return String(lo >>> 0);
          case ScalarType.SINT32: return String((lo >>> 1) ^ -(lo & 1));
          case ScalarType.UINT64:
          case ScalarType.INT64:
            if (hi >= HI_SAFE) return null;
            return '"' + String(hi * TWO_32 + lo) + '"';
          case ScalarType.SINT64: {
            if (hi >= HI_SAFE) return null;
            const z = hi * TWO_32 + lo;
            return '"' + String(z % 2 === 0 ? z / 2 : -(z + 1) / 2) + '"';
          }
          default: return null;
        }
      }
      case Wire.Fixed32: {
        if (this.pos + 4 > b.length) return null;
        const p = this.pos;
        this.pos += 4;
        const u = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
        switch (f.scalar) {
          case ScalarType.FIXED32: return String(u);
          case ScalarType.SFIXED32: return String(u | 0);
          case ScalarType.FLOAT: return floatJson(new DataView(b.buffer, b.byteOffset + p, 4).getFloat32(0, true));
          default: return null;
        }
      }
      case Wire.Fixed64: {
        if (this.pos + 8 > b.length) return null;
        const p = this.pos;
        this.pos += 8;
        if (f.scalar === ScalarType.DOUBLE) return floatJson(new DataView(b.buffer, b.byteOffset + p, 8).getFloat64(0, true));
        const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
        const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
        if (hi >= HI_SAFE) return null;
        return '"' + String(hi * TWO_32 + lo) + '"';
      }
      case Wire.LengthDelimited: {
        if (!this.varint(b) || this.hi !== 0) return null;
        const n = this.lo;
        const p = this.pos;
        if (p + n > b.length) return null;
        this.pos = p + n;
        const slice = b.subarray(p, p + n);
        if (f.scalar === ScalarType.STRING) return JSON.stringify(this.utf8.decode(slice));
        return '"' + Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength).toString('base64') + '"';
      }
      default:
        return null;
    }
  }

  /** Reads a varint (at most 10 bytes) into lo/hi; false when truncated or too long. */
  private varint(b: Uint8Array): boolean {
    let lo = 0;
    let hi = 0;
    let p = this.pos;
    for (let shift = 0; shift < 28; shift += 7) {
      if (p >= b.length) return false;
      const x = b[p++]!;
      lo |= (x & 0x7f) << shift;
      if (x < 0x80) {
        this.pos = p;
        this.lo = lo >>> 0;
        this.hi = 0;
        return true;
      }
    }
    if (p >= b.length) return false;
    let x = b[p++]!;
    lo |= (x & 0x0f) << 28;
    hi = (x & 0x7f) >> 4;
    if (x >= 0x80) {
      for (let shift = 3; shift < 32; shift += 7) {
        if (p >= b.length) return false;
        x = b[p++]!;
        hi |= (x & 0x7f) << shift;
        if (x < 0x80) break;
        if (shift + 7 >= 32) return false;
      }
    }
    this.pos = p;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return true;
  }
}

function floatJson(v: number): string {
  if (v !== v) return '"NaN"';
  if (v === Infinity) return '"Infinity"';
  if (v === -Infinity) return '"-Infinity"';
  return JSON.stringify(v);
}

function fieldPrinter(f: DescField, opts: PrintOptions): FieldPrinter | null {
  if (f.oneof !== undefined) return null;
  if (f.presence !== PRESENCE_IMPLICIT && f.presence !== 1 /* EXPLICIT */) return null;
  const key = JSON.stringify(opts.useProtoFieldName ? f.name : f.jsonName) + ':';
  const implicit = f.presence === PRESENCE_IMPLICIT;
  if (f.fieldKind === 'scalar') {
    const t = f.scalar;
    let zeroJson: string;
    switch (t) {
      case ScalarType.STRING: case ScalarType.BYTES: zeroJson = '""'; break;
      case ScalarType.BOOL: zeroJson = 'false'; break;
      case ScalarType.INT64: case ScalarType.UINT64: case ScalarType.SINT64: case ScalarType.FIXED64: case ScalarType.SFIXED64: zeroJson = '"0"'; break;
      default: zeroJson = '0';
    }
    return { index: 0, number: f.number, wire: wireOf(t), scalar: t, key, implicit, enumNames: null, zeroJson };
  }
  if (f.fieldKind === 'enum') {
    if (f.enum.typeName === 'google.protobuf.NullValue') return null;
    // Aliased numbers (allow_alias): which name prints is the reflective printer's business.
    if (new Set(f.enum.values.map((v) => v.number)).size !== f.enum.values.length) return null;
    let enumNames: Map<number, string> | null = null;
    if (!opts.enumAsInteger) {
      enumNames = new Map();
      for (const v of f.enum.values) enumNames.set(v.number, JSON.stringify(v.name));
    }
    const zero = enumNames === null ? undefined : enumNames.get(0);
    return { index: 0, number: f.number, wire: Wire.Varint, scalar: ScalarType.INT32, key, implicit, enumNames: enumNames ?? new Map(), zeroJson: zero ?? '0' };
  }
  return null;
}
