/**
 * The mesh dashboard end to end: a real control plane (dashboard scraping every 250 ms), sidecars
 * configured over ADS in front of grpc-js Echo backends (greeter v1/v2) and a client sidecar, plus a
 * fourth sidecar that NACKs: its node metadata puts its outbound listener on a port the test holds,
 * so binding the LDS listener fails and the sidecar NACKs with the bind error. The JSON API shows
 * every sidecar's sync status and admin address; headless Chromium (Debian's /usr/bin/chromium via
 * playwright-core) opens the page, which must show the mesh traffic (the greeter service with a
 * non-zero rate and the client → greeter edge, from Istio's standard metrics scraped from the
 * sidecars) and the NACKed sidecar with its error text; a screenshot goes to
 * test-artifacts/dashboard.png.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRuntime } from '../src/core/runtime';
import { ControlPlane } from '../src/control-plane/control-plane';
import type { DashboardState } from '../src/control-plane/dashboard/mesh-dashboard';
import { Sidecar } from '../src/sidecar/sidecar';
import { buildAdsBootstrap } from '../src/xds/ads-bootstrap';
import { loadEnvoyProtos } from '../src/xds/protos';
import { EchoServer } from './fakes/echo-server';
import { closeClient, createEchoClient, unary, type EchoClient } from './fakes/echo-client';
import { httpRequest } from './fakes/http-client';
import { waitFor } from './fakes/wait';
import { freePort } from './fakes/ports';
import { GREETER_HOST, greeterRoutes, greeterService, greeterSubsets, greeterWorkload, meshDocs } from './fakes/greeter-mesh';

const CHROMIUM = '/usr/bin/chromium';

/** Runs in the page: whether a row matching `selector` has `data-<attr>` starting with `prefix` and `data-rps` > 0. */
function rowWithRate(arg: { selector: string; attr: string; prefix: string }): boolean {
  // The test's tsconfig has no DOM types; this function is serialised and run in the browser.
  const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ getAttribute(n: string): string | null }> } }).document;
  return Array.from(doc.querySelectorAll(arg.selector)).some((tr) => (tr.getAttribute('data-' + arg.attr) ?? '').startsWith(arg.prefix) && Number(tr.getAttribute('data-rps')) > 0);
}

function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

describe('mesh dashboard: control plane + sidecars + headless Chromium', { timeout: 180_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-dashboard-'));
  const meshFile = path.join(dir, 'mesh.yaml');
  const protos = loadEnvoyProtos();
  let v1: EchoServer;
  let v2: EchoServer;
  let cp: ControlPlane | null = null;
  const sidecars: Sidecar[] = [];
  let client: EchoClient;
  let blocker: net.Server;
  let blockedPort = 0;
  let base = '';

  const startSidecar = async (nodeId: string, workload: string, labels: Record<string, string>, appPort: number | null, outbound: number, inbound: number) => {
    const bootstrap = buildAdsBootstrap({ xds: `127.0.0.1:${cp!.xdsPort}`, nodeId, workload, namespace: 'demo', appPorts: appPort === null ? [] : [appPort], labels, adminPort: 0, outboundPort: outbound, inboundPort: inbound });
    const sc = await Sidecar.start({ bootstrapJson: bootstrap, runtime: createRuntime({ logLevel: 'silent' }), protos, xdsBackoffBaseMs: 50, xdsBackoffMaxMs: 500 });
    sidecars.push(sc);
    return sc;
  };
  const ready = (sc: Sidecar, what: string) => waitFor(async () => (await httpRequest(sc.adminUrl(), { path: '/ready' })).status === 200, { timeoutMs: 20_000, what: `${what} ready` });
  const state = async () => (await httpRequest(base, { path: '/dashboard/api/state' })).json<DashboardState>();

  before(async () => {
    const ports = { v1In: await freePort(), v2In: await freePort(), clientOut: await freePort(), v1Out: await freePort(), v2Out: await freePort(), clientIn: await freePort(), brokenIn: await freePort() };
    v1 = await EchoServer.start({ id: 'v1' });
    v2 = await EchoServer.start({ id: 'v2' });
    fs.writeFileSync(meshFile, meshDocs(
      greeterService(),
      greeterWorkload('greeter-v1', ports.v1In, { version: 'v1' }, 'greeter'),
      greeterWorkload('greeter-v2', ports.v2In, { version: 'v2' }, 'greeter'),
      greeterSubsets(),
      greeterRoutes({ weights: [50, 50] }),
    ));
    cp = await ControlPlane.start({
      configPath: meshFile, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: 0, adminPort: 0, debounceMs: 50, protos,
      dashboard: { scrapeIntervalMs: 250, windowMs: 15_000, retainDisconnectedMs: 10_000 },
    });
    base = `http://127.0.0.1:${cp.adminPort}`;
    await ready(await startSidecar('greeter-v1-node', 'greeter-v1', { app: 'greeter', version: 'v1' }, v1.port, ports.v1Out, ports.v1In), 'greeter-v1');
    await ready(await startSidecar('greeter-v2-node', 'greeter-v2', { app: 'greeter', version: 'v2' }, v2.port, ports.v2Out, ports.v2In), 'greeter-v2');
    await ready(await startSidecar('client-node', 'client', { app: 'client' }, null, ports.clientOut, ports.clientIn), 'client');
    // The NACKing sidecar: its outbound listener port is taken by this plain TCP server.
    blocker = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    blockedPort = (blocker.address() as net.AddressInfo).port;
    await startSidecar('broken-node', 'client', { app: 'client' }, null, blockedPort, ports.brokenIn);
    client = createEchoClient(`127.0.0.1:${ports.clientOut}`, { 'grpc.default_authority': `${GREETER_HOST}:50051` });
  });

  after(async () => {
    if (client) closeClient(client);
    for (const s of sidecars) await s.close();
    await (cp as ControlPlane | null)?.stop();
    await v1?.close();
    await v2?.close();
    if (blocker) await new Promise<void>((r) => blocker.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves every sidecar\'s sync status, admin address, scrape state and the NACK text as JSON', async () => {
    const st = await waitFor(async () => {
      const s = await state();
      const broken = s.sidecars.find((x) => x.nodeId === 'broken-node');
      const scraped = s.sidecars.filter((x) => x.scrape.state === 'ok').length;
      return broken?.sync === 'NACKED' && scraped >= 4 ? s : null;
    }, { timeoutMs: 20_000, intervalMs: 100, what: 'broken-node NACKED and all four sidecars scraped' });
    assert.deepEqual(st.sidecars.map((s) => s.nodeId), ['broken-node', 'client-node', 'greeter-v1-node', 'greeter-v2-node']);
    for (const s of st.sidecars) {
      assert.match(s.adminAddress ?? '', /^127\.0\.0\.1:\d+$/, `${s.nodeId} admin address`);
      assert.equal(s.namespace, 'demo');
      assert.equal(s.connected, true);
    }
    const v1 = st.sidecars.find((s) => s.nodeId === 'greeter-v1-node')!;
    assert.equal(v1.workload, 'greeter-v1');
    assert.equal(v1.sync, 'SYNCED');
    assert.ok(v1.types.some((t) => t.type === 'lds' && t.state === 'SYNCED' && t.versionAcked !== null));
    assert.equal(v1.certExpiry, null, 'no workload certificate without a CA');
    const broken = st.sidecars.find((s) => s.nodeId === 'broken-node')!;
    assert.match(broken.nack ?? '', new RegExp(`^lds: .*cannot bind [^ ]+:${blockedPort}.*EADDRINUSE`));
    assert.equal(st.ca, null);
    const redirect = await httpRequest(base, { path: '/' });
    assert.equal(redirect.status, 302);
  });

  it('shows the mesh traffic, the call edge and the NACKed sidecar in headless Chromium; saves a screenshot', {
    skip: fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (Debian package chromium): the browser test cannot run`,
  }, async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    let stop = false;
    let calls = 0;
    let failed = 0;
    const traffic = (async () => {
      while (!stop) {
        const r = await unary(client, { message: 'dashboard' }, { deadlineMs: 5000 });
        calls++;
        if (r.error !== null) failed++;
      }
    })();
    const artifacts = path.join(repoRoot(), 'test-artifacts');
    fs.mkdirSync(artifacts, { recursive: true });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    try {
      await page.goto(`${base}/`); // redirects to /dashboard
      assert.match(page.url(), /\/dashboard$/);
      await page.waitForSelector('#live.badge-ok', { timeout: 20_000 }); // the SSE stream delivers state
      // The NACKed sidecar: its row highlighted, its error text shown.
      const nackRow = page.locator('#sidecars tr.nack[data-node-id="broken-node"]');
      await nackRow.waitFor({ timeout: 20_000 });
      const nackText = await page.locator('#sidecars tr.nack-detail[data-nack-for="broken-node"]').textContent({ timeout: 20_000 });
      assert.match(nackText ?? '', new RegExp(`NACK lds: .*cannot bind [^ ]+:${blockedPort}.*EADDRINUSE`));
      assert.equal(await page.locator('#sidecars tr[data-node-id="greeter-v1-node"]').getAttribute('data-sync'), 'SYNCED');
      // The traffic (Istio standard metrics scraped from the sidecars): a greeter row with a rate,
      // the client → greeter call edge, and the edge drawn in the graph.
      try {
        await page.waitForFunction(rowWithRate, { selector: '#services tr[data-service]', attr: 'service', prefix: GREETER_HOST }, { timeout: 45_000, polling: 100 });
        await page.waitForFunction(rowWithRate, { selector: '#edges tr[data-kind="call"]', attr: 'edge', prefix: `wl:demo/client -> svc:${GREETER_HOST}` }, { timeout: 45_000, polling: 100 });
      } catch (err) {
        const s = await state();
        throw new Error(`the mesh traffic did not appear on the dashboard (${calls} calls made, ${failed} failed). Are Istio's istio_requests_total / istio_request_duration_milliseconds exported by the sidecars? services=${JSON.stringify(s.services)} edges=${JSON.stringify(s.edges)}: ${(err as Error).message}`);
      }
      assert.ok(await page.locator(`#graph path.edge.active[data-edge^="wl:demo/client -> svc:${GREETER_HOST}"]`).count() >= 1, 'the call edge is drawn');
      assert.ok(await page.locator('#graph g.node-service').count() >= 1);
      const row = page.locator(`#services tr[data-service^="${GREETER_HOST}"]`).first();
      const cells = await row.locator('td').allTextContents();
      assert.equal(cells[0], 'greeter');
      assert.match(cells[3] ?? '', /^100%$/, `success rate of greeter: ${cells.join(' | ')}`);
      assert.match(cells[4] ?? '', /ms$/, 'p50 shown');
      assert.match(cells[5] ?? '', /ms$/, 'p99 shown');
      assert.equal(failed, 0);
      // One call edge into greeter, from the client (its sidecar reports as the source; the
      // destination sidecars, without mTLS, see an unknown caller and are not counted twice).
      const st = await state();
      assert.deepEqual(st.edges.filter((e) => e.kind === 'call' && e.target.startsWith(`svc:${GREETER_HOST}`)).map((e) => [e.source, e.reporter]), [['wl:demo/client', 'source']]);
      assert.deepEqual(st.edges.filter((e) => e.kind === 'serves').map((e) => e.target).sort(), ['wl:demo/greeter-v1', 'wl:demo/greeter-v2']);
    } finally {
      await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true }).catch(() => undefined);
      stop = true;
      await traffic;
      await browser.close();
    }
    assert.ok(fs.statSync(path.join(artifacts, 'dashboard.png')).size > 10_000, 'screenshot saved');
  });
});
