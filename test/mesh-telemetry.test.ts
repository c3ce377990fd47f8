/**
 * Telemetry through the mesh, end to end on loopback: the control plane (watched mesh YAML with a
 * remora.dev MeshConfig and Istio Telemetry documents → HCM `access_log` / `tracing` over ADS), a
 * client sidecar and a greeter sidecar configured only through ADS, and a grpc-js Echo backend.
 * Access logs: a `response.code >= 400` filter on a Remora JSON log writes only the failing call,
 * and a live edit to `disabled: true` stops logging. Tracing: 100% sampling gives spans at a real
 * OTLP receiver, a live edit to 0% gives none.
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
import { closeClient, createEchoClient, md, unary, type EchoClient } from './fakes/echo-client';
import { httpRequest } from './fakes/http-client';
import { OtlpReceiver } from './fakes/otlp-receiver';
import { freePort } from './fakes/ports';
import { waitFor } from './fakes/wait';
import { GREETER_HOST, greeterService, greeterWorkload, meshDocs } from './fakes/greeter-mesh';

const protos = loadEnvoyProtos();

/** Plain route to the greeter, and a direct 503 for `x-maintenance: true` (the failing call). */
function greeterRoutes(): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: greeter, namespace: demo }
spec:
  hosts: [${GREETER_HOST}]
  http:
  - name: maintenance
    match: [{ headers: { x-maintenance: { exact: "true" } } }]
    directResponse: { status: 503, body: { string: "down for maintenance" } }
  - name: default
    route: [{ destination: { host: ${GREETER_HOST} } }]
`;
}

function meshConfigDoc(logPath: string, otlpPort: number): string {
  return `apiVersion: remora.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh, namespace: istio-system }
spec:
  extensionProviders:
  - name: json
    remoraAccessLog: { path: ${JSON.stringify(logPath)} }
  - name: otel
    opentelemetry: { service: 127.0.0.1, port: ${otlpPort} }
`;
}

function telemetryDoc(spec: string): string {
  return `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh-default, namespace: istio-system }
spec:
${spec}`;
}

/** A control plane, the greeter (app) + its sidecar, and a client sidecar, from `telemetry`. */
class TelemetryMesh {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-mesh-telemetry-'));
  readonly meshFile = path.join(this.dir, 'mesh.yaml');
  readonly logFile = path.join(this.dir, 'access.jsonl');
  cp: ControlPlane | null = null;
  greeter: EchoServer | null = null;
  readonly sidecars = new Map<string, Sidecar>();
  client: EchoClient | null = null;
  private ports = { greeterIn: 0, greeterOut: 0, clientOut: 0, clientIn: 0 };

  constructor(private readonly otlpPort: number) {}

  yaml(telemetrySpec: string): string {
    return meshDocs(
      greeterService(),
      greeterWorkload('greeter-v1', this.ports.greeterIn, { version: 'v1' }),
      greeterRoutes(),
      meshConfigDoc(this.logFile, this.otlpPort),
      telemetryDoc(telemetrySpec),
    );
  }

  async start(telemetrySpec: string): Promise<void> {
    this.ports = { greeterIn: await freePort(), greeterOut: await freePort(), clientOut: await freePort(), clientIn: await freePort() };
    this.greeter = await EchoServer.start({ id: 'v1' });
    fs.writeFileSync(this.meshFile, this.yaml(telemetrySpec));
    this.cp = await ControlPlane.start({ configPath: this.meshFile, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: 0, adminPort: 0, debounceMs: 50, protos });
    await this.sidecar('greeter-v1', { app: 'greeter', version: 'v1' }, this.greeter.port, this.ports.greeterOut, this.ports.greeterIn);
    await this.sidecar('client', { app: 'client' }, null, this.ports.clientOut, this.ports.clientIn);
    this.client = createEchoClient(`127.0.0.1:${this.ports.clientOut}`, { 'grpc.default_authority': `${GREETER_HOST}:50051` });
  }

  private async sidecar(workload: string, labels: Record<string, string>, appPort: number | null, outbound: number, inbound: number): Promise<void> {
    const bootstrap = buildAdsBootstrap({
      xds: `127.0.0.1:${this.cp!.xdsPort}`, nodeId: `${workload}-node`, workload, namespace: 'demo', appPorts: appPort === null ? [] : [appPort], labels, adminPort: 0, outboundPort: outbound, inboundPort: inbound,
    });
    const sc = await Sidecar.start({ bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: 'silent' }), protos, xdsBackoffBaseMs: 50, xdsBackoffMaxMs: 500 });
    this.sidecars.set(workload, sc);
    await waitFor(async () => (await httpRequest(sc.adminUrl(), { path: '/ready' })).status === 200, { timeoutMs: 20_000, what: `${workload} ready` });
  }

  /** The LDS version every sidecar has accepted (and ACKed), by workload. */
  ldsVersions(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [w, sc] of this.sidecars) {
      const lds = sc.adsClient!.status().find((t) => t.type === 'lds')!;
      assert.equal(lds.lastNack, null, `${w} NACKed the listeners: ${JSON.stringify(lds.lastNack)}`);
      out.set(w, lds.lastAckedVersion);
    }
    return out;
  }

  /** Rewrites the Telemetry and waits until every sidecar ACKed new listeners. */
  async edit(telemetrySpec: string): Promise<void> {
    const before = this.ldsVersions();
    fs.writeFileSync(this.meshFile, this.yaml(telemetrySpec));
    await waitFor(() => {
      const now = this.ldsVersions();
      return [...now].every(([w, v]) => v !== before.get(w));
    }, { timeoutMs: 20_000, what: 'the edited Telemetry on every sidecar' });
  }

  async ok(): Promise<void> {
    const r = await unary(this.client!, { message: 'hi' }, { deadlineMs: 5000 });
    assert.equal(r.error, null, `call failed: ${String(r.error)}`);
  }

  async failing(): Promise<void> {
    const r = await unary(this.client!, { message: 'hi' }, { deadlineMs: 5000, metadata: md({ 'x-maintenance': 'true' }) });
    assert.notEqual(r.error, null, 'the maintenance route answers 503');
  }

  logLines(): string[] {
    if (!fs.existsSync(this.logFile)) return [];
    return fs.readFileSync(this.logFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
  }

  /** Closes the sidecars (flushing their access logs and span exporters). */
  async closeSidecars(): Promise<void> {
    if (this.client !== null) closeClient(this.client);
    this.client = null;
    for (const sc of this.sidecars.values()) await sc.close();
    this.sidecars.clear();
  }

  async close(): Promise<void> {
    await this.closeSidecars();
    await this.cp?.stop();
    await this.greeter?.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('mesh telemetry: access logs from a Telemetry document', { timeout: 120_000 }, () => {
  let mesh: TelemetryMesh;
  const LOG_ERRORS = `  accessLogging:
  - providers: [{ name: json }]
    match: { mode: CLIENT }
    filter: { expression: "response.code >= 400" }
`;

  before(async () => {
    mesh = new TelemetryMesh(await freePort());
    await mesh.start(LOG_ERRORS);
  });
  after(async () => { await mesh?.close(); });

  it('logs only the failing call (filter response.code >= 400)', async () => {
    for (let i = 0; i < 5; i++) await mesh.ok();
    await mesh.failing();
    // One destination writes in order: once the failing call's line is there, any successful
    // call that had been logged would be there before it.
    const lines = await waitFor(() => (mesh.logLines().length > 0 ? mesh.logLines() : null), { timeoutMs: 10_000, what: 'an access log line' });
    assert.equal(lines.length, 1, `expected only the failing call:\n${lines.join('\n')}`);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.ok(JSON.stringify(entry).includes('503'), `the line is the 503: ${lines[0]}`);
  });

  it('a live edit to disabled: true stops logging', async () => {
    await mesh.edit(`  accessLogging:
  - providers: [{ name: json }]
    disabled: true
`);
    await mesh.failing();
    await mesh.ok();
    await mesh.closeSidecars(); // flushes any pending line
    assert.equal(mesh.logLines().length, 1, mesh.logLines().join('\n'));
  });
});

describe('mesh telemetry: tracing sampled from a Telemetry document', { timeout: 120_000 }, () => {
  let receiver: OtlpReceiver;
  let mesh: TelemetryMesh;

  before(async () => {
    receiver = await OtlpReceiver.start();
    mesh = new TelemetryMesh(receiver.grpcPort);
    await mesh.start(`  tracing:
  - providers: [{ name: otel }]
    randomSamplingPercentage: 100
`);
  });
  after(async () => {
    await mesh?.close();
    await receiver?.close();
  });

  it('100%: the call is traced by both sidecars', async () => {
    await mesh.ok();
    const spans = await receiver.waitForSpans((s) => s.length >= 2, 15_000);
    const kinds = new Set(spans.map((s) => s.kind));
    assert.ok(kinds.has('SPAN_KIND_CLIENT') && kinds.has('SPAN_KIND_SERVER'), `span kinds: ${[...kinds].join(', ')}`);
    assert.equal(new Set(spans.map((s) => s.traceId)).size, 1, 'one trace');
    assert.ok(spans.some((s) => s.resource['service.name'] === 'client.demo'), JSON.stringify(spans.map((s) => s.resource)));
  });

  it('a live edit to 0% stops tracing', async () => {
    await mesh.edit(`  tracing:
  - providers: [{ name: otel }]
    randomSamplingPercentage: 0
`);
    receiver.clear();
    for (let i = 0; i < 5; i++) await mesh.ok();
    await mesh.closeSidecars(); // flushes the exporters
    assert.deepEqual(receiver.spans, []);
  });
});
