/**
 * The gRPC-Web trailer frame: gRPC's trailers carried at the end of the response body as one
 * length-prefixed frame with flag 0x80, whose payload is an HTTP/1-style header block
 * (`name: value\r\n` per trailer, lowercase names).
 * https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md "Message framing (vs. http2-transport-mapping)"
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { encodeGrpcFrame, FLAG_TRAILERS } from '../../codec/grpc/frame-decoder';

/**
 * Encodes `trailers` (pseudo-headers skipped, array values as repeated lines) as a trailer frame.
 * Values are written as given: `grpc-message` is already percent-encoded by gRPC.
 */
export function encodeTrailerFrame(trailers: OutgoingHttpHeaders): Buffer {
  let block = '';
  for (const name in trailers) {
    if (name.charCodeAt(0) === 0x3a /* : */) continue;
    const v = trailers[name];
    if (v === undefined) continue;
    const lower = name.toLowerCase();
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) block += lower + ': ' + v[i] + '\r\n';
    } else {
      block += lower + ': ' + String(v) + '\r\n';
    }
  }
  return encodeGrpcFrame(Buffer.from(block, 'latin1'), FLAG_TRAILERS);
}

/**
 * Parses a trailer frame's payload back into a header map (lowercase names; repeated names keep
 * the last value). For tests and clients; tolerant of `name:value` without a space.
 */
export function parseTrailerBlock(payload: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = Buffer.from(payload).toString('latin1').split('\r\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}
