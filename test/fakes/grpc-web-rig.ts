/**
 * The gRPC-Web e2e and browser tests' listener (listener-rig.ts with the default filters), and
 * hand-encoding of the Echo message and gRPC-Web bodies for HTTP/1.1 clients.
 */
import { startListener, type RiggedListener } from './listener-rig';
import { encodeGrpcFrame, GrpcFrameDecoder, FLAG_TRAILERS } from '../../src/codec/grpc/frame-decoder';
import { parseTrailerBlock } from '../../src/filters/grpc-web/trailer-frame';

type Json = Record<string, unknown>;

/** A listener compiled from a bootstrap with the sidecar's default filters (grpc_web and cors among them). */
export class BrowserFilterListener {
  private constructor(private readonly rig: RiggedListener) {}

  /** Compiles `bootstrap` (one listener) and starts it. */
  static async start(bootstrap: Json): Promise<BrowserFilterListener> {
    return new BrowserFilterListener(await startListener(bootstrap));
  }

  get port(): number { return this.rig.port; }

  close(): Promise<void> { return this.rig.close(); }
}

// ---------------------------------------------------------------- Echo message by hand

/** remora.test.v1.EchoMessage {message = 1 (string), count = 3 (int32)} in protobuf binary. */
export function encodeEcho(message: string, count = 0): Buffer {
  const m = Buffer.from(message, 'utf8');
  const parts: number[] = [];
  if (m.length > 0) {
    parts.push(0x0a, ...varint(m.length), ...m);
  }
  if (count > 0) parts.push(0x18, ...varint(count));
  return Buffer.from(parts);
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** Decodes the fields of an EchoMessage this test uses. */
export function decodeEcho(b: Buffer): { message: string; count: number } {
  let i = 0;
  let message = '';
  let count = 0;
  const readVarint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const byte = b[i++]!;
      v |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return v;
      shift += 7;
    }
  };
  while (i < b.length) {
    const tag = readVarint();
    const field = tag >> 3;
    const wire = tag & 7;
    if (wire === 2) {
      const len = readVarint();
      if (field === 1) message = b.subarray(i, i + len).toString('utf8');
      i += len;
    } else if (wire === 0) {
      const v = readVarint();
      if (field === 3) count = v;
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
  }
  return { message, count };
}

/** A gRPC-Web response body split into messages and trailers. */
export interface GrpcWebReply {
  readonly messages: Buffer[];
  readonly trailers: Record<string, string>;
  /** Whether the trailer frame was the last frame. */
  readonly trailersLast: boolean;
}

/** Parses a binary gRPC-Web body (for -text, base64-decode first, segment by segment). */
export function parseGrpcWebBody(body: Buffer): GrpcWebReply {
  const frames = new GrpcFrameDecoder(1 << 24).push(body);
  const messages: Buffer[] = [];
  let trailers: Record<string, string> = {};
  let trailersAt = -1;
  frames.forEach((f, i) => {
    if ((f.flags & FLAG_TRAILERS) !== 0) {
      trailers = parseTrailerBlock(f.message);
      trailersAt = i;
    } else {
      messages.push(Buffer.from(f.message));
    }
  });
  return { messages, trailers, trailersLast: trailersAt === frames.length - 1 };
}

/** One request message as a gRPC-Web body (binary). */
export function grpcWebRequest(message: Buffer): Buffer {
  return encodeGrpcFrame(message);
}
