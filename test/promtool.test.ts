/**
 * `promtool check metrics` on live scrapes: a control plane, a client sidecar and a greeter sidecar
 * (configured over ADS) in front of a grpc-js Echo backend carry some traffic (successes, an
 * upstream gRPC error and a no-route local reply); then the sidecars' and the control plane's admin
 * `/stats/prometheus` are scraped and linted. The only lints allowed are the ones compatibility
 * forces: Istio's `istio_request_duration_milliseconds` (unit not in base units) and prom-client's
 * default `nodejs_active_*_total` gauges (`_total` on a non-counter). Every other lint line fails the
 * test and is printed. The same endpoints are scraped with Prometheus' OpenMetrics Accept header
 * and checked for the content type, the `# EOF` terminator and the family/sample structure
 * (promtool 2.42 parses only the classic text format, so it is not run on OpenMetrics). Skipped
 * when /usr/bin/promtool is missing (Debian package `prometheus`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRuntime } from '../src/core/runtime';
import { ControlPlane } from '../src/control-plane/control-plane';
import { Sidecar } from '../src/sidecar/sidecar';
import { buildAdsBootstrap } from '../src/xds/ads-bootstrap';
import { loadEnvoyProtos } from '../src/xds/protos';
import { EchoServer } from './fakes/echo-server';
import { ECHO_CONTROL } from './fakes/echo-proto';
import { closeClient, createEchoClient, md, unary, type EchoClient } from './fakes/echo-client';
import { httpRequest } from './fakes/http-client';
import { waitFor } from './fakes/wait';
import { freePort } from './fakes/ports';
import { GREETER_HOST, greeterRoutes, greeterService, greeterSubsets, greeterWorkload, meshDocs } from './fakes/greeter-mesh';

const PROMTOOL = '/usr/bin/promtool';
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

/** Lints compatibility forces on us; anything else promtool reports is a failure. */
const ALLOWED_LINTS: readonly RegExp[] = [
  /^istio_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"$/,
  /^nodejs_active_[a-z_]+_total non-counter metrics should not have "_total" suffix$/,
];

interface PromtoolResult { readonly code: number; readonly output: string }

function promtoolCheck(text: string): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, output }));
    p.stdin.end(text);
  });
}

/** promtool's output lines that are not an allowed lint (parse errors included). */
function unexpectedLints(output: string): string[] {
  return output.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !ALLOWED_LINTS.some((re) => re.test(l)));
}

/** Structural OpenMetrics check: metadata before samples, samples named for their family's type, one `# EOF` at the end. */
function openMetricsProblems(body: string): string[] {
  const problems: string[] = [];
  const lines = body.split('\n');
  if (lines.at(-1) !== '' || lines.at(-2) !== '# EOF') problems.push('does not end with "# EOF\\n"');
  const families = new Set<string>();
  let family = '';
  let type = '';
  for (let i = 0; i < lines.length - 2; i++) {
    const l = lines[i]!;
    if (l === '# EOF') { problems.push(`line ${i + 1}: # EOF before the end`); continue; }
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|unknown|info|stateset|gaugehistogram)$/.exec(l);
    if (t !== null) {
      family = t[1]!;
      type = t[2]!;
      if (families.has(family)) problems.push(`line ${i + 1}: family ${family} declared twice`);
      families.add(family);
      continue;
    }
    if (l.startsWith('# HELP ') || l.startsWith('# UNIT ')) {
      if (l.split(' ')[2] !== family) problems.push(`line ${i + 1}: metadata for another family than ${family}: ${l}`);
      continue;
    }
    if (l.startsWith('#') || l === '') { problems.push(`line ${i + 1}: unexpected line: ${JSON.stringify(l)}`); continue; }
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)?.[0] ?? '';
    const allowed = type === 'counter' ? [`${family}_total`, `${family}_created`]
      : type === 'histogram' ? [`${family}_bucket`, `${family}_sum`, `${family}_count`, `${family}_created`]
        : type === 'summary' ? [family, `${family}_sum`, `${family}_count`, `${family}_created`] : [family];
    if (!allowed.includes(name)) problems.push(`line ${i + 1}: sample ${name} does not belong to ${type} family ${family}`);
    if (!/ (-?[0-9.e+-]+|NaN|[+-]Inf)( [0-9.]+)?$/.test(l.replace(/ # \{.*$/, ''))) problems.push(`line ${i + 1}: bad value: ${l}`);
  }
  return problems;
}

const promtoolMissing = !fs.existsSync(PROMTOOL);

describe('promtool check metrics on live scrapes', { timeout: 120_000, skip: promtoolMissing ? `${PROMTOOL} is missing (install the Debian package "prometheus")` : false }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-promtool-'));
  const meshFile = path.join(dir, 'mesh.yaml');
  const protos = loadEnvoyProtos();
  let echo: EchoServer;
  let cp: ControlPlane | null = null;
  const sidecars: Sidecar[] = [];
  let client: EchoClient;
  let stranger: EchoClient;

  const startSidecar = async (nodeId: string, workload: string, labels: Record<string, string>, appPort: number | null, outbound: number, inbound: number) => {
    const bootstrap = buildAdsBootstrap({ xds: `127.0.0.1:${cp!.xdsPort}`, nodeId, workload, namespace: 'demo', appPorts: appPort === null ? [] : [appPort], labels, adminPort: 0, outboundPort: outbound, inboundPort: inbound });
    const sc = await Sidecar.start({ bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: 'silent' }), protos, xdsBackoffBaseMs: 50, xdsBackoffMaxMs: 500 });
    sidecars.push(sc);
    await waitFor(async () => (await httpRequest(sc.adminUrl(), { path: '/ready' })).status === 200, { timeoutMs: 20_000, what: `${nodeId} ready` });
    return sc;
  };

  before(async () => {
    const ports = { greeterIn: await freePort(), greeterOut: await freePort(), clientOut: await freePort(), clientIn: await freePort() };
    echo = await EchoServer.start({ id: 'v1' });
    fs.writeFileSync(meshFile, meshDocs(
      greeterService(),
      greeterWorkload('greeter-v1', ports.greeterIn, { version: 'v1' }, 'greeter'),
      greeterSubsets(),
      greeterRoutes({ weights: [100, 0] }),
    ));
    cp = await ControlPlane.start({ configPath: meshFile, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: 0, adminPort: 0, debounceMs: 50, protos });
    await startSidecar('greeter-v1-node', 'greeter-v1', { app: 'greeter', version: 'v1' }, echo.port, ports.greeterOut, ports.greeterIn);
    await startSidecar('client-node', 'client', { app: 'client' }, null, ports.clientOut, ports.clientIn);
    client = createEchoClient(`127.0.0.1:${ports.clientOut}`, { 'grpc.default_authority': `${GREETER_HOST}:50051` });
    stranger = createEchoClient(`127.0.0.1:${ports.clientOut}`, { 'grpc.default_authority': 'nowhere.example:80' });

    let ok = 0;
    for (let i = 0; i < 20; i++) if ((await unary(client, { message: 'hi' }, { deadlineMs: 5000 })).error === null) ok++;
    assert.equal(ok, 20, 'the mesh serves calls');
    const failed = await unary(client, { message: 'boom' }, { metadata: md({ [ECHO_CONTROL.status]: '13' }), deadlineMs: 5000 });
    assert.equal(failed.error?.code, 13, 'the upstream error reaches the client');
    const noRoute = await unary(stranger, { message: 'lost' }, { deadlineMs: 5000 });
    assert.notEqual(noRoute.error, null, 'an unknown authority gets a local reply');
  });

  after(async () => {
    if (client) closeClient(client);
    if (stranger) closeClient(stranger);
    for (const s of sidecars) await s.close();
    await cp?.stop();
    await echo?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const endpoints = (): Array<{ what: string; base: string }> => [
    { what: 'client sidecar', base: sidecars[1]!.adminUrl() },
    { what: 'greeter sidecar', base: sidecars[0]!.adminUrl() },
    { what: 'control plane', base: `http://127.0.0.1:${cp!.adminPort}` },
  ];

  it('the classic text scrapes pass promtool with only the compatibility lints', async (t) => {
    for (const { what, base } of endpoints()) {
      const r = await httpRequest(base, { path: '/stats/prometheus' });
      assert.equal(r.status, 200, what);
      assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8', what);
      const text = r.text();
      assert.match(text, /^process_cpu_user_seconds_total /m, `${what} exposes the Node process metrics`);
      const check = await promtoolCheck(text);
      t.diagnostic(`${what}: ${text.split('\n').filter((l) => /^[a-z]/.test(l)).length} samples; promtool exit ${check.code}: ${check.output.trim().split('\n').join(' | ')}`);
      const bad = unexpectedLints(check.output);
      assert.deepEqual(bad, [], `promtool on the ${what} scrape (exit ${check.code}) reported:\n${bad.join('\n')}`);
      assert.ok(check.code === 0 || check.output.trim() !== '', `promtool exited ${check.code} without saying why`);
    }
  });

  it('flags any other lint (the check can fail)', async () => {
    const check = await promtoolCheck('# HELP remora_bad counter without suffix\n# TYPE remora_bad counter\nremora_bad 1\n');
    assert.deepEqual(unexpectedLints(check.output), ['remora_bad counter metrics should have "_total" suffix']);
  });

  it('the sidecar scrape carries the per-cluster load and the local replies', async () => {
    const text = (await httpRequest(sidecars[1]!.adminUrl(), { path: '/stats/prometheus' })).text();
    for (const name of ['remora_upstream_connections_active', 'remora_upstream_requests_active', 'remora_upstream_requests_pending']) {
      assert.match(text, new RegExp(`^${name}\\{cluster="[^"]+"\\} \\d+$`, 'm'), name);
    }
    assert.match(text, /^remora_upstream_connections_total\{cluster="[^"]*greeter[^"]*"\} [1-9]\d*$/m, 'connections opened towards the greeter');
    assert.match(text, /^remora_local_replies_total\{listener="[^"]+",reason="[^"]+"\} [1-9]\d*$/m, 'the no-route local reply is counted');
    assert.match(text, /^remora_downstream_requests_total\{[^}]*grpc_status="13"\} 1$/m, 'the upstream error is counted');
  });

  it('the sidecar scrape carries the xDS client metrics', async (t) => {
    const text = (await httpRequest(sidecars[1]!.adminUrl(), { path: '/stats/prometheus' })).text();
    if (!/^remora_xds_acks_total\{/m.test(text)) {
      t.skip('remora_xds_* absent: the Sidecar does not pass `metrics: runtime.metrics` to its AdsClient yet');
      return;
    }
    for (const type of ['cds', 'eds', 'lds', 'rds']) {
      assert.match(text, new RegExp(`^remora_xds_config_info\\{type="${type}",version="[^"]+"\\} 1$`, 'm'), `${type} version`);
      assert.match(text, new RegExp(`^remora_xds_acks_total\\{type="${type}"\\} [1-9]\\d*$`, 'm'), `${type} ACKs`);
      assert.equal(text.match(new RegExp(`^remora_xds_config_info\\{type="${type}",`, 'gm'))!.length, 1, `one ${type} config_info series`);
    }
  });

  it('serves OpenMetrics to Prometheus\' Accept header, ending in # EOF', async () => {
    for (const { what, base } of endpoints()) {
      const r = await httpRequest(base, { path: '/stats/prometheus', headers: { accept: PROMETHEUS_ACCEPT } });
      assert.equal(r.status, 200, what);
      assert.equal(r.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8', what);
      const body = r.text();
      assert.deepEqual(openMetricsProblems(body), [], `${what} OpenMetrics structure`);
      assert.match(body, /^# TYPE process_cpu_user_seconds counter$/m, what);
      assert.match(body, /^process_cpu_user_seconds_total /m, what);
      // A classic scrape afterwards still has the counters' _total names (the registry was not touched).
      const again = (await httpRequest(base, { path: '/stats/prometheus' })).text();
      assert.match(again, /^# TYPE process_cpu_user_seconds_total counter$/m, `${what} classic scrape after OpenMetrics`);
    }
  });
});
