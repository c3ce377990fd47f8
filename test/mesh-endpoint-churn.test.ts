/**
 * Endpoint churn through the mesh under load: the control plane watches a mesh YAML whose greeter
 * ServiceEntry selects WorkloadEntries; a client sidecar and one sidecar per greeter workload get
 * everything over ADS, and grpc-js Echo backends sit behind the workload sidecars. While four
 * concurrent callers keep calling through the client sidecar, a new workload (backend + its sidecar)
 * is added to the file, then the old one is removed and finally shut down. No call may fail; calls
 * must reach the new endpoint once it is added, and no call started after the client sidecar ACKed
 * the removal may reach the removed one.
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
import { closeClient, createEchoClient, unary, type EchoClient } from './fakes/echo-client';
import { httpRequest } from './fakes/http-client';
import { waitFor } from './fakes/wait';
import { freePort } from './fakes/ports';
import { GREETER_HOST, greeterService, greeterWorkload, meshDocs } from './fakes/greeter-mesh';

const HOST = GREETER_HOST;
const CLIENT_NODE = 'client-node';


/** The greeter service selecting the given workloads; each entry is (name, sidecar inbound port). */
function meshYaml(workloads: Array<[string, number]>): string {
  return meshDocs(greeterService(), ...workloads.map(([name, inPort]) => greeterWorkload(name, inPort, { instance: name }, 'greeter')));
}

interface SynczType { type: string; state: string; versionAcked: string | null }
interface SynczNode { nodeId: string; types: SynczType[] }

describe('mesh: endpoint churn under load (WorkloadEntry added, then removed)', { timeout: 60_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-churn-'));
  const meshFile = path.join(dir, 'mesh.yaml');
  const protos = loadEnvoyProtos();
  let cp: ControlPlane;
  let a: EchoServer;
  let b: EchoServer | null = null;
  let aIn = 0;
  let clientOut = 0;
  const sidecars = new Map<string, Sidecar>();
  let client: EchoClient;

  const startSidecar = async (nodeId: string, workload: string, labels: Record<string, string>, appPort: number | null, inbound: number): Promise<void> => {
    const bootstrap = buildAdsBootstrap({
      xds: `127.0.0.1:${cp.xdsPort}`, nodeId, workload, namespace: 'demo', appPorts: appPort === null ? [] : [appPort], labels, adminPort: 0,
      outboundPort: nodeId === CLIENT_NODE ? clientOut : await freePort(), inboundPort: inbound,
    });
    const sc = await Sidecar.start({ bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: 'silent' }), protos, xdsBackoffBaseMs: 50, xdsBackoffMaxMs: 500 });
    sidecars.set(nodeId, sc);
    await waitFor(async () => (await httpRequest(sc.adminUrl(), { path: '/ready' })).status === 200, { timeoutMs: 10_000, what: `${nodeId} ready` });
  };

  const clientEds = async (): Promise<SynczType | null> => {
    const nodes = (await httpRequest(`http://127.0.0.1:${cp.adminPort}`, { path: '/debug/syncz' })).json<SynczNode[]>();
    return nodes.find((n) => n.nodeId === CLIENT_NODE)?.types.find((t) => t.type === 'eds') ?? null;
  };

  before(async () => {
    aIn = await freePort();
    clientOut = await freePort();
    a = await EchoServer.start({ id: 'a' });
    fs.writeFileSync(meshFile, meshYaml([['greeter-a', aIn]]));
    cp = await ControlPlane.start({ configPath: meshFile, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: 0, adminPort: 0, debounceMs: 50, protos });
    await startSidecar('greeter-a-node', 'greeter-a', { app: 'greeter', instance: 'greeter-a' }, a.port, aIn);
    await startSidecar(CLIENT_NODE, 'client', { app: 'client' }, null, await freePort());
    client = createEchoClient(`127.0.0.1:${clientOut}`, { 'grpc.default_authority': `${HOST}:50051` });
  });

  after(async () => {
    if (client !== undefined) closeClient(client);
    for (const s of sidecars.values()) await s.close();
    await cp?.stop();
    await a?.close();
    await b?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('adds and removes an endpoint under load with zero failed calls', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await unary(client, { message: 'warm-up' }, { deadlineMs: 5000 });
      assert.equal(r.error, null, `warm-up call failed: ${r.error?.message}`);
      assert.equal(r.headers?.get(SERVED_BY)[0], 'a');
    }

    // Bounded load: 4 sequential callers, at most 20 000 calls in all.
    let stop = false;
    let removalAcked = false;
    const served: Record<string, number> = {};
    const failures: string[] = [];
    let done = 0;
    let toRemovedAfterAck = 0;
    const postAckDone = [false, false, false, false];
    const workers = postAckDone.map(async (_, w) => {
      while (!stop && done < 20_000) {
        const afterAck = removalAcked;
        const r = await unary(client, { message: 'load' }, { deadlineMs: 5000 });
        done++;
        if (r.error !== null) {
          failures.push(`${r.error.code} ${r.error.details}`);
          continue;
        }
        const by = String(r.headers?.get(SERVED_BY)[0]);
        served[by] = (served[by] ?? 0) + 1;
        if (afterAck) {
          postAckDone[w] = true;
          if (by === 'a') toRemovedAfterAck++;
        }
      }
    });
    try {
      await waitFor(() => done >= 100, { timeoutMs: 10_000, what: 'load running' });

      // Scale up: the new workload's backend and sidecar first, then its WorkloadEntry.
      const bIn = await freePort();
      b = await EchoServer.start({ id: 'b' });
      await startSidecar('greeter-b-node', 'greeter-b', { app: 'greeter', instance: 'greeter-b' }, b.port, bIn);
      assert.equal(served['b'] ?? 0, 0, 'b served calls before its WorkloadEntry existed');
      fs.writeFileSync(meshFile, meshYaml([['greeter-a', aIn], ['greeter-b', bIn]]));
      await waitFor(() => (served['b'] ?? 0) >= 50 && (served['a'] ?? 0) > 0, { timeoutMs: 10_000, what: 'calls reaching the added endpoint b' });

      // Scale down: remove greeter-a from the file; calls started after the client sidecar ACKed it must avoid a.
      const before = await clientEds();
      assert.equal(before?.state, 'SYNCED');
      fs.writeFileSync(meshFile, meshYaml([['greeter-b', bIn]]));
      await waitFor(async () => {
        const eds = await clientEds();
        return eds !== null && eds.state === 'SYNCED' && eds.versionAcked !== before!.versionAcked;
      }, { timeoutMs: 10_000, what: 'the client sidecar to ACK the EDS update without a' });
      removalAcked = true;
      const bAtAck = served['b'] ?? 0;
      // Every caller has finished a call it started after the ACK, so nothing is still in flight to a.
      await waitFor(() => postAckDone.every(Boolean), { timeoutMs: 10_000, what: 'every caller past the ACK' });
      const aStarted = a.started;

      // Then the removed workload goes away for good; the load must not notice.
      const sa = sidecars.get('greeter-a-node')!;
      sidecars.delete('greeter-a-node');
      await sa.close();
      await a.close();
      await waitFor(() => (served['b'] ?? 0) >= bAtAck + 200, { timeoutMs: 10_000, what: '200 more calls after the removal' });
      assert.equal(a.started, aStarted, 'backend a got calls after the removal was ACKed');
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    assert.deepEqual(failures, [], `failed calls: ${failures.length} of ${done}`);
    assert.equal(toRemovedAfterAck, 0, `calls started after the ACK that reached removed endpoint a: ${toRemovedAfterAck}`);
    assert.deepEqual(Object.keys(served).sort(), ['a', 'b'], JSON.stringify(served));
  });
});
