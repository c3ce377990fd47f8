/**
 * Automatic mTLS across the mesh (issue 6), all components real on loopback: the control plane with
 * the mesh CA (bootstrap tokens, `IstioCertificateService` on its xDS port) and three sidecars, each
 * generating its own key and obtaining its SPIFFE certificate from the CA — `client` (sa client),
 * `greeter` (sa greeter) and `impostor` (sa other, in front of a service whose WorkloadEntry says
 * sa payments). With a namespace-wide STRICT PeerAuthentication: calls through the client sidecar
 * succeed and the app sees the caller's SPIFFE ID in x-forwarded-client-cert; plaintext and
 * foreign-CA clients are refused at the greeter's inbound port; the client's SAN check refuses the
 * impostor; switching to PERMISSIVE lets plaintext in on the same port while mTLS keeps working.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { systemClock } from '../src/core/clock';
import { createRuntime } from '../src/core/runtime';
import { ControlPlane } from '../src/control-plane/control-plane';
import { MeshCa } from '../src/control-plane/ca/mesh-ca';
import { TokenFileAuthenticator } from '../src/control-plane/ca/ca-authenticator';
import { addCaService } from '../src/control-plane/ca/ca-service';
import { Sidecar } from '../src/sidecar/sidecar';
import { buildAdsBootstrap } from '../src/xds/ads-bootstrap';
import { loadEnvoyProtos } from '../src/xds/protos';
import { EchoServer } from './fakes/echo-server';
import { closeClient, createEchoClient, unary, type EchoClient } from './fakes/echo-client';
import { httpRequest } from './fakes/http-client';
import { TestPki } from './fakes/openssl-pki';
import { freePort } from './fakes/ports';
import { waitFor } from './fakes/wait';
import { GREETER_HOST, greeterService, greeterWorkload, meshDocs } from './fakes/greeter-mesh';

const TOKENS: Record<string, { namespace: string; serviceAccount: string }> = {
  'token-client-0123456789': { namespace: 'demo', serviceAccount: 'client' },
  'token-greeter-0123456789': { namespace: 'demo', serviceAccount: 'greeter' },
  'token-other-0123456789': { namespace: 'demo', serviceAccount: 'other' },
};

function peerAuthentication(mode: 'STRICT' | 'PERMISSIVE'): string {
  return `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: demo }
spec: { mtls: { mode: ${mode} } }
`;
}

/** Istio's ServiceEntry default is MESH_EXTERNAL (no auto-mTLS); these services are in the mesh. */
function meshInternal(serviceEntry: string): string {
  return serviceEntry.replace('spec:\n', 'spec:\n  location: MESH_INTERNAL\n');
}

function impostorDocs(port: number): string {
  return meshDocs(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: impostor, namespace: demo }
spec:
  hosts: [impostor.demo.svc]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 50051, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: impostor } }
`, `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: impostor, namespace: demo }
spec: { address: 127.0.0.1, ports: { grpc: ${port} }, labels: { app: impostor }, serviceAccount: payments }
`);
}

describe('mesh mTLS: CA-issued SPIFFE identities, STRICT and PERMISSIVE', { timeout: 120_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-mtls-'));
  const meshFile = path.join(dir, 'mesh.yaml');
  const protos = loadEnvoyProtos();
  const ca = MeshCa.createSelfSigned({ clock: systemClock, trustDomain: 'cluster.local' });
  const pki = new TestPki();
  let ports: Record<'greeterIn' | 'greeterOut' | 'clientIn' | 'clientOut' | 'impIn' | 'impOut', number>;
  let greeter: EchoServer;
  let impostor: EchoServer;
  let cp: ControlPlane;
  const sidecars: Sidecar[] = [];
  let client: EchoClient;

  const writeMesh = (mode: 'STRICT' | 'PERMISSIVE'): void => {
    fs.writeFileSync(meshFile, meshDocs(meshInternal(greeterService()), greeterWorkload('greeter', ports.greeterIn, {}, 'greeter'), impostorDocs(ports.impIn), peerAuthentication(mode)));
  };

  const startSidecar = async (name: string, sa: string, token: string, labels: Record<string, string>, appPort: number | null, outbound: number, inbound: number): Promise<Sidecar> => {
    const tokenFile = path.join(dir, `${name}.token`);
    fs.writeFileSync(tokenFile, token);
    const bootstrap = buildAdsBootstrap({
      xds: `127.0.0.1:${cp.xdsPort}`, nodeId: `${name}-node`, workload: name, namespace: 'demo', serviceAccount: sa,
      appPorts: appPort === null ? [] : [appPort], labels, adminPort: 0, outboundPort: outbound, inboundPort: inbound,
    });
    const sc = await Sidecar.start({
      bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: process.env.MTLS_LOG ?? 'silent' }), protos, xdsBackoffBaseMs: 50, xdsBackoffMaxMs: 500,
      identity: { caAddress: `127.0.0.1:${cp.xdsPort}`, caTokenFile: tokenFile, trustDomain: 'cluster.local', namespace: 'demo', serviceAccount: sa },
    });
    sidecars.push(sc);
    await waitFor(async () => (await httpRequest(sc.adminUrl(), { path: '/ready' })).status === 200, { timeoutMs: 20_000, what: `${name} ready` });
    return sc;
  };

  before(async () => {
    ports = { greeterIn: await freePort(), greeterOut: await freePort(), clientIn: await freePort(), clientOut: await freePort(), impIn: await freePort(), impOut: await freePort() };
    greeter = await EchoServer.start({ id: 'greeter' });
    impostor = await EchoServer.start({ id: 'impostor' });
    writeMesh('STRICT');
    const authenticator = new TokenFileAuthenticator(TOKENS);
    cp = await ControlPlane.start({
      configPath: meshFile, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: 0, adminPort: 0, debounceMs: 50, protos,
      ca, xdsTlsPort: 0, extraServices: (server) => addCaService(server, ca, authenticator),
    });
    await startSidecar('greeter', 'greeter', 'token-greeter-0123456789', { app: 'greeter' }, greeter.port, ports.greeterOut, ports.greeterIn);
    await startSidecar('impostor', 'other', 'token-other-0123456789', { app: 'impostor' }, impostor.port, ports.impOut, ports.impIn);
    await startSidecar('client', 'client', 'token-client-0123456789', { app: 'client' }, null, ports.clientOut, ports.clientIn);
    client = createEchoClient(`127.0.0.1:${ports.clientOut}`, { 'grpc.default_authority': `${GREETER_HOST}:50051` });
  });

  after(async () => {
    if (client) closeClient(client);
    for (const s of sidecars) await s.close();
    await cp?.stop();
    await greeter?.close();
    await impostor?.close();
    pki.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('every sidecar holds a CA-issued certificate for its own service account', () => {
    const ids = sidecars.map((s) => s.workloadIdentity?.current()?.spiffeId);
    assert.deepEqual(ids, ['spiffe://cluster.local/ns/demo/sa/greeter', 'spiffe://cluster.local/ns/demo/sa/other', 'spiffe://cluster.local/ns/demo/sa/client']);
  });

  it('a call through the client sidecar succeeds over mTLS; the app sees the caller in x-forwarded-client-cert', async () => {
    const r = await unary(client, { message: 'hi' }, { deadlineMs: 5000 });
    assert.equal(r.status.code, grpc.status.OK, r.status.details);
    const xfcc = String(greeter.lastMetadata?.get('x-forwarded-client-cert')[0] ?? '');
    assert.match(xfcc, /URI=spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client/);
    assert.match(xfcc, /By=spiffe:\/\/cluster\.local\/ns\/demo\/sa\/greeter/);
  });

  it('STRICT: a plaintext client at the greeter inbound port is refused and never reaches the app', async () => {
    const before = greeter.started;
    const direct = createEchoClient(`127.0.0.1:${ports.greeterIn}`, { 'grpc.default_authority': `${GREETER_HOST}:50051` });
    try {
      const r = await unary(direct, { message: 'plain' }, { deadlineMs: 3000 });
      assert.equal(r.status.code, grpc.status.UNAVAILABLE, r.status.details);
    } finally {
      closeClient(direct);
    }
    assert.equal(greeter.started, before);
  });

  it('STRICT: a client certificate from another CA is refused', async () => {
    const other = pki.createCa('other-ca');
    const leaf = pki.issue(other, 'intruder', ['URI:spiffe://cluster.local/ns/demo/sa/client']);
    const creds = grpc.credentials.createSsl(Buffer.from(ca.trustBundlePem()), leaf.key, leaf.cert, { checkServerIdentity: () => undefined });
    const before = greeter.started;
    const intruder = createEchoClient(`127.0.0.1:${ports.greeterIn}`, { 'grpc.default_authority': `${GREETER_HOST}:50051` }, creds);
    try {
      const r = await unary(intruder, { message: 'intrude' }, { deadlineMs: 3000 });
      assert.equal(r.status.code, grpc.status.UNAVAILABLE, r.status.details);
    } finally {
      closeClient(intruder);
    }
    assert.equal(greeter.started, before);
  });

  it("the client's SAN check refuses a workload with another service account's certificate", async () => {
    const imp = createEchoClient(`127.0.0.1:${ports.clientOut}`, { 'grpc.default_authority': 'impostor.demo.svc:50051' });
    try {
      const r = await unary(imp, { message: 'who are you' }, { deadlineMs: 5000 });
      assert.equal(r.status.code, grpc.status.UNAVAILABLE, r.status.details);
    } finally {
      closeClient(imp);
    }
    assert.equal(impostor.started, 0, 'the impostor app never saw the call');
  });

  it('PERMISSIVE: plaintext and mTLS on the same inbound port', async () => {
    writeMesh('PERMISSIVE');
    const direct = createEchoClient(`127.0.0.1:${ports.greeterIn}`, { 'grpc.default_authority': `${GREETER_HOST}:50051` });
    try {
      await waitFor(async () => (await unary(direct, { message: 'plain' }, { deadlineMs: 2000 })).status.code === grpc.status.OK,
        { timeoutMs: 15_000, what: 'plaintext accepted after the switch to PERMISSIVE' });
    } finally {
      closeClient(direct);
    }
    const r = await unary(client, { message: 'still mtls' }, { deadlineMs: 5000 });
    assert.equal(r.status.code, grpc.status.OK, r.status.details);
    assert.match(String(greeter.lastMetadata?.get('x-forwarded-client-cert')[0] ?? ''), /URI=spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client/);
  });
});
