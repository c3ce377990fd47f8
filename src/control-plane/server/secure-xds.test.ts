/**
 * The secure xDS port (Istio's 15012): a control plane with a mesh CA serves ADS over mTLS, takes
 * the node's namespace and service account from its client certificate (not from the metadata it
 * claims), serves the ROOTCA secret and auto-mTLS listeners, and refuses clients without a
 * certificate or with another CA's. Also `peerIdentityOf` on certificates without a usable identity.
 */
import { repoPath } from '../../../test/fakes/paths';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { decodeProtoBinary } from '../../config/compile';
import { systemClock } from '../../core/clock';
import { createRuntime } from '../../core/runtime';
import { loadEnvoyProtos } from '../../xds/protos';
import { FakeXdsClient } from '../../../test/fakes/fake-xds-client';
import { TestPki } from '../../../test/fakes/openssl-pki';
import { MeshCa } from '../ca/mesh-ca';
import { TYPE_URL } from '../cache/resources';
import { ControlPlane } from '../control-plane';
import { AdsTlsCertificates, peerIdentityOf } from './ads-tls';
import { loadAdsDefinition } from './ads-proto';

const FIXTURE = repoPath('test', 'fixtures', 'mesh', 'mtls.yaml');
const definition = loadAdsDefinition();
const protos = loadEnvoyProtos();

function sslClient(port: number, rootPem: string, key: string | null, chain: string | null): grpc.Client {
  const creds = grpc.credentials.createSsl(Buffer.from(rootPem), key === null ? null : Buffer.from(key), chain === null ? null : Buffer.from(chain));
  return new definition.Client(`127.0.0.1:${port}`, creds);
}

describe('secure xDS (mTLS ADS with the mesh CA)', () => {
  const ca = MeshCa.createSelfSigned({ clock: systemClock });
  let cp: ControlPlane;
  let dir: string;
  const clients: FakeXdsClient[] = [];
  const runtime = createRuntime({ logLevel: 'silent' });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'remora-secure-xds-'));
    writeFileSync(path.join(dir, 'mesh.yaml'), readFileSync(FIXTURE, 'utf8'));
    cp = await ControlPlane.start({ configPath: path.join(dir, 'mesh.yaml'), runtime, xdsPort: 0, adminPort: 0, xdsTlsPort: 0, ca, protos, debounceMs: 20 });
  });
  after(async () => {
    for (const c of clients) c.close();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function connect(client: grpc.Client, metadata: Record<string, unknown>): FakeXdsClient {
    const x = new FakeXdsClient({ target: '', node: { id: 'n1', metadata }, client });
    clients.push(x);
    return x;
  }

  it('binds a second, TLS-only port', () => {
    assert.ok(cp.xdsTlsPort > 0);
    assert.notEqual(cp.xdsTlsPort, cp.xdsPort);
  });

  it('a CA-issued client certificate is the node identity: it overrides the claimed NAMESPACE/SERVICE_ACCOUNT', async () => {
    const cert = ca.issueWithNewKey({ namespace: 'shop', serviceAccount: 'cart' });
    const client = sslClient(cp.xdsTlsPort, ca.trustBundlePem(), cert.keyPem, cert.certChainPem.join(''));
    // Claims to be catalog in store; the certificate says cart in shop.
    const x = connect(client, { WORKLOAD_NAME: 'cart', NAMESPACE: 'store', SERVICE_ACCOUNT: 'catalog', APP_PORTS: [50061] });
    x.subscribe(TYPE_URL.LISTENER, []);
    x.subscribe(TYPE_URL.SECRET, ['ROOTCA']);
    const lds = await x.waitForResponse((r) => r.typeUrl === TYPE_URL.LISTENER);
    const sds = await x.waitForResponse((r) => r.typeUrl === TYPE_URL.SECRET);

    const status = cp.ads.pushStatus.list();
    assert.equal(status.length, 1);
    assert.deepEqual(status[0]!.peer, { spiffeId: 'spiffe://cluster.local/ns/shop/sa/cart', trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'cart' });
    assert.equal(status[0]!.namespace, 'shop');
    assert.equal(status[0]!.serviceAccount, 'cart');

    // Translated for shop/cart (its STRICT PeerAuthentication), not for the claimed namespace.
    const inbound = lds.resources.find((r) => r.name === 'inbound');
    assert.ok(inbound !== undefined, `listeners: ${lds.names.join(', ')}`);
    const l = decodeProtoBinary(protos, 'envoy.config.listener.v3.Listener', inbound.value) as { filter_chains: { transport_socket?: unknown }[] };
    assert.equal(l.filter_chains.length, 1);
    assert.ok(l.filter_chains[0]!.transport_socket !== undefined, 'STRICT inbound chain');
    const secret = decodeProtoBinary(protos, 'envoy.extensions.transport_sockets.tls.v3.Secret', sds.resources[0]!.value) as { name: string; validation_context: { trusted_ca: { inline_string: string } } };
    assert.equal(secret.name, 'ROOTCA');
    assert.equal(secret.validation_context.trusted_ca.inline_string, ca.trustBundlePem());
    const overrides = await runtime.metrics.getSingleMetric('remora_xds_identity_overrides_total')!.get();
    assert.equal(overrides.values[0]!.value, 1);
    x.close();
    await x.waitForEnd().catch(() => undefined);
  });

  it('a client without a certificate is refused', async () => {
    const x = connect(sslClient(cp.xdsTlsPort, ca.trustBundlePem(), null, null), { WORKLOAD_NAME: 'cart', NAMESPACE: 'shop' });
    x.subscribe(TYPE_URL.LISTENER, []);
    const end = await x.waitForEnd(10_000);
    assert.equal(end.code, grpc.status.UNAVAILABLE);
    assert.equal(x.responses.length, 0);
  });

  it("a client with another CA's certificate is refused", async () => {
    const other = MeshCa.createSelfSigned({ clock: systemClock });
    const cert = other.issueWithNewKey({ namespace: 'shop', serviceAccount: 'cart' });
    const x = connect(sslClient(cp.xdsTlsPort, ca.trustBundlePem(), cert.keyPem, cert.certChainPem.join('')), { WORKLOAD_NAME: 'cart', NAMESPACE: 'shop' });
    x.subscribe(TYPE_URL.LISTENER, []);
    const end = await x.waitForEnd(10_000);
    assert.equal(end.code, grpc.status.UNAVAILABLE);
    assert.equal(x.responses.length, 0);
  });

  it('the plaintext port keeps taking the claimed metadata', async () => {
    const client = new definition.Client(`127.0.0.1:${cp.xdsPort}`, grpc.credentials.createInsecure());
    const x = connect(client, { WORKLOAD_NAME: 'cart', NAMESPACE: 'shop', SERVICE_ACCOUNT: 'whoever' });
    x.subscribe(TYPE_URL.LISTENER, []);
    await x.waitForResponse((r) => r.typeUrl === TYPE_URL.LISTENER);
    const s = cp.ads.pushStatus.list().find((n) => n.peer === null)!;
    assert.equal(s.serviceAccount, 'whoever');
    x.close();
  });

  it('a root rotation is pushed as a new ROOTCA and trusted on the secure port', async () => {
    const cert = ca.issueWithNewKey({ namespace: 'store', serviceAccount: 'catalog' });
    const x = connect(sslClient(cp.xdsTlsPort, ca.trustBundlePem(), cert.keyPem, cert.certChainPem.join('')), { WORKLOAD_NAME: 'catalog-v1' });
    x.subscribe(TYPE_URL.SECRET, ['ROOTCA']);
    const first = await x.waitForResponse((r) => r.typeUrl === TYPE_URL.SECRET);
    const next = MeshCa.createSelfSigned({ clock: systemClock });
    ca.addTrustedRootPem(next.activeRootPem());
    cp.refreshTrust();
    const second = await x.waitForResponse((r) => r.typeUrl === TYPE_URL.SECRET && r.version !== first.version, first.seq + 1);
    const secret = decodeProtoBinary(protos, 'envoy.extensions.transport_sockets.tls.v3.Secret', second.resources[0]!.value) as { validation_context: { trusted_ca: { inline_string: string } } };
    assert.ok(secret.validation_context.trusted_ca.inline_string.includes(next.activeRootPem().trim()));
    // A client certificate from the new root is now accepted on the secure port.
    const fromNew = next.issueWithNewKey({ namespace: 'store', serviceAccount: 'catalog' });
    const y = connect(sslClient(cp.xdsTlsPort, ca.trustBundlePem(), fromNew.keyPem, fromNew.certChainPem.join('')), { WORKLOAD_NAME: 'catalog-v1' });
    y.subscribe(TYPE_URL.SECRET, ['ROOTCA']);
    await y.waitForResponse((r) => r.typeUrl === TYPE_URL.SECRET);
    x.close();
    y.close();
  });
});

describe('peerIdentityOf', () => {
  const pki = new TestPki();
  after(() => pki.cleanup());
  const caCert = pki.createCa('peer-test');
  const auth = (sans: string[]) => {
    const leaf = pki.issue(caCert, 'leaf', sans);
    const raw = new X509Certificate(leaf.cert).raw;
    return { getAuthContext: () => ({ transportSecurityType: 'ssl', sslPeerCertificate: { raw } }) };
  };

  it('plaintext streams have no identity', () => {
    assert.deepEqual(peerIdentityOf({ getAuthContext: () => ({}) }, 'cluster.local'), { kind: 'plaintext' });
  });
  it('exactly one SPIFFE workload ID of this trust domain is required', () => {
    assert.deepEqual(peerIdentityOf(auth(['URI:spiffe://cluster.local/ns/a/sa/b', 'DNS:x.test']), 'cluster.local'), {
      kind: 'verified', identity: { spiffeId: 'spiffe://cluster.local/ns/a/sa/b', trustDomain: 'cluster.local', namespace: 'a', serviceAccount: 'b' },
    });
    const reason = (sans: string[]) => {
      const p = peerIdentityOf(auth(sans), 'cluster.local');
      return p.kind === 'rejected' ? p.reason : p.kind;
    };
    assert.match(reason(['DNS:x.test']), /exactly one SPIFFE ID, found 0/);
    assert.match(reason(['URI:spiffe://cluster.local/ns/a/sa/b', 'URI:spiffe://cluster.local/ns/a/sa/c']), /found 2/);
    assert.match(reason(['URI:spiffe://other.domain/ns/a/sa/b']), /trust domain 'other.domain'/);
    assert.match(reason(['URI:spiffe://cluster.local/workload']), /not a spiffe:\/\/<trust-domain>\/ns\/<ns>\/sa\/<sa>/);
  });
  it('AdsTlsCertificates pushes only what changed to its listeners', async () => {
    const c = new AdsTlsCertificates({ trustBundlePem: 'A', certChainPem: 'C', privateKeyPem: 'K' });
    const ca: string[] = [];
    const ids: string[] = [];
    c.addCaCertificateListener((u) => ca.push(u!.caCertificate.toString()));
    c.addIdentityCertificateListener((u) => ids.push(u!.certificate.toString()));
    await Promise.resolve();
    c.update({ trustBundlePem: 'B', certChainPem: 'C', privateKeyPem: 'K' });
    c.update({ trustBundlePem: 'B', certChainPem: 'D', privateKeyPem: 'K2' });
    assert.deepEqual(ca, ['A', 'B']);
    assert.deepEqual(ids, ['C', 'D']);
  });
});
