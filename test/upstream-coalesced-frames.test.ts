/**
 * An HTTP/2 upstream whose response HEADERS, DATA and trailers arrive in one read (over h2c, and over
 * TLS as one record per frame in one TCP write): each response must reach the client whole, with the
 * upstream's own headers, body and (gRPC) trailers. node:http2 emits a stream's 'response' on the next
 * tick but can hand its DATA over at once, which is why the router listens for 'data' only from
 * 'response' on; the reset that ordering caused under load is covered by
 * mtls-pair-open-loop.test.ts, since frame coalescing alone does not trigger it. The upstream is a
 * frame-level fake (fakes/coalescing-h2-server.ts) that writes each response in one socket write.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { CoalescingH2Server } from './fakes/coalescing-h2-server';
import { createTestPki, type TestPki } from './fakes/certs';
import { SidecarHarness } from './fakes/sidecar-harness';
import { routeTo } from './fakes/bootstrap';

interface Reply {
  readonly status: number;
  readonly marker: string | undefined;
  readonly body: string;
  readonly trailer: string | undefined;
}

function get(session: http2.ClientHttp2Session, path: string, contentType: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': path, te: 'trailers', 'content-type': contentType }, { endStream: true });
    let status = 0;
    let marker: string | undefined;
    let trailer: string | undefined;
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      status = Number(h[':status']);
      marker = h['x-upstream'] as string | undefined;
    });
    req.on('trailers', (t) => { trailer = t['x-trailer'] as string | undefined; });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('close', () => {
      if (req.rstCode !== http2.constants.NGHTTP2_NO_ERROR) reject(new Error(`stream reset with code ${req.rstCode}`));
      else resolve({ status, marker, body: Buffer.concat(chunks).toString(), trailer });
    });
  });
}

describe('upstream response frames coalesced into one read', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let plain: CoalescingH2Server;
  let grpcLike: CoalescingH2Server;
  let overTls: CoalescingH2Server;
  let plainTrailers: CoalescingH2Server;
  let sidecar: SidecarHarness;
  let client: http2.ClientHttp2Session;

  before(async () => {
    plain = await CoalescingH2Server.start({ headers: [['x-upstream', 'one-write'], ['content-type', 'text/plain']], body: 'hello from upstream', trailers: null });
    grpcLike = await CoalescingH2Server.start({
      headers: [['x-upstream', 'one-write'], ['content-type', 'application/grpc']],
      body: 'hello from upstream',
      trailers: [['grpc-status', '0'], ['x-trailer', 'done']],
    });
    plainTrailers = await CoalescingH2Server.start({ headers: [['x-upstream', 'one-write'], ['content-type', 'text/plain']], body: 'hello from upstream', trailers: [['x-trailer', 'done']] });
    pki = createTestPki();
    overTls = await CoalescingH2Server.start(
      { headers: [['x-upstream', 'one-write'], ['content-type', 'application/grpc']], body: 'hello from upstream', trailers: [['grpc-status', '0'], ['x-trailer', 'done']] },
      { cert: pki.server.cert, key: pki.server.key },
    );
    sidecar = await SidecarHarness.start({
      listeners: [{
        name: 'in',
        routes: [
          routeTo('tls', { prefix: '/tls/' }), routeTo('grpc', { prefix: '/grpc/' }),
          routeTo('plain-trailers', { prefix: '/trailers/' }), routeTo('plain', { prefix: '/' }),
        ],
      }],
      clusters: [
        { name: 'plain', endpoints: [{ host: '127.0.0.1', port: plain.port }], http2: true },
        { name: 'grpc', endpoints: [{ host: '127.0.0.1', port: grpcLike.port }], http2: true },
        { name: 'plain-trailers', endpoints: [{ host: '127.0.0.1', port: plainTrailers.port }], http2: true },
        {
          name: 'tls', endpoints: [{ host: '127.0.0.1', port: overTls.port }], http2: true,
          extra: {
            transport_socket: {
              name: 'envoy.transport_sockets.tls',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
                sni: 'localhost',
                common_tls_context: { alpn_protocols: ['h2'], validation_context: { trusted_ca: { filename: pki.ca.certPath } } },
              },
            },
          },
        },
      ],
    });
    client = http2.connect(`http://${sidecar.target('in')}`);
  });

  after(async () => {
    client?.close();
    await sidecar?.close();
    await plain?.close();
    await grpcLike?.close();
    await overTls?.close();
    await plainTrailers?.close();
    pki?.cleanup();
  });

  it('every response keeps the upstream headers and body', async () => {
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => get(client, `/plain/${i}`, 'text/plain')));
    for (const r of replies) assert.deepStrictEqual(r, { status: 200, marker: 'one-write', body: 'hello from upstream', trailer: undefined });
  });

  it('over TLS too, where node:http2 reads the frames inside a later write', async () => {
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => get(client, `/tls/${i}`, 'application/grpc')));
    for (const r of replies) assert.deepStrictEqual(r, { status: 200, marker: 'one-write', body: 'hello from upstream', trailer: 'done' });
  });

  it('a non-gRPC HTTP/2 response keeps its trailers too (Envoy forwards them)', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => get(client, `/trailers/${i}`, 'text/plain')));
    for (const r of replies) assert.deepStrictEqual(r, { status: 200, marker: 'one-write', body: 'hello from upstream', trailer: 'done' });
  });

  it('and a gRPC response its trailers', async () => {
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => get(client, `/grpc/${i}`, 'application/grpc')));
    for (const r of replies) assert.deepStrictEqual(r, { status: 200, marker: 'one-write', body: 'hello from upstream', trailer: 'done' });
  });
});
