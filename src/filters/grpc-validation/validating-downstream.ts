/**
 * The per-stream half of schema validation: `ValidatingDownstream` replaces the stream's
 * `Downstream` (ctx.wrapDownstream) and delegates every response method to the one it wraps; only
 * `body` differs. That body, a `ValidatedBody` Readable, reads the original request body, splits it
 * into gRPC frames (codec/grpc/frame-decoder.ts), and pushes each frame on only after its message
 * decoded and passed validation, as the original bytes (a zero-copy view, never re-encoded). The
 * first refused message stops everything: nothing more is pushed, the rest of the client's body is
 * discarded, and the call ends with the rejection (`ctx.call.abort(err)` once the router started,
 * else a local reply). Single-request methods take a lighter path (`CollectedBody`): the filter
 * holds the chain while the whole body arrives, validates it at END_STREAM and hands it to the
 * router as `completeBody`, so an invalid unary request never opens an upstream stream.
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
  }

  /** Validates one frame's message: true when it may be forwarded, else the stream has failed. */
  private check(frame: GrpcFrame): boolean {
    const refusal = checkFrame(frame, this.validator, this.encoding, this.maxMessageBytes);
    if (refusal === null) return true;
    this.fail(refusal.error, refusal.reason);
    return false;
  }

  /**
   * Ends the call with `err`: stops reading (the rest of the client's body is discarded), counts the
   * refusal, and replies (through the router's call when it started, so the upstream is cancelled).
   */
  private fail(err: ProxyError, reason: MessageRejection['reason']): void {
    if (this.failed) return;
    this.failed = true;
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

/** Why a frame may not be forwarded. */
export interface Refusal {
  readonly error: ProxyError;
  readonly reason: MessageRejection['reason'];
}

/** Checks one frame's message (inflated first when compressed); null when it may be forwarded. */
function checkFrame(frame: GrpcFrame, validator: MethodValidator, encoding: MessageEncoding, maxMessageBytes: number): Refusal | null {
  let message: Buffer = frame.message;
  if ((frame.flags & FLAG_COMPRESSED) !== 0) {
    if (encoding !== MessageEncoding.Gzip && encoding !== MessageEncoding.Deflate) {
      const m = encoding === MessageEncoding.Identity ? 'compressed gRPC message without grpc-encoding' : 'unsupported grpc-encoding for a validated method';
      return { error: new InvalidArgumentError(m, null), reason: 'decode' };
    }
    try {
      const opts = { maxOutputLength: maxMessageBytes };
      message = encoding === MessageEncoding.Gzip ? zlib.gunzipSync(message, opts) : zlib.inflateSync(message, opts);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        return { error: new PayloadTooLargeError('decompressed gRPC message'), reason: 'decode' };
      }
      return { error: new InvalidArgumentError('compressed gRPC message does not inflate', null), reason: 'decode' };
    }
  }
  const rejection = validator.check(message);
  if (rejection === null) return null;
  return {
    error: rejection.reason === 'error' ? new InternalProxyError(rejection.message) : new InvalidArgumentError(rejection.message, rejection.details),
    reason: rejection.reason,
  };
}

/**
 * Single-request methods (unary, server streaming): the whole request body is collected (bounded by
 * the message limit), its messages are validated at END_STREAM, and only then does the chain go on,
 * with the body handed to the router as `completeBody` — no stream is built around it. A refusal
 * replies locally; the upstream never sees anything.
 */
export class CollectedBody {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private done = false;

  constructor(
    private readonly source: Readable,
    private readonly ctx: StreamContext,
    private readonly inner: Downstream,
    private readonly validator: MethodValidator,
    private readonly counters: ValidationCounters,
    private readonly encoding: MessageEncoding,
    private readonly maxMessageBytes: number,
  ) {}

  /** Starts reading the original body (once, from the filter, which then returns StopIteration). */
  start(): void {
    const src = this.source as WithCollector;
    src[kCollector] = this;
    src.on('data', onCollectData);
    src.on('end', onCollectEnd);
  }

  /** @internal */
  handleData(chunk: Buffer): void {
    if (this.done) return;
    this.bytes += chunk.length;
    // One message plus its header is all a single-request call carries (a few frames at most).
    if (this.bytes > this.maxMessageBytes + GRPC_FRAME_HEADER_BYTES) {
      this.refuse({ error: new PayloadTooLargeError(`gRPC request body over ${this.maxMessageBytes} bytes`), reason: 'decode' });
      return;
    }
    this.chunks.push(chunk);
  }

  /** @internal END_STREAM: validate every message, then continue the chain with the complete body. */
  handleEnd(): void {
    if (this.done) return;
    this.done = true;
    this.detach();
    const chunks = this.chunks;
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const refusal = checkBody(data, this.validator, this.counters, this.encoding, this.maxMessageBytes);
    if (refusal !== null) {
      this.refuse(refusal);
      return;
    }
    this.ctx.wrapDownstream(new ValidatingDownstream(this.inner, null, data.length === 0 ? EMPTY_BODY : [data]), true);
    this.ctx.continueChain();
  }

  private refuse(refusal: Refusal): void {
    this.done = true;
    this.counters.countRejected(refusal.reason);
    this.detach();
    // The rest of the client's body, if any, is discarded.
    this.source.resume();
    sendLocalReply(this.ctx, refusal.error);
  }

  private detach(): void {
    const src = this.source as WithCollector;
    src.off('data', onCollectData);
    src.off('end', onCollectEnd);
    src[kCollector] = undefined;
  }
}

/**
 * Checks every message of a complete request body (a whole number of frames); counts the valid
 * ones. Null when all may be forwarded; the refusal otherwise (not counted: the caller does).
 */
export function checkBody(data: Buffer, validator: MethodValidator, counters: ValidationCounters, encoding: MessageEncoding, maxMessageBytes: number): Refusal | null {
  if (data.length === 0) return null;
  const decoder = new GrpcFrameDecoder(maxMessageBytes);
  let frames: GrpcFrame[];
  try {
    frames = decoder.push(data);
  } catch (err) {
    return err instanceof FrameTooLargeError
      ? { error: new PayloadTooLargeError(`gRPC message of ${err.length} bytes`), reason: 'decode' }
      : { error: new InternalProxyError(err), reason: 'decode' };
  }
  if (decoder.pending) return { error: new InvalidArgumentError('request body ends inside a gRPC message', null), reason: 'decode' };
  for (let i = 0; i < frames.length; i++) {
    const refusal = checkFrame(frames[i]!, validator, encoding, maxMessageBytes);
    if (refusal !== null) return refusal;
    counters.countValid();
  }
  return null;
}

const EMPTY_BODY: readonly Buffer[] = Object.freeze([]) as readonly Buffer[];
const kCollector = Symbol('remora.collectedBody');
type WithCollector = Readable & { [kCollector]?: CollectedBody };

function onCollectData(this: WithCollector, chunk: Buffer): void {
  this[kCollector]?.handleData(chunk);
}
function onCollectEnd(this: WithCollector): void {
  this[kCollector]?.handleEnd();
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

/**
 * The stream's downstream with the validated body — a stream of checked frames (`body`), or the
 * checked whole body of a single-request call (`completeBody`); every other member delegates to
 * `inner`.
 */
export class ValidatingDownstream implements Downstream {
  constructor(
    private readonly inner: Downstream,
    readonly body: ValidatedBody | null,
    readonly completeBody: readonly Buffer[] | null = null,
  ) {}

  get protocol(): 'h1' | 'h2' { return this.inner.protocol; }
  get failure(): string | null { return this.inner.failure ?? null; }
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
