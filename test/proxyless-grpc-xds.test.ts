/**
 * Interop with an independent xDS client: a real `@grpc/grpc-js-xds` proxyless channel
 * (`xds:///greeter.test:50051`) bootstrapped at our ADS server, calling real grpc-js Echo backends
 * through hand-written resources (api_listener → HCM/RDS → RouteConfiguration with weighted
 * clusters → EDS clusters → CLAs). It must succeed, follow an 80/20 split and endpoint churn, show
 * up as NACKED in our push status when served an invalid CLA (hostname address), and recover after
 * the ADS server restarts on the same port. grpc-js-xds caches its bootstrap per process, so this
 * file needs its own process (node --test runs each file in one).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadEnvoyProtos } from '../src/xds/protos';
import type { XdsResourceSet } from '../src/control-plane/cache/resources';
import { AdsServer } from '../src/control-plane/server/ads-server';
import { loadAdsDefinition } from '../src/control-plane/server/ads-proto';
import { apiListener, cla, edsCluster, resourceSet, routeConfig } from './fakes/fake-xds-client';
import { EchoServer } from './fakes/echo-server';
import { closeClient, createEchoClient, unary, type EchoClient } from './fakes/echo-client';
import { SERVED_BY } from './fakes/echo-proto';
import { waitFor } from './fakes/wait';

const TARGET_NAME = 'greeter.test:50051';
const NODE_ID = 'proxyless-greeter-client';
const root = loadEnvoyProtos();
const definition = loadAdsDefinition();

let current: XdsResourceSet | null = null;
let ads: AdsServer;
let adsPort = 0;
let v1a: EchoServer;
let v1b: EchoServer;
let v2: EchoServer;
let client: EchoClient;

function mesh(opts: { v1: EchoServer[]; v2: Array<[string, number]>; weights: [number, number] }): XdsResourceSet {
  return resourceSet({
    listeners: [apiListener(TARGET_NAME, 'greeter-route')],
    routes: [routeConfig('greeter-route', [TARGET_NAME], [['greeter-v1', opts.weights[0]], ['greeter-v2', opts.weights[1]]])],
    clusters: [edsCluster('greeter-v1'), edsCluster('greeter-v2')],
    endpoints: [
      cla('greeter-v1', opts.v1.map((s) => ['127.0.0.1', s.port] as [string, number])),
      cla('greeter-v2', opts.v2),
    ],
  });
}

async function startAds(port: number): Promise<AdsServer> {
  const server = new AdsServer({ root, provider: () => current, port, adsDefinition: definition });
  await server.start();
  return server;
}

/** One call with a deadline; returns the id of the backend that served it, or throws. */
async function call(): Promise<string> {
  const r = await unary(client, { message: 'hi' }, { deadlineMs: 5000 });
  if (r.error !== null) throw new Error(`call failed: ${r.error.code} ${r.error.details}`);
  const by = r.headers?.get(SERVED_BY)[0];
  return String(by);
}

async function tally(n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = await call();
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

before(async () => {
  v1a = await EchoServer.start({ id: 'v1a' });
  v1b = await EchoServer.start({ id: 'v1b' });
  v2 = await EchoServer.start({ id: 'v2' });
  current = mesh({ v1: [v1a], v2: [['127.0.0.1', v2.port]], weights: [80, 20] });
  ads = await startAds(0);
  adsPort = ads.port;
  process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${adsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['ignore_resource_deletion'] }],
    node: { id: NODE_ID, cluster: 'greeter-clients', locality: {}, metadata: { TEST: 'proxyless' } },
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('@grpc/grpc-js-xds') as { register(): void }).register();
  client = createEchoClient(`xds:///${TARGET_NAME}`);
});

after(async () => {
  if (client !== undefined) closeClient(client);
  await ads?.stop();
  await Promise.all([v1a?.close(), v1b?.close(), v2?.close()]);
});

test('a grpc-js-xds client resolves xds:///greeter.test:50051 through our ADS server and its call succeeds', async () => {
  const by = await call();
  assert.ok(['v1a', 'v2'].includes(by), `served by ${by}`);
  const status = await waitFor(() => {
    const st = ads.pushStatus.forNode(NODE_ID)[0];
    return st !== undefined && st.types.length === 4 && st.types.every((t) => t.state === 'SYNCED') ? st : null;
  }, { what: 'all four types ACKed by grpc-js-xds' });
  assert.deepEqual(status.types.map((t) => t.type), ['cds', 'eds', 'lds', 'rds']);
  assert.match(status.userAgent, /gRPC Node/);
});

test('it follows an 80/20 weighted split', async () => {
  const counts = await tally(200);
  const v1 = counts.get('v1a') ?? 0;
  const v2n = counts.get('v2') ?? 0;
  assert.equal(v1 + v2n, 200);
  // 80% of 200 = 160; binomial sd ≈ 5.7, so [136, 184] is > 4 sd either side.
  assert.ok(v1 >= 136 && v1 <= 184, `v1 got ${v1}/200`);
});

test('it follows endpoint churn (the v1 endpoint set is swapped)', async () => {
  current = mesh({ v1: [v1b], v2: [['127.0.0.1', v2.port]], weights: [100, 0] });
  ads.notify();
  await waitFor(async () => (await call()) === 'v1b', { timeoutMs: 10000, what: 'calls reaching the new endpoint v1b' });
  const counts = await tally(40);
  assert.deepEqual(Array.from(counts.keys()), ['v1b'], `after churn: ${JSON.stringify(Array.from(counts))}`);
});

test('our push status shows its NACK of an invalid CLA (hostname address), and it keeps serving', async () => {
  const before = ads.pushStatus.forNode(NODE_ID)[0]!.types.find((t) => t.type === 'eds')!;
  current = mesh({ v1: [v1b], v2: [['localhost', v2.port]], weights: [100, 0] });
  ads.notify();
  const eds = await waitFor(() => {
    const t = ads.pushStatus.forNode(NODE_ID)[0]?.types.find((x) => x.type === 'eds');
    return t?.state === 'NACKED' ? t : null;
  }, { timeoutMs: 10000, what: 'EDS NACKED by grpc-js-xds' });
  assert.match(eds.lastNack!.message, /localhost|address/i);
  assert.notEqual(eds.versionSent, before.versionSent);
  assert.equal(await call(), 'v1b');
});

test('it recovers after the ADS server restarts on the same port', async () => {
  await ads.stop();
  assert.equal(await call(), 'v1b', 'serving from its last config while the control plane is down');
  current = mesh({ v1: [v1a], v2: [['127.0.0.1', v2.port]], weights: [0, 100] });
  ads = await startAds(adsPort);
  await waitFor(() => {
    const st = ads.pushStatus.forNode(NODE_ID)[0];
    return st !== undefined && st.types.length === 4 && st.types.every((t) => t.state === 'SYNCED');
  }, { timeoutMs: 20000, intervalMs: 50, what: 'the client to reconnect and ACK everything' });
  await waitFor(async () => (await call()) === 'v2', { timeoutMs: 10000, what: 'calls following the post-restart config' });
  const counts = await tally(20);
  assert.deepEqual(Array.from(counts.keys()), ['v2']);
});
