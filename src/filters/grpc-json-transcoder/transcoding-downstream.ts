/**
 * The transcoder's `Downstream` wrapper (one per transcoded request): towards the router it looks
 * like a gRPC client (its `body` yields gRPC frames, it takes gRPC responses with trailers), towards
 * the real client it speaks HTTP/JSON. Request side: a `MessageSource` Readable carries the one
 * frame of a unary / server-streaming call, or the frames of a client stream as the JSON splitter
 * completes them (with backpressure to the client's body). Response side: gRPC frames are
 * reassembled with a size bound; a unary response is answered once its status is known (JSON or
 * raw HttpBody with content-length; errors as google.rpc.Status JSON with the mapped HTTP status
 * and `grpc-status`/`grpc-message` headers); a streaming response starts at the first message in
 * the request's framing (array / NDJSON / SSE) and ends with the status in trailers (HTTP/2) and/or
 * a final error event. Local replies (router, later filters, this filter's own errors) are rendered
 * as Status JSON through `renderLocalReply`. It reports the client's protocol and
 * `acceptsTrailers`, so the router hands it the upstream's trailers (which it needs to see) even
 * when the client speaks HTTP/1.1.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { Readable, type Writable } from 'node:stream';
import { InternalProxyError, ResponseTooLargeError, type ProxyError } from '../../core/errors';
import { HOP_BY_HOP } from '../../core/headers';
import { encodeGrpcMessage, GrpcStatus, grpcStatusToHttpStatus, type SyntheticResponse } from '../../core/status';
import { FLAG_COMPRESSED, FrameTooLargeError, GrpcFrameDecoder } from '../../codec/grpc/frame-decoder';
import type { MethodBinding, MethodInfo, TranscoderTable } from '../../codec/transcode/transcoder-table';
import { sendLocalReply } from '../local-reply';
import type { Downstream, StreamContext } from '../stream-context';
import {
  CONTENT_TYPE_JSON, framingClose, framingContentType, framingMessage, framingOpen, StreamFraming,
} from './stream-framing';

/** Upstream response headers never copied to the JSON response (gRPC protocol headers, framing). */
const DROPPED_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  ':status', 'content-type', 'content-length', 'grpc-status', 'grpc-message', 'grpc-encoding',
  'grpc-accept-encoding', 'date', ...HOP_BY_HOP,
]);

/**
 * A pull-driven Readable fed by the transcoder: `offer(frame)` queues a frame (false = the router
 * is not reading; the feeder pauses the client's body until `_read` asks for more).
 */
export class MessageSource extends Readable {
  /** The client body to resume when the reader wants more (client streams); null otherwise. */
  upstreamOf: Readable | null = null;

  offer(frame: Buffer): boolean {
    return this.push(frame);
  }

  finish(): void {
    this.push(null);
  }

  override _read(): void {
    const src = this.upstreamOf;
    if (src !== null && src.isPaused()) src.resume();
  }
}

/** Percent-decodes a `grpc-message` value (PROTOCOL-HTTP2.md); malformed escapes are kept. */
export function decodeGrpcMessage(v: unknown): string {
  if (typeof v !== 'string') return '';
  if (v.indexOf('%') < 0) return v;
  try {
    return decodeURIComponent(v);
  } catch {
    return v.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
}

function headerString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  if (typeof v === 'number') return String(v);
  return undefined;
}

/** Decodes a base64 `grpc-status-details-bin` value (padding optional); null when absent. */
function detailsOf(v: unknown): Uint8Array | null {
  const s = headerString(v);
  if (s === undefined || s.length === 0) return null;
  return Buffer.from(s, 'base64');
}

/** A complete response: headers, one body chunk, end (H2Downstream ends it without a trailing HEADERS frame). */
function sendWhole(ds: Downstream, status: number, headers: OutgoingHttpHeaders, body: Buffer): void {
  ds.respond(status, headers, false, false);
  ds.write(body);
  ds.end(null);
}

export class TranscodingDownstream implements Downstream {
  /** The router hands this wrapper the upstream trailers whatever the client's HTTP version. */
  readonly acceptsTrailers = true;
  /** Set by the filter once the request's frames are known (always non-null before the router starts). */
  body: Readable | null = null;
  /** A unary / server-streaming call's one request frame, set by the filter before the router starts. */
  completeBody: readonly Buffer[] | null = null;
  /** The framing of a streaming response (chosen from Accept at request time). */
  private readonly framing: StreamFraming;
  private readonly streaming: boolean;
  private decoder: GrpcFrameDecoder | null = null;
  /** Upstream response status and headers (merged into the JSON response). */
  private upstreamStatus = 0;
  private upstreamHeaders: OutgoingHttpHeaders | null = null;
  /** The unary response message (exactly one expected). */
  private unary: Buffer | null = null;
  private messages = 0;
  /** Server streaming of google.api.HttpBody: raw data, content type from the first message. */
  private rawStream = false;
  /** The transcoded exchange has been answered completely (later calls are ignored). */
  private done = false;

  constructor(
    readonly ctx: StreamContext,
    readonly inner: Downstream,
    readonly table: TranscoderTable,
    /** Null for a request that is only answered locally (routing errors). */
    readonly binding: MethodBinding | null,
    private readonly maxResponseBytes: number,
    framing: StreamFraming,
  ) {
    this.framing = framing;
    this.streaming = binding !== null && binding.method.responseStreaming;
  }

  get protocol(): 'h1' | 'h2' { return this.inner.protocol; }
  get sink(): Writable { return this.inner.sink; }
  get responseStarted(): boolean { return this.inner.responseStarted; }
  get closed(): boolean { return this.inner.closed; }
  get failure(): string | null { return this.inner.failure ?? null; }
  get bytesSent(): number { return this.inner.bytesSent; }
  get method(): MethodInfo | null { return this.binding === null ? null : this.binding.method; }

  // ------------------------------------------------------------------ Downstream (router side)

  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean, _wantTrailers: boolean): void {
    if (this.done) return;
    this.upstreamStatus = status;
    this.upstreamHeaders = headers;
    if (endStream) {
      // Trailers-only (or a non-gRPC answer): the status is in the headers.
      this.finishWithStatus(headers, null);
      return;
    }
    this.decoder = new GrpcFrameDecoder(this.maxResponseBytes);
  }

  write(chunk: Buffer): boolean {
    if (this.done) return true;
    const decoder = this.decoder;
    if (decoder === null) return true;
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch (e) {
      this.abort(new ResponseTooLargeError(e instanceof FrameTooLargeError ? `response message of ${e.length} bytes` : 'response message'));
      return true;
    }
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      if ((f.flags & FLAG_COMPRESSED) !== 0) {
        this.failInternal('the upstream sent a compressed message, which the transcoder did not ask for');
        return true;
      }
      if (!this.streaming) {
        if (this.unary !== null) {
          this.failInternal('the upstream sent more than one message for a unary method');
          return true;
        }
        this.unary = f.message;
      } else if (!this.streamMessage(f.message)) {
        return true;
      }
    }
    return this.streaming ? !this.inner.sink.writableNeedDrain : true;
  }

  end(trailers: OutgoingHttpHeaders | null): void {
    if (this.done) return;
    if (this.decoder !== null && this.decoder.pending) {
      this.failInternal('the upstream response ended inside a message');
      return;
    }
    this.finishWithStatus(trailers ?? {}, this.upstreamHeaders);
  }

  reset(h2Code: number): void {
    this.done = true;
    this.inner.reset(h2Code);
  }

  /**
   * Every local reply for this stream (router: no healthy upstream, timeouts; later filters; this
   * filter's own 400/404/405/413/500) as google.rpc.Status JSON with the reply's HTTP status and
   * headers; once a streaming response has started, as the framing's error end plus trailers.
   */
  renderLocalReply(reply: SyntheticResponse): boolean {
    if (this.done) return true;
    const own = reply.headers;
    const details = own === null ? null : detailsOf(own['grpc-status-details-bin']);
    // A JSON client reads 404 as NOT_FOUND (gRPC clients get UNIMPLEMENTED for an unknown method).
    const code = reply.httpStatus === 404 ? GrpcStatus.NOT_FOUND : reply.grpcStatus;
    if (this.inner.responseStarted) {
      this.endStreamWithError(code, reply.message, details);
      return true;
    }
    this.respondStatus(reply.httpStatus, code, reply.message, details, own);
    return true;
  }

  // ------------------------------------------------------------------ response rendering

  /** Ends the exchange with the gRPC status found in `t` (trailers, or headers of a trailers-only response). */
  private finishWithStatus(t: OutgoingHttpHeaders, headers: OutgoingHttpHeaders | null): void {
    const raw = headerString(t['grpc-status']) ?? (headers === null ? undefined : headerString(headers['grpc-status']));
    if (raw === undefined) {
      // Not a gRPC answer (or no status at all): 503, as Envoy.
      this.respondOrEnd(GrpcStatus.UNAVAILABLE, `upstream response without grpc-status (HTTP ${this.upstreamStatus})`, null, 503);
      return;
    }
    const code = Number(raw);
    const message = decodeGrpcMessage(t['grpc-message'] ?? (headers === null ? undefined : headers['grpc-message']));
    if (code !== GrpcStatus.OK) {
      const details = detailsOf(t['grpc-status-details-bin'] ?? (headers === null ? undefined : headers['grpc-status-details-bin']));
      const http = Number.isInteger(code) && code >= 0 && code <= 16 ? grpcStatusToHttpStatus(code) : 500;
      this.respondOrEnd(code, message, details, http, t);
      return;
    }
    if (this.streaming) {
      if (!this.inner.responseStarted) this.startStream(t);
      this.closeStream(null, t);
      return;
    }
    const msg = this.unary;
    if (msg === null) {
      this.failInternal('the upstream sent no message for a unary method');
      return;
    }
    this.respondUnary(msg, t);
  }

  private respondOrEnd(code: number, message: string, details: Uint8Array | null, http: number, extra: OutgoingHttpHeaders | null = null): void {
    if (this.inner.responseStarted) this.endStreamWithError(code, message, details);
    else this.respondStatus(http, code, message, details, extra);
  }

  private respondUnary(message: Buffer, trailers: OutgoingHttpHeaders): void {
    let body: Buffer;
    let contentType: string;
    try {
      const r = this.binding!.method.responseBody(message, this.binding);
      if ('json' in r) {
        body = Buffer.from(r.json, 'utf8');
        contentType = CONTENT_TYPE_JSON;
      } else {
        body = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
        contentType = r.contentType;
      }
    } catch {
      this.failInternal('the upstream response message could not be decoded');
      return;
    }
    const headers = this.responseHeaders(trailers);
    headers['content-type'] = contentType;
    headers['content-length'] = body.length;
    headers['grpc-status'] = '0';
    this.done = true;
    const ctx = this.ctx;
    ctx.responseStatus = 200;
    ctx.grpcStatus = 0;
    sendWhole(this.inner, 200, headers, body);
  }

  /** One message of a server stream: starts the response at the first. False when the stream failed. */
  private streamMessage(message: Buffer): boolean {
    let text: string | null = null;
    let raw: Uint8Array | null = null;
    let contentType: string | null = null;
    try {
      const r = this.binding!.method.responseBody(message, this.binding);
      if ('json' in r) text = r.json;
      else {
        raw = r.data;
        contentType = r.contentType;
      }
    } catch {
      this.failInternal('an upstream stream message could not be decoded');
      return false;
    }
    const first = this.messages === 0;
    this.messages++;
    if (first) {
      this.rawStream = raw !== null;
      this.startStream(null, contentType);
    }
    const ds = this.inner;
    if (this.rawStream) {
      if (raw !== null && raw.byteLength > 0) ds.write(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
    } else if (text !== null) {
      ds.write(Buffer.from(first ? framingOpen(this.framing) + framingMessage(this.framing, text, true) : framingMessage(this.framing, text, false), 'utf8'));
    }
    return true;
  }

  private startStream(trailers: OutgoingHttpHeaders | null, rawContentType: string | null = null): void {
    const headers = this.responseHeaders(trailers);
    headers['content-type'] = rawContentType ?? framingContentType(this.framing);
    this.ctx.responseStatus = 200;
    const ds = this.inner;
    ds.respond(200, headers, false, ds.protocol === 'h2');
    if (rawContentType === null && this.messages === 0) {
      // An empty stream: open the framing here (closed by closeStream).
      const open = framingOpen(this.framing);
      if (open.length > 0) ds.write(Buffer.from(open, 'utf8'));
    }
  }

  private closeStream(errorJson: string | null, trailers: OutgoingHttpHeaders | null, code = 0, message = ''): void {
    this.done = true;
    const ds = this.inner;
    if (!this.rawStream) {
      const close = framingClose(this.framing, errorJson);
      if (close.length > 0) ds.write(Buffer.from(close, 'utf8'));
    }
    this.ctx.grpcStatus = code;
    const t: OutgoingHttpHeaders = { 'grpc-status': String(code) };
    if (message.length > 0) t['grpc-message'] = encodeGrpcMessage(message);
    if (trailers !== null && code !== 0) {
      const d = trailers['grpc-status-details-bin'];
      if (d !== undefined) t['grpc-status-details-bin'] = d;
    }
    ds.end(t);
  }

  /** A stream whose HTTP response already started fails: close the framing with an error event, status in trailers. */
  private endStreamWithError(code: number, message: string, details: Uint8Array | null): void {
    if (this.done) return;
    const json = this.table.statusJson(code, message, details);
    this.closeStream(json, null, code, message);
  }

  /** A complete google.rpc.Status JSON response. */
  private respondStatus(http: number, code: number, message: string, details: Uint8Array | null, extra: Readonly<OutgoingHttpHeaders> | null): void {
    this.done = true;
    const body = Buffer.from(this.table.statusJson(code, message, details), 'utf8');
    const headers = this.responseHeaders(extra);
    headers['content-type'] = CONTENT_TYPE_JSON;
    headers['content-length'] = body.length;
    headers['grpc-status'] = String(code);
    if (message.length > 0) headers['grpc-message'] = encodeGrpcMessage(message);
    const ctx = this.ctx;
    ctx.responseStatus = http;
    ctx.grpcStatus = code;
    sendWhole(this.inner, http, headers, body);
  }

  /**
   * The JSON response's headers: the upstream's response headers (its metadata, the route's response
   * header mutations, the stream's `responseHeadersToAdd`) and `extra` (trailers, a reply's own
   * headers), minus gRPC protocol and hop-by-hop headers.
   */
  private responseHeaders(extra: Readonly<OutgoingHttpHeaders> | null): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    const up = this.upstreamHeaders;
    if (up !== null) {
      for (const name in up) if (!DROPPED_RESPONSE_HEADERS.has(name)) out[name] = up[name];
    }
    if (extra !== null) {
      for (const name in extra) if (!DROPPED_RESPONSE_HEADERS.has(name)) out[name] = extra[name];
    }
    const add = this.ctx.responseHeadersToAdd;
    if (add !== null) for (const name in add) out[name] = add[name];
    return out;
  }

  /** An INTERNAL failure of the transcoded exchange (500 with Status JSON), upstream cancelled. */
  private failInternal(cause: string): void {
    // The router ends the call (cancelling the upstream); the reply comes back through renderLocalReply.
    this.abort(new InternalProxyError(cause));
  }

  private abort(err: ProxyError): void {
    const call = this.ctx.call;
    if (call !== null) call.abort(err);
    else sendLocalReply(this.ctx, err);
  }
}
