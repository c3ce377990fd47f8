/**
 * The sidecar configured over ADS by a real AdsServer (src/control-plane/server) serving hand-built
 * resource sets, with real grpc-js Echo backends and the sidecar in-process: readiness only after
 * the first complete config, a gRPC call through an outbound listener defined by LDS → RDS →
 * CDS(EDS) → EDS, a live weighted-route flip and endpoint churn under load with zero failed calls,
 * an invalid cluster NACKed (with its field path) while the previous config keeps serving, and the
 * control plane stopped (calls keep working) and restarted on the same port (the sidecar resyncs).
 * Also `remora sidecar --xds … --node-id …` as a real process: node metadata reaches the control
 * plane and the sidecar becomes ready and proxies.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdsServer } from '../src/control-plane/server/ads-server';
import { loadAdsDefinition } from '../src/control-plane/server/ads-proto';
import type { XdsResourceSet } from '../src/control-plane/cache/resources';
import type { ProtoObject } from '../src/config/compile/proto-json';
import { createRuntime } from '../src/core/runtime';
import { seededRandom } from '../src/core/clock';
import { Sidecar } from '../src/sidecar/sidecar';
import { buildAdsBootstrap } from '../src/xds/ads-bootstrap';
import { loadEnvoyProtos } from '../src/xds/protos';
import { EchoServer } from './fakes/echo-server';
import { SERVED_BY } from './fakes/echo-proto';
import { createEchoClient, unary, type EchoClient } from './fakes/echo-client';
import { cla, HCM_TYPE, resourceSet, ROUTER_TYPE } from './fakes/fake-xds-client';
import { httpRequest } from './fakes/http-client';
import { spawnCli } from './fakes/sidecar-process';
import { waitFor, withTimeout } from './fakes/wait';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NodeIdentity } from '../src/control-plane/cache/resources';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { AdsClient, type AdsConfigSink } from '../src/xds/ads-client';
import { defaultExtensionRegistry } from '../src/filters/registry';
import { systemClock } from '../src/core/clock';

const NODE_ID = 'sidecar-ads-1';
const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

function h2EdsCluster(name: string, extra: ProtoObject = {}): ProtoObject {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: { seconds: 1, nanos: 0 },
    lb_policy: 'ROUND_ROBIN',
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`, explicit_http_config: { http2_protocol_options: {} } },
    },
    ...extra,
  };
}

function outboundListener(): ProtoObject {
  return {
    name: 'outbound',
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': HCM_TYPE,
          stat_prefix: 'outbound',
          codec_type: 'AUTO',
          rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: 'outbound-routes' },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
        },
      }],
    }],
  };
}

function routes(weightA: number, weightB: number): ProtoObject {
  return {
    name: 'outbound-routes',
    virtual_hosts: [{
      name: 'all',
      domains: ['*'],
      routes: [{
        match: { prefix: '/' },
        route: { weighted_clusters: { clusters: [{ name: 'echo-a', weight: { value: weightA } }, { name: 'echo-b', weight: { value: weightB } }] } },
      }],
    }],
  };
}

interface MeshState {
  weights: [number, number];
  endpointsB: Array<readonly [string, number]>;
  clusterB: ProtoObject;
}

/** Runs unary calls with `concurrency` workers until `stop()`; counts failures and who served. */
class Load {
  failures: string[] = [];
  ok = 0;
  readonly servedBy = new Map<string, number>();
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(private readonly client: EchoClient, concurrency: number, private readonly maxCalls = 20_000) {
    const workers: Promise<void>[] = [];
    for (let i = 0; i < concurrency; i++) workers.push(this.worker());
    this.done = Promise.all(workers).then(() => undefined);
  }

  private async worker(): Promise<void> {
    while (!this.stopped && this.ok + this.failures.length < this.maxCalls) {
      const r = await unary(this.client, { message: 'load' }, { deadlineMs: 5000 });
      if (r.error !== null) {
        this.failures.push(`${r.status.code} ${r.status.details}`);
        continue;
      }
      this.ok++;
      const by = String(r.headers?.get(SERVED_BY)[0] ?? '?');
      this.servedBy.set(by, (this.servedBy.get(by) ?? 0) + 1);
    }
  }

  count(id: string): number { return this.servedBy.get(id) ?? 0; }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

describe('sidecar configured over ADS', { timeout: 120_000 }, () => {
  const root = loadEnvoyProtos();
  const definition = loadAdsDefinition();
  let echoA: EchoServer;
  let echoB: EchoServer;
  let echoC: EchoServer;
  let server: AdsServer;
  let serverPort = 0;
  let sidecar: Sidecar;
  let client: EchoClient | null = null;
  let serving = false;
  const state: MeshState = { weights: [100, 0], endpointsB: [], clusterB: h2EdsCluster('echo-b') };

  const snapshot = (): XdsResourceSet | null => {
    if (!serving) return null;
    return resourceSet({
      clusters: [h2EdsCluster('echo-a'), state.clusterB],
      endpoints: [cla('echo-a', [['127.0.0.1', echoA.port]]), cla('echo-b', state.endpointsB)],
      listeners: [outboundListener()],
      routes: [routes(state.weights[0], state.weights[1])],
    });
  };
  const startServer = async (port: number): Promise<AdsServer> => {
    const s = new AdsServer({ root, provider: () => snapshot(), port, adsDefinition: definition });
    serverPort = await s.start();
    return s;
  };
  const typeStates = (s: AdsServer): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const t of s.pushStatus.forNode(NODE_ID)[0]?.types ?? []) out[t.type] = t.state;
    return out;
  };
  const allSynced = (s: AdsServer): boolean => {
    const t = typeStates(s);
    return ['cds', 'eds', 'lds', 'rds'].every((k) => t[k] === 'SYNCED');
  };
  const ready = async (): Promise<number> => (await httpRequest(sidecar.adminUrl(), { path: '/ready' })).status;
  const configDump = async (): Promise<{ configs: Array<Record<string, unknown>> }> =>
    JSON.parse((await httpRequest(sidecar.adminUrl(), { path: '/config_dump' })).body.toString()) as { configs: Array<Record<string, unknown>> };

  before(async () => {
    echoA = await EchoServer.start({ id: 'a' });
    echoB = await EchoServer.start({ id: 'b' });
    echoC = await EchoServer.start({ id: 'c' });
    state.endpointsB = [['127.0.0.1', echoB.port]];
    server = await startServer(0);
    const bootstrapJson = buildAdsBootstrap({
      xds: `127.0.0.1:${serverPort}`, nodeId: NODE_ID, workload: 'client', namespace: 'default', appPorts: [8080], labels: { app: 'client' }, adminPort: 0,
    });
    sidecar = await Sidecar.start({
      bootstrapJson,
      protos: root,
      runtime: createRuntime({ logLevel: 'silent', random: seededRandom(7) }),
      drainTimeMs: 1000,
      xdsBackoffMaxMs: 1000,
    });
  });

  after(async () => {
    client?.close();
    await sidecar?.close();
    await server?.stop();
    await Promise.all([echoA?.close(), echoB?.close(), echoC?.close()]);
  });

  it('is not ready before the first config, then proxies a call through LDS → RDS → CDS(EDS) → EDS', async () => {
    await waitFor(() => server.pushStatus.forNode(NODE_ID)[0]?.types.some((t) => t.type === 'lds'), { what: 'sidecar subscribed LDS', timeoutMs: 10_000 });
    const node = server.pushStatus.forNode(NODE_ID)[0]!;
    assert.equal(node.nodeId, NODE_ID);
    assert.equal(await ready(), 503, 'not ready while the control plane holds the stream');

    serving = true;
    server.notify();
    await waitFor(async () => (await ready()) === 200, { what: '/ready → 200 after the first config', timeoutMs: 10_000 });
    await waitFor(() => allSynced(server), { what: 'all four types SYNCED', timeoutMs: 10_000 });

    client = createEchoClient(`127.0.0.1:${sidecar.listenerPort('outbound')}`);
    const r = await unary(client, { message: 'via-ads' });
    assert.equal(r.error, null, r.status.details);
    assert.equal(r.response!.message, 'via-ads');
    assert.equal(r.headers?.get(SERVED_BY)[0], 'a');

    const dump = await configDump();
    const st = dump.configs.find((c) => c['@type'] === 'remora.admin.v1.AdsStatus') as { types: Array<{ type_url: string; version_info: string; last_acked_version: string; last_nack: unknown }> };
    assert.equal(st.types.length, 4);
    for (const t of st.types) {
      assert.notEqual(t.version_info, '', t.type_url);
      assert.equal(t.last_acked_version, t.version_info);
      assert.equal(t.last_nack, null);
    }
    const listeners = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump') as { dynamic_listeners: Array<{ name: string }> };
    assert.deepEqual(listeners.dynamic_listeners.map((l) => l.name), ['outbound']);
    const bootstrap = dump.configs[0] as { bootstrap: { node: { metadata: Record<string, unknown> } } };
    assert.deepEqual(bootstrap.bootstrap.node.metadata['APP_PORTS'], [8080]);
  });

  it('a live weighted-route flip (100/0 → 0/100) loses no call under load', async () => {
    const load = new Load(client!, 4);
    await waitFor(() => load.count('a') >= 20, { what: '20 calls served by a', timeoutMs: 10_000 });
    state.weights = [0, 100];
    server.notify();
    await waitFor(() => load.count('b') >= 50, { what: 'calls served by b after the flip', timeoutMs: 10_000 });
    await load.stop();
    assert.deepEqual(load.failures, []);
    const r = await unary(client!, { message: 'after' });
    assert.equal(r.headers?.get(SERVED_BY)[0], 'b');
  });

  it('endpoint churn through EDS loses no call under load', async () => {
    const load = new Load(client!, 4);
    await waitFor(() => load.count('b') >= 20, { what: 'calls served by b', timeoutMs: 10_000 });
    state.endpointsB = [['127.0.0.1', echoB.port], ['127.0.0.1', echoC.port]];
    server.notify();
    await waitFor(() => load.count('c') >= 20, { what: 'calls served by c after it was added', timeoutMs: 10_000 });
    state.endpointsB = [['127.0.0.1', echoC.port]];
    server.notify();
    await waitFor(() => allSynced(server), { what: 'EDS change ACKed', timeoutMs: 10_000 });
    const cBefore = load.count('c');
    const bBefore = load.count('b');
    await waitFor(() => load.count('c') >= cBefore + 50, { what: 'more calls on c after b was removed', timeoutMs: 10_000 });
    await load.stop();
    assert.deepEqual(load.failures, []);
    assert.ok(load.count('b') - bBefore <= 8, `b kept receiving calls after removal (${load.count('b') - bBefore})`);
  });

  it('an invalid cluster is NACKed with its field path while the previous config keeps serving', async () => {
    state.clusterB = h2EdsCluster('echo-b', { lb_policy: 'MAGLEV' });
    server.notify();
    await waitFor(() => typeStates(server)['cds'] === 'NACKED', { what: 'CDS NACKED on the server', timeoutMs: 10_000 });
    const cds = server.pushStatus.forNode(NODE_ID)[0]!.types.find((t) => t.type === 'cds')!;
    assert.match(cds.lastNack!.message, /resource echo-b: lb_policy: MAGLEV is not supported/);

    for (let i = 0; i < 5; i++) {
      const r = await unary(client!, { message: 'still' });
      assert.equal(r.error, null, r.status.details);
      assert.equal(r.headers?.get(SERVED_BY)[0], 'c');
    }
    const dump = await configDump();
    const st = dump.configs.find((c) => c['@type'] === 'remora.admin.v1.AdsStatus') as { types: Array<{ type_url: string; version_info: string; last_acked_version: string; last_nack: { time: string; version_info: string; error: string } | null }> };
    const t = st.types.find((x) => x.type_url.endsWith('.Cluster'))!;
    assert.ok(t.last_nack !== null);
    assert.match(t.last_nack.error, /resource echo-b: lb_policy/);
    assert.equal(t.last_nack.version_info, cds.versionSent);
    assert.notEqual(t.last_acked_version, cds.versionSent);
    assert.ok(!Number.isNaN(Date.parse(t.last_nack.time)));
    const clusters = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump') as { dynamic_active_clusters: Array<{ cluster: { name: string; lbPolicy: string }; error_state?: { details: string } }> };
    const b = clusters.dynamic_active_clusters.find((c) => c.cluster.name === 'echo-b')!;
    assert.equal(b.cluster.lbPolicy, 'ROUND_ROBIN', 'the last good echo-b is kept');
    assert.match(b.error_state!.details, /lb_policy/);

    state.clusterB = h2EdsCluster('echo-b');
    server.notify();
    await waitFor(() => allSynced(server), { what: 'SYNCED again after the fix', timeoutMs: 10_000 });
  });

  it('keeps serving while the control plane is down, then reconnects to a new one and resyncs', async () => {
    const ads = sidecar.adsClient!;
    const streamsBefore = ads.streamCount;
    await server.stop();
    await waitFor(() => !ads.connected, { what: 'the sidecar noticed the stream ended', timeoutMs: 10_000 });
    for (let i = 0; i < 10; i++) {
      const r = await unary(client!, { message: 'cp-down' });
      assert.equal(r.error, null, r.status.details);
    }
    assert.equal(await ready(), 200, 'still ready with the last good config');

    state.weights = [100, 0];
    server = await startServer(serverPort);
    await waitFor(() => allSynced(server), { what: 'the new server sees all four types SYNCED', timeoutMs: 15_000 });
    assert.ok(ads.streamCount > streamsBefore);
    await waitFor(async () => (await unary(client!, { message: 'x' })).headers?.get(SERVED_BY)[0] === 'a', { what: 'config from the new server applied', timeoutMs: 10_000 });
  });
});

describe('remora sidecar --xds (process)', { timeout: 60_000 }, () => {
  it('sends the node identity and metadata, becomes ready and proxies', async (t) => {
    const root = loadEnvoyProtos();
    const echo = await EchoServer.start({ id: 'cli-echo' });
    t.after(() => echo.close());
    const seen: NodeIdentity[] = [];
    const server = new AdsServer({
      root,
      port: 0,
      provider: (node) => {
        seen.push(node);
        return resourceSet({
          clusters: [h2EdsCluster('echo-a'), h2EdsCluster('echo-b')],
          endpoints: [cla('echo-a', [['127.0.0.1', echo.port]]), cla('echo-b', [['127.0.0.1', echo.port]])],
          listeners: [outboundListener()],
          routes: [routes(1, 1)],
        });
      },
    });
    const port = await server.start();
    t.after(() => server.stop());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-ads-cli-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const addrFile = path.join(dir, 'admin');
    const proc = spawnCli([
      'sidecar', '--xds', `127.0.0.1:${port}`, '--node-id', 'cli-node', '--workload', 'greeter', '--namespace', 'prod',
      '--service-account', 'greeter-sa', '--app-port', '8080', '--app-port', '9090', '--label', 'app=greeter', '--label', 'version=v1', '--outbound-port', '0', '--inbound-port', '0',
      '--admin-port', '0', '--admin-address-path', addrFile, '--log-level', 'silent',
    ]);
    t.after(async () => {
      proc.child.kill('SIGKILL');
      await withTimeout(proc.exited, 10_000, 'sidecar exit');
    });
    const adminUrl = `http://${await waitFor(() => (fs.existsSync(addrFile) ? fs.readFileSync(addrFile, 'utf8').trim() || null : null), { what: 'admin address file', timeoutMs: 20_000 })}`;
    await waitFor(async () => (await httpRequest(adminUrl, { path: '/ready' })).status === 200, { what: '/ready → 200', timeoutMs: 20_000 });
    assert.equal(seen[0]!.id, 'cli-node');
    assert.equal(seen[0]!.cluster, 'greeter');
    assert.deepEqual(seen[0]!.metadata, {
      WORKLOAD_NAME: 'greeter', NAMESPACE: 'prod', SERVICE_ACCOUNT: 'greeter-sa', APP_PORTS: [8080, 9090], LABELS: { app: 'greeter', version: 'v1' }, OUTBOUND_PORT: 0, INBOUND_PORT: 0,
      // The bound admin address, for the control plane's dashboard to scrape.
      REMORA_ADMIN_ADDRESS: adminUrl.slice('http://'.length),
    });
    const listeners = (await httpRequest(adminUrl, { path: '/listeners?format=json' })).json<Array<{ name: string; local_address: { socket_address: { port_value: number } } }>>();
    const outbound = listeners.find((l) => l.name === 'outbound')!;
    const c = createEchoClient(`127.0.0.1:${outbound.local_address.socket_address.port_value}`);
    t.after(() => c.close());
    const r = await unary(c, { message: 'cli' });
    assert.equal(r.error, null, r.status.details);
    assert.equal(r.headers?.get(SERVED_BY)[0], 'cli-echo');
  });

  it('rejects --xds without --node-id with exit code 2', async () => {
    const proc = spawnCli(['sidecar', '--xds', '127.0.0.1:15010']);
    let stderr = '';
    proc.child.stderr!.on('data', (d: Buffer | string) => { stderr += String(d); });
    const exit = await withTimeout(proc.exited, 20_000, 'exit');
    assert.equal(exit.code, 2);
    assert.match(proc.output.stderr + stderr, /--node-id is required/);
  });
});

/** google.protobuf.Struct as proto-loader decodes it (protobufjs names Value fields in camelCase). */
function structJson(s: { fields?: Record<string, Record<string, unknown>> } | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = valueJson(v);
  return out;
}
function valueJson(v: Record<string, unknown>): unknown {
  switch (v['kind']) {
    case 'stringValue': return v['stringValue'];
    case 'numberValue': return v['numberValue'];
    case 'boolValue': return v['boolValue'];
    case 'structValue': return structJson(v['structValue'] as never);
    case 'listValue': return ((v['listValue'] as { values?: Record<string, unknown>[] }).values ?? []).map(valueJson);
    default: return null;
  }
}

describe('AdsClient on the wire', { timeout: 30_000 }, () => {
  it('sends the node (with metadata) only on the first request and subscribes wildcard CDS then LDS', async (t) => {
    const definition = loadAdsDefinition();
    const requests: Array<Record<string, unknown>> = [];
    const grpcServer = new grpc.Server();
    grpcServer.addService(definition.service, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Record<string, unknown>, unknown>) => {
        call.on('data', (req: Record<string, unknown>) => requests.push(req));
        call.on('error', () => {});
      },
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
    });
    const port = await new Promise<number>((resolve, reject) => {
      grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    t.after(() => grpcServer.forceShutdown());
    const noop = async () => [];
    const sink: AdsConfigSink = { applyClusters: noop, applyEndpoints: noop, applyListeners: noop, applyRoutes: noop };
    const client = new AdsClient({
      target: `127.0.0.1:${port}`,
      node: { id: 'wire-node', cluster: 'wire', metadata: { WORKLOAD_NAME: 'w', APP_PORTS: [8080], LABELS: { app: 'w' } } },
      root: loadEnvoyProtos(),
      compileDeps: { filters: defaultExtensionRegistry(), readFile: (p) => fs.readFileSync(p) },
      sink,
      clock: systemClock,
      random: seededRandom(1),
      logger: pino({ level: 'silent' }),
    });
    t.after(() => client.close());
    client.start();
    await waitFor(() => requests.length >= 2, { what: 'two DiscoveryRequests' });
    const [first, second] = requests as Array<{ node: { id: string; cluster: string; metadata: never } | null; type_url: string; resource_names: string[]; response_nonce: string }>;
    assert.equal(first!.type_url, 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
    assert.equal(second!.type_url, 'type.googleapis.com/envoy.config.listener.v3.Listener');
    assert.deepEqual([first!.resource_names, second!.resource_names], [[], []]);
    assert.equal(first!.response_nonce, '');
    assert.equal(first!.node!.id, 'wire-node');
    assert.equal(first!.node!.cluster, 'wire');
    assert.deepEqual(structJson(first!.node!.metadata), { WORKLOAD_NAME: 'w', APP_PORTS: [8080], LABELS: { app: 'w' } });
    assert.equal(second!.node, null);
  });
});
