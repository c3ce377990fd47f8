/**
 * Transcoding configured through the mesh: a control plane whose mesh YAML has a `GrpcTranscoder`
 * document (descriptors = a .proto file next to the YAML, compiled by the control plane), a sidecar
 * in front of a grpc-js Greeter, and curl-style HTTP/1.1 JSON calls to the workload's inbound port.
 * Checks the JSON call, a live edit of the .proto (a new HTTP rule works without a restart), and a
 * broken .proto rejected with file:line while the last good config keeps serving.
 */
import { repoRoot } from './fakes/paths';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRuntime } from '../src/core/runtime';
import { ControlPlane } from '../src/control-plane/control-plane';
import { Sidecar } from '../src/sidecar/sidecar';
import { buildAdsBootstrap } from '../src/xds/ads-bootstrap';
import { loadEnvoyProtos, protoIncludeDirs } from '../src/xds/protos';
import { httpRequest } from './fakes/http-client';
import { waitFor } from './fakes/wait';
import { freePort } from './fakes/ports';
import { greeterService, greeterWorkload, meshDocs } from './fakes/greeter-mesh';

const REPO = repoRoot();

function transcoderDoc(): string {
  return `apiVersion: remora.dev/v1alpha1
kind: GrpcTranscoder
metadata: { name: greeter-json, namespace: demo }
spec:
  workloadSelector: { labels: { app: greeter } }
  services: [remora.examples.greeter.v1.Greeter]
  descriptors: { protoFiles: [proto/greeter.proto] }
`;
}

describe('mesh: GrpcTranscoder makes JSON calls work through the inbound sidecar', { timeout: 90_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-mesh-json-'));
  const meshFile = path.join(dir, 'mesh.yaml');
  const protoFile = path.join(dir, 'proto', 'greeter.proto');
  const protos = loadEnvoyProtos();
  const original = fs.readFileSync(path.join(REPO, 'proto/greeter.proto'), 'utf8');
  let server: grpc.Server;
  let cp: ControlPlane | null = null;
  let sidecar: Sidecar | null = null;
  let inbound = 0;
  const received: string[] = [];

  const get = (p: string) => httpRequest(inbound, { path: p, headers: { host: 'greeter.demo.svc:50051', accept: 'application/json' } });

  before(async () => {
    const def = protoLoader.loadSync(path.join(REPO, 'proto/greeter.proto'), { keepCase: true, defaults: true, includeDirs: protoIncludeDirs() });
    const Greeter = (grpc.loadPackageDefinition(def) as any).remora.examples.greeter.v1.Greeter as grpc.ServiceClientConstructor;
    server = new grpc.Server();
    server.addService(Greeter.service, {
      SayHello(call: grpc.ServerUnaryCall<{ name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
        received.push(call.request.name);
        cb(null, { message: `Hello, ${call.request.name}`, index: 0 });
      },
      SayHelloStream(call: grpc.ServerWritableStream<unknown, unknown>) { call.end(); },
    });
    const appPort = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    inbound = await freePort();
    fs.mkdirSync(path.dirname(protoFile));
    fs.writeFileSync(protoFile, original);
    fs.writeFileSync(meshFile, meshDocs(greeterService(), greeterWorkload('greeter-v1', inbound, { version: 'v1' }), transcoderDoc()));
    cp = await ControlPlane.start({ configPath: meshFile, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: 0, adminPort: 0, debounceMs: 50, protos });
    const bootstrap = buildAdsBootstrap({
      xds: `127.0.0.1:${cp.xdsPort}`, nodeId: 'greeter-v1-node', workload: 'greeter-v1', namespace: 'demo', appPorts: [appPort],
      labels: { app: 'greeter', version: 'v1' }, adminPort: 0, outboundPort: await freePort(), inboundPort: inbound,
    });
    sidecar = await Sidecar.start({ bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: 'silent' }), protos, xdsBackoffBaseMs: 50, xdsBackoffMaxMs: 500 });
    const sc = sidecar;
    await waitFor(async () => (await httpRequest(sc.adminUrl(), { path: '/ready' })).status === 200, { timeoutMs: 20_000, what: 'sidecar ready' });
  });

  after(async () => {
    await sidecar?.close();
    await cp?.stop();
    await new Promise<void>((resolve) => server?.tryShutdown(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GET /v1/greeter/hello?name=… returns the reply as JSON', async () => {
    const r = await waitFor(async () => {
      const res = await get('/v1/greeter/hello?name=Ada');
      return res.status === 200 ? res : null;
    }, { timeoutMs: 20_000, what: 'the JSON route' });
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.deepEqual(r.json(), { message: 'Hello, Ada' });
    assert.ok(received.includes('Ada'), 'the upstream saw the name from the query');
    const byPath = await get('/v1/greeter/hello/Grace');
    assert.equal(byPath.status, 200);
    assert.deepEqual(byPath.json(), { message: 'Hello, Grace' });
  });

  it('applies an edit to the .proto live: a new HTTP rule works without a restart', async () => {
    const before404 = await get('/v1/hi/Bob');
    assert.notEqual(before404.status, 200);
    fs.writeFileSync(protoFile, original.replace('additional_bindings { get: "/v1/greeter/hello" }', 'additional_bindings { get: "/v1/greeter/hello" }\n      additional_bindings { get: "/v1/hi/{name}" }'));
    const r = await waitFor(async () => {
      const res = await get('/v1/hi/Bob');
      return res.status === 200 ? res : null;
    }, { timeoutMs: 20_000, intervalMs: 100, what: 'the new binding in force' });
    assert.deepEqual(r.json(), { message: 'Hello, Bob' });
  });

  it('rejects a .proto with a syntax error (file:line) and keeps serving the last good config', async () => {
    const broken = original.replace('message HelloRequest {', 'message HelloRequest {\n  string = ;');
    const line = broken.split('\n').findIndex((l) => l.includes('string = ;')) + 1;
    fs.writeFileSync(protoFile, broken);
    const base = `http://127.0.0.1:${cp!.adminPort}`;
    const cfg = await waitFor(async () => {
      const j = (await httpRequest(base, { path: '/debug/config' })).json<{ last_rejected: { errors: string[] } | null }>();
      return j.last_rejected !== null ? j : null;
    }, { timeoutMs: 20_000, what: 'the rejection' });
    const text = cfg.last_rejected!.errors.join('\n');
    assert.ok(text.includes(`${protoFile}:${line}:`), text);
    assert.match(text, /GrpcTranscoder\/greeter-json .*spec\.descriptors\.protoFiles\[0\]/);
    const still = await get('/v1/hi/Bob');
    assert.equal(still.status, 200, 'the last good config keeps serving');
  });
});
