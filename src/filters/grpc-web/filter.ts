/**
 * The gRPC-Web filter (`envoy.filters.http.grpc_web`): lets browsers call gRPC services.
 *
 * Request: a `content-type` of `application/grpc-web`, `application/grpc-web-text` (base64) or
 * either with a `+<codec>` suffix / parameters marks a gRPC-Web call. The forwarded request becomes
 * gRPC (`application/grpc[+codec]`, `te: trailers`); a `-text` body is base64-decoded as it streams
 * (`Base64StreamDecoder`) into the wrapper's `body`. Anything else passes untouched (one string
 * check per request).
 *
 * Response (`GrpcWebDownstream`, installed with `ctx.wrapDownstream(wrapper, true)` so the router
 * treats the call as gRPC): the client gets `application/grpc-web[-text]+<codec>`, message frames
 * pass through (base64-encoded per write for `-text` responses, i.e. padded per chunk as Envoy
 * does), and gRPC's trailers — from the upstream trailers, a trailers-only response, a non-200
 * upstream response (status mapped per the gRPC HTTP table) or a local reply (`renderLocalReply`) —
 * become one trailer frame at the end of the body, over HTTP/1.1 and HTTP/2 alike. The response is
 * always HTTP 200 with the status in the trailer frame (trailers-only responses also keep
 * `grpc-status`/`grpc-message` in the headers, as Envoy does). A `-text` response is chosen by a
 * `-text` request or by `Accept: application/grpc-web-text`.
 * https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { Counter, type Registry } from 'prom-client';
import { BadRequestError } from '../../core/errors';
import { encodeGrpcMessage, httpStatusToGrpcStatus, type SyntheticResponse } from '../../core/status';
import { FilterStatus, type FilterFactoryContext, type HttpFilter, type HttpFilterFactory } from '../filter';
import { sendLocalReply } from '../local-reply';
import type { Downstream, StreamContext } from '../stream-context';
import { Base64StreamDecoder } from './base64-stream';
import { encodeTrailerFrame } from './trailer-frame';

const GRPC_WEB = 'application/grpc-web';
const GRPC_WEB_TEXT = 'application/grpc-web-text';
const NGHTTP2_CANCEL = 8;

type CounterChild = ReturnType<Counter<string>['labels']>;

/** What a request's content-type says: not gRPC-Web, or binary/text with its codec suffix ('' = proto). */
export interface GrpcWebContentType {
  readonly text: boolean;
  /** The `+codec` suffix including '+', or '' when none. */
  readonly suffix: string;
}

const BINARY_PLAIN: GrpcWebContentType = Object.freeze({ text: false, suffix: '' });
const TEXT_PLAIN: GrpcWebContentType = Object.freeze({ text: true, suffix: '' });

/**
 * Parses a request content-type: null when it is not gRPC-Web. Accepts `application/grpc-web`,
 * `application/grpc-web-text`, a `+codec` suffix and `;` parameters (ignored).
 */
export function parseGrpcWebContentType(ct: string | undefined): GrpcWebContentType | null {
  if (ct === undefined || ct.length < GRPC_WEB.length || !ct.startsWith(GRPC_WEB)) return null;
  let i = GRPC_WEB.length;
  let text = false;
  if (ct.startsWith('-text', i)) {
    text = true;
    i += 5;
  }
  if (i === ct.length) return text ? TEXT_PLAIN : BINARY_PLAIN;
  const c = ct.charCodeAt(i);
  if (c === 0x3b /* ; */) return text ? TEXT_PLAIN : BINARY_PLAIN;
  if (c !== 0x2b /* + */) return null;
  let end = ct.indexOf(';', i);
  if (end < 0) end = ct.length;
  const suffix = ct.slice(i, end).trim().toLowerCase();
  if (suffix.length < 2) return null;
  return { text, suffix };
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** One per listener and config: metric handles; the filter itself is stateless, so it is its own Filter. */
export class GrpcWebFactory implements HttpFilterFactory, HttpFilter {
  private readonly binaryRequests: CounterChild;
  private readonly textRequests: CounterChild;
  /** @internal counted by the wrapper when a -text body is not valid base64 */
  readonly badRequests: CounterChild;

  constructor(ctx: FilterFactoryContext) {
    const c = counter(ctx.runtime.metrics, 'remora_grpc_web_requests_total', 'gRPC-Web requests translated to gRPC, by body format.', ['listener', 'format']);
    this.binaryRequests = c.labels(ctx.listenerName, 'binary');
    this.textRequests = c.labels(ctx.listenerName, 'text');
    this.badRequests = counter(ctx.runtime.metrics, 'remora_grpc_web_bad_requests_total',
      'gRPC-Web requests refused because their body could not be decoded.', ['listener']).labels(ctx.listenerName);
  }

  createFilter(): HttpFilter { return this; }

  onRequestHeaders(ctx: StreamContext): FilterStatus {
    const headers = ctx.headers;
    const raw = headers['content-type'];
    const ct = parseGrpcWebContentType(typeof raw === 'string' ? raw : undefined);
    if (ct === null) return FilterStatus.Continue;
    const accept = headers['accept'];
    const textResponse = ct.text || (typeof accept === 'string' && accept.includes(GRPC_WEB_TEXT));
    const codec = ct.suffix === '' ? '+proto' : ct.suffix;
    headers['content-type'] = ct.suffix === '' ? 'application/grpc' : 'application/grpc' + ct.suffix;
    headers['te'] = 'trailers';
    if (ct.text) {
      // The decoded body is shorter; the upstream request is framed by HTTP/2.
      delete headers['content-length'];
      this.textRequests.inc();
    } else {
      this.binaryRequests.inc();
    }
    const wrapper = new GrpcWebDownstream(ctx, ctx.downstream, ct.text, textResponse, (textResponse ? GRPC_WEB_TEXT : GRPC_WEB) + codec, this);
    ctx.wrapDownstream(wrapper, true);
    return FilterStatus.Continue;
  }
}

/**
 * The client side of a gRPC-Web call as the router sees it: a gRPC downstream that accepts
 * trailers (`acceptsTrailers`) whatever the client's HTTP version, and writes them into the body
 * as a trailer frame; everything else delegates to the wrapped downstream.
 */
export class GrpcWebDownstream implements Downstream {
  readonly acceptsTrailers = true;
  readonly body: Readable | null;
  /** The gRPC status to send when the upstream response was not gRPC (non-200); -1 when none. */
  private mappedStatus = -1;
  /** Set once the trailer frame went out (nothing is written after it). */
  private trailersSent = false;

  constructor(
    private readonly ctx: StreamContext,
    private readonly inner: Downstream,
    textRequest: boolean,
    private readonly textResponse: boolean,
    /** The response content-type. */
    private readonly contentType: string,
    private readonly factory: GrpcWebFactory,
  ) {
    const body = inner.body;
    if (body === null || !textRequest) {
      this.body = body;
    } else {
      const decoded = new Base64Body(this);
      body.pipe(decoded);
      this.body = decoded;
    }
  }
  get protocol(): 'h1' | 'h2' { return this.inner.protocol; }


  get sink(): Writable { return this.inner.sink; }
  get responseStarted(): boolean { return this.inner.responseStarted; }
  get failure(): string | null { return this.inner.failure ?? null; }
  get closed(): boolean { return this.inner.closed; }
  get bytesSent(): number { return this.inner.bytesSent; }

  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean, _wantTrailers: boolean): void {
    const inner = this.inner;
    if (inner.responseStarted) return;
    headers['content-type'] = this.contentType;
    delete headers['content-length'];
    if (status !== 200) {
      // Not a gRPC response (e.g. an HTTP error from the upstream): its body is dropped and the
      // status mapped per https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md.
      const gs = headers['grpc-status'];
      this.mappedStatus = gs !== undefined ? Number(gs) : httpStatusToGrpcStatus(status);
      const trailers: OutgoingHttpHeaders = {
        'grpc-status': String(this.mappedStatus),
        'grpc-message': headers['grpc-message'] ?? encodeGrpcMessage(`upstream HTTP status ${status}`),
      };
      delete headers['grpc-status'];
      delete headers['grpc-message'];
      inner.respond(200, headers, false, false);
      this.sendTrailers(trailers);
      if (endStream) inner.end(null);
      return;
    }
    if (endStream) {
      // Trailers-only: the status stays in the headers and is repeated in a trailer frame.
      inner.respond(200, headers, false, false);
      this.sendTrailers(pickTrailers(headers));
      inner.end(null);
      return;
    }
    inner.respond(200, headers, false, false);
  }

  write(chunk: Buffer): boolean {
    if (this.trailersSent) return true;
    return this.inner.write(this.textResponse ? Buffer.from(chunk.toString('base64'), 'latin1') : chunk);
  }

  end(trailers: OutgoingHttpHeaders | null): void {
    if (!this.trailersSent) {
      this.sendTrailers(trailers ?? {
        'grpc-status': String(this.mappedStatus >= 0 ? this.mappedStatus : 2),
        'grpc-message': encodeGrpcMessage('upstream response ended without a gRPC status'),
      });
    }
    this.inner.end(null);
  }

  reset(h2Code: number): void {
    this.inner.reset(h2Code);
  }

  /** Local replies come out as a gRPC-Web response (or trailer frame, once the response started). */
  renderLocalReply(reply: SyntheticResponse): boolean {
    const inner = this.inner;
    if (inner.closed) return true;
    const trailers: OutgoingHttpHeaders = {
      'grpc-status': String(reply.grpcStatus),
      'grpc-message': encodeGrpcMessage(reply.message),
    };
    if (!inner.responseStarted) {
      const headers: OutgoingHttpHeaders = { 'content-type': this.contentType, 'grpc-status': trailers['grpc-status'], 'grpc-message': trailers['grpc-message'] };
      const own = reply.headers;
      if (own !== null) {
        for (const name in own) {
          headers[name] = own[name];
          if (name.startsWith('grpc-')) trailers[name] = own[name];
        }
      }
      const extra = this.ctx.responseHeadersToAdd;
      if (extra !== null) for (const name in extra) headers[name] = extra[name];
      inner.respond(200, headers, false, false);
    } else if (this.trailersSent) {
      inner.reset(NGHTTP2_CANCEL);
      return true;
    }
    this.sendTrailers(trailers);
    inner.end(null);
    return true;
  }

  /** @internal the -text request body is not valid base64: end the call with 400 / INTERNAL. */
  invalidBody(): void {
    this.factory.badRequests.inc();
    const err = new BadRequestError('invalid base64 in the grpc-web-text request body');
    const call = this.ctx.call;
    if (call !== null) call.abort(err);
    else sendLocalReply(this.ctx, err);
  }

  private sendTrailers(trailers: OutgoingHttpHeaders): void {
    this.trailersSent = true;
    const frame = encodeTrailerFrame(trailers);
    this.inner.write(this.textResponse ? Buffer.from(frame.toString('base64'), 'latin1') : frame);
  }
}

/** The gRPC trailers of a trailers-only response's headers. */
function pickTrailers(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { 'grpc-status': headers['grpc-status'] ?? '2' };
  if (headers['grpc-message'] !== undefined) out['grpc-message'] = headers['grpc-message'];
  if (headers['grpc-status-details-bin'] !== undefined) out['grpc-status-details-bin'] = headers['grpc-status-details-bin'];
  return out;
}

/** The decoded `-text` request body. Never emits 'error': invalid input ends the call instead. */
class Base64Body extends Transform {
  private readonly decoder = new Base64StreamDecoder();

  constructor(private readonly owner: GrpcWebDownstream) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const decoder = this.decoder;
    if (decoder.invalid) {
      cb();
      return;
    }
    const out = decoder.push(chunk);
    if (out === null) this.owner.invalidBody();
    else if (out.length > 0) this.push(out);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.decoder.pending && !this.decoder.invalid) {
      this.owner.invalidBody();
      return; // never ends: the call was aborted
    }
    if (this.decoder.invalid) return;
    cb();
  }
}
