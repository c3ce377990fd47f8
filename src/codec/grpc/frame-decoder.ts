/**
 * gRPC length-prefixed message framing (PROTOCOL-HTTP2.md "Length-Prefixed-Message"): a 1-byte
 * flags field (bit 0: compressed; gRPC-Web uses bit 7 for a trailer frame), a 4-byte big-endian
 * length, then the message. `GrpcFrameDecoder` reassembles frames from arbitrary chunks with a
 * bound on the message size, so a codec filter (transcoder, gRPC-Web, validation) can work
 * message by message on a streamed body; `encodeGrpcFrame` builds one frame. No protobuf decoding
 * happens here.
 */

export const GRPC_FRAME_HEADER_BYTES = 5;
/** Flag bit: the message is compressed with the stream's `grpc-encoding`. */
export const FLAG_COMPRESSED = 0x01;
/** Flag bit (gRPC-Web): the frame carries trailers, not a message. */
export const FLAG_TRAILERS = 0x80;

export interface GrpcFrame {
  readonly flags: number;
  readonly message: Buffer;
}

/** A frame whose declared length exceeds the decoder's limit. */
export class FrameTooLargeError extends Error {
  constructor(readonly length: number, readonly limit: number) {
    super(`gRPC message of ${length} bytes exceeds the limit of ${limit} bytes`);
    this.name = 'FrameTooLargeError';
  }
}

/**
 * Incremental decoder. `push(chunk)` returns the frames completed by that chunk (often none or
 * one); it throws FrameTooLargeError as soon as a header declares more than `maxMessageBytes`,
 * before buffering the message. `pending` tells whether a partial frame is buffered (at the end of
 * the body that is a truncated message).
 */
export class GrpcFrameDecoder {
  private buf: Buffer | null = null;

  constructor(private readonly maxMessageBytes: number) {}

  /** True when bytes of an incomplete frame are buffered. */
  get pending(): boolean { return this.buf !== null && this.buf.length > 0; }

  push(chunk: Buffer): GrpcFrame[] {
    const data = this.buf === null || this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: GrpcFrame[] = [];
    let off = 0;
    while (data.length - off >= GRPC_FRAME_HEADER_BYTES) {
      const flags = data[off]!;
      const len = data.readUInt32BE(off + 1);
      if (len > this.maxMessageBytes) throw new FrameTooLargeError(len, this.maxMessageBytes);
      const end = off + GRPC_FRAME_HEADER_BYTES + len;
      if (end > data.length) break;
      out.push({ flags, message: data.subarray(off + GRPC_FRAME_HEADER_BYTES, end) });
      off = end;
    }
    if (off === data.length) {
      this.buf = null;
    } else {
      // Keep only the incomplete tail (copied, so the caller's chunk can be released).
      this.buf = Buffer.from(data.subarray(off));
    }
    return out;
  }
}

/** One frame: flags, big-endian length, message. */
export function encodeGrpcFrame(message: Uint8Array, flags = 0): Buffer {
  const out = Buffer.allocUnsafe(GRPC_FRAME_HEADER_BYTES + message.length);
  out[0] = flags;
  out.writeUInt32BE(message.length, 1);
  out.set(message, GRPC_FRAME_HEADER_BYTES);
  return out;
}
