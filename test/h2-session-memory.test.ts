/**
 * The HTTP/2 session memory limit (node:http2 `maxSessionMemory`, Remora flag
 * `--h2-max-session-memory-mb`, default 10 MB) is enforced per downstream connection: past it, new
 * streams on that connection are refused (RST_STREAM ENHANCE_YOUR_CALM) instead of growing memory,
 * and the sidecar keeps serving other connections.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { EchoServer } from './fakes/echo-server';
import { ECHO_CONTROL } from './fakes/echo-proto';
import { simpleProxy } from './fakes/bootstrap';
import { SidecarHarness } from './fakes/sidecar-harness';

const GRPC_EMPTY = Buffer.from([0, 0, 0, 0, 0]);

function openStream(session: http2.ClientHttp2Session, bigHeader: string): Promise<{ status: number; rst: number }> {
  return new Promise((resolve) => {
    const req = session.request({
      ':method': 'POST', ':path': '/remora.test.v1.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers',
      [ECHO_CONTROL.delayMs]: '300', 'x-padding': bigHeader,
    });
    let status = 0;
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('error', () => {});
    req.on('close', () => resolve({ status, rst: req.rstCode ?? 0 }));
    req.resume();
    req.end(GRPC_EMPTY);
  });
}

describe('HTTP/2 session memory limit', () => {
  let echo: EchoServer;
  let sidecar: SidecarHarness;
  before(async () => {
    echo = await EchoServer.start({ id: 'mem' });
    sidecar = await SidecarHarness.start(simpleProxy({ port: echo.port, http2: true, hcm: { max_request_headers_kb: 96 } }), { h2MaxSessionMemoryMb: 1 });
  });
  after(async () => {
    await sidecar?.close();
    await echo?.close();
  });

  it('refuses new streams on a connection over its memory budget and keeps serving others', { timeout: 30_000 }, async () => {
    const session = http2.connect(`http://127.0.0.1:${sidecar.port('ingress')}`);
    session.on('error', () => {});
    // 400 concurrent streams, each with ~20 KB of unique headers: far beyond a 1 MB budget.
    const results = await Promise.all(Array.from({ length: 400 }, (_, i) => openStream(session, String(i).padEnd(20_000, 'x'))));
    session.destroy();
    const refused = results.filter((r) => r.status === 0 && r.rst === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM).length;
    const served = results.filter((r) => r.status === 200).length;
    assert.ok(refused > 0, `expected some streams refused with ENHANCE_YOUR_CALM, got ${JSON.stringify(results.slice(0, 3))}`);
    assert.ok(served > 0, 'streams within the budget are served');

    // A fresh connection is unaffected.
    const fresh = http2.connect(`http://127.0.0.1:${sidecar.port('ingress')}`);
    fresh.on('error', () => {});
    const ok = await openStream(fresh, 'small');
    fresh.close();
    assert.equal(ok.status, 200);
  });
});
