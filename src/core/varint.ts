/**
 * Protobuf base-128 varints for unsigned 32-bit values (tags, lengths), shared by the hand-written
 * encoders: the transcoder's compiled request encoder, the gRPC health check request, the
 * reflection client's request, the control plane's RouteConfiguration splicing and the xDS bench
 * client. 64-bit and signed values stay with the encoder that needs them.
 */

/** Bytes of `v` (0 ≤ v < 2^32) as a varint. */
export function varint32Size(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

/** Writes `v` (0 ≤ v < 2^32) at `pos`; returns the position after it. */
export function writeVarint32(buf: Uint8Array, pos: number, v: number): number {
  while (v > 0x7f) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** `v` (0 ≤ v < 2^32) as a varint in a Buffer of its own. */
export function encodeVarint32(v: number): Buffer {
  const out = Buffer.allocUnsafe(varint32Size(v));
  writeVarint32(out, 0, v);
  return out;
}
