/**
 * The per-stream half of schema validation: `ValidatingDownstream` replaces the stream's
 * `Downstream` (ctx.wrapDownstream) and delegates every response method to the one it wraps; only
 * `body` differs. That body, a `ValidatedBody` Readable, reads the original request body, splits it
 * into gRPC frames (codec/grpc/frame-decoder.ts), and pushes each frame on only after its message
 * decoded and passed validation, as the original bytes (a zero-copy view, never re-encoded). The
 * first refused message stops everything: nothing more is pushed, the rest of the client's body is
 * discarded, and the call ends with the rejection (`ctx.call.abort(err)` once the router started,
 * else a local reply). For single-request methods the filter holds the chain until the first
 * message is valid (`holding`), so an invalid unary request never opens an upstream stream.
 * Compressed frames (flag 1) are inflated with the request's `grpc-encoding` (gzip, deflate) to be
 * validated, and forwarded compressed; any other encoding is refused.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { Readable, type Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import { InternalProxyError, InvalidArgumentError, PayloadTooLargeError, type ProxyError } from '../../core/errors';
import type { SyntheticResponse } from '../../core/status';
import { FLAG_COMPRESSED, FrameTooLargeError, GRPC_FRAME_HEADER_BYTES, GrpcFrameDecoder, encodeGrpcFrame, type GrpcFrame } from '../../codec/grpc/frame-decoder';
import type { MethodValidator, MessageRejection } from '../../codec/validate/message-validator';
import { sendLocalReply } from '../local-reply';
import type { Downstream, StreamContext } from '../stream-context';

/** The request's `grpc-encoding`, as a small code. */
export const enum MessageEncoding { Identity = 0, Gzip = 1, Deflate = 2, Unsupported = 3 }

/** Parses a `grpc-encoding` header value. */
export function messageEncoding(value: string | string[] | undefined): MessageEncoding {
  if (value === undefined) return MessageEncoding.Identity;
  const v = (Array.isArray(value) ? value[0] ?? '' : value).trim().toLowerCase();
  if (v === '' || v === 'identity') return MessageEncoding.Identity;
  if (v === 'gzip') return MessageEncoding.Gzip;
  if (v === 'deflate') return MessageEncoding.Deflate;
  return MessageEncoding.Unsupported;
}

/** Where a refused message is counted (pre-bound metric children of the factory). */
export interface ValidationCounters {
  countValid(): void;
  countRejected(reason: MessageRejection['reason'] | 'decode'): void;
}

const kBody = Symbol('remora.validatedBody');
type WithBody = Readable & { [kBody]?: ValidatedBody };

export class ValidatedBody extends Readable {
  private readonly decoder: GrpcFrameDecoder;
  /** True while the filter chain waits for the first valid message (single-request methods). */
  holding = false;
  private failed = false;
  private sourcePaused = false;
  private sourceEnded = false;

  constructor(
    private readonly source: Readable,
    private readonly ctx: StreamContext,
    private readonly validator: MethodValidator,
    private readonly counters: ValidationCounters,
    private readonly encoding: MessageEncoding,
    private readonly maxMessageBytes: number,
  ) {
    super();
    this.decoder = new GrpcFrameDecoder(maxMessageBytes);
  }

  /** Starts reading the original body (once, from the filter). */
  start(): void {
    const src = this.source as WithBody;
    src[kBody] = this;
    src.on('data', onSourceData);
    src.on('end', onSourceEnd);
  }

  override _read(): void {
    if (this.sourcePaused && !this.failed) {
      this.sourcePaused = false;
      this.source.resume();
    }
  }

  /** @internal A chunk of the original body. */
  handleData(chunk: Buffer): void {
    if (this.failed) return;
    let frames: GrpcFrame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      if (err instanceof FrameTooLargeError) this.fail(new PayloadTooLargeError(`gRPC message of ${err.length} bytes`), 'decode');
      else this.fail(new InternalProxyError(err), 'decode');
      return;
    }
    let more = true;
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      if (!this.check(frame)) return;
      this.counters.countValid();
      more = this.push(originalFrameBytes(frame));
      if (this.holding) {
        this.holding = false;
        this.ctx.continueChain();
        if (this.failed) return;
      }
    }
    if (!more && !this.sourceEnded) {
      this.sourcePaused = true;
      this.source.pause();
    }
  }

  /** @internal The original body ended. */
  handleEnd(): void {
    this.sourceEnded = true;
    if (this.failed) return;
    if (this.decoder.pending) {
      const m = 'request body ends inside a gRPC message';
      this.fail(new InvalidArgumentError(m, null), 'decode');
      return;
    }
    this.push(null);
    if (this.holding) {
      // No message at all: let the upstream answer as it would without the filter.
      this.holding = false;
      this.ctx.continueChain();
    }
  }

  /** Validates one frame's message: true when it may be forwarded, else the stream has failed. */
  private check(frame: GrpcFrame): boolean {
    let message: Buffer = frame.message;
    if ((frame.flags & FLAG_COMPRESSED) !== 0) {
      const inflated = this.inflate(message);
      if (inflated === null) return false;
      message = inflated;
    }
    const rejection = this.validator.check(message);
    if (rejection === null) return true;
    this.fail(rejection.reason === 'error'
      ? new InternalProxyError(rejection.message)
      : new InvalidArgumentError(rejection.message, rejection.details), rejection.reason);
    return false;
  }

  private inflate(message: Buffer): Buffer | null {
    const enc = this.encoding;
    if (enc !== MessageEncoding.Gzip && enc !== MessageEncoding.Deflate) {
      const m = enc === MessageEncoding.Identity ? 'compressed gRPC message without grpc-encoding' : 'unsupported grpc-encoding for a validated method';
      this.fail(new InvalidArgumentError(m, null), 'decode');
      return null;
    }
    try {
      const opts = { maxOutputLength: this.maxMessageBytes };
      return enc === MessageEncoding.Gzip ? zlib.gunzipSync(message, opts) : zlib.inflateSync(message, opts);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        this.fail(new PayloadTooLargeError('decompressed gRPC message'), 'decode');
      } else {
        this.fail(new InvalidArgumentError('compressed gRPC message does not inflate', null), 'decode');
      }
      return null;
    }
  }

  /**
   * Ends the call with `err`: stops reading (the rest of the client's body is discarded), counts the
   * refusal, and replies (through the router's call when it started, so the upstream is cancelled).
   */
  private fail(err: ProxyError, reason: MessageRejection['reason']): void {
    if (this.failed) return;
    this.failed = true;
    this.holding = false;
    this.counters.countRejected(reason);
    const src = this.source as WithBody;
    src.off('data', onSourceData);
    src.off('end', onSourceEnd);
    src[kBody] = undefined;
    if (!this.sourceEnded) src.resume();
    const call = this.ctx.call;
    if (call !== null) call.abort(err);
    else sendLocalReply(this.ctx, err);
  }
}

/**
 * The frame as received: a view of the decoder's buffer spanning header and message (the decoder
 * returns messages as subarrays right after their header). Falls back to re-framing the message
 * bytes (unchanged) if that layout ever differs.
 */
function originalFrameBytes(frame: GrpcFrame): Buffer {
  const m = frame.message;
  const start = m.byteOffset - GRPC_FRAME_HEADER_BYTES;
  if (start >= 0) {
    const view = Buffer.from(m.buffer, start, m.length + GRPC_FRAME_HEADER_BYTES);
    if (view[0] === frame.flags && view.readUInt32BE(1) === m.length) return view;
  }
  return encodeGrpcFrame(m, frame.flags);
}

function onSourceData(this: WithBody, chunk: Buffer): void {
  this[kBody]?.handleData(chunk);
}
function onSourceEnd(this: WithBody): void {
  this[kBody]?.handleEnd();
}

/** The stream's downstream with the validated body; every other member delegates to `inner`. */
export class ValidatingDownstream implements Downstream {
  constructor(private readonly inner: Downstream, readonly body: ValidatedBody) {}

  get protocol(): 'h1' | 'h2' { return this.inner.protocol; }
  get acceptsTrailers(): boolean { return this.inner.acceptsTrailers === true; }
  get sink(): Writable { return this.inner.sink; }
  get responseStarted(): boolean { return this.inner.responseStarted; }
  get closed(): boolean { return this.inner.closed; }
  get bytesSent(): number { return this.inner.bytesSent; }

  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean, wantTrailers: boolean): void {
    this.inner.respond(status, headers, endStream, wantTrailers);
  }
  write(chunk: Buffer): boolean { return this.inner.write(chunk); }
  end(trailers: OutgoingHttpHeaders | null): void { this.inner.end(trailers); }
  reset(h2Code: number): void { this.inner.reset(h2Code); }

  /** Delegates to a codec wrapper below (transcoder: Status JSON; gRPC-Web: trailer frame); false otherwise. */
  renderLocalReply(reply: SyntheticResponse): boolean {
    const inner = this.inner;
    return inner.renderLocalReply !== undefined ? inner.renderLocalReply(reply) : false;
  }
}
