/**
 * H2Downstream's response endings over a real node:http2 connection: a gRPC-style response sends
 * the trailers given to `end()`; a response without trailers ends with no trailing HEADERS frame
 * (trailers given to `end()` are dropped); an `endStream` response carries no body; a response node
 * refuses resets the stream and records the node error code (`failure`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { H2Downstream } from './h2-downstream';

type Script = (ds: H2Downstream) => void;

interface Received {
  readonly status: number;
  readonly body: string;
  readonly trailers: http2.IncomingHttpHeaders | null;
}

async function exchange(t: { after(fn: () => void): void }, script: Script): Promise<Received> {
  const server = http2.createServer();
  server.on('stream', (stream) => script(new H2Downstream(stream, true, 'remora')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.after(() => { client.destroy(); server.close(); });
  const req = client.request({ ':path': '/' }, { endStream: true });
  let status = 0;
  let trailers: http2.IncomingHttpHeaders | null = null;
  const chunks: Buffer[] = [];
  req.on('response', (h) => { status = Number(h[':status']); });
  req.on('trailers', (h) => { trailers = h; });
  req.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => { req.on('end', resolve); req.on('error', reject); });
  return { status, body: Buffer.concat(chunks).toString('utf8'), trailers };
}

test('a response that wants trailers sends the ones given to end()', async (t) => {
  const r = await exchange(t, (ds) => {
    ds.respond(200, { 'content-type': 'application/grpc' }, false, true);
    ds.write(Buffer.from('frame'));
    ds.end({ 'grpc-status': '0', 'grpc-message': 'ok' });
  });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'frame');
  assert.equal(r.trailers?.['grpc-status'], '0');
  assert.equal(r.trailers?.['grpc-message'], 'ok');
});

test('a response without trailers ends after its body with no trailing HEADERS frame', async (t) => {
  const r = await exchange(t, (ds) => {
    ds.respond(200, { 'content-type': 'application/json' }, false, false);
    ds.write(Buffer.from('{"a":1}'));
    ds.end({ 'x-dropped': 'yes' });
  });
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"a":1}');
  assert.equal(r.trailers, null);
});

test('a response with several chunks and end(null) arrives whole', async (t) => {
  const r = await exchange(t, (ds) => {
    ds.respond(200, {}, false, false);
    for (let i = 0; i < 5; i++) ds.write(Buffer.from(String(i)));
    ds.end(null);
    assert.equal(ds.bytesSent, 5);
  });
  assert.equal(r.body, '01234');
  assert.equal(r.trailers, null);
});

test('an endStream response has no body and no trailers', async (t) => {
  const r = await exchange(t, (ds) => ds.respond(204, {}, true, false));
  assert.equal(r.status, 204);
  assert.equal(r.body, '');
  assert.equal(r.trailers, null);
});

test('a response node refuses (a connection-specific header) resets the stream and records why', async (t) => {
  let seen: H2Downstream | null = null;
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => { /* our own reset */ });
    seen = new H2Downstream(stream, true, null);
    seen.respond(200, { connection: 'close' }, false, false);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.after(() => { client.destroy(); server.close(); });
  const req = client.request({ ':path': '/' }, { endStream: true });
  req.on('error', () => { /* the reset, checked below */ });
  await new Promise<void>((resolve) => req.on('close', resolve));
  assert.equal(req.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
  assert.equal(seen!.failure, 'ERR_HTTP2_INVALID_CONNECTION_HEADERS');
});
