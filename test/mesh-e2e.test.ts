/**
 * The mesh end to end, all real processes' worth of components on loopback: the control plane
 * (watched mesh YAML → xDS over ADS), three sidecars configured only through ADS (a client sidecar
 * and one in front of each of greeter v1 and v2), and grpc-js Echo backends. Checks the 90/10 split,
 * header canary routing, a live edit applied with zero failed calls under load, an invalid edit
 * rejected while the old config keeps serving (and visible in `remora status`'s data), and
 * sidecars that keep serving while the control plane is down and resync when it returns.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRuntime } from '../src/core/runtime';
import { ControlPlane } from '../src/control-plane/control-plane';
import { Sidecar } from '../src/sidecar/sidecar';
import { buildAdsBootstrap } from '../src/xds/ads-bootstrap';
import { loadEnvoyProtos } from '../src/xds/protos';
import { EchoServer } from './fakes/echo-server';
import { SERVED_BY } from './fakes/echo-proto';
import { closeClient, createEchoClient, md, unary, type EchoClient } from './fakes/echo-client';
import { httpRequest } from './fakes/http-client';
import { waitFor } from './fakes/wait';
import { freePort } from './fakes/ports';
import { GREETER_HOST, greeterRoutes, greeterService, greeterSubsets, greeterWorkload, meshDocs } from './fakes/greeter-mesh';

const HOST = GREETER_HOST;

function meshYaml(p: { v1In: number; v2In: number }, weights: [number, number], v2Subset = 'v2'): string {
  return meshDocs(
    greeterService(),
    greeterWorkload('greeter-v1', p.v1In, { version: 'v1' }, 'greeter'),
    greeterWorkload('greeter-v2', p.v2In, { version: 'v2' }, 'greeter'),
    greeterSubsets(),
    greeterRoutes({ weights, v2Subset, canary: true }),
  );
}

describe('mesh: control plane + 3 sidecars over ADS', { timeout: 120_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-mesh-'));
  const meshFile = path.join(dir, 'mesh.yaml');
  const protos = loadEnvoyProtos();
  let ports: { v1In: number; v2In: number; clientOut: number; v1Out: number; v2Out: number; clientIn: number };
  let v1: EchoServer;
  let v2: EchoServer;
  let cp: ControlPlane | null = null;
  let xdsPort = 0;
  const sidecars: Sidecar[] = [];
  let client: EchoClient;

  const startControlPlane = async (port: number) => {
    cp = await ControlPlane.start({ configPath: meshFile, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: port, adminPort: 0, debounceMs: 50, protos });
    xdsPort = cp.xdsPort;
  };

  const startSidecar = async (nodeId: string, workload: string, labels: Record<string, string>, appPort: number | null, outbound: number, inbound: number) => {
    const bootstrap = buildAdsBootstrap({ xds: `127.0.0.1:${xdsPort}`, nodeId, workload, namespace: 'demo', appPorts: appPort === null ? [] : [appPort], labels, adminPort: 0, outboundPort: outbound, inboundPort: inbound });
    const sc = await Sidecar.start({ bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: 'silent' }), protos, xdsBackoffBaseMs: 50, xdsBackoffMaxMs: 500 });
    sidecars.push(sc);
    await waitFor(async () => (await httpRequest(sc.adminUrl(), { path: '/ready' })).status === 200, { timeoutMs: 20_000, what: `${nodeId} ready` });
    return sc;
  };

  /** n calls; returns how many each version served and how many failed. */
  const callMany = async (n: number, canary = false) => {
    const counts = { v1: 0, v2: 0, failed: 0 };
    for (let i = 0; i < n; i++) {
      const r = await unary(client, { message: 'hi' }, { metadata: canary ? md({ 'x-canary': 'true' }) : undefined, deadlineMs: 5000 });
      const by = r.headers?.get(SERVED_BY)[0];
      if (r.error !== null) counts.failed++;
      else if (by === 'v1') counts.v1++;
      else if (by === 'v2') counts.v2++;
    }
    return counts;
  };

  before(async () => {
    ports = { v1In: await freePort(), v2In: await freePort(), clientOut: await freePort(), v1Out: await freePort(), v2Out: await freePort(), clientIn: await freePort() };
    v1 = await EchoServer.start({ id: 'v1' });
    v2 = await EchoServer.start({ id: 'v2' });
    fs.writeFileSync(meshFile, meshYaml(ports, [90, 10]));
    await startControlPlane(0);
    await startSidecar('greeter-v1-node', 'greeter-v1', { app: 'greeter', version: 'v1' }, v1.port, ports.v1Out, ports.v1In);
    await startSidecar('greeter-v2-node', 'greeter-v2', { app: 'greeter', version: 'v2' }, v2.port, ports.v2Out, ports.v2In);
    await startSidecar('client-node', 'client', { app: 'client' }, null, ports.clientOut, ports.clientIn);
    client = createEchoClient(`127.0.0.1:${ports.clientOut}`, { 'grpc.default_authority': `${HOST}:50051` });
  });

  after(async () => {
    if (client) closeClient(client);
    for (const s of sidecars) await s.close();
    await (cp as ControlPlane | null)?.stop();
    await v1?.close();
    await v2?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('splits 90/10 between the subsets (within 4 sigma)', async () => {
    const c = await callMany(1000);
    assert.equal(c.failed, 0);
    assert.equal(c.v1 + c.v2, 1000);
    assert.ok(Math.abs(c.v2 - 100) <= 38, `v2 served ${c.v2} of 1000`);
  });

  it('routes x-canary: true to v2 only', async () => {
    const c = await callMany(30, true);
    assert.deepEqual(c, { v1: 0, v2: 30, failed: 0 });
  });

  it('applies a live edit to 50/50 with zero failed calls under load', async () => {
    let stop = false;
    let failed = 0;
    let done = 0;
    const workers = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const r = await unary(client, { message: 'load' }, { deadlineMs: 5000 });
        done++;
        if (r.error !== null) failed++;
      }
    });
    await waitFor(() => done >= 50, { timeoutMs: 10_000, what: 'load running' });
    fs.writeFileSync(meshFile, meshYaml(ports, [50, 50]));
    await waitFor(async () => {
      const c = await callMany(100);
      return c.v2 >= 30 ? c : null;
    }, { timeoutMs: 20_000, intervalMs: 50, what: 'the 50/50 split in force' });
    stop = true;
    await Promise.all(workers);
    assert.equal(failed, 0, `failed calls during the edit: ${failed} of ${done}`);
    const c = await callMany(400);
    assert.equal(c.failed, 0);
    assert.ok(Math.abs(c.v2 - 200) <= 40, `v2 served ${c.v2} of 400`);
  });

  it('rejects an invalid edit, keeps serving the last good config, and shows the error', async () => {
    fs.writeFileSync(meshFile, meshYaml(ports, [50, 50], 'v3'));
    const base = `http://127.0.0.1:${cp!.adminPort}`;
    const cfg = await waitFor(async () => {
      const j = (await httpRequest(base, { path: '/debug/config' })).json<{ last_rejected: { errors: string[] } | null }>();
      return j.last_rejected !== null ? j : null;
    }, { timeoutMs: 10_000, what: 'the rejection to be visible' });
    assert.ok(cfg.last_rejected!.errors.some((e) => e.includes('VirtualService/greeter') && e.includes('subset')), cfg.last_rejected!.errors.join('\n'));
    const c = await callMany(200);
    assert.equal(c.failed, 0);
    assert.ok(c.v1 > 50 && c.v2 > 50, `still 50/50: ${JSON.stringify(c)}`);
    fs.writeFileSync(meshFile, meshYaml(ports, [50, 50]));
  });

  it('keeps serving while the control plane is down and resyncs when it returns', async () => {
    const port = xdsPort;
    await cp!.stop();
    cp = null;
    const down = await callMany(50);
    assert.equal(down.failed, 0);
    fs.writeFileSync(meshFile, meshYaml(ports, [0, 100]));
    await startControlPlane(port);
    await waitFor(async () => {
      const nodes = (await httpRequest(`http://127.0.0.1:${cp!.adminPort}`, { path: '/debug/syncz' })).json<Array<{ nodeId: string; types: Array<{ state: string }> }>>();
      const synced = nodes.filter((n) => n.types.length >= 4 && n.types.every((t) => t.state === 'SYNCED'));
      return synced.length >= 3 ? nodes : null;
    }, { timeoutMs: 20_000, intervalMs: 100, what: 'three nodes SYNCED after the restart' });
    const c = await waitFor(async () => {
      const r = await callMany(20);
      return r.v2 === 20 ? r : null;
    }, { timeoutMs: 10_000, what: 'the new config (100% v2) in force' });
    assert.equal(c.failed, 0);
  });
});
