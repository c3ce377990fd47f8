/**
 * gRPC pass-through through the sidecar: every call shape, metadata both ways (binary included, in
 * headers and trailers), every status code with byte-exact messages, UNIMPLEMENTED from the upstream,
 * 8 MiB messages each way, and the metrics the sidecar records for them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { EchoServer } from './fakes/echo-server';
import { ECHO_CONTROL, SERVED_BY } from './fakes/echo-proto';
import { clientStream, createEchoClient, md, serverStream, unary, unaryOnPath, type EchoClient, type EchoMsg } from './fakes/echo-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { simpleProxy } from './fakes/bootstrap';
import { rawGrpcCall } from './fakes/raw-grpc';

const BIG = 16 * 1024 * 1024;

describe('gRPC pass-through', { timeout: 60_000 }, () => {
  let echo: EchoServer;
  let sidecar: SidecarHarness;
  let client: EchoClient;

  before(async () => {
    echo = await EchoServer.start({ id: 'e1', maxMessageBytes: BIG });
    sidecar = await SidecarHarness.start(simpleProxy({ listener: 'ingress', port: echo.port, http2: true }));
    client = createEchoClient(sidecar.target('ingress'), {
      'grpc.max_receive_message_length': BIG,
      'grpc.max_send_message_length': BIG,
    });
  });

  after(async () => {
    client?.close();
    await sidecar?.close();
    await echo?.close();
  });

  it('unary call round-trips and is counted in downstream, upstream and duration metrics', { timeout: 20_000 }, async () => {
    const before = await sidecar.metrics();
    const r = await unary(client, { message: 'hello', payload: Buffer.from([1, 2, 3]), count: 7 });
    assert.equal(r.error, null);
    assert.equal(r.response!.message, 'hello');
    assert.deepEqual([...r.response!.payload], [1, 2, 3]);
    assert.equal(r.response!.count, 7);
    assert.equal(r.headers?.get(SERVED_BY)[0], 'e1');
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_downstream_requests_total', { listener: 'ingress', grpc_status: '0' })
      - before.sum('remora_downstream_requests_total', { listener: 'ingress', grpc_status: '0' }), 1);
    assert.equal(m.sum('remora_upstream_requests_total', { cluster: 'upstream' })
      - before.sum('remora_upstream_requests_total', { cluster: 'upstream' }), 1);
    assert.equal(m.sum('remora_upstream_request_duration_seconds_count', { cluster: 'upstream' })
      - before.sum('remora_upstream_request_duration_seconds_count', { cluster: 'upstream' }), 1);
  });

  it('client streaming delivers every message in order', { timeout: 20_000 }, async () => {
    const r = await clientStream(client, [{ message: 'a' }, { message: 'b' }, { message: 'c' }, { message: 'd' }, { message: 'e' }]);
    assert.equal(r.error, null);
    assert.equal(r.response!.message, 'a,b,c,d,e');
    assert.equal(r.response!.count, 5);
  });

  it('server streaming delivers every message in order', { timeout: 20_000 }, async () => {
    const r = await serverStream(client, { message: 'tick', count: 25 });
    assert.equal(r.error, null);
    assert.equal(r.status.code, grpc.status.OK);
    assert.equal(r.messages.length, 25);
    r.messages.forEach((m, i) => { assert.equal(m.count, i); assert.equal(m.message, 'tick'); });
  });

  it('bidi streaming ping-pongs one message at a time', { timeout: 20_000 }, async () => {
    const call = client.BidiStream(new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    const replies: EchoMsg[] = [];
    let waiter: ((m: EchoMsg) => void) | null = null;
    call.on('data', (m: EchoMsg) => { replies.push(m); if (waiter !== null) { const w = waiter; waiter = null; w(m); } });
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => { /* reported through status */ });
    for (let i = 0; i < 20; i++) {
      const got = new Promise<EchoMsg>((resolve) => { waiter = resolve; });
      call.write({ message: `ping-${i}`, count: i });
      const m = await got;
      assert.equal(m.message, `ping-${i}`);
      assert.equal(m.count, i);
    }
    call.end();
    assert.equal((await status).code, grpc.status.OK);
    assert.equal(replies.length, 20);
  });

  it('echoes ASCII and binary metadata in initial metadata and trailers (unary)', { timeout: 20_000 }, async () => {
    const bin = Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]);
    const r = await unary(client, { message: 'md' }, {
      metadata: md({ 'x-ascii': 'hello world', 'x-multi': ['one', 'two'], 'x-data-bin': bin }),
    });
    assert.equal(r.error, null);
    for (const got of [r.headers!, r.status.metadata]) {
      assert.deepEqual(got.get('x-ascii'), ['hello world']);
      assert.deepEqual(got.get('x-multi').map(String).join(',').split(/,\s*/), ['one', 'two']);
      const b = got.get('x-data-bin');
      assert.equal(b.length, 1);
      assert.ok(Buffer.isBuffer(b[0]));
      assert.deepEqual([...(b[0] as Buffer)], [...bin]);
    }
  });

  it('echoes binary metadata in initial metadata and trailers (bidi)', { timeout: 20_000 }, async () => {
    const bin = crypto.randomBytes(64);
    const call = client.BidiStream(md({ 'x-trace-bin': bin, 'x-tag': 'bidi' }), { deadline: Date.now() + 10_000 });
    const headers = new Promise<grpc.Metadata>((resolve) => call.on('metadata', resolve));
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('data', () => { /* drain */ });
    call.on('error', () => { /* status */ });
    call.write({ message: 'x' });
    call.end();
    const h = await headers;
    const s = await status;
    assert.equal(s.code, grpc.status.OK);
    assert.deepEqual(h.get('x-trace-bin')[0], bin);
    assert.deepEqual(s.metadata.get('x-trace-bin')[0], bin);
    assert.deepEqual(s.metadata.get('x-tag'), ['bidi']);
  });

  it('delivers every status code 1..16 with a byte-exact message (%, unicode, newlines)', { timeout: 20_000 }, async () => {
    const before = await sidecar.metrics();
    for (let code = 1; code <= 16; code++) {
      const message = `code ${code}: 100% done ✓ — ünïcödé 🚀\nsecond line\tand a tab %41 %%`;
      const r = await unary(client, { message: 'status' }, {
        metadata: md({ [ECHO_CONTROL.status]: String(code), [ECHO_CONTROL.messageBin]: Buffer.from(message, 'utf8') }),
      });
      assert.ok(r.error, `code ${code}: expected an error`);
      assert.equal(r.error.code, code, `code ${code}: got ${r.error.code} (${r.error.details})`);
      assert.equal(r.error.details, message, `code ${code}: message not byte-exact`);
    }
    const m = await sidecar.metrics();
    const delta = (c: string): number => m.sum('remora_downstream_requests_total', { listener: 'ingress', grpc_status: c })
      - before.sum('remora_downstream_requests_total', { listener: 'ingress', grpc_status: c });
    assert.equal(delta('5'), 1, 'grpc_status="5" counted once');
    assert.equal(delta('14'), 1, 'grpc_status="14" counted once');
  });

  it('passes the upstream\'s UNIMPLEMENTED for an unknown method through (not a sidecar no_route)', { timeout: 20_000 }, async () => {
    const before = await sidecar.metrics();
    const r = await unaryOnPath(client, '/remora.test.v1.Echo/DoesNotExist', { message: 'x' });
    assert.ok(r.error);
    assert.equal(r.error.code, grpc.status.UNIMPLEMENTED);
    assert.match(r.error.details, /DoesNotExist/, 'the message comes from the upstream grpc-js server');
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_local_replies_total', { reason: 'no_route' }) - before.sum('remora_local_replies_total', { reason: 'no_route' }), 0);
    assert.equal(m.sum('remora_upstream_requests_total', { cluster: 'upstream' })
      - before.sum('remora_upstream_requests_total', { cluster: 'upstream' }), 1);
    // The upstream's trailers-only response stays trailers-only on the wire.
    const raw = await rawGrpcCall(sidecar.port('ingress'), '/remora.test.v1.Echo/DoesNotExist');
    assert.equal(raw.trailersOnly, true, 'expected a trailers-only response');
    assert.equal(raw.headers['grpc-status'], '12');
    assert.match(decodeURIComponent(String(raw.headers['grpc-message'])), /DoesNotExist/);
  });

  it('carries an 8 MiB message each way (unary)', { timeout: 20_000 }, async () => {
    const payload = crypto.randomBytes(8 * 1024 * 1024);
    const r = await unary(client, { message: 'big', payload }, { deadlineMs: 30_000 });
    assert.equal(r.error, null, r.error?.details);
    assert.equal(r.response!.payload.length, payload.length);
    assert.ok(r.response!.payload.equals(payload), 'payload bytes differ');
  });

  it('carries 8 MiB through client streaming and server streaming', { timeout: 20_000 }, async () => {
    const chunk = crypto.randomBytes(8 * 1024 * 1024);
    const cs = await clientStream(client, [{ message: 'a', payload: chunk }], { deadlineMs: 30_000 });
    assert.equal(cs.error, null, cs.error?.details);
    assert.ok(cs.response!.payload.equals(chunk));
    const ss = await serverStream(client, { message: 'b', payload: chunk, count: 2 }, { deadlineMs: 30_000 });
    assert.equal(ss.error, null, ss.error?.details);
    assert.equal(ss.messages.length, 2);
    for (const m of ss.messages) assert.ok(m.payload.equals(chunk));
  });
});
