/**
 * The load process's lean DiscoveryResponse reader and ACK writer. One process plays 1,000s of
 * sidecars on the control plane's two cores, so its per-message work lands in the measured
 * latency (the last stream's ACK waits behind every other stream's decode) although real sidecars
 * decode in parallel on their own machines. proto-loader's (de)serializers convert whole messages
 * to and from objects (`toObject`/`fromObject`, Any values copied); this reads only what a SotW
 * client needs to ACK (version, type, nonce, and each resource's bytes to read its name) and
 * writes the ACK's four fields directly, already in its gRPC frame (one allocation, no copy). The
 * resources' bytes are located while reading but their views are made only when asked for (a
 * sidecar needs the names of LDS and CDS resources only). Half of the load process's CPU per round
 * went to protobufjs's Reader and Writer before. The first request of a stream (it carries the node)
 * still goes through proto-loader.
 */
import { varint32Size, writeVarint32 } from '../../src/core/varint';

// DiscoveryResponse / DiscoveryRequest / Any field numbers (envoy/service/discovery/v3/discovery.proto).
const RESP_VERSION_INFO = 1;
const RESP_RESOURCES = 2;
const RESP_TYPE_URL = 4;
const RESP_NONCE = 5;
const ANY_VALUE = 2;
const REQ_VERSION_INFO = 1;
const REQ_RESOURCE_NAMES = 3;
const REQ_TYPE_URL = 4;
const REQ_RESPONSE_NONCE = 5;
const LEN = 2;
const GRPC_HEADER = 5;

/** What an ACK needs from a DiscoveryResponse. `resources` are views of each Any's `value`. */
export interface LeanResponse {
  readonly version: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly Uint8Array[];
}

/** A cursor over protobuf wire bytes; every read checks the end. */
class Cursor {
  pos: number;
  constructor(readonly buf: Buffer, start: number, readonly end: number) {
    this.pos = start;
  }

  varint(): number {
    let out = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const b = this.buf[this.pos++]!;
      out += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return out;
    }
    throw new RangeError('varint too long');
  }

  /** The end offset of a length-delimited field whose length is next. */
  lengthDelimited(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) throw new RangeError('truncated field');
    return end;
  }

  string(): string {
    const end = this.lengthDelimited();
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === LEN) this.pos = this.lengthDelimited();
    else if (wireType === 5) this.pos += 4;
    else throw new RangeError(`unsupported wire type ${wireType}`);
    if (this.pos > this.end) throw new RangeError('truncated field');
  }
}

class Response implements LeanResponse {
  private views: Uint8Array[] | null = null;
  constructor(
    readonly version: string, readonly typeUrl: string, readonly nonce: string,
    private readonly buf: Buffer, private readonly spans: readonly number[],
  ) {}

  get resources(): readonly Uint8Array[] {
    if (this.views === null) {
      this.views = [];
      for (let i = 0; i < this.spans.length; i += 2) this.views.push(anyValue(this.buf, this.spans[i]!, this.spans[i + 1]!));
    }
    return this.views;
  }
}

/** Reads a DiscoveryResponse; fields other than the four above are skipped. Throws on malformed input. */
export function readResponse(bytes: Uint8Array): LeanResponse {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const c = new Cursor(buf, 0, buf.length);
  let version = '';
  let typeUrl = '';
  let nonce = '';
  const spans: number[] = [];
  while (c.pos < c.end) {
    const tag = c.varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire !== LEN) c.skip(wire);
    else if (field === RESP_RESOURCES) {
      const end = c.lengthDelimited();
      spans.push(c.pos, end);
      c.pos = end;
    } else if (field === RESP_VERSION_INFO) version = c.string();
    else if (field === RESP_TYPE_URL) typeUrl = c.string();
    else if (field === RESP_NONCE) nonce = c.string();
    else c.skip(wire);
  }
  return new Response(version, typeUrl, nonce, buf, spans);
}

function anyValue(buf: Buffer, start: number, end: number): Uint8Array {
  const c = new Cursor(buf, start, end);
  let value: Uint8Array = new Uint8Array(0);
  while (c.pos < c.end) {
    const tag = c.varint();
    if (tag >>> 3 === ANY_VALUE && (tag & 7) === LEN) {
      const e = c.lengthDelimited();
      value = buf.subarray(c.pos, e);
      c.pos = e;
    } else c.skip(tag & 7);
  }
  return value;
}

/** A DiscoveryRequest without node or error_detail (an ACK or a subscription change). */
export function writeRequest(version: string, names: readonly string[], typeUrl: string, nonce: string): Uint8Array {
  return encodeRequest(0, version, names, typeUrl, nonce);
}

/** `writeRequest` inside its gRPC frame (uncompressed), ready to write to the stream. */
export function writeRequestFrame(version: string, names: readonly string[], typeUrl: string, nonce: string): Buffer {
  const out = encodeRequest(GRPC_HEADER, version, names, typeUrl, nonce);
  out[0] = 0;
  out.writeUInt32BE(out.length - GRPC_HEADER, 1);
  return out;
}

/**
 * A stream's ACK writer for one type: the resource names and the type URL (fields 3 and 4, which
 * change only when the subscription does) are encoded once; each ACK writes its version and nonce
 * around them. `frame(v, n)` equals `writeRequestFrame(v, names, typeUrl, n)`.
 */
export class AckWriter {
  private middle: Buffer;

  constructor(private readonly typeUrl: string) {
    this.middle = this.encodeMiddle([]);
  }

  /** The subscription's resource names from now on. */
  setNames(names: readonly string[]): void {
    this.middle = this.encodeMiddle(names);
  }

  frame(version: string, nonce: string): Buffer {
    const out = Buffer.allocUnsafe(GRPC_HEADER + fieldSize(version) + this.middle.length + fieldSize(nonce));
    let pos = writeField(out, GRPC_HEADER, REQ_VERSION_INFO, version);
    pos += this.middle.copy(out, pos);
    writeField(out, pos, REQ_RESPONSE_NONCE, nonce);
    out[0] = 0;
    out.writeUInt32BE(out.length - GRPC_HEADER, 1);
    return out;
  }

  private encodeMiddle(names: readonly string[]): Buffer {
    let size = fieldSize(this.typeUrl);
    for (let i = 0; i < names.length; i++) size += fieldSize(names[i]!, true);
    const out = Buffer.allocUnsafe(size);
    let pos = 0;
    for (let i = 0; i < names.length; i++) pos = writeField(out, pos, REQ_RESOURCE_NAMES, names[i]!, true);
    writeField(out, pos, REQ_TYPE_URL, this.typeUrl);
    return out;
  }
}

function encodeRequest(header: number, version: string, names: readonly string[], typeUrl: string, nonce: string): Buffer {
  let size = header + fieldSize(version) + fieldSize(typeUrl) + fieldSize(nonce);
  for (let i = 0; i < names.length; i++) size += fieldSize(names[i]!, true);
  const out = Buffer.allocUnsafe(size);
  let pos = writeField(out, header, REQ_VERSION_INFO, version);
  for (let i = 0; i < names.length; i++) pos = writeField(out, pos, REQ_RESOURCE_NAMES, names[i]!, true);
  pos = writeField(out, pos, REQ_TYPE_URL, typeUrl);
  writeField(out, pos, REQ_RESPONSE_NONCE, nonce);
  return out;
}

/** Bytes of a string field (one-byte key: field numbers are below 16); proto3 leaves '' out unless repeated. */
function fieldSize(s: string, repeated = false): number {
  if (s === '' && !repeated) return 0;
  const n = Buffer.byteLength(s, 'utf8');
  return 1 + varint32Size(n) + n;
}

function writeField(out: Buffer, pos: number, field: number, s: string, repeated = false): number {
  if (s === '' && !repeated) return pos;
  out[pos++] = (field << 3) | LEN;
  const len = Buffer.byteLength(s, 'utf8');
  pos = writeVarint32(out, pos, len);
  if (len === s.length) {
    // ASCII (byte length = UTF-16 length only when every code unit is below 0x80): a JS loop beats
    // a native call for strings this short.
    for (let i = 0; i < len; i++) out[pos + i] = s.charCodeAt(i);
    return pos + len;
  }
  return pos + out.write(s, pos, len, 'utf8');
}
