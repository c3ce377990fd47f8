/**
 * Istio's standard metrics (issue 7). Unit: the label computation (node metadata, endpoint
 * metadata, cluster names, hosts), the observers' label sets and outcome labels on a per-test
 * Registry, the exposition (Envoy's default buckets, OpenMetrics counter naming). End to end: the
 * control plane with the mesh CA (STRICT mTLS) and two sidecars in front of a grpc-js service; gRPC
 * calls, a plain HTTP/2 call and a call to a service with no endpoints, then both sidecars'
 * `/stats/prometheus` are scraped and the exact reporter=source and reporter=destination label sets
 * and counts are asserted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import type { ListenerModel, NodeModel } from '../src/config/model';
import { ResponseFlag } from '../src/core/response-flags';
import { systemClock } from '../src/core/clock';
import { createRuntime } from '../src/core/runtime';
import { ControlPlane } from '../src/control-plane/control-plane';
import { MeshCa } from '../src/control-plane/ca/mesh-ca';
import { TokenFileAuthenticator } from '../src/control-plane/ca/ca-authenticator';
import { addCaService } from '../src/control-plane/ca/ca-service';
import { istioEndpointMetadata } from '../src/control-plane/translate/clusters';
import { IstioMetrics } from '../src/observability/istio-metrics';
import { Issues } from '../src/config/compile/context';
import { compileIstioStats } from '../src/config/compile/istio-stats';
import { parseProtoJson } from '../src/config/compile/proto-json';
import {
  authorityHost, endpointPeer, inboundRouteHost, outboundClusterHost, ownWorkload, serviceFromHost,
} from '../src/observability/istio/istio-labels';
import { ISTIO_DEFAULT_BUCKETS, ISTIO_LABEL_NAMES } from '../src/observability/istio/istio-series';
import type { ConnectionInfo, StreamInfo } from '../src/observability/stream-info';
import { Sidecar } from '../src/sidecar/sidecar';
import { buildAdsBootstrap } from '../src/xds/ads-bootstrap';
import { loadEnvoyProtos } from '../src/xds/protos';
import { EchoServer } from './fakes/echo-server';
import { closeClient, createEchoClient, unary, type EchoClient } from './fakes/echo-client';
import { httpRequest } from './fakes/http-client';
import { Metrics, parseProm } from './fakes/prom';
import { freePort } from './fakes/ports';
import { waitFor } from './fakes/wait';
import { GREETER_HOST, greeterService, greeterWorkload, meshDocs } from './fakes/greeter-mesh';

// ---------------------------------------------------------------- unit

const NODE: NodeModel = {
  id: 'n1', cluster: '',
  metadata: { WORKLOAD_NAME: 'client', NAMESPACE: 'demo', SERVICE_ACCOUNT: 'client-sa', LABELS: { app: 'client', version: 'v3' } },
};

function listener(direction: ListenerModel['trafficDirection'], disableHostHeaderFallback = false): ListenerModel {
  return { trafficDirection: direction, hcm: { istioStats: { enabled: true, disableHostHeaderFallback } } } as unknown as ListenerModel;
}

function stream(o: Partial<Record<keyof StreamInfo, unknown>>): StreamInfo {
  return {
    method: 'POST', path: '/x', authority: 'greeter.demo.svc:50051', scheme: 'http', headers: {}, isGrpc: true, protocol: 'h2',
    remoteAddress: '127.0.0.1', connection: null, startTime: 1000, startTimeWall: 0, endTime: 1012, responseStatus: 200, grpcStatus: 0,
    responseFlags: 0, localReplyReason: null, localReplyMessage: null, bytesReceived: 7, bytesSent: 300, routeName: 'split',
    upstreamCluster: 'outbound|50051|v1|greeter.demo.svc', upstreamHost: '127.0.0.1:1', upstreamMetadata: null, upstreamAttempts: 1,
    requestId: null, traceId: null, ...o,
  } as StreamInfo;
}

async function scrape(registry: Registry): Promise<Metrics> {
  return new Metrics(await registry.metrics());
}

/** The label sets (without `le`) of the samples named `name`. */
function labelSets(m: Metrics, name: string): Record<string, string>[] {
  return m.samples.filter((s) => s.name === name).map((s) => ({ ...s.labels }));
}

describe('istio labels', () => {
  it('reads the own workload from node metadata, with a SPIFFE principal for mTLS', () => {
    const own = ownWorkload(NODE);
    assert.deepEqual(own.plain, {
      workload: 'client', namespace: 'demo', principal: 'unknown', app: 'client', version: 'v3',
      canonicalService: 'client', canonicalRevision: 'v3', cluster: 'unknown',
    });
    assert.equal(own.secure.principal, 'spiffe://cluster.local/ns/demo/sa/client-sa');
    const td = ownWorkload({ ...NODE, metadata: { ...NODE.metadata, TRUST_DOMAIN: 'example.org', CLUSTER_ID: 'east', LABELS: 'service.istio.io/canonical-name=front,service.istio.io/canonical-revision=r9' } });
    assert.equal(td.secure.principal, 'spiffe://example.org/ns/demo/sa/client-sa');
    assert.equal(td.plain.canonicalService, 'front');
    assert.equal(td.plain.canonicalRevision, 'r9');
    assert.equal(td.plain.app, 'unknown');
    assert.equal(td.plain.cluster, 'east');
    const bare = ownWorkload({ id: 'x', cluster: '', metadata: {} });
    assert.equal(bare.secure, bare.plain);
    assert.equal(bare.plain.workload, 'unknown');
    assert.equal(bare.plain.canonicalRevision, 'latest');
  });

  it('round-trips the endpoint metadata the control plane emits', () => {
    const we = { meta: { name: 'greeter-v1', namespace: 'demo' }, address: '10.0.0.1', ports: {}, labels: { app: 'greeter', version: 'v1' }, serviceAccount: 'greeter', weight: null };
    const md = istioEndpointMetadata(we as never, 'cluster.local');
    assert.deepEqual(md, { filter_metadata: { istio: { workload: 'greeter-v1;demo;greeter;v1;', app: 'greeter', version: 'v1', identity: 'spiffe://cluster.local/ns/demo/sa/greeter' } } });
    const peer = endpointPeer((md['filter_metadata'] as Record<string, unknown>))!;
    assert.deepEqual(peer.labels, {
      workload: 'greeter-v1', namespace: 'demo', principal: 'spiffe://cluster.local/ns/demo/sa/greeter', app: 'greeter', version: 'v1',
      canonicalService: 'greeter', canonicalRevision: 'v1', cluster: 'unknown',
    });
    assert.equal(peer.mutualTls, true);
    const plain = endpointPeer((istioEndpointMetadata({ ...we, labels: {}, serviceAccount: null } as never, null)['filter_metadata']) as Record<string, unknown>)!;
    assert.equal(plain.mutualTls, false);
    assert.equal(plain.labels.canonicalService, 'greeter-v1');
    assert.equal(plain.labels.canonicalRevision, 'latest');
    assert.equal(plain.labels.app, 'unknown');
    assert.equal(endpointPeer({ istio: { workload: 'a;b' } }), null);
    assert.equal(endpointPeer({ other: {} }), null);
  });

  it('parses cluster names, inbound route names, hosts and authorities', () => {
    assert.equal(outboundClusterHost('outbound|50051|v1|greeter.demo.svc'), 'greeter.demo.svc');
    assert.equal(outboundClusterHost('outbound|80||web.example.com'), 'web.example.com');
    assert.equal(outboundClusterHost('inbound|80||'), null);
    assert.equal(outboundClusterHost('backend'), null);
    assert.equal(inboundRouteHost('inbound|greeter.demo.svc:50051'), 'greeter.demo.svc');
    assert.equal(inboundRouteHost('inbound|*'), null);
    assert.equal(inboundRouteHost('default'), null);
    assert.deepEqual(serviceFromHost('greeter.demo.svc', null), { service: 'greeter.demo.svc', name: 'greeter', namespace: 'demo' });
    assert.deepEqual(serviceFromHost('ratings.prod.svc.cluster.local', 'x'), { service: 'ratings.prod.svc.cluster.local', name: 'ratings', namespace: 'prod' });
    assert.deepEqual(serviceFromHost('api.example.com', 'demo'), { service: 'api.example.com', name: 'api.example.com', namespace: 'demo' });
    assert.deepEqual(serviceFromHost('a.b.svcx', null), { service: 'a.b.svcx', name: 'a.b.svcx', namespace: 'unknown' });
    assert.equal(authorityHost('Greeter.demo.svc:50051'), 'greeter.demo.svc');
    assert.equal(authorityHost('[::1]:80'), '[::1]');
    assert.equal(authorityHost('web'), 'web');
  });
});

describe('istio.stats config', () => {
  it('parses the IstioStats proto and compiles it', () => {
    const r = parseProtoJson(loadEnvoyProtos(), 'remora.filters.http.istio_stats.v1.IstioStats', { disable_host_header_fallback: true }, 'tc');
    assert.ok(r.ok);
    assert.deepEqual(compileIstioStats(new Issues(), r.value, 'tc'), { enabled: true, disableHostHeaderFallback: true });
  });
});

describe('istio observers', () => {
  it('reports as the source: endpoint metadata, cluster service, Istio client-side principals and policy', async () => {
    const registry = new Registry();
    const metrics = new IstioMetrics(registry, NODE);
    const obs = metrics.observerFor(listener('OUTBOUND'))!;
    const meta = istioEndpointMetadata({ meta: { name: 'greeter-v1', namespace: 'demo' }, labels: { app: 'greeter', version: 'v1' }, serviceAccount: 'greeter' } as never, 'cluster.local')['filter_metadata'] as Record<string, unknown>;
    obs.onStreamEnd(stream({ upstreamMetadata: meta }));
    obs.onStreamEnd(stream({ upstreamMetadata: meta, endTime: 1600 }));
    obs.onStreamEnd(stream({ upstreamMetadata: null, upstreamCluster: null, grpcStatus: 14, responseFlags: ResponseFlag.NoRouteFound, bytesSent: 0 }));
    const m = await scrape(registry);
    const sets = labelSets(m, 'istio_requests_total');
    assert.equal(sets.length, 2);
    assert.deepEqual(Object.keys(sets[0]!), [...ISTIO_LABEL_NAMES]);
    assert.deepEqual(sets[0], {
      reporter: 'source', source_workload: 'client', source_workload_namespace: 'demo', source_principal: 'spiffe://cluster.local/ns/demo/sa/client-sa',
      source_app: 'client', source_version: 'v3', source_canonical_service: 'client', source_canonical_revision: 'v3', source_cluster: 'unknown',
      destination_workload: 'greeter-v1', destination_workload_namespace: 'demo', destination_principal: 'spiffe://cluster.local/ns/demo/sa/greeter',
      destination_app: 'greeter', destination_version: 'v1', destination_service: 'greeter.demo.svc', destination_service_name: 'greeter',
      destination_service_namespace: 'demo', destination_canonical_service: 'greeter', destination_canonical_revision: 'v1', destination_cluster: 'unknown',
      request_protocol: 'grpc', response_code: '200', grpc_response_status: '0', response_flags: '-', connection_security_policy: 'unknown',
    });
    assert.equal(m.sum('istio_requests_total', sets[0]), 2);
    assert.deepEqual({ ...sets[1], reporter: undefined }, {
      reporter: undefined, source_workload: 'client', source_workload_namespace: 'demo', source_principal: 'unknown',
      source_app: 'client', source_version: 'v3', source_canonical_service: 'client', source_canonical_revision: 'v3', source_cluster: 'unknown',
      destination_workload: 'unknown', destination_workload_namespace: 'unknown', destination_principal: 'unknown',
      destination_app: 'unknown', destination_version: 'unknown', destination_service: 'unknown', destination_service_name: 'unknown',
      destination_service_namespace: 'unknown', destination_canonical_service: 'unknown', destination_canonical_revision: 'latest', destination_cluster: 'unknown',
      request_protocol: 'grpc', response_code: '200', grpc_response_status: '14', response_flags: 'NR', connection_security_policy: 'unknown',
    });
    // Histograms: Envoy's default buckets, cumulative, sum and count.
    const buckets = m.samples.filter((s) => s.name === 'istio_request_duration_milliseconds_bucket' && s.labels['response_flags'] === '-');
    assert.deepEqual(buckets.map((s) => s.labels['le']), [...ISTIO_DEFAULT_BUCKETS.map(String), '+Inf']);
    assert.equal(buckets.find((s) => s.labels['le'] === '10')!.value, 0);
    assert.equal(buckets.find((s) => s.labels['le'] === '25')!.value, 1);
    assert.equal(buckets.find((s) => s.labels['le'] === '1000')!.value, 2);
    assert.equal(m.sum('istio_request_duration_milliseconds_sum', { response_flags: '-' }), 612);
    assert.equal(m.sum('istio_response_bytes_sum', { response_flags: '-' }), 600);
    assert.equal(m.sum('istio_request_bytes_count', {}), 3);
    assert.equal(m.sum('istio_response_bytes_bucket', { response_flags: 'NR', le: '0.5' }), 1);
  });

  it('reports as the destination: peer identity per connection, service from the route or the host, mutual_tls', async () => {
    const registry = new Registry();
    const metrics = new IstioMetrics(registry, { ...NODE, metadata: { WORKLOAD_NAME: 'greeter', NAMESPACE: 'demo', SERVICE_ACCOUNT: 'greeter', LABELS: { app: 'greeter', version: 'v1' } } });
    const obs = metrics.observerFor(listener('INBOUND'))!;
    const peer = { spiffeId: 'spiffe://cluster.local/ns/other/sa/caller', principal: 'cluster.local/ns/other/sa/caller', namespace: 'other', serviceAccount: 'caller' };
    const mtls: ConnectionInfo = { peer, remoteAddress: '127.0.0.1', mutualTls: true, telemetrySlot: null };
    const plain: ConnectionInfo = { peer: null, remoteAddress: '127.0.0.1', mutualTls: false, telemetrySlot: null };
    obs.onStreamEnd(stream({ connection: mtls, routeName: 'default' }));
    const slot = mtls.telemetrySlot;
    assert.notEqual(slot, null);
    obs.onStreamEnd(stream({ connection: mtls, routeName: 'default' }));
    assert.equal(mtls.telemetrySlot, slot, 'the slot is kept per connection');
    obs.onStreamEnd(stream({ connection: mtls, routeName: 'inbound|web.demo.svc:8080', isGrpc: false, grpcStatus: -1, responseStatus: 404 }));
    obs.onStreamEnd(stream({ connection: plain, routeName: 'default', authority: 'junk.example:1', isGrpc: false, grpcStatus: -1, responseStatus: 503, responseFlags: ResponseFlag.NoHealthyUpstream | ResponseFlag.UpstreamRetryLimitExceeded }));
    const m = await scrape(registry);
    const sets = labelSets(m, 'istio_requests_total');
    assert.equal(sets.length, 3);
    assert.deepEqual(sets[0], {
      reporter: 'destination', source_workload: 'unknown', source_workload_namespace: 'other', source_principal: 'spiffe://cluster.local/ns/other/sa/caller',
      source_app: 'unknown', source_version: 'unknown', source_canonical_service: 'unknown', source_canonical_revision: 'latest', source_cluster: 'unknown',
      destination_workload: 'greeter', destination_workload_namespace: 'demo', destination_principal: 'spiffe://cluster.local/ns/demo/sa/greeter',
      destination_app: 'greeter', destination_version: 'v1', destination_service: 'greeter.demo.svc', destination_service_name: 'greeter',
      destination_service_namespace: 'demo', destination_canonical_service: 'greeter', destination_canonical_revision: 'v1', destination_cluster: 'unknown',
      request_protocol: 'grpc', response_code: '200', grpc_response_status: '0', response_flags: '-', connection_security_policy: 'mutual_tls',
    });
    assert.equal(m.sum('istio_requests_total', sets[0]), 2);
    assert.equal(sets[1]!['destination_service'], 'web.demo.svc');
    assert.equal(sets[1]!['request_protocol'], 'http');
    assert.equal(sets[1]!['response_code'], '404');
    assert.equal(sets[1]!['grpc_response_status'], '');
    assert.deepEqual(
      [sets[2]!['source_principal'], sets[2]!['source_workload_namespace'], sets[2]!['destination_principal'], sets[2]!['connection_security_policy'], sets[2]!['destination_service'], sets[2]!['destination_service_namespace'], sets[2]!['response_flags']],
      ['unknown', 'unknown', 'unknown', 'none', 'junk.example', 'demo', 'UH,URX'],
    );
  });

  it('bounds the host fallback and can turn it off; UNSPECIFIED and absent istioStats record nothing', async () => {
    const registry = new Registry();
    const metrics = new IstioMetrics(registry, NODE);
    assert.equal(metrics.observerFor(listener('UNSPECIFIED')), null);
    assert.equal(metrics.observerFor({ trafficDirection: 'INBOUND', hcm: { istioStats: null } } as unknown as ListenerModel), null);
    const obs = metrics.observerFor(listener('INBOUND'))!;
    for (let i = 0; i < 300; i++) obs.onStreamEnd(stream({ authority: `h${i}.example`, routeName: 'default' }));
    const m = await scrape(registry);
    const services = new Set(labelSets(m, 'istio_requests_total').map((l) => l['destination_service']));
    assert.equal(services.size, 257);
    assert.ok(services.has('unknown'));
    assert.equal(m.sum('istio_requests_total', { destination_service: 'unknown' }), 44);

    const r2 = new Registry();
    const off = new IstioMetrics(r2, NODE).observerFor(listener('INBOUND', true))!;
    off.onStreamEnd(stream({ authority: 'x.example', routeName: 'default' }));
    const m2 = await scrape(r2);
    assert.deepEqual(labelSets(m2, 'istio_requests_total').map((l) => [l['destination_service'], l['destination_service_name']]), [['client', 'client']]);
  });

  it('shares one store per registry, prints OpenMetrics counters and keeps the Prometheus name afterwards', async () => {
    const registry = new Registry();
    const a = new IstioMetrics(registry, NODE).observerFor(listener('OUTBOUND'))!;
    const b = new IstioMetrics(registry, NODE).observerFor(listener('OUTBOUND'))!;
    a.onStreamEnd(stream({}));
    b.onStreamEnd(stream({}));
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    const om = await registry.metrics();
    registry.setContentType(Registry.PROMETHEUS_CONTENT_TYPE as never);
    assert.match(om, /^# TYPE istio_requests counter$/m);
    assert.match(om, /^istio_requests_total\{reporter="source",.*\} 2$/m);
    const text = await registry.metrics();
    assert.match(text, /^# TYPE istio_requests_total counter$/m);
    assert.match(text, /^istio_requests_total\{reporter="source",.*\} 2$/m);
    assert.match(text, /^# TYPE istio_request_duration_milliseconds histogram$/m);
    const json = await registry.getMetricsAsJSON();
    const counter = json.find((x) => x.name === 'istio_requests_total')!;
    assert.equal((counter.values[0]!.labels as Record<string, string>)['destination_workload'], 'unknown');
    registry.resetMetrics();
    assert.equal(new Metrics(await registry.metrics()).sum('istio_requests_total'), 0);
  });
});

// ---------------------------------------------------------------- end to end

const TOKENS: Record<string, { namespace: string; serviceAccount: string }> = {
  'token-client-0123456789': { namespace: 'demo', serviceAccount: 'client' },
  'token-greeter-0123456789': { namespace: 'demo', serviceAccount: 'greeter' },
};

/** A MESH_INTERNAL service selecting `app: nobody`: no WorkloadEntry matches, so it has no endpoints. */
const NOBODY_SERVICE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: nobody, namespace: demo }
spec:
  hosts: [nobody.demo.svc]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 50051, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: nobody } }
`;

const STRICT = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: demo }
spec: { mtls: { mode: STRICT } }
`;

/** POSTs a non-gRPC request over h2c (grpc-js answers 415) and resolves with the status. */
function plainH2Post(port: number, authority: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': '/plain', ':authority': authority, 'content-type': 'text/plain' });
    let status = 0;
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('error', reject);
    req.resume();
    req.on('end', () => { session.close(); resolve(status); });
    req.end('hello');
  });
}

describe('istio metrics end to end: control plane with CA + 2 sidecars over mTLS', { timeout: 120_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-istio-metrics-'));
  const meshFile = path.join(dir, 'mesh.yaml');
  const protos = loadEnvoyProtos();
  const ca = MeshCa.createSelfSigned({ clock: systemClock, trustDomain: 'cluster.local' });
  let ports: Record<'greeterIn' | 'greeterOut' | 'clientIn' | 'clientOut', number>;
  let greeter: EchoServer;
  let cp: ControlPlane;
  const sidecars: Sidecar[] = [];
  let client: EchoClient;
  let nobody: EchoClient;

  const startSidecar = async (name: string, sa: string, token: string, labels: Record<string, string>, appPort: number | null, outbound: number, inbound: number): Promise<Sidecar> => {
    const tokenFile = path.join(dir, `${name}.token`);
    fs.writeFileSync(tokenFile, token);
    const bootstrap = buildAdsBootstrap({
      xds: `127.0.0.1:${cp.xdsPort}`, nodeId: `${name}-node`, workload: name, namespace: 'demo', serviceAccount: sa,
      appPorts: appPort === null ? [] : [appPort], labels, adminPort: 0, outboundPort: outbound, inboundPort: inbound,
    });
    const sc = await Sidecar.start({
      bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: 'silent' }), protos, xdsBackoffBaseMs: 50, xdsBackoffMaxMs: 500,
      identity: { caAddress: `127.0.0.1:${cp.xdsPort}`, caTokenFile: tokenFile, trustDomain: 'cluster.local', namespace: 'demo', serviceAccount: sa },
    });
    sidecars.push(sc);
    await waitFor(async () => (await httpRequest(sc.adminUrl(), { path: '/ready' })).status === 200, { timeoutMs: 20_000, what: `${name} ready` });
    return sc;
  };

  before(async () => {
    ports = { greeterIn: await freePort(), greeterOut: await freePort(), clientIn: await freePort(), clientOut: await freePort() };
    greeter = await EchoServer.start({ id: 'greeter' });
    fs.writeFileSync(meshFile, meshDocs(
      greeterService().replace('spec:\n', 'spec:\n  location: MESH_INTERNAL\n'),
      greeterWorkload('greeter', ports.greeterIn, { version: 'v1' }, 'greeter'),
      NOBODY_SERVICE,
      STRICT,
    ));
    const authenticator = new TokenFileAuthenticator(TOKENS);
    cp = await ControlPlane.start({
      configPath: meshFile, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: 0, adminPort: 0, debounceMs: 50, protos,
      ca, xdsTlsPort: 0, extraServices: (server) => addCaService(server, ca, authenticator),
    });
    await startSidecar('greeter', 'greeter', 'token-greeter-0123456789', { app: 'greeter', version: 'v1' }, greeter.port, ports.greeterOut, ports.greeterIn);
    await startSidecar('client', 'client', 'token-client-0123456789', { app: 'client' }, null, ports.clientOut, ports.clientIn);
    client = createEchoClient(`127.0.0.1:${ports.clientOut}`, { 'grpc.default_authority': `${GREETER_HOST}:50051` });
    nobody = createEchoClient(`127.0.0.1:${ports.clientOut}`, { 'grpc.default_authority': 'nobody.demo.svc:50051' });
  });

  after(async () => {
    if (client) closeClient(client);
    if (nobody) closeClient(nobody);
    for (const s of sidecars) await s.close();
    await cp?.stop();
    await greeter?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('labels both reporters exactly as Istio does, with counts, buckets and an error case', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await unary(client, { message: 'hi' }, { deadlineMs: 5000 });
      assert.equal(r.status.code, grpc.status.OK, r.status.details);
    }
    assert.equal(await plainH2Post(ports.clientOut, `${GREETER_HOST}:50051`), 415);
    const failed = await unary(nobody, { message: 'hi' }, { deadlineMs: 5000 });
    assert.equal(failed.status.code, grpc.status.UNAVAILABLE);

    const [greeterSc, clientSc] = sidecars;
    // Observers run when the stream ends, which may trail the client's view by a tick.
    const src = await waitFor(async () => {
      const m = new Metrics(await (await fetch(`${clientSc!.adminUrl()}/stats/prometheus`)).text());
      return m.sum('istio_requests_total') >= 5 ? m : null;
    }, { timeoutMs: 5000, what: 'the client sidecar to count 5 requests' });
    const dst = await waitFor(async () => {
      const m = new Metrics(await (await fetch(`${greeterSc!.adminUrl()}/stats/prometheus`)).text());
      return m.sum('istio_requests_total') >= 4 ? m : null;
    }, { timeoutMs: 5000, what: 'the greeter sidecar to count 4 requests' });

    const clientSide = {
      source_workload: 'client', source_workload_namespace: 'demo', source_app: 'client', source_version: 'unknown',
      source_canonical_service: 'client', source_canonical_revision: 'latest', source_cluster: 'unknown',
    };
    const greeterSide = {
      destination_workload: 'greeter', destination_workload_namespace: 'demo', destination_principal: 'spiffe://cluster.local/ns/demo/sa/greeter',
      destination_app: 'greeter', destination_version: 'v1', destination_service: 'greeter.demo.svc', destination_service_name: 'greeter',
      destination_service_namespace: 'demo', destination_canonical_service: 'greeter', destination_canonical_revision: 'v1', destination_cluster: 'unknown',
    };
    const sourceSets = labelSets(src, 'istio_requests_total');
    assert.deepEqual(sourceSets, [
      { reporter: 'source', ...clientSide, source_principal: 'spiffe://cluster.local/ns/demo/sa/client', ...greeterSide, request_protocol: 'grpc', response_code: '200', grpc_response_status: '0', response_flags: '-', connection_security_policy: 'unknown' },
      { reporter: 'source', ...clientSide, source_principal: 'spiffe://cluster.local/ns/demo/sa/client', ...greeterSide, request_protocol: 'http', response_code: '415', grpc_response_status: '', response_flags: '-', connection_security_policy: 'unknown' },
      {
        reporter: 'source', ...clientSide, source_principal: 'unknown',
        destination_workload: 'unknown', destination_workload_namespace: 'unknown', destination_principal: 'unknown', destination_app: 'unknown', destination_version: 'unknown',
        destination_service: 'nobody.demo.svc', destination_service_name: 'nobody', destination_service_namespace: 'demo',
        destination_canonical_service: 'unknown', destination_canonical_revision: 'latest', destination_cluster: 'unknown',
        request_protocol: 'grpc', response_code: '200', grpc_response_status: '14', response_flags: 'UH', connection_security_policy: 'unknown',
      },
    ].map((l) => reorder(l)));
    assert.deepEqual(sourceSets.map((l) => src.sum('istio_requests_total', l)), [3, 1, 1]);

    const destSets = labelSets(dst, 'istio_requests_total');
    // The caller's workload labels come from its metadata-exchange header, verified against its
    // mTLS certificate (same namespace and service account); the app never sees the header.
    const callerSide = {
      source_workload: 'client', source_workload_namespace: 'demo', source_principal: 'spiffe://cluster.local/ns/demo/sa/client', source_app: 'client',
      source_version: 'unknown', source_canonical_service: 'client', source_canonical_revision: 'latest', source_cluster: 'unknown',
    };
    assert.deepEqual(greeter.lastMetadata?.get('x-remora-peer-metadata'), [], 'the exchange header is removed before the app');
    assert.deepEqual(destSets, [
      { reporter: 'destination', ...callerSide, ...greeterSide, request_protocol: 'grpc', response_code: '200', grpc_response_status: '0', response_flags: '-', connection_security_policy: 'mutual_tls' },
      { reporter: 'destination', ...callerSide, ...greeterSide, request_protocol: 'http', response_code: '415', grpc_response_status: '', response_flags: '-', connection_security_policy: 'mutual_tls' },
    ].map((l) => reorder(l)));
    assert.deepEqual(destSets.map((l) => dst.sum('istio_requests_total', l)), [3, 1]);

    // Histograms: Envoy's default buckets on every histogram, one count per request, real byte sums.
    for (const name of ['istio_request_duration_milliseconds', 'istio_request_bytes', 'istio_response_bytes']) {
      const les = src.samples.filter((s) => s.name === `${name}_bucket` && s.labels['response_code'] === '415').map((s) => s.labels['le']);
      assert.deepEqual(les, [...ISTIO_DEFAULT_BUCKETS.map(String), '+Inf'], name);
      assert.equal(src.sum(`${name}_count`), 5, name);
      assert.equal(dst.sum(`${name}_count`), 4, name);
      assert.equal(src.sum(`${name}_bucket`, { le: '+Inf' }), 5, name);
    }
    assert.equal(src.sum('istio_request_bytes_sum', { response_code: '415' }), 5, 'the 5-byte plain body');
    assert.ok(dst.sum('istio_response_bytes_sum', { grpc_response_status: '0' }) > 0);
    // The exposition parses as Prometheus text (the shared reader sees no malformed line).
    assert.equal(parseProm(src.text).length, src.samples.length);
  });
});

/** `labels` in exposition order. */
function reorder(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of ISTIO_LABEL_NAMES) out[n] = labels[n]!;
  return out;
}
