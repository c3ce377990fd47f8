/**
 * The replicated control plane (issue 3): two `ControlPlane` replicas read the mesh config from
 * one real etcd (`--etcd`/`--etcd-prefix`). A document put into etcd is accepted by both replicas,
 * an invalid one is rejected by both while the last good config keeps serving, and a sidecar
 * connected over ADS to replica B follows a route change put into etcd. Also checks the CLI's
 * `--etcd` argument handling. Skipped (with the reason) only where the `etcd` binary is missing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { controlPlaneCommand } from '../src/cli/control-plane-commands';
import { UsageError } from '../src/cli/args';
import { createRuntime } from '../src/core/runtime';
import { ControlPlane } from '../src/control-plane/control-plane';
import { Sidecar } from '../src/sidecar/sidecar';
import { buildAdsBootstrap } from '../src/xds/ads-bootstrap';
import { loadEnvoyProtos } from '../src/xds/protos';
import { EchoServer } from './fakes/echo-server';
import { SERVED_BY } from './fakes/echo-proto';
import { closeClient, createEchoClient, unary, type EchoClient } from './fakes/echo-client';
import { EtcdServer, ETCD_MISSING, findEtcdBinary } from './fakes/etcd-server';
import { httpRequest } from './fakes/http-client';
import { waitFor } from './fakes/wait';
import { freePort } from './fakes/ports';
import { GREETER_HOST, greeterRoutes, greeterService, greeterSubsets, greeterWorkload, meshDocs } from './fakes/greeter-mesh';

const HOST = GREETER_HOST;
const PREFIX = '/remora/';


/** The greeter service with two workloads (the echo servers themselves) and a weighted split. */
function meshYaml(v1Port: number, v2Port: number, _weights: [number, number]): string {
  return meshDocs(
    greeterService(),
    greeterWorkload('greeter-v1', v1Port, { version: 'v1' }),
    greeterWorkload('greeter-v2', v2Port, { version: 'v2' }),
    greeterSubsets(),
  );
}

function routeYaml(weights: [number, number]): string {
  return greeterRoutes({ weights });
}

interface DebugConfig { source: string; generation: number; last_rejected: { errors: string[] } | null }

async function debugConfig(cp: ControlPlane): Promise<DebugConfig> {
  return (await httpRequest(cp.adminPort, { path: '/debug/config' })).json<DebugConfig>();
}

describe('remora control-plane --etcd: argument handling', () => {
  it('--config and --etcd are mutually exclusive', async () => {
    await assert.rejects(controlPlaneCommand(['--config', 'x.yaml', '--etcd', '127.0.0.1:2379']), (e) => e instanceof UsageError && /mutually exclusive/.test(e.message));
  });
  it('--etcd-prefix needs --etcd', async () => {
    await assert.rejects(controlPlaneCommand(['--config', 'x.yaml', '--etcd-prefix', '/a/']), (e) => e instanceof UsageError && /requires --etcd/.test(e.message));
  });
  it('a malformed endpoint is a usage error', async () => {
    await assert.rejects(controlPlaneCommand(['--etcd', 'unix://sock:1']), (e) => e instanceof UsageError && /only http/.test(e.message));
  });
  it('neither --config nor --etcd is a usage error', async () => {
    await assert.rejects(controlPlaneCommand([]), (e) => e instanceof UsageError && /--config or --etcd is required/.test(e.message));
  });
});

describe('replicated control plane on one etcd', { skip: findEtcdBinary() === null ? ETCD_MISSING : false, timeout: 120_000 }, () => {
  const protos = loadEnvoyProtos();
  let etcd: EtcdServer;
  let kv: Etcd3;
  let a: ControlPlane;
  let b: ControlPlane;
  let v1: EchoServer;
  let v2: EchoServer;
  let sidecar: Sidecar | null = null;
  let client: EchoClient | null = null;

  const replica = () => ControlPlane.start({
    etcd: { endpoints: [etcd.endpoint], prefix: PREFIX },
    runtime: createRuntime({ logLevel: 'silent' }),
    xdsPort: 0, adminPort: 0, debounceMs: 20, protos,
  });

  before(async () => {
    etcd = await EtcdServer.start();
    kv = new Etcd3({ hosts: etcd.endpoint });
    v1 = await EchoServer.start({ id: 'v1' });
    v2 = await EchoServer.start({ id: 'v2' });
    // A key outside the prefix must be ignored by both replicas.
    await kv.put('/other/mesh.yaml').value('this: [is not, a mesh');
    a = await replica();
    b = await replica();
  });

  after(async () => {
    if (client !== null) closeClient(client);
    await sidecar?.close();
    await a?.stop();
    await b?.stop();
    await v1?.close();
    await v2?.close();
    kv?.close();
    await etcd?.stop();
  });

  it('both replicas start from the (empty) prefix and name it as their source', async () => {
    for (const cp of [a, b]) {
      const c = await debugConfig(cp);
      assert.equal(c.generation, 1);
      assert.equal(c.source, `etcd://127.0.0.1:${etcd.clientPort}/remora/`);
      assert.equal(c.last_rejected, null);
    }
  });

  it('a document put into etcd is accepted by both replicas', async () => {
    await kv.put(`${PREFIX}services.yaml`).value(meshYaml(v1.port, v2.port, [100, 0]));
    await kv.put(`${PREFIX}routes.yaml`).value(routeYaml([100, 0]));
    for (const [name, cp] of [['A', a], ['B', b]] as const) {
      await waitFor(async () => {
        const c = await debugConfig(cp);
        return c.generation >= 2 && c.last_rejected === null ? c : null;
      }, { timeoutMs: 10_000, what: `replica ${name} accepting the etcd documents` });
    }
  });

  it('a sidecar connected to replica B follows a route change put into etcd', async () => {
    const outbound = await freePort();
    const bootstrap = buildAdsBootstrap({ xds: `127.0.0.1:${b.xdsPort}`, nodeId: 'client-node', workload: 'client', namespace: 'demo', appPorts: [], labels: { app: 'client' }, adminPort: 0, outboundPort: outbound, inboundPort: await freePort() });
    sidecar = await Sidecar.start({ bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: 'silent' }), protos, xdsBackoffBaseMs: 50, xdsBackoffMaxMs: 500 });
    const sc = sidecar;
    await waitFor(async () => (await httpRequest(sc.adminUrl(), { path: '/ready' })).status === 200, { timeoutMs: 20_000, what: 'sidecar ready' });
    client = createEchoClient(`127.0.0.1:${outbound}`, { 'grpc.default_authority': `${HOST}:50051` });
    const c = client;
    const servedBy = async () => {
      const r = await unary(c, { message: 'hi' }, { deadlineMs: 5000 });
      return r.error === null ? r.headers?.get(SERVED_BY)[0] : `error: ${r.error.message}`;
    };
    await waitFor(async () => (await servedBy()) === 'v1', { timeoutMs: 10_000, what: 'calls served by v1 (100/0)' });

    const genA = (await debugConfig(a)).generation;
    await kv.put(`${PREFIX}routes.yaml`).value(routeYaml([0, 100]));
    await waitFor(async () => (await servedBy()) === 'v2', { timeoutMs: 10_000, what: 'calls served by v2 after the etcd put' });
    for (let i = 0; i < 20; i++) assert.equal(await servedBy(), 'v2');
    // Replica A saw the same change.
    await waitFor(async () => (await debugConfig(a)).generation > genA, { timeoutMs: 10_000, what: 'replica A accepting the route change' });
  });

  it('an invalid document is rejected by both replicas and the last good config keeps serving', async () => {
    const before = [(await debugConfig(a)).generation, (await debugConfig(b)).generation];
    await kv.put(`${PREFIX}broken.yaml`).value('apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: broken, namespace: demo }\nspec: { hosts: 7 }\n');
    for (const [i, cp] of [a, b].entries()) {
      const c = await waitFor(async () => { const x = await debugConfig(cp); return x.last_rejected !== null ? x : null; }, { timeoutMs: 10_000, what: `replica ${i} rejecting broken.yaml` });
      assert.equal(c.generation, before[i]);
      assert.ok(c.last_rejected!.errors.some((e) => e.includes(`${PREFIX}broken.yaml`)), c.last_rejected!.errors.join('\n'));
    }
    if (client !== null) {
      const r = await unary(client, { message: 'still' }, { deadlineMs: 5000 });
      assert.equal(r.error, null);
      assert.equal(r.headers?.get(SERVED_BY)[0], 'v2');
    }
    // Deleting the broken key makes the config valid again: accepted, generation advances.
    await kv.delete().key(`${PREFIX}broken.yaml`);
    for (const [i, cp] of [a, b].entries()) {
      await waitFor(async () => { const x = await debugConfig(cp); return x.last_rejected === null && x.generation > before[i]!; }, { timeoutMs: 10_000, what: `replica ${i} accepting the repaired prefix` });
    }
  });
});
