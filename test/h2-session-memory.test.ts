/**
 * The HTTP/2 session memory limit (node:http2 `maxSessionMemory`, Remora flag
 * `--h2-max-session-memory-mb`, default 10 MB) is enforced per downstream connection. Node counts
 * the response data queued for a client that does not read; past the budget, new streams on that
 * connection are refused (RST_STREAM ENHANCE_YOUR_CALM) instead of memory growing, and the sidecar
 * keeps serving other connections.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { EchoServer } from './fakes/echo-server';
import { simpleProxy } from './fakes/bootstrap';
import { SidecarHarness } from './fakes/sidecar-harness';
import { waitFor } from './fakes/wait';

/** A gRPC frame holding `remora.test.v1.EchoMsg { payload = <n bytes> }` (field 2, bytes). */
function echoFrame(n: number): Buffer {
  const varint: number[] = [];
  for (let v = n; ; v >>>= 7) {
    if (v < 0x80) { varint.push(v); break; }
    varint.push((v & 0x7f) | 0x80);
  }
  const msg = Buffer.concat([Buffer.from([0x12, ...varint]), Buffer.alloc(n, 0x61)]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

interface Outcome { status: number; rst: number; closed: boolean }

function call(session: http2.ClientHttp2Session, body: Buffer, read: boolean): Outcome {
  const out: Outcome = { status: 0, rst: 0, closed: false };
  const req = session.request({ ':method': 'POST', ':path': '/remora.test.v1.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' });
  req.on('response', (h) => { out.status = Number(h[':status']); });
  req.on('error', () => {});
  req.on('close', () => { out.closed = true; out.rst = req.rstCode ?? 0; });
  if (read) req.resume();
  req.end(body);
  return out;
}

async function budgetExceeded(port: number): Promise<Outcome> {
  // The client grants no flow-control window, so every response byte stays queued in the sidecar.
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 0 } });
  session.on('error', () => {});
  try {
    const held = Array.from({ length: 64 }, () => call(session, echoFrame(64 * 1024), false));
    await waitFor(() => held.every((o) => o.status === 200), { timeoutMs: 10_000, what: 'held responses started' });
    // Refused → closed with an RST; served → response headers (its body cannot flow: window 0).
    const next = call(session, echoFrame(10), true);
    await waitFor(() => next.closed || next.status !== 0, { timeoutMs: 10_000, what: 'the extra stream answered or refused' });
    return next;
  } finally {
    session.destroy();
  }
}

describe('HTTP/2 session memory limit', () => {
  let echo: EchoServer;
  let tight: SidecarHarness;
  let roomy: SidecarHarness;
  before(async () => {
    echo = await EchoServer.start({ id: 'mem' });
    tight = await SidecarHarness.start(simpleProxy({ port: echo.port, http2: true }), { h2MaxSessionMemoryMb: 1 });
    roomy = await SidecarHarness.start(simpleProxy({ port: echo.port, http2: true }), { h2MaxSessionMemoryMb: 64 });
  });
  after(async () => {
    await tight?.close();
    await roomy?.close();
    await echo?.close();
  });

  it('refuses new streams on a connection over its memory budget', { timeout: 30_000 }, async () => {
    const refused = await budgetExceeded(tight.port('ingress'));
    assert.equal(refused.status, 0, 'the stream over budget must not be served');
    assert.equal(refused.rst, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  it('serves the same pattern within a larger budget (control)', { timeout: 30_000 }, async () => {
    const served = await budgetExceeded(roomy.port('ingress'));
    assert.equal(served.status, 200);
  });

  it('keeps serving other connections', { timeout: 30_000 }, async () => {
    const session = http2.connect(`http://127.0.0.1:${tight.port('ingress')}`);
    session.on('error', () => {});
    const ok = call(session, echoFrame(10), true);
    await waitFor(() => ok.closed, { timeoutMs: 10_000, what: 'call closed' });
    session.close();
    assert.equal(ok.status, 200);
  });
});
