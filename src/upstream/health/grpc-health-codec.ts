/**
 * The two tiny messages of `grpc.health.v1.Health/Check`
 * (https://github.com/grpc/grpc/blob/master/doc/health-checking.md), hand-encoded so the health
 * checker needs no protobuf runtime: `HealthCheckRequest { string service = 1; }` framed as one
 * gRPC message, and `HealthCheckResponse { ServingStatus status = 1; }` decoded from a gRPC frame.
 * The request frame is built once per checker, never per check.
 */

import { varint32Size, writeVarint32 } from '../../core/varint';

/** `grpc.health.v1.HealthCheckResponse.ServingStatus`. */
export const ServingStatus = {
  UNKNOWN: 0,
  SERVING: 1,
  NOT_SERVING: 2,
  SERVICE_UNKNOWN: 3,
} as const;

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

/** One length-prefixed gRPC frame (uncompressed) carrying `HealthCheckRequest{service}`. */
export function encodeHealthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  // proto3: an empty string is the default and is not encoded.
  const lenBytes = name.length === 0 ? 0 : varint32Size(name.length);
  const msgLen = name.length === 0 ? 0 : 1 + lenBytes + name.length;
  const out = Buffer.allocUnsafe(5 + msgLen);
  out[0] = 0;
  out.writeUInt32BE(msgLen, 1);
  if (msgLen > 0) {
    let o = 5;
    out[o++] = 0x0a; // field 1, wire type 2 (length-delimited)
    o = writeVarint32(out, o, name.length);
    name.copy(out, o);
  }
  return out;
}

/**
 * Decodes the `status` of a `HealthCheckResponse` from the response body (exactly one gRPC frame).
 * Returns the ServingStatus number (UNKNOWN when the field is absent, as proto3 says), or -1 when
 * the body is not one well-formed uncompressed frame or the message is malformed. Never throws.
 */
export function decodeHealthCheckResponse(body: Buffer): number {
  if (body.length < 5 || body[0] !== 0) return -1;
  const len = body.readUInt32BE(1);
  if (body.length !== 5 + len) return -1;
  let status: number = ServingStatus.UNKNOWN;
  let o = 5;
  const end = body.length;
  while (o < end) {
    // tag
    const tag = readVarint(body, o, end);
    if (tag.next < 0) return -1;
    o = tag.next;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value & 7;
    switch (wire) {
      case 0: {
        const v = readVarint(body, o, end);
        if (v.next < 0) return -1;
        o = v.next;
        if (field === 1) status = v.value;
        break;
      }
      case 1: o += 8; break;
      case 2: {
        const l = readVarint(body, o, end);
        if (l.next < 0) return -1;
        o = l.next + l.value;
        break;
      }
      case 5: o += 4; break;
      default: return -1;
    }
    if (o > end) return -1;
  }
  return status;
}

interface Varint { value: number; next: number }

/** Reads a varint of at most 35 bits (enough for tags, lengths and enums); next = -1 on error. */
function readVarint(buf: Buffer, start: number, end: number): Varint {
  let value = 0;
  let shift = 0;
  let o = start;
  while (o < end && shift < 35) {
    const b = buf[o++];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return { value, next: o };
    shift += 7;
  }
  // Longer varints (negative int32 enums use 10 bytes): skip the rest, report an unknown value.
  while (o < end && shift < 70) {
    const b = buf[o++];
    if ((b & 0x80) === 0) return { value: -1, next: o };
    shift += 7;
  }
  return { value: 0, next: -1 };
}
