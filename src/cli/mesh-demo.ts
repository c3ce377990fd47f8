/**
 * `remora demo` (`npm run demo`): the mesh on one machine. Starts the control plane on a copy of
 * `examples/mesh.yaml`, greeter v1 and v2 (grpc-js) each behind a sidecar, and a client sidecar,
 * all configured only over ADS. Prints the observed 90/10 split, header canary routing, a live edit
 * to 50/50 taking effect, and `remora status`; then shuts everything down.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRuntime } from '../core/runtime';
import { ControlPlane } from '../control-plane/control-plane';
import { Sidecar } from '../sidecar/sidecar';
import { buildAdsBootstrap } from '../xds/ads-bootstrap';
import { loadEnvoyProtos, protoIncludeDirs } from '../xds/protos';
import { statusCommand } from './control-plane-commands';

const HOST = 'greeter.demo.svc';

function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

interface HelloReply { message: string; index: number }
type GreeterClient = grpc.Client & {
  SayHello(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: HelloReply) => void): grpc.ClientUnaryCall;
};

async function startGreeter(Greeter: grpc.ServiceClientConstructor, version: string): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(Greeter.service, {
    SayHello(call: grpc.ServerUnaryCall<{ name: string }, HelloReply>, cb: grpc.sendUnaryData<HelloReply>) {
      cb(null, { message: `Hello, ${call.request.name}! (greeter ${version})`, index: 0 });
    },
    SayHelloStream(call: grpc.ServerWritableStream<unknown, HelloReply>) { call.end(); },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { server, port };
}

/** Prints the dashboard URL and the client sidecar's `istio_requests_total` series (reporter="source"). */
async function showTelemetry(out: (line: string) => void, client: Sidecar, cpAdminPort: number): Promise<void> {
  out(`\nmesh dashboard: http://127.0.0.1:${cpAdminPort}/dashboard (live while the demo runs; \`npm run demo -- --keep\` keeps it up)`);
  const text = await (await fetch(`${client.adminUrl()}/stats/prometheus`)).text();
  const lines = text.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
  out(`istio_requests_total on the client sidecar (${lines.length} series; first ${Math.min(lines.length, 4)}):`);
  for (const l of lines.slice(0, 4)) out(`  ${l}`);
}

export interface MeshDemoOptions {
  /** Keep the mesh running after the script until SIGINT (to browse the dashboard). */
  readonly keep: boolean;
}

export async function runMeshDemo(options: MeshDemoOptions = { keep: false }): Promise<void> {
  const out = (line: string) => process.stdout.write(line + '\n');
  const root = repoRoot();
  const def = protoLoader.loadSync(path.join(root, 'proto/greeter.proto'), { keepCase: true, defaults: true, includeDirs: protoIncludeDirs() });
  const Greeter = (grpc.loadPackageDefinition(def) as unknown as { remora: { examples: { greeter: { v1: { Greeter: grpc.ServiceClientConstructor } } } } }).remora.examples.greeter.v1.Greeter;
  const quiet = () => createRuntime({ logLevel: 'silent' });
  const protos = loadEnvoyProtos();

  const v1 = await startGreeter(Greeter, 'v1');
  const v2 = await startGreeter(Greeter, 'v2');
  const ports = { v1In: await freePort(), v2In: await freePort(), v1Out: await freePort(), v2Out: await freePort(), clientOut: await freePort(), clientIn: await freePort() };

  // The control plane serves a private copy of examples/mesh.yaml (with free inbound ports), so the
  // live edit below does not touch the repository.
  const dir = mkdtempSync(path.join(tmpdir(), 'remora-mesh-demo-'));
  const meshFile = path.join(dir, 'mesh.yaml');
  const example = readFileSync(path.join(root, 'examples/mesh.yaml'), 'utf8');
  writeFileSync(meshFile, example.replace('grpc: 15106', `grpc: ${ports.v1In}`).replace('grpc: 15206', `grpc: ${ports.v2In}`)
    .replace('../proto/greeter.proto', path.join(root, 'proto/greeter.proto')));
  const cp = await ControlPlane.start({ configPath: meshFile, runtime: quiet(), xdsPort: 0, adminPort: 0, debounceMs: 50, protos });
  out(`control plane        xDS 127.0.0.1:${cp.xdsPort}, admin 127.0.0.1:${cp.adminPort}, config ${meshFile} (from examples/mesh.yaml)`);

  const sidecars: Sidecar[] = [];
  const startSidecar = async (nodeId: string, workload: string, labels: Record<string, string>, appPort: number | null, outbound: number, inbound: number) => {
    const bootstrap = buildAdsBootstrap({ xds: `127.0.0.1:${cp.xdsPort}`, nodeId, workload, namespace: 'demo', appPorts: appPort === null ? [] : [appPort], labels, adminPort: 0, outboundPort: outbound, inboundPort: inbound });
    const sc = await Sidecar.start({ bootstrapJson: bootstrap, runtime: quiet(), protos });
    sidecars.push(sc);
    for (let i = 0; i < 200 && !sc.isReady(); i++) await new Promise((r) => setTimeout(r, 50));
    out(`sidecar ${nodeId.padEnd(12)} ${sc.isReady() ? 'ready' : 'NOT READY'} (outbound :${outbound}, inbound :${inbound}${appPort === null ? '' : `, app :${appPort}`})`);
  };
  await startSidecar('greeter-v1', 'greeter-v1', { app: 'greeter', version: 'v1' }, v1.port, ports.v1Out, ports.v1In);
  await startSidecar('greeter-v2', 'greeter-v2', { app: 'greeter', version: 'v2' }, v2.port, ports.v2Out, ports.v2In);
  await startSidecar('client', 'client', { app: 'client' }, null, ports.clientOut, ports.clientIn);

  const client = new Greeter(`127.0.0.1:${ports.clientOut}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': `${HOST}:50051` }) as unknown as GreeterClient;
  const hello = (name: string, canary = false) => new Promise<string>((resolve, reject) => {
    const md = new grpc.Metadata();
    if (canary) md.set('x-canary', 'true');
    client.SayHello({ name }, md, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res!.message)));
  });
  const split = async (n: number) => {
    const c = { v1: 0, v2: 0 };
    for (let i = 0; i < n; i++) (await hello('mesh')).includes('v2') ? c.v2++ : c.v1++;
    return c;
  };

  try {
    out(`\nclient -> ${HOST}:50051 through its sidecar:`);
    out(`  one call: ${JSON.stringify(await hello('Ada'))}`);
    const s1 = await split(500);
    out(`  500 calls with the 90/10 VirtualService: v1=${s1.v1} v2=${s1.v2} (${(s1.v2 / 5).toFixed(1)}% to v2)`);
    out(`  canary (x-canary: true): ${JSON.stringify(await hello('Grace', true))}`);

    out('\nlive edit: weights 90/10 -> 50/50 in the watched file');
    const t0 = Date.now();
    writeFileSync(meshFile, readFileSync(meshFile, 'utf8').replace('weight: 90', 'weight: 50').replace('weight: 10', 'weight: 50'));
    for (let i = 0; i < 100; i++) {
      const probe = await split(40);
      if (probe.v2 >= 12) break;
    }
    out(`  applied within ~${Date.now() - t0} ms (debounce 50 ms, translate, push, ACK, observed by calls)`);
    const s2 = await split(500);
    out(`  500 calls after the edit: v1=${s2.v1} v2=${s2.v2} (${(s2.v2 / 5).toFixed(1)}% to v2)`);

    out('\nremora status:');
    await statusCommand(['--control-plane', `127.0.0.1:${cp.adminPort}`]);

    await showTelemetry(out, sidecars[2]!, cp.adminPort);

    // The GrpcTranscoder document: plain HTTP/1.1 JSON to a greeter's inbound sidecar.
    const jsonUrl = `http://127.0.0.1:${ports.v1In}/v1/greeter/hello?name=Ada`;
    out(`\nJSON call (GrpcTranscoder greeter-json): GET ${jsonUrl}`);
    try {
      const res = await fetch(jsonUrl, { signal: AbortSignal.timeout(5000) });
      out(`  ${res.status} ${res.headers.get('content-type') ?? ''} ${await res.text()}`);
    } catch (err) {
      out(`  failed: ${(err as Error).message}`);
    }
    if (options.keep) {
      out('\n--keep: the mesh keeps running; press Ctrl-C to stop.');
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } finally {
    client.close();
    for (const sc of sidecars) await sc.close();
    await cp.stop();
    v1.server.forceShutdown();
    v2.server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  }
  out('\ndemo finished: control plane, 3 sidecars, 2 services and the client shut down cleanly.');
}
