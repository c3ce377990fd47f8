/**
 * The listener side of mesh mTLS, over real TLS with openssl-made EC certificates:
 * - PERMISSIVE (tls_inspector + tls/raw_buffer filter chains): one port serves a plaintext h2c gRPC
 *   client and an mTLS client, telling them apart by the first byte;
 * - STRICT: a plaintext client, a client certificate from another CA and an expired one are refused
 *   (connection closed, counted) and never reach the app;
 * - x-forwarded-client-cert (SANITIZE_SET, Envoy's format): the app sees `By=` (the listener's
 *   SPIFFE ID), `Hash=` and `URI=` (the caller's SPIFFE ID); a client-forged header is replaced on
 *   mTLS and stripped on plaintext;
 * - StreamContext.peer carries the caller's verified identity;
 * - SDS: a listener whose certificate comes from a SecretSource waits for it, then swaps it live
 *   (a new connection sees the new serial, an open connection keeps working).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { createRuntime, type Runtime } from '../src/core/runtime';
import type { ListenerModel, SecretModel } from '../src/config/model';
import { compileBootstrap } from '../src/config/compile/bootstrap';
import { BOOTSTRAP_TYPE } from '../src/config/compile/load-bootstrap';
import { parseProtoJson } from '../src/config/compile/proto-json';
import { FilterStatus, type HttpFilterFactory } from '../src/filters/filter';
import { defaultExtensionRegistry } from '../src/filters/registry';
import { DEFAULT_REPLAY_BUFFER_BYTES } from '../src/filters/router/router-call';
import type { StreamContext } from '../src/filters/stream-context';
import { HttpConnectionManager } from '../src/listeners/connection-manager';
import { Listener, type ConnectionRejectReason } from '../src/listeners/listener';
import { SidecarMetrics } from '../src/observability/metrics';
import { RouteTable } from '../src/routing/route-table';
import type { PeerIdentity } from '../src/transport/peer-identity';
import type { SecretSource } from '../src/transport/secret-source';
import { ClusterManager } from '../src/upstream/cluster-manager';
import { loadEnvoyProtos } from '../src/xds/protos';
import { bootstrapJson, DOWNSTREAM_TLS_TYPE, HCM_TYPE, ROUTER_TYPE } from './fakes/bootstrap';
import { createEchoClient, md, unary } from './fakes/echo-client';
import { EchoServer } from './fakes/echo-server';
import { TestPki, type TestCa, type TestLeaf } from './fakes/openssl-pki';
import { SidecarHarness } from './fakes/sidecar-harness';

type Json = Record<string, unknown>;

const TLS_INSPECTOR = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/server';
const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/client';
const XFCC = 'x-forwarded-client-cert';
const FORGED = `By=spiffe://evil;Hash=00;URI=spiffe://cluster.local/ns/default/sa/admin`;

interface Material {
  pki: TestPki;
  ca: TestCa;
  otherCa: TestCa;
  server: TestLeaf;
  server2: TestLeaf;
  client: TestLeaf;
  foreignClient: TestLeaf;
  expiredClient: TestLeaf;
  paths: { serverCert: string; serverKey: string; ca: string };
}

/** A leaf signed by `ca` that expired before it was used (openssl `-days -1`). */
function issueExpired(pki: TestPki, ca: TestCa, cn: string, san: string): TestLeaf {
  const base = join(pki.dir, 'expired');
  writeFileSync(`${base}.ext`, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=${san}\n`);
  const run = (args: string[]): void => { execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] }); };
  run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`]);
  run(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', '777', '-days', '-1', '-out', `${base}.crt`, '-extfile', `${base}.ext`]);
  return { cert: readFileSync(`${base}.crt`), key: readFileSync(`${base}.key`) };
}

function makeMaterial(): Material {
  const pki = new TestPki();
  const ca = pki.createCa('mesh-ca');
  const otherCa = pki.createCa('other-ca');
  const server = pki.issue(ca, 'localhost', ['DNS:localhost', `URI:${SERVER_ID}`]);
  const server2 = pki.issue(ca, 'localhost', ['DNS:localhost', `URI:${SERVER_ID}`]);
  const client = pki.issue(ca, 'client', [`URI:${CLIENT_ID}`, 'DNS:client.default.svc']);
  const foreignClient = pki.issue(otherCa, 'client', [`URI:${CLIENT_ID}`]);
  const expiredClient = issueExpired(pki, ca, 'client', `URI:${CLIENT_ID}`);
  const paths = { serverCert: join(pki.dir, 'server.pem'), serverKey: join(pki.dir, 'server.key'), ca: ca.certPath };
  writeFileSync(paths.serverCert, server.cert);
  writeFileSync(paths.serverKey, server.key);
  return { pki, ca, otherCa, server, server2, client, foreignClient, expiredClient, paths };
}

function hcmJson(name: string, extra: Json): Json {
  return {
    '@type': HCM_TYPE,
    stat_prefix: name,
    codec_type: 'AUTO',
    route_config: { name: `${name}-routes`, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'echo' } }] }] },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
    ...extra,
  };
}

function tlsSocketJson(m: Material): Json {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': DOWNSTREAM_TLS_TYPE,
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: m.paths.serverCert }, private_key: { filename: m.paths.serverKey } }],
        validation_context: { trusted_ca: { filename: m.paths.ca } },
        alpn_protocols: ['h2', 'http/1.1'],
      },
      require_client_certificate: true,
    },
  };
}

const ISTIO_XFCC = { forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { uri: true } };

/** Istio's PERMISSIVE inbound listener shape. */
function permissiveListener(m: Material, name: string): Json {
  const hcm = hcmJson(name, ISTIO_XFCC);
  const filters = [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }];
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TLS_INSPECTOR } }],
    filter_chains: [
      { filter_chain_match: { transport_protocol: 'tls' }, filters, transport_socket: tlsSocketJson(m) },
      { filter_chain_match: { transport_protocol: 'raw_buffer' }, filters },
    ],
  };
}

/** STRICT: one TLS chain with a required client certificate. */
function strictListener(m: Material, name: string, hcmExtra: Json = ISTIO_XFCC): Json {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcmJson(name, hcmExtra) }], transport_socket: tlsSocketJson(m) }],
  };
}

function bootstrapWith(listeners: Json[], echoPort: number): Json {
  const b = bootstrapJson({ listeners: [], clusters: [{ name: 'echo', endpoints: [{ host: '127.0.0.1', port: echoPort }], http2: true }] });
  (b['static_resources'] as Json)['listeners'] = listeners;
  return b;
}

function compileListeners(listeners: Json[], echoPort: number) {
  const proto = parseProtoJson(loadEnvoyProtos(), BOOTSTRAP_TYPE, bootstrapWith(listeners, echoPort), '');
  assert.ok(proto.ok, JSON.stringify(!proto.ok && proto.errors));
  const r = compileBootstrap(proto.value, { filters: defaultExtensionRegistry(), readFile: (p) => readFileSync(p) });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.value;
}

/** A filter factory recording `ctx.peer` of every request (proves StreamContext.peer is set). */
class PeerRecorder implements HttpFilterFactory {
  readonly seen: Array<PeerIdentity | null> = [];
  createFilter() {
    const seen = this.seen;
    return { onRequestHeaders(ctx: StreamContext): FilterStatus { seen.push(ctx.peer); return FilterStatus.Continue; } };
  }
}

/** A Listener composed like the sidecar does, with a peer-recording filter and options under test. */
class TestListener {
  readonly rejects: ConnectionRejectReason[] = [];
  readonly recorder = new PeerRecorder();
  readonly listener: Listener;
  private constructor(readonly runtime: Runtime, readonly clusters: ClusterManager, model: ListenerModel, secrets: SecretSource | null) {
    const metrics = new SidecarMetrics(runtime.metrics, false);
    const stats = metrics.forListener(model.name);
    const table = RouteTable.compile(model.hcm.routeConfig!, { stripAnyHostPort: false });
    const deps = { runtime, clusters, clusterStats: (n: string) => metrics.forCluster(n), replayBufferBytes: DEFAULT_REPLAY_BUFFER_BYTES };
    const hcm = new HttpConnectionManager(model.hcm, table, [this.recorder], deps, stats, runtime);
    this.listener = new Listener(model, hcm, stats, {
      h2MaxSessionMemoryMb: 10, logger: runtime.logger, secrets, onConnectionRejected: (r) => { this.rejects.push(r); },
    });
  }

  static async start(model: ListenerModel, clusterModels: Parameters<ClusterManager['update']>[0], secrets: SecretSource | null = null): Promise<TestListener> {
    const runtime = createRuntime({ logLevel: 'silent' });
    const clusters = new ClusterManager(runtime);
    clusters.update(clusterModels);
    const t = new TestListener(runtime, clusters, model, secrets);
    await t.listener.listen();
    return t;
  }

  get port(): number { return this.listener.address()!.port; }

  async close(): Promise<void> {
    this.listener.destroy();
    await this.clusters.close();
  }
}

/** An in-test SecretSource: secrets are set by the test; change listeners are called synchronously. */
class FakeSecrets implements SecretSource {
  private readonly secrets = new Map<string, SecretModel>();
  private readonly listeners = new Set<(name: string) => void>();
  private readonly waiters = new Map<string, Array<(s: SecretModel) => void>>();
  get(name: string): SecretModel | null { return this.secrets.get(name) ?? null; }
  onChange(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }
  whenReady(name: string): Promise<SecretModel> {
    const s = this.secrets.get(name);
    if (s !== undefined) return Promise.resolve(s);
    return new Promise((resolve) => { this.waiters.set(name, [...(this.waiters.get(name) ?? []), resolve]); });
  }
  set(secret: SecretModel): void {
    this.secrets.set(secret.name, secret);
    for (const w of this.waiters.get(secret.name) ?? []) w(secret);
    this.waiters.delete(secret.name);
    for (const l of [...this.listeners]) l(secret.name);
  }
  get listenerCount(): number { return this.listeners.size; }
}

/** One gRPC-shaped request (empty Echo message) on an h2 session; resolves with headers + trailers. */
function grpcOnSession(session: http2.ClientHttp2Session, extra: http2.OutgoingHttpHeaders = {}): Promise<{ status: number; grpcStatus: string | undefined; headers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST', ':path': '/remora.test.v1.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', ...extra,
    });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => { headers = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', () => {});
    req.on('end', () => {
      if (headers[':status'] === undefined) reject(new Error('no response'));
      else resolve({ status: Number(headers[':status']), grpcStatus: (trailers['grpc-status'] ?? headers['grpc-status']) as string | undefined, headers });
    });
    req.on('error', reject);
    req.end(Buffer.alloc(5));
  });
}

function connectMtls(port: number, m: Material, leaf: TestLeaf, ca: Buffer = m.ca.cert): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://localhost:${port}`, {
      createConnection: () => tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, cert: leaf.cert, key: leaf.key, ALPNProtocols: ['h2'] }),
    });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function certHash(pem: Buffer): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

describe('mTLS listener: PERMISSIVE through the sidecar (bootstrap YAML)', { timeout: 60_000 }, () => {
  let m: Material;
  let echo: EchoServer;
  let sidecar: SidecarHarness;

  before(async () => {
    m = makeMaterial();
    echo = await EchoServer.start({ id: 'app' });
    sidecar = await SidecarHarness.start(stringify(bootstrapWith([permissiveListener(m, 'inbound')], echo.port)));
  });
  after(async () => {
    await sidecar?.close();
    await echo?.close();
    m?.pki.cleanup();
  });

  it('serves a plaintext h2c gRPC client, with a forged XFCC stripped', async () => {
    const client = createEchoClient(sidecar.target('inbound'));
    try {
      const r = await unary(client, { message: 'plain' }, { metadata: md({ [XFCC]: FORGED }) });
      assert.equal(r.error, null, r.error?.details);
      assert.equal(r.response!.message, 'plain');
      assert.deepEqual(echo.lastMetadata!.get(XFCC), [], 'plaintext: no XFCC reaches the app');
      assert.equal(echo.lastMetadata!.get('x-forwarded-proto')[0], 'http');
    } finally {
      client.close();
    }
  });

  it('serves an mTLS client on the same port; the app sees XFCC with By, Hash and the caller URI (SANITIZE_SET)', async () => {
    const creds = grpc.credentials.createSsl(m.ca.cert, m.client.key, m.client.cert);
    const client = createEchoClient(sidecar.target('inbound'), { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' }, creds);
    try {
      const r = await unary(client, { message: 'secure' }, { metadata: md({ [XFCC]: FORGED }) });
      assert.equal(r.error, null, r.error?.details);
      assert.equal(r.response!.message, 'secure');
      assert.deepEqual(echo.lastMetadata!.get(XFCC), [`By=${SERVER_ID};Hash=${certHash(m.client.cert)};URI=${CLIENT_ID}`]);
      assert.equal(echo.lastMetadata!.get('x-forwarded-proto')[0], 'https');
    } finally {
      client.close();
    }
  });
});

describe('mTLS listener: STRICT, peer identity, XFCC modes', { timeout: 60_000 }, () => {
  let m: Material;
  let echo: EchoServer;
  let strict: TestListener;
  let append: TestListener;
  let permissive: TestListener;

  before(async () => {
    m = makeMaterial();
    echo = await EchoServer.start({ id: 'app' });
    const b = compileListeners([
      strictListener(m, 'strict', { forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { subject: true, uri: true, dns: true } }),
      strictListener(m, 'append', { forward_client_cert_details: 'APPEND_FORWARD', set_current_client_cert_details: { uri: true } }),
      permissiveListener(m, 'permissive'),
    ], echo.port);
    assert.equal(b.listeners[0]!.plaintextAllowed, false);
    assert.equal(b.listeners[2]!.plaintextAllowed, true);
    assert.notEqual(b.listeners[2]!.tls, null);
    strict = await TestListener.start(b.listeners[0]!, b.clusters);
    append = await TestListener.start(b.listeners[1]!, b.clusters);
    permissive = await TestListener.start(b.listeners[2]!, b.clusters);
  });
  after(async () => {
    await strict?.close();
    await append?.close();
    await permissive?.close();
    await echo?.close();
    m?.pki.cleanup();
  });

  it('refuses a plaintext gRPC client on a STRICT port: closed, counted, never reaches the app', async () => {
    const before = echo.started;
    const client = createEchoClient(`127.0.0.1:${strict.port}`);
    try {
      const r = await unary(client, { message: 'plain' }, { deadlineMs: 5000 });
      assert.ok(r.error, 'the call must fail');
      assert.equal(r.error.code, grpc.status.UNAVAILABLE, r.error.details);
    } finally {
      client.close();
    }
    assert.equal(echo.started, before);
    assert.ok(strict.listener.rejectedConnections().plaintext >= 1);
    assert.ok(strict.rejects.includes('plaintext'));
  });

  it('closes a raw plaintext HTTP/1.1 connection on a STRICT port without answering', async () => {
    const sock = net.connect(strict.port, '127.0.0.1');
    const got: Buffer[] = [];
    sock.on('data', (d) => got.push(d));
    sock.on('error', () => {});
    sock.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((resolve) => sock.once('close', resolve));
    assert.equal(Buffer.concat(got).length, 0);
  });

  it('refuses a client certificate from another CA, and an expired one', async () => {
    const before = echo.started;
    const handshakeFailuresBefore = strict.listener.rejectedConnections().tls_handshake;
    for (const leaf of [m.foreignClient, m.expiredClient]) {
      const creds = grpc.credentials.createSsl(m.ca.cert, leaf.key, leaf.cert);
      const client = createEchoClient(`127.0.0.1:${strict.port}`, { 'grpc.ssl_target_name_override': 'localhost' }, creds);
      try {
        const r = await unary(client, { message: 'bad-cert' }, { deadlineMs: 5000 });
        assert.ok(r.error, 'the call must fail');
        assert.equal(r.error.code, grpc.status.UNAVAILABLE, r.error.details);
      } finally {
        client.close();
      }
    }
    assert.equal(echo.started, before);
    assert.ok(strict.listener.rejectedConnections().tls_handshake >= handshakeFailuresBefore + 2);
  });

  it('sets StreamContext.peer from the verified client certificate, once per connection', async () => {
    const session = await connectMtls(strict.port, m, m.client);
    try {
      const seenBefore = strict.recorder.seen.length;
      for (let i = 0; i < 2; i++) {
        const r = await grpcOnSession(session, { [XFCC]: FORGED });
        assert.equal(r.grpcStatus, '0');
      }
      const peers = strict.recorder.seen.slice(seenBefore);
      assert.equal(peers.length, 2);
      const p = peers[0]!;
      assert.ok(p !== null);
      assert.equal(peers[1], p, 'one PeerIdentity per connection');
      assert.equal(p.spiffeId, CLIENT_ID);
      assert.equal(p.principal, 'cluster.local/ns/default/sa/client');
      assert.equal(p.trustDomain, 'cluster.local');
      assert.equal(p.namespace, 'default');
      assert.equal(p.serviceAccount, 'client');
      assert.deepEqual(p.dnsSans, ['client.default.svc']);
      assert.equal(p.subject, 'CN=client');
      assert.equal(p.certSha256, certHash(m.client.cert));
      // SANITIZE_SET with subject, uri and dns.
      assert.deepEqual(echo.lastMetadata!.get(XFCC), [
        `By=${SERVER_ID};Hash=${certHash(m.client.cert)};Subject="CN=client";URI=${CLIENT_ID};DNS=client.default.svc`,
      ]);
    } finally {
      session.close();
    }
  });

  it('leaves StreamContext.peer null for a plaintext client of a PERMISSIVE port', async () => {
    const session = http2.connect(`http://127.0.0.1:${permissive.port}`);
    try {
      const r = await grpcOnSession(session);
      assert.equal(r.grpcStatus, '0');
      assert.equal(permissive.recorder.seen.at(-1), null);
    } finally {
      session.close();
    }
  });

  it('APPEND_FORWARD appends this hop to a client XFCC', async () => {
    const session = await connectMtls(append.port, m, m.client);
    try {
      const r = await grpcOnSession(session, { [XFCC]: 'By=spiffe://upstream-hop;URI=spiffe://origin' });
      assert.equal(r.grpcStatus, '0');
      assert.deepEqual(echo.lastMetadata!.get(XFCC), [`By=spiffe://upstream-hop;URI=spiffe://origin,By=${SERVER_ID};Hash=${certHash(m.client.cert)};URI=${CLIENT_ID}`]);
    } finally {
      session.close();
    }
  });
});

describe('mTLS listener: SDS certificates swapped live', { timeout: 60_000 }, () => {
  let m: Material;
  let echo: EchoServer;
  let t: TestListener;
  let secrets: FakeSecrets;

  before(async () => {
    m = makeMaterial();
    echo = await EchoServer.start({ id: 'app' });
    const b = compileListeners([strictListener(m, 'sds')], echo.port);
    const compiled = b.listeners[0]!;
    // The certificate and trust bundle come from SDS (Istio's `default` and `ROOTCA`).
    const model: ListenerModel = {
      ...compiled,
      tls: { ...compiled.tls!, certChain: null, privateKey: null, certificateSdsName: 'default', trustedCa: null, validationSdsName: 'ROOTCA' },
    };
    secrets = new FakeSecrets();
    t = await TestListener.start(model, b.clusters, secrets);
  });
  after(async () => {
    await t?.close();
    await echo?.close();
    m?.pki.cleanup();
  });

  it('refuses TLS until the secrets are known, then serves; a new connection gets a rotated certificate while an open one keeps working', async () => {
    assert.equal(t.listener.ready, false);
    await assert.rejects(connectMtls(t.port, m, m.client));
    assert.ok(t.rejects.includes('tls_not_ready'));

    const ready = t.listener.whenReady();
    secrets.set({ name: 'ROOTCA', tlsCertificate: null, validationContext: { trustedCa: m.ca.cert, matchSubjectAltNames: [] } });
    assert.equal(t.listener.ready, false, 'the certificate is still missing');
    secrets.set({ name: 'default', tlsCertificate: { certChain: m.server.cert, privateKey: m.server.key }, validationContext: null });
    await ready;
    assert.equal(t.listener.ready, true);

    const serial1 = new X509Certificate(m.server.cert).serialNumber;
    const serial2 = new X509Certificate(m.server2.cert).serialNumber;
    assert.notEqual(serial1, serial2);

    const old = await connectMtls(t.port, m, m.client);
    try {
      assert.equal((old.socket as tls.TLSSocket).getPeerX509Certificate()!.serialNumber, serial1);
      assert.equal((await grpcOnSession(old)).grpcStatus, '0');

      secrets.set({ name: 'default', tlsCertificate: { certChain: m.server2.cert, privateKey: m.server2.key }, validationContext: null });

      const fresh = await connectMtls(t.port, m, m.client);
      try {
        assert.equal((fresh.socket as tls.TLSSocket).getPeerX509Certificate()!.serialNumber, serial2);
        assert.equal((await grpcOnSession(fresh)).grpcStatus, '0');
      } finally {
        fresh.close();
      }
      // The connection opened before the rotation (on serial1) keeps working.
      assert.equal((await grpcOnSession(old)).grpcStatus, '0');
      assert.equal(old.closed || old.destroyed, false);
    } finally {
      old.close();
    }
  });

  it('verifies clients against the SDS trust bundle', async () => {
    const failedBefore = t.listener.rejectedConnections().tls_handshake;
    const startedBefore = echo.started;
    await assert.rejects(async () => {
      const s = await connectMtls(t.port, m, m.foreignClient);
      try { await grpcOnSession(s); } finally { s.close(); }
    });
    assert.equal(echo.started, startedBefore);
    assert.equal(t.listener.rejectedConnections().tls_handshake, failedBefore + 1);
  });

  it('stops following the secret source when destroyed', () => {
    assert.equal(secrets.listenerCount, 1);
    t.listener.destroy();
    assert.equal(secrets.listenerCount, 0);
  });
});
