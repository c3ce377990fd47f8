/**
 * Unit tests of the gRPC-Web pieces: the streaming base64 decoder (fast-check: any chunking decodes
 * like the whole body, padded groups anywhere, invalid input refused), the trailer frame encoding,
 * content-type parsing, and the filter + downstream wrapper against a recording downstream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { createRuntime } from '../../core/runtime';
import { SidecarMetrics } from '../../observability/metrics';
import { GrpcFrameDecoder, FLAG_TRAILERS, encodeGrpcFrame } from '../../codec/grpc/frame-decoder';
import { toSyntheticResponse } from '../../core/status';
import { NoRouteError } from '../../core/errors';
import { FilterStatus } from '../filter';
import { StreamContext, type Downstream } from '../stream-context';
import { Base64StreamDecoder } from './base64-stream';
import { encodeTrailerFrame, parseTrailerBlock } from './trailer-frame';
import { compileGrpcWeb, grpcWebFilter, GRPC_WEB_TYPE_URL } from './config';
import { GrpcWebFactory, parseGrpcWebContentType } from './filter';

/** Splits `s` at the given cut points (sorted, deduplicated, within bounds). */
function chunked(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

function decodeAll(chunks: Buffer[]): Buffer | null {
  const d = new Base64StreamDecoder();
  const parts: Buffer[] = [];
  for (const c of chunks) {
    const out = d.push(c);
    if (out === null) return null;
    parts.push(out);
  }
  return d.pending ? null : Buffer.concat(parts);
}

test('base64 stream: any chunking of a body decodes like the whole body', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(400), { maxLength: 12 }), (bytes, cuts) => {
    const encoded = Buffer.from(Buffer.from(bytes).toString('base64'), 'latin1');
    const got = decodeAll(chunked(encoded, cuts));
    assert.ok(got !== null);
    assert.deepEqual([...got], [...bytes]);
  }), { numRuns: 300 });
});

test('base64 stream: per-frame padding in the middle of the body (several padded segments)', () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), fc.array(fc.nat(400), { maxLength: 8 }), (segments, cuts) => {
    const encoded = Buffer.from(segments.map((s) => Buffer.from(s).toString('base64')).join(''), 'latin1');
    const got = decodeAll(chunked(encoded, cuts));
    assert.ok(got !== null);
    assert.deepEqual([...got], [...Buffer.concat(segments.map((s) => Buffer.from(s)))]);
  }), { numRuns: 300 });
});

test('base64 stream: invalid input is refused and the decoder stays failed', () => {
  for (const bad of ['QQ=A', 'Q===', '=AAA', 'QQ Q', 'QR==', 'QUJ=', 'ab-_', 'QQ==\n']) {
    assert.equal(decodeAll([Buffer.from(bad)]), null, bad);
  }
  const d = new Base64StreamDecoder();
  assert.equal(d.push(Buffer.from('QQ#=')), null);
  assert.equal(d.push(Buffer.from('QUJD')), null);
  // A truncated group is pending at the end.
  const t = new Base64StreamDecoder();
  assert.deepEqual([...t.push(Buffer.from('QUJDR'))!], [0x41, 0x42, 0x43]);
  assert.equal(t.pending, true);
});

test('trailer frame: flag 0x80, length, HTTP/1-style header lines; round-trips', () => {
  const frame = encodeTrailerFrame({ 'grpc-status': '0', 'grpc-message': 'ok%20then', 'x-multi': ['a', 'b'], ':status': 200 });
  assert.equal(frame[0], FLAG_TRAILERS);
  assert.equal(frame.readUInt32BE(1), frame.length - 5);
  assert.equal(frame.subarray(5).toString('latin1'), 'grpc-status: 0\r\ngrpc-message: ok%20then\r\nx-multi: a\r\nx-multi: b\r\n');
  assert.deepEqual(parseTrailerBlock(frame.subarray(5)), { 'grpc-status': '0', 'grpc-message': 'ok%20then', 'x-multi': 'b' });
});

test('content-type: gRPC-Web variants and non-matches', () => {
  assert.deepEqual(parseGrpcWebContentType('application/grpc-web'), { text: false, suffix: '' });
  assert.deepEqual(parseGrpcWebContentType('application/grpc-web+proto'), { text: false, suffix: '+proto' });
  assert.deepEqual(parseGrpcWebContentType('application/grpc-web-text'), { text: true, suffix: '' });
  assert.deepEqual(parseGrpcWebContentType('application/grpc-web-text+proto; charset=x'), { text: true, suffix: '+proto' });
  assert.deepEqual(parseGrpcWebContentType('application/grpc-web;charset=utf-8'), { text: false, suffix: '' });
  for (const ct of [undefined, 'application/grpc', 'application/grpc+proto', 'application/grpc-webx', 'application/grpc-web-textual', 'application/json', 'application/grpc-web+']) {
    assert.equal(parseGrpcWebContentType(ct), null, String(ct));
  }
});

test('config: GrpcWeb has no fields; registration names', () => {
  assert.equal(grpcWebFilter.typeUrl, GRPC_WEB_TYPE_URL);
  assert.ok(compileGrpcWeb({ '@type': GRPC_WEB_TYPE_URL }, 'f').ok);
  const bad = compileGrpcWeb({ '@type': GRPC_WEB_TYPE_URL, cors: { x: 1 } }, 'f');
  assert.ok(!bad.ok && bad.errors[0]!.path === 'f.cors');
});

/** A downstream recording everything the wrapper sends, over "HTTP/1.1". */
class Recorder implements Downstream {
  readonly protocol = 'h1' as const;
  readonly sink = new PassThrough();
  responseStarted = false;
  closed = false;
  bytesSent = 0;
  status = 0;
  headers: OutgoingHttpHeaders = {};
  readonly chunks: Buffer[] = [];
  ended = false;
  constructor(readonly body: PassThrough | null) {}
  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean): void {
    this.responseStarted = true;
    this.status = status;
    this.headers = headers;
    if (endStream) this.ended = this.closed = true;
  }
  write(chunk: Buffer): boolean { this.chunks.push(chunk); this.bytesSent += chunk.length; return true; }
  end(): void { this.ended = this.closed = true; }
  reset(): void { this.closed = true; }
  get bodyBytes(): Buffer { return Buffer.concat(this.chunks); }
}

function setup(contentType: string, body: PassThrough | null = null, accept?: string) {
  const runtime = createRuntime({ logLevel: 'silent' });
  const stats = new SidecarMetrics(runtime.metrics, false).forListener('l1');
  const ds = new Recorder(body);
  const headers: Record<string, string> = { ':method': 'POST', ':path': '/remora.test.v1.Echo/Unary', 'content-type': contentType, 'content-length': '12' };
  if (accept !== undefined) headers['accept'] = accept;
  const ctx = new StreamContext(ds, stats, 'POST', '/remora.test.v1.Echo/Unary', 'svc', 'http', headers, false, '10.0.0.1', 0, 0);
  const factory = grpcWebFilter.createFactory(compileGrpcWebOk(), { runtime, listenerName: 'l1', filterName: 'envoy.filters.http.grpc_web' }) as GrpcWebFactory;
  return { ctx, ds, factory, runtime };
}

function compileGrpcWebOk() {
  const r = compileGrpcWeb({}, 'f');
  assert.ok(r.ok);
  return r.value;
}

/** Frames of a (binary) gRPC-Web body. */
function frames(body: Buffer) {
  return new GrpcFrameDecoder(1 << 20).push(body);
}

test('filter: non-gRPC-Web requests pass untouched', () => {
  const { ctx, ds, factory } = setup('application/json');
  assert.equal(factory.createFilter().onRequestHeaders(ctx), FilterStatus.Continue);
  assert.equal(ctx.downstream, ds);
  assert.equal(ctx.isGrpc, false);
  assert.equal(ctx.headers['content-type'], 'application/json');
});

test('filter: binary gRPC-Web becomes gRPC; response frames pass and trailers become a trailer frame', () => {
  const { ctx, ds, factory } = setup('application/grpc-web+proto');
  assert.equal(factory.createFilter().onRequestHeaders(ctx), FilterStatus.Continue);
  assert.equal(ctx.isGrpc, true);
  assert.equal(ctx.headers['content-type'], 'application/grpc+proto');
  assert.equal(ctx.headers['te'], 'trailers');
  assert.equal(ctx.headers['content-length'], '12');
  const w = ctx.downstream;
  assert.notEqual(w, ds);
  assert.equal(w.protocol, 'h1', 'the client protocol');
  assert.equal(w.acceptsTrailers, true, 'the router must hand the wrapper its trailers');
  w.respond(200, { 'content-type': 'application/grpc', 'content-length': '7', 'x-served-by': 'a' }, false, true);
  assert.equal(ds.status, 200);
  assert.equal(ds.headers['content-type'], 'application/grpc-web+proto');
  assert.equal(ds.headers['content-length'], undefined);
  const msg = encodeGrpcFrame(Buffer.from('hi'));
  w.write(msg);
  w.end({ 'grpc-status': '0', 'grpc-message': '' });
  assert.ok(ds.ended);
  const fs = frames(ds.bodyBytes);
  assert.equal(fs.length, 2);
  assert.equal(fs[0]!.message.toString(), 'hi');
  assert.equal(fs[1]!.flags, FLAG_TRAILERS);
  assert.equal(parseTrailerBlock(fs[1]!.message)['grpc-status'], '0');
});

test('filter: -text request body is base64-decoded as it streams; the response is base64', async () => {
  const body = new PassThrough();
  const { ctx, ds, factory } = setup('application/grpc-web-text', body);
  factory.createFilter().onRequestHeaders(ctx);
  assert.equal(ctx.headers['content-type'], 'application/grpc');
  assert.equal(ctx.headers['content-length'], undefined);
  const w = ctx.downstream;
  assert.ok(w.body !== null && w.body !== body);
  const want = encodeGrpcFrame(Buffer.from('hello world'));
  const b64 = want.toString('base64');
  const got: Buffer[] = [];
  w.body!.on('data', (c: Buffer) => got.push(c));
  const ended = new Promise<void>((r) => w.body!.on('end', r));
  body.write(b64.slice(0, 5));
  body.write(b64.slice(5, 11));
  body.end(b64.slice(11));
  await ended;
  assert.deepEqual(Buffer.concat(got), want);

  w.respond(200, { 'content-type': 'application/grpc' }, false, true);
  assert.equal(ds.headers['content-type'], 'application/grpc-web-text+proto');
  w.write(encodeGrpcFrame(Buffer.from('a')));
  w.write(encodeGrpcFrame(Buffer.from('bc')));
  w.end({ 'grpc-status': '0' });
  const text = ds.bodyBytes;
  const decoded = new Base64StreamDecoder().push(text);
  assert.ok(decoded !== null);
  const fs = frames(decoded);
  assert.deepEqual(fs.map((f) => f.message.toString('latin1').trim()), ['a', 'bc', 'grpc-status: 0']);
});

test('filter: Accept: application/grpc-web-text makes a binary request get a text response', () => {
  const { ctx, ds, factory } = setup('application/grpc-web', null, 'application/grpc-web-text');
  factory.createFilter().onRequestHeaders(ctx);
  ctx.downstream.respond(200, {}, false, true);
  assert.equal(ds.headers['content-type'], 'application/grpc-web-text+proto');
});

test('filter: trailers-only and non-200 upstream responses, local replies → trailer frames', () => {
  {
    const { ctx, ds, factory } = setup('application/grpc-web');
    factory.createFilter().onRequestHeaders(ctx);
    ctx.downstream.respond(200, { 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'nope' }, true, false);
    assert.ok(ds.ended);
    assert.equal(ds.status, 200);
    const fs = frames(ds.bodyBytes);
    assert.deepEqual(parseTrailerBlock(fs[0]!.message), { 'grpc-status': '5', 'grpc-message': 'nope' });
  }
  {
    const { ctx, ds, factory } = setup('application/grpc-web');
    factory.createFilter().onRequestHeaders(ctx);
    const w = ctx.downstream;
    w.respond(503, { 'content-type': 'text/html' }, false, false);
    w.write(Buffer.from('<html>'));
    w.end(null);
    assert.equal(ds.status, 200);
    const fs = frames(ds.bodyBytes);
    assert.equal(fs.length, 1);
    assert.equal(parseTrailerBlock(fs[0]!.message)['grpc-status'], '14');
  }
  {
    const { ctx, ds, factory } = setup('application/grpc-web');
    factory.createFilter().onRequestHeaders(ctx);
    ctx.responseHeadersToAdd = { 'access-control-allow-origin': 'http://a' };
    assert.equal(ctx.downstream.renderLocalReply!(toSyntheticResponse(new NoRouteError())), true);
    assert.equal(ds.status, 200);
    assert.equal(ds.headers['access-control-allow-origin'], 'http://a');
    assert.equal(ds.headers['grpc-status'], '12');
    const fs = frames(ds.bodyBytes);
    assert.equal(parseTrailerBlock(fs[0]!.message)['grpc-status'], '12');
    assert.ok(ds.ended);
  }
  {
    // Mid-stream: after a message, a local reply ends the body with a trailer frame.
    const { ctx, ds, factory } = setup('application/grpc-web');
    factory.createFilter().onRequestHeaders(ctx);
    const w = ctx.downstream;
    w.respond(200, {}, false, true);
    w.write(encodeGrpcFrame(Buffer.from('m1')));
    w.renderLocalReply!(toSyntheticResponse(new NoRouteError()));
    const fs = frames(ds.bodyBytes);
    assert.equal(fs.length, 2);
    assert.equal(fs[1]!.flags, FLAG_TRAILERS);
  }
});

test('filter: invalid base64 in a -text body replies with a gRPC-Web error (no call yet)', async () => {
  const body = new PassThrough();
  const { ctx, ds, factory, runtime } = setup('application/grpc-web-text', body);
  factory.createFilter().onRequestHeaders(ctx);
  ctx.downstream.body!.resume();
  body.end('QQ#=');
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(ds.status, 200);
  assert.equal(ds.headers['content-type'], 'application/grpc-web-text+proto');
  const fs = frames(new Base64StreamDecoder().push(ds.bodyBytes)!);
  assert.equal(parseTrailerBlock(fs[0]!.message)['grpc-status'], '13');
  const m = runtime.metrics.getSingleMetric('remora_grpc_web_bad_requests_total')!;
  assert.equal((await m.get()).values[0]!.value, 1);
});
