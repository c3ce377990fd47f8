/**
 * Third-party client against the real control plane: a `@grpc/grpc-js-xds` proxyless channel
 * (`xds:///greeter.demo.svc:50051`) bootstrapped at our `ControlPlane`, which watches a mesh YAML
 * file (ServiceEntry + WorkloadEntries pointing directly at grpc-js Echo backends, DestinationRule
 * subsets, VirtualService weights) and translates it for the proxyless node. The client must succeed,
 * follow an 80/20 split and a live edit of the weights, follow endpoint churn (a WorkloadEntry moved
 * to another backend), surface in `/debug/syncz` as NACKED when our translation hands it a
 * RouteConfiguration it rejects (a `directResponse` route: grpc-js-xds NACKs any route action other
 * than `route`), and resync (all SYNCED) after the control plane restarts on the same port.
 * grpc-js-xds caches its bootstrap per process, so this file needs its own process (node --test runs
 * each file in one).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRuntime } from '../src/core/runtime';
import { ControlPlane } from '../src/control-plane/control-plane';
import { loadEnvoyProtos } from '../src/xds/protos';
import { EchoServer } from './fakes/echo-server';
import { SERVED_BY } from './fakes/echo-proto';
import { closeClient, createEchoClient, unary, type EchoClient } from './fakes/echo-client';
import { httpRequest } from './fakes/http-client';
import { waitFor } from './fakes/wait';
import { GREETER_HOST, greeterRoutes, greeterService, greeterSubsets, greeterWorkload, meshDocs } from './fakes/greeter-mesh';

const HOST = GREETER_HOST;
const TARGET = `${HOST}:50051`;
const NODE_ID = 'proxyless-greeter-client';
const protos = loadEnvoyProtos();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-proxyless-cp-'));
const meshFile = path.join(dir, 'mesh.yaml');

interface MeshSpec {
  /** Backend behind WorkloadEntry greeter-v1 (subset v1). */
  readonly v1: EchoServer;
  /** Backend behind WorkloadEntry greeter-v2 (subset v2). */
  readonly v2: EchoServer;
  readonly weights: [number, number];
  /** Adds a header-matched `directResponse` route, which grpc-js-xds rejects (RDS NACK). */
  readonly directResponse?: boolean;
}

function meshYaml(s: MeshSpec): string {
  return meshDocs(
    greeterService(),
    greeterWorkload('greeter-v1', s.v1.port, { version: 'v1' }),
    greeterWorkload('greeter-v2', s.v2.port, { version: 'v2' }),
    greeterSubsets(),
    greeterRoutes({ weights: s.weights, directResponse: s.directResponse === true }),
  );
}

interface SynczType { type: string; state: string; versionSent: string | null; lastNack: { message: string } | null }
interface SynczNode { nodeId: string; userAgent: string; types: SynczType[] }

let cp: ControlPlane | null = null;
let xdsPort = 0;
let v1a: EchoServer;
let v1b: EchoServer;
let v2: EchoServer;
let client: EchoClient;

async function startControlPlane(port: number): Promise<void> {
  cp = await ControlPlane.start({ configPath: meshFile, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: port, adminPort: 0, debounceMs: 50, protos });
  xdsPort = cp.xdsPort;
}

/** Our proxyless node's entry in `/debug/syncz`, or null when it has no stream. */
async function syncz(): Promise<SynczNode | null> {
  const nodes = (await httpRequest(`http://127.0.0.1:${cp!.adminPort}`, { path: '/debug/syncz' })).json<SynczNode[]>();
  return nodes.find((n) => n.nodeId === NODE_ID) ?? null;
}

async function allSynced(): Promise<SynczNode | null> {
  const n = await syncz();
  return n !== null && n.types.length === 4 && n.types.every((t) => t.state === 'SYNCED') ? n : null;
}

/** One call; returns the id of the backend that served it, or throws. */
async function call(): Promise<string> {
  const r = await unary(client, { message: 'hi' }, { deadlineMs: 5000 });
  if (r.error !== null) throw new Error(`call failed: ${r.error.code} ${r.error.details}`);
  return String(r.headers?.get(SERVED_BY)[0]);
}

async function tally(n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const id = await call();
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
}

before(async () => {
  v1a = await EchoServer.start({ id: 'v1a' });
  v1b = await EchoServer.start({ id: 'v1b' });
  v2 = await EchoServer.start({ id: 'v2' });
  fs.writeFileSync(meshFile, meshYaml({ v1: v1a, v2, weights: [80, 20] }));
  await startControlPlane(0);
  process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['ignore_resource_deletion'] }],
    node: { id: NODE_ID, cluster: 'greeter-clients', locality: {}, metadata: { PROXYLESS: true, NAMESPACE: 'demo' } },
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('@grpc/grpc-js-xds') as { register(): void }).register();
  client = createEchoClient(`xds:///${TARGET}`);
});

after(async () => {
  if (client !== undefined) closeClient(client);
  await cp?.stop();
  await Promise.all([v1a?.close(), v1b?.close(), v2?.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a grpc-js-xds client resolves xds:///greeter.demo.svc:50051 from the mesh YAML and its call succeeds', async () => {
  const by = await call();
  assert.ok(by === 'v1a' || by === 'v2', `served by ${by}`);
  const st = await waitFor(allSynced, { timeoutMs: 10_000, what: 'all four types ACKed by grpc-js-xds' });
  assert.deepEqual(st.types.map((t) => t.type).sort(), ['cds', 'eds', 'lds', 'rds']);
  assert.match(st.userAgent, /gRPC Node/);
});

test('it follows the 80/20 split and a live edit of the weights to 20/80', async () => {
  const c = await tally(400);
  assert.equal((c['v1a'] ?? 0) + (c['v2'] ?? 0), 400, JSON.stringify(c));
  // 20% of 400 = 80, sd = 8: 4 sigma is ±32.
  assert.ok(Math.abs((c['v2'] ?? 0) - 80) <= 32, `v2 served ${c['v2']} of 400`);

  fs.writeFileSync(meshFile, meshYaml({ v1: v1a, v2, weights: [20, 80] }));
  // Under the old split 50 calls give v2 ≈ 10 (sd 2.8); ≥ 25 means the edit is in force.
  await waitFor(async () => ((await tally(50))['v2'] ?? 0) >= 25, { timeoutMs: 10_000, what: 'the 20/80 split in force' });
  const d = await tally(400);
  assert.equal((d['v1a'] ?? 0) + (d['v2'] ?? 0), 400, JSON.stringify(d));
  assert.ok(Math.abs((d['v2'] ?? 0) - 320) <= 32, `v2 served ${d['v2']} of 400 after the edit`);
});

test('it follows endpoint churn (WorkloadEntry greeter-v1 moved from backend v1a to v1b)', async () => {
  fs.writeFileSync(meshFile, meshYaml({ v1: v1b, v2, weights: [100, 0] }));
  await waitFor(async () => (await call()) === 'v1b', { timeoutMs: 10_000, what: 'calls reaching the new endpoint v1b' });
  const startedOnOld = v1a.started;
  const c = await tally(50);
  assert.deepEqual(c, { v1b: 50 });
  assert.equal(v1a.started, startedOnOld, 'the removed backend v1a got calls after the churn');
});

test('our push status shows its NACK of a RouteConfiguration with a directResponse route, and it keeps serving', async () => {
  const before = (await waitFor(allSynced, { what: 'SYNCED before the bad edit' })).types.find((t) => t.type === 'rds')!;
  fs.writeFileSync(meshFile, meshYaml({ v1: v1b, v2, weights: [100, 0], directResponse: true }));
  const rds = await waitFor(async () => {
    const t = (await syncz())?.types.find((x) => x.type === 'rds');
    return t?.state === 'NACKED' ? t : null;
  }, { timeoutMs: 10_000, what: 'RDS NACKED by grpc-js-xds' });
  assert.notEqual(rds.versionSent, before.versionSent);
  assert.match(rds.lastNack!.message, /unsupported action/i);
  // The client keeps its last accepted RouteConfiguration.
  assert.deepEqual(await tally(20), { v1b: 20 });
  // A good config clears the NACK.
  fs.writeFileSync(meshFile, meshYaml({ v1: v1b, v2, weights: [100, 0] }));
  await waitFor(allSynced, { timeoutMs: 10_000, what: 'all SYNCED again after the fix' });
});

test('it recovers after the control plane restarts on the same port, and shows SYNCED again', async () => {
  const port = xdsPort;
  await cp!.stop();
  cp = null;
  assert.equal(await call(), 'v1b', 'serving from its last config while the control plane is down');
  fs.writeFileSync(meshFile, meshYaml({ v1: v1b, v2, weights: [0, 100] }));
  await startControlPlane(port);
  assert.equal(xdsPort, port);
  await waitFor(allSynced, { timeoutMs: 20_000, intervalMs: 50, what: 'the client to reconnect and ACK all four types' });
  await waitFor(async () => (await call()) === 'v2', { timeoutMs: 10_000, what: 'calls following the post-restart config' });
  assert.deepEqual(await tally(20), { v2: 20 });
});
