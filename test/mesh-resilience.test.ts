/**
 * The issue-5 mesh kinds end to end through ADS: a control plane serving a mesh with VirtualService
 * `retries`/`fault`, a DestinationRule with `consistentHash`, `connectionPool` and
 * `outlierDetection`, and a RateLimitPolicy, to two real sidecars (a client and the greeter server).
 * Asserts on what the sidecars accepted (their `/config_dump` models, no NACK), not on data-path
 * behaviour, which the filter and upstream tests cover.
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
import { httpRequest } from './fakes/http-client';
import { waitFor } from './fakes/wait';
import { freePort } from './fakes/ports';
import { GREETER_HOST, greeterService, greeterWorkload, meshDocs } from './fakes/greeter-mesh';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function resilienceDocs(redisPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: greeter, namespace: demo }
spec:
  host: ${GREETER_HOST}
  trafficPolicy:
    connectionPool:
      tcp: { maxConnections: 50, connectTimeout: 2s }
      http: { http2MaxRequests: 200, maxRetries: 7, idleTimeout: 30s }
    outlierDetection: { consecutive5xxErrors: 4, consecutiveGatewayErrors: 2, interval: 2s, baseEjectionTime: 10s, maxEjectionPercent: 50 }
  subsets:
  - name: v1
    labels: { version: v1 }
    trafficPolicy:
      loadBalancer: { consistentHash: { httpHeaderName: x-user } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: greeter, namespace: demo }
spec:
  hosts: [${GREETER_HOST}]
  http:
  - name: chaos
    match: [{ headers: { x-chaos: { exact: "true" } } }]
    fault: { abort: { grpcStatus: UNAVAILABLE, percentage: { value: 50 } } }
    route: [{ destination: { host: ${GREETER_HOST}, subset: v1 } }]
  - name: main
    retries: { attempts: 3, perTryTimeout: 200ms, retryOn: "unavailable,cancelled" }
    route: [{ destination: { host: ${GREETER_HOST}, subset: v1 } }]
---
apiVersion: remora.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: greeter, namespace: demo }
spec:
  workloadSelector: { matchLabels: { app: greeter } }
  local: { tokenBucket: { maxTokens: 100, tokensPerFill: 100, fillInterval: 1s } }
  global:
    domain: greeter
    redis: { address: "127.0.0.1:${redisPort}", timeout: 20ms }
    descriptors:
    - entries: [{ key: caller, fromHeader: x-caller }]
      limit: { requestsPerUnit: 10, unit: SECOND }
`;
}

describe('mesh resilience kinds: control plane → sidecars over ADS', { timeout: 60_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-mesh-res-'));
  const meshFile = path.join(dir, 'mesh.yaml');
  const protos = loadEnvoyProtos();
  let cp: ControlPlane | null = null;
  const sidecars: Sidecar[] = [];
  let client: Sidecar;
  let server: Sidecar;

  const startSidecar = async (nodeId: string, workload: string, labels: Record<string, string>, appPort: number | null, outbound: number, inbound: number) => {
    const bootstrap = buildAdsBootstrap({ xds: `127.0.0.1:${cp!.xdsPort}`, nodeId, workload, namespace: 'demo', appPorts: appPort === null ? [] : [appPort], labels, adminPort: 0, outboundPort: outbound, inboundPort: inbound });
    const sc = await Sidecar.start({ bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: 'silent' }), protos, xdsBackoffBaseMs: 50, xdsBackoffMaxMs: 500 });
    sidecars.push(sc);
    await waitFor(async () => (await httpRequest(sc.adminUrl(), { path: '/ready' })).status === 200, { timeoutMs: 20_000, what: `${nodeId} ready` });
    return sc;
  };

  const dump = async (sc: Sidecar): Promise<Json[]> => JSON.parse((await httpRequest(sc.adminUrl(), { path: '/config_dump' })).body.toString()).configs;
  const ofType = (configs: Json[], suffix: string): Json => configs.find((c) => (c['@type'] as string).endsWith(suffix))!;

  before(async () => {
    const v1In = await freePort();
    const appPort = await freePort(); // nothing listens: only configuration is checked
    fs.writeFileSync(meshFile, meshDocs(greeterService(), greeterWorkload('greeter-v1', v1In, { version: 'v1' }, 'greeter'), resilienceDocs(await freePort())));
    cp = await ControlPlane.start({ configPath: meshFile, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: 0, adminPort: 0, debounceMs: 50, protos });
    server = await startSidecar('greeter-v1-node', 'greeter-v1', { app: 'greeter', version: 'v1' }, appPort, await freePort(), v1In);
    client = await startSidecar('client-node', 'client', { app: 'client' }, null, await freePort(), await freePort());
  });

  after(async () => {
    for (const s of sidecars) await s.close();
    await (cp as ControlPlane | null)?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('both sidecars ACKed every resource type (no NACK)', async () => {
    for (const sc of [client, server]) {
      const ads = ofType(await dump(sc), 'AdsStatus');
      assert.equal(ads['initial_config_complete'], true);
      for (const t of ads['types'] as Json[]) assert.equal(t['last_nack'], null, `${t['type_url']}: ${JSON.stringify(t['last_nack'])}`);
    }
  });

  it('client routes carry the retry policy, the fault config and the hash policy', async () => {
    const routes = ofType(await dump(client), 'RoutesConfigDump')['dynamic_route_configs'] as Json[];
    const outbound = routes.find((r) => r['route_config'].name === 'outbound')!['route_config'];
    const vh = (outbound.virtualHosts ?? outbound.virtual_hosts) as Json[];
    const rs = vh.flatMap((v) => v['routes'] as Json[]);
    const chaos = rs.find((r) => r['name'] === 'chaos')!;
    const main = rs.find((r) => r['name'] === 'main')!;
    assert.ok(chaos !== undefined && main !== undefined, JSON.stringify(rs.map((r) => r['name'])));
    assert.ok(chaos['perFilterConfig']['envoy.filters.http.fault'] !== undefined, 'fault per-route config compiled');
    const rp = main['action']['retryPolicy'];
    assert.equal(rp.numRetries, 3);
    assert.equal(rp.perTryTimeoutMs, 200);
    assert.ok(rp.retryOn !== 0);
    assert.deepEqual(main['action']['hashPolicy'], [{ kind: 'header', name: 'x-user', terminal: false }]);
    // The default policy on the chaos route (no `retries`): connect-failure,refused-stream, 2 retries.
    assert.equal(chaos['action']['retryPolicy'].numRetries, 2);
    const listeners = ofType(await dump(client), 'ListenersConfigDump')['dynamic_listeners'] as Json[];
    const out = listeners.find((l) => l['name'] === 'outbound')!['active_state']['listener'];
    assert.deepEqual(out.hcm.httpFilters.map((f: Json) => f['name']), ['envoy.filters.http.fault', 'envoy.filters.http.router']);
  });

  it('client clusters carry ring hash, circuit breakers, outlier detection and pool options', async () => {
    const clusters = ofType(await dump(client), 'ClustersConfigDump')['dynamic_active_clusters'] as Json[];
    const v1 = clusters.find((c) => c['cluster'].name === `outbound|50051|v1|${GREETER_HOST}`)!['cluster'];
    assert.equal(v1.lbPolicy, 'RING_HASH');
    assert.equal(v1.connectTimeoutMs, 2000);
    assert.equal(v1.idleTimeoutMs, 30_000);
    assert.equal(v1.circuitBreakers.maxConnections, 50);
    assert.equal(v1.circuitBreakers.maxRequests, 200);
    assert.equal(v1.circuitBreakers.maxRetries, 7);
    assert.equal(v1.outlierDetection.consecutive5xx, 4);
    assert.equal(v1.outlierDetection.consecutiveGatewayFailure, 2);
    assert.equal(v1.outlierDetection.enforcingConsecutiveGatewayFailure, 100);
    assert.equal(v1.outlierDetection.baseEjectionTimeMs, 10_000);
    assert.equal(v1.healthyPanicThresholdPercent, 0);
    const whole = clusters.find((c) => c['cluster'].name === `outbound|50051||${GREETER_HOST}`)!['cluster'];
    assert.equal(whole.lbPolicy, 'ROUND_ROBIN');
  });

  it('the greeter sidecar runs the local and global rate limit filters on its inbound listener only', async () => {
    const listeners = ofType(await dump(server), 'ListenersConfigDump')['dynamic_listeners'] as Json[];
    const names = (n: string) => listeners.find((l) => l['name'] === n)!['active_state']['listener'].hcm.httpFilters.map((f: Json) => f['name']);
    assert.deepEqual(names('inbound'), ['envoy.filters.http.local_ratelimit', 'remora.filters.http.global_ratelimit', 'envoy.filters.http.router']);
    assert.ok(!names('outbound').includes('envoy.filters.http.local_ratelimit'));
  });
});
