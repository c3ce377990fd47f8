/**
 * A TLS listener with `require_client_certificate: true` and a trusted CA (mTLS at the edge): a grpc-js
 * client presenting a certificate from that CA gets through; one without a certificate, or with a
 * certificate from an unrelated CA, is refused during the handshake and never reaches the upstream.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as tls from 'node:tls';
import { EchoServer } from './fakes/echo-server';
import { createEchoClient, unary } from './fakes/echo-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { createTestPki, type TestPki } from './fakes/certs';
import { routeTo } from './fakes/bootstrap';

describe('TLS listener with required client certificates', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let echo: EchoServer;
  let sidecar: SidecarHarness;
  let target: string;

  before(async () => {
    pki = createTestPki();
    echo = await EchoServer.start({ id: 'behind-mtls' });
    sidecar = await SidecarHarness.start({
      listeners: [{
        name: 'mtls',
        routes: [routeTo('echo')],
        tls: { certPath: pki.server.certPath, keyPath: pki.server.keyPath, caPath: pki.ca.certPath, requireClientCertificate: true, alpn: ['h2'] },
      }],
      clusters: [{ name: 'echo', endpoints: [{ host: '127.0.0.1', port: echo.port }], http2: true }],
    });
    target = sidecar.target('mtls');
  });

  after(async () => {
    await sidecar?.close();
    await echo?.close();
    pki?.cleanup();
  });

  const opts = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' };

  it('accepts a client certificate signed by the trusted CA', { timeout: 20_000 }, async () => {
    const client = createEchoClient(target, opts, grpc.credentials.createSsl(pki.ca.cert, pki.client.key, pki.client.cert));
    try {
      const r = await unary(client, { message: 'secure' });
      assert.equal(r.error, null, r.error?.details);
      assert.equal(r.response!.message, 'secure');
    } finally {
      client.close();
    }
  });

  it('refuses a client without a certificate', { timeout: 20_000 }, async () => {
    const startedBefore = echo.started;
    const client = createEchoClient(target, opts, grpc.credentials.createSsl(pki.ca.cert));
    try {
      const r = await unary(client, { message: 'no-cert' }, { deadlineMs: 5000 });
      assert.ok(r.error, 'the call must fail');
      assert.equal(r.error.code, grpc.status.UNAVAILABLE, r.error.details);
      assert.equal(echo.started, startedBefore, 'the request must not reach the upstream');
    } finally {
      client.close();
    }
  });

  it('refuses a client certificate from an unrelated CA', { timeout: 20_000 }, async () => {
    const startedBefore = echo.started;
    const client = createEchoClient(target, opts, grpc.credentials.createSsl(pki.ca.cert, pki.otherClient.key, pki.otherClient.cert));
    try {
      const r = await unary(client, { message: 'wrong-ca' }, { deadlineMs: 5000 });
      assert.ok(r.error, 'the call must fail');
      assert.equal(r.error.code, grpc.status.UNAVAILABLE, r.error.details);
      assert.equal(echo.started, startedBefore, 'the request must not reach the upstream');
    } finally {
      client.close();
    }
  });

  it('presents the configured server certificate and negotiates h2 via ALPN', { timeout: 20_000 }, async () => {
    const socket = tls.connect({
      host: '127.0.0.1', port: sidecar.port('mtls'), servername: 'localhost', ca: pki.ca.cert,
      cert: pki.client.cert, key: pki.client.key, ALPNProtocols: ['h2'],
    });
    try {
      await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
      assert.equal(socket.authorized, true, String(socket.authorizationError));
      assert.equal(socket.alpnProtocol, 'h2');
      assert.equal(socket.getPeerCertificate().subject.CN, 'localhost');
    } finally {
      socket.destroy();
    }
  });
});
