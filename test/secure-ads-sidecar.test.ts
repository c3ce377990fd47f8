/**
 * A sidecar on the control plane's secure xDS port (`--xds-tls`): a real ControlPlane with a mesh CA
 * (CA service with bootstrap tokens on the plaintext port, ADS over mTLS on `xdsTlsPort`) and a
 * sidecar whose bootstrap's `xds-grpc` cluster carries an UpstreamTlsContext with SDS `default` /
 * `ROOTCA`. The sidecar waits for its workload certificate, connects with it, becomes ready, and the
 * control plane's push status (`/debug/syncz`) shows the identity proven by the certificate rather
 * than the claimed metadata. `AdsTlsCredentials` directly: a new connection after a certificate
 * change presents the new certificate, and a server with the wrong SPIFFE ID is refused. A sidecar
 * asking for secure xDS without a workload identity is a config error (exit 2 from the CLI).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { systemClock } from '../src/core/clock';
import { ConfigError } from '../src/core/errors';
import { createRuntime } from '../src/core/runtime';
import type { UpstreamTlsModel } from '../src/config/model';
import { ControlPlane } from '../src/control-plane/control-plane';
import { MeshCa } from '../src/control-plane/ca/mesh-ca';
import { TokenFileAuthenticator } from '../src/control-plane/ca/ca-authenticator';
import { addCaService } from '../src/control-plane/ca/ca-service';
import { TYPE_URL } from '../src/control-plane/cache/resources';
import { loadAdsDefinition } from '../src/control-plane/server/ads-proto';
import type { NodeStatus } from '../src/control-plane/server/push-status';
import { Sidecar } from '../src/sidecar/sidecar';
import { SecretManager } from '../src/transport/identity/secret-manager';
import { AdsTlsCredentials } from '../src/xds/ads-client';
import { buildAdsBootstrap, controlPlaneSpiffeId } from '../src/xds/ads-bootstrap';
import { loadEnvoyProtos } from '../src/xds/protos';
import { FakeXdsClient } from './fakes/fake-xds-client';
import { greeterService, greeterWorkload, meshDocs } from './fakes/greeter-mesh';
import { httpRequest } from './fakes/http-client';
import { freePort } from './fakes/ports';
import { runCli } from './fakes/sidecar-process';
import { waitFor } from './fakes/wait';

const TOKENS = { 'token-client-0123456789': { namespace: 'demo', serviceAccount: 'client' } };

function tlsModel(o: Partial<UpstreamTlsModel>): UpstreamTlsModel {
  return {
    certChain: null, privateKey: null, certificateSdsName: 'default', validationSdsName: 'ROOTCA', trustedCa: null, sni: null,
    matchSubjectAltNames: [], alpnProtocols: ['h2'], minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', cipherSuites: null, ...o,
  };
}

describe('sidecar on the secure xDS port (mTLS with its workload certificate)', { timeout: 90_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-secure-ads-'));
  const protos = loadEnvoyProtos();
  const ca = MeshCa.createSelfSigned({ clock: systemClock });
  const definition = loadAdsDefinition();
  let cp: ControlPlane;
  const sidecars: Sidecar[] = [];
  const cleanups: Array<() => void> = [];

  before(async () => {
    const meshFile = path.join(dir, 'mesh.yaml');
    fs.writeFileSync(meshFile, meshDocs(greeterService(), greeterWorkload('greeter', await freePort(), {}, 'greeter')));
    cp = await ControlPlane.start({
      configPath: meshFile, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: 0, adminPort: 0, debounceMs: 20, protos,
      ca, xdsTlsPort: 0, extraServices: (server) => addCaService(server, ca, new TokenFileAuthenticator(TOKENS)),
    });
  });

  after(async () => {
    for (const c of cleanups) c();
    for (const s of sidecars) await s.close();
    await cp?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('becomes ready over the secure port; the control plane sees the identity of its certificate', async () => {
    const tokenFile = path.join(dir, 'client.token');
    fs.writeFileSync(tokenFile, 'token-client-0123456789');
    // The node claims service account 'claimed'; the certificate says 'client'.
    const bootstrap = buildAdsBootstrap({
      xds: `127.0.0.1:${cp.xdsTlsPort}`, nodeId: 'client-node', workload: 'client', namespace: 'demo', serviceAccount: 'claimed',
      adminPort: 0, outboundPort: await freePort(), inboundPort: await freePort(), xdsTls: { trustDomain: 'cluster.local' },
    });
    const sc = await Sidecar.start({
      bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: process.env.SECURE_ADS_LOG ?? 'silent' }), protos, xdsBackoffBaseMs: 50, xdsBackoffMaxMs: 500,
      identity: { caAddress: `127.0.0.1:${cp.xdsPort}`, caTokenFile: tokenFile, trustDomain: 'cluster.local', namespace: 'demo', serviceAccount: 'client' },
    });
    sidecars.push(sc);
    await waitFor(async () => (await httpRequest(sc.adminUrl(), { path: '/ready' })).status === 200, { timeoutMs: 20_000, what: 'sidecar ready' });
    const types = sc.adsClient!.status();
    assert.ok(types.find((t) => t.type === 'lds')!.received && types.find((t) => t.type === 'cds')!.received);

    const res = await httpRequest(`http://127.0.0.1:${cp.adminPort}`, { path: '/debug/syncz' });
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body.toString()) as NodeStatus[] | { nodes: NodeStatus[] };
    const nodes = Array.isArray(body) ? body : body.nodes;
    const node = nodes.find((n) => n.nodeId === 'client-node');
    assert.ok(node !== undefined, JSON.stringify(body));
    assert.deepEqual(node.peer, { spiffeId: 'spiffe://cluster.local/ns/demo/sa/client', trustDomain: 'cluster.local', namespace: 'demo', serviceAccount: 'client' });
    assert.equal(node.serviceAccount, 'client');
    assert.equal(sc.workloadIdentity!.current()!.spiffeId, 'spiffe://cluster.local/ns/demo/sa/client');
  });

  it('a new connection after a certificate change presents the new certificate', async () => {
    const secrets = new SecretManager();
    const creds = new AdsTlsCredentials(tlsModel({
      matchSubjectAltNames: [{ type: 'URI', matcher: { kind: 'exact', value: controlPlaneSpiffeId('cluster.local'), ignoreCase: false } }],
    }), secrets);
    cleanups.push(() => creds.close());
    const setCert = (sa: string): void => {
      const c = ca.issueWithNewKey({ namespace: 'rot', serviceAccount: sa });
      secrets.applySds([
        { name: 'default', tlsCertificate: { certChain: Buffer.from(c.certChainPem.join('')), privateKey: Buffer.from(c.keyPem) }, validationContext: null },
        { name: 'ROOTCA', tlsCertificate: null, validationContext: { trustedCa: Buffer.from(ca.trustBundlePem()), matchSubjectAltNames: [] } },
      ], []);
    };
    const stream = async (nodeId: string): Promise<FakeXdsClient> => {
      // A channel of its own (no shared subchannel): a new TLS connection.
      const client = new definition.Client(`127.0.0.1:${cp.xdsTlsPort}`, creds.credentials, { 'grpc.use_local_subchannel_pool': 1 });
      const x = new FakeXdsClient({ target: '', node: { id: nodeId, metadata: { NAMESPACE: 'rot' } }, client });
      cleanups.push(() => { x.close(); client.close(); });
      x.subscribe(TYPE_URL.LISTENER, []);
      await x.waitForResponse((r) => r.typeUrl === TYPE_URL.LISTENER);
      return x;
    };
    const peerOf = (nodeId: string): string | undefined => cp.ads.pushStatus.list().find((n) => n.nodeId === nodeId)?.peer?.spiffeId;
    const ready = creds.whenReady();
    setCert('first');
    await ready;
    const first = await stream('rot-1');
    assert.equal(peerOf('rot-1'), 'spiffe://cluster.local/ns/rot/sa/first');
    setCert('second');
    await stream('rot-2');
    assert.equal(peerOf('rot-2'), 'spiffe://cluster.local/ns/rot/sa/second');
    // The established stream kept its connection.
    assert.equal(peerOf('rot-1'), 'spiffe://cluster.local/ns/rot/sa/first');
    assert.equal(first.responses.length > 0, true);
  });

  it('a server without the expected SPIFFE ID is refused', async () => {
    const secrets = new SecretManager();
    const c = ca.issueWithNewKey({ namespace: 'rot', serviceAccount: 'x' });
    secrets.applySds([
      { name: 'default', tlsCertificate: { certChain: Buffer.from(c.certChainPem.join('')), privateKey: Buffer.from(c.keyPem) }, validationContext: null },
      { name: 'ROOTCA', tlsCertificate: null, validationContext: { trustedCa: Buffer.from(ca.trustBundlePem()), matchSubjectAltNames: [] } },
    ], []);
    const creds = new AdsTlsCredentials(tlsModel({
      matchSubjectAltNames: [{ type: 'URI', matcher: { kind: 'exact', value: 'spiffe://cluster.local/ns/evil/sa/cp', ignoreCase: false } }],
    }), secrets);
    cleanups.push(() => creds.close());
    const client = new definition.Client(`127.0.0.1:${cp.xdsTlsPort}`, creds.credentials, { 'grpc.use_local_subchannel_pool': 1 });
    const x = new FakeXdsClient({ target: '', node: { id: 'wrong-server' }, client });
    cleanups.push(() => { x.close(); client.close(); });
    x.subscribe(TYPE_URL.LISTENER, []);
    const end = await x.waitForEnd(10_000);
    assert.equal(end.code, grpc.status.UNAVAILABLE);
    assert.equal(x.responses.length, 0);
  });

  it('secure xDS without a workload identity is a config error', async () => {
    const bootstrap = buildAdsBootstrap({ xds: `127.0.0.1:${cp.xdsTlsPort}`, nodeId: 'n', adminPort: 0, xdsTls: {} });
    await assert.rejects(Sidecar.start({ bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: 'silent' }), protos }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /configure a workload identity/);
      return true;
    });
  });

  it('CLI: --xds-tls without --ca-address exits 2 with a usage error', async () => {
    const r = await runCli(['sidecar', '--xds', '127.0.0.1:1', '--node-id', 'n', '--xds-tls']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--xds-tls requires a workload identity/);
  });
});
