import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { ClusterModel, UpstreamTlsModel } from '../config/model';
import { buildUpstreamTlsOptions } from '../transport/upstream-tls';
import { TestPki } from '../../test/fakes/openssl-pki';
import { createH1Pool } from './h1-pool';
import { clusterModel } from '../../test/fakes/upstream-fakes';

function cluster(over: Partial<ClusterModel> = {}): ClusterModel {
  return clusterModel('c', { protocol: 'http1', ...over });
}

async function listen(t: { after(fn: () => unknown): void }, server: http.Server | https.Server | net.Server): Promise<{ port: number; connections: () => number }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  server.on(server instanceof https.Server ? 'secureConnection' : 'connection', (s: net.Socket) => { count++; sockets.add(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as net.AddressInfo).port, connections: () => count };
}

const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => { res.end(req.url); };

test('keep-alive: sequential requests reuse one connection', async (t) => {
  const { port, connections } = await listen(t, http.createServer(handler));
  const pool = createH1Pool('127.0.0.1', port, cluster(), null);
  t.after(() => pool.destroy());
  for (let i = 0; i < 5; i++) {
    const r = await pool.request({ path: `/r${i}`, method: 'GET' });
    assert.equal(await r.body.text(), `/r${i}`);
    // undici frees the client on the next tick after the body ends; without this yield a request
    // issued in the same tick legitimately takes a second connection.
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(connections(), 1);
  await pool.close();
});

test('maxRequestsPerConnection opens a new connection after N requests', async (t) => {
  const { port, connections } = await listen(t, http.createServer(handler));
  const pool = createH1Pool('127.0.0.1', port, cluster({ maxRequestsPerConnection: 2 }), null);
  t.after(() => pool.destroy());
  for (let i = 0; i < 4; i++) {
    await (await pool.request({ path: '/', method: 'GET' })).body.text();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(connections(), 2);
});

test('concurrent requests use separate connections (pipelining 1)', async (t) => {
  let waiting: http.ServerResponse[] = [];
  const { port, connections } = await listen(t, http.createServer((_req, res) => {
    waiting.push(res);
    if (waiting.length === 3) { for (const r of waiting) r.end('ok'); waiting = []; }
  }));
  const pool = createH1Pool('127.0.0.1', port, cluster(), null);
  t.after(() => pool.destroy());
  const bodies = await Promise.all([0, 1, 2].map(async () => (await pool.request({ path: '/', method: 'GET' })).body.text()));
  assert.deepEqual(bodies, ['ok', 'ok', 'ok']);
  assert.equal(connections(), 3);
});

test('connect refused surfaces an error with a stable code', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const pool = createH1Pool('127.0.0.1', port, cluster(), null);
  t.after(() => pool.destroy());
  await assert.rejects(pool.request({ path: '/', method: 'GET' }), (err: { code?: string }) => err.code === 'ECONNREFUSED');
});

test('TLS: trusted CA works, wrong CA fails, handshake timeout is a connect timeout', async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const ca = pki.createCa('ca');
  const other = pki.createCa('other');
  const leaf = pki.issue(ca, 'backend', ['DNS:backend.test']);
  const { port } = await listen(t, https.createServer({ cert: leaf.cert, key: leaf.key }, handler));
  const model: UpstreamTlsModel = {
    certChain: null, privateKey: null, certificateSdsName: null, validationSdsName: null, trustedCa: ca.cert, sni: 'backend.test', matchSubjectAltNames: [],
    alpnProtocols: [], minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', cipherSuites: null,
  };
  const pool = createH1Pool('127.0.0.1', port, cluster(), buildUpstreamTlsOptions(model, ['http/1.1']));
  t.after(() => pool.destroy());
  const r = await pool.request({ path: '/tls', method: 'GET' });
  assert.equal(await r.body.text(), '/tls');

  const bad = createH1Pool('127.0.0.1', port, cluster(), buildUpstreamTlsOptions({ ...model, trustedCa: other.cert }, ['http/1.1']));
  t.after(() => bad.destroy());
  await assert.rejects(bad.request({ path: '/', method: 'GET' }), (err: { code?: string }) => /CERT|SIGNATURE|ISSUER/.test(String(err.code)));

  const silent = net.createServer((s) => s.on('error', () => {}));
  const { port: silentPort } = await listen(t, silent);
  const slow = createH1Pool('127.0.0.1', silentPort, cluster({ connectTimeoutMs: 100 }), buildUpstreamTlsOptions(model, ['http/1.1']));
  t.after(() => slow.destroy());
  await assert.rejects(slow.request({ path: '/', method: 'GET' }), (err: { code?: string }) => err.code === 'UND_ERR_CONNECT_TIMEOUT');
});
