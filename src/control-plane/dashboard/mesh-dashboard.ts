/**
 * The mesh dashboard served on the control plane's admin port: it joins the ADS push status (every
 * connected sidecar's workload, admin address, config versions per type, ACK/NACK and the NACK
 * text) and telemetry scraped from each sidecar's admin
 * `/stats/prometheus` every `scrapeIntervalMs` (`mesh-telemetry.ts`: golden signals per service,
 * call edges, certificate expiry), plus the CA's root expiry when the control plane has a CA.
 * HTTP: `GET /dashboard` (the page, static files in `assets/`), `GET /dashboard/api/state` (the
 * JSON below), `GET /dashboard/events` (Server-Sent Events: one `state` event on connect and after
 * every scrape round). Sidecars that disconnect stay visible (marked) for `retainDisconnectedMs`,
 * then are dropped with their telemetry. The scrape loop's timer is unref'd; `stop()` ends it and
 * every event stream.
 */
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { X509Certificate } from 'node:crypto';
import pino, { type Logger } from 'pino';
import type { Clock } from '../../core/clock';
import type { NodeStatus, NodeSummary, SyncState } from '../server/push-status';
import { scrapeAdmin } from './admin-scrape';
import { isDashboardMetric, MeshTelemetry, type GraphEdge, type GraphNode, type ServiceSignals } from './mesh-telemetry';
import { parsePrometheusText } from './prometheus-text';

export interface MeshDashboardOptions {
  /** The ADS push status (`() => ads.pushStatus.list()`), rendered when the state is asked for. */
  readonly syncz: () => readonly NodeStatus[];
  /**
   * Who is connected (`() => ads.pushStatus.summaries()`), what the scrape loop reads every round.
   * Rendering every stream's status in a loop that runs whether or not anyone looks held the
   * control plane's event loop ~15 ms per round at 1,000 streams.
   */
  readonly nodes: () => readonly NodeSummary[];
  readonly clock: Clock;
  readonly logger?: Logger;
  /** Scrape period (default 5000 ms). */
  readonly scrapeIntervalMs?: number;
  /** Window of rates and quantiles (default 60000 ms). */
  readonly windowMs?: number;
  /** Per-scrape deadline (default 2000 ms). */
  readonly scrapeTimeoutMs?: number;
  /** Largest scrape body (default 8 MiB). */
  readonly maxScrapeBytes?: number;
  /** How long a disconnected sidecar stays listed (default 60000 ms). */
  readonly retainDisconnectedMs?: number;
  /** Concurrent `/dashboard/events` clients (default 32); more get 503. */
  readonly maxEventClients?: number;
  /** The CA's trust bundle (PEM), for the root expiry; null/absent without a CA. */
  readonly caTrustBundle?: (() => string) | null;
  /** The folder with dashboard.html/.css/.js (default: found by `dashboardAssetsDir()`). */
  readonly assetsDir?: string;
}

/** A type's sync status as the dashboard shows it. */
export interface DashboardTypeStatus {
  readonly type: string;
  readonly state: SyncState;
  readonly versionSent: string | null;
  readonly versionAcked: string | null;
  /** The last NACK of the type (kept after a later ACK; `state` says whether it is current). */
  readonly lastNack: { readonly message: string; readonly version: string; readonly at: string } | null;
}

export type SidecarSync = SyncState | 'DISCONNECTED';

export interface DashboardSidecar {
  readonly nodeId: string;
  readonly workload: string | null;
  readonly namespace: string | null;
  readonly adminAddress: string | null;
  readonly connected: boolean;
  readonly connectedSince: string | null;
  /** NACKED if any type is, else STALE if any, else NOT_SENT if any, else SYNCED; DISCONNECTED when gone. */
  readonly sync: SidecarSync;
  /** The NACK text of the first currently NACKED type (`<type>: <message>`), else null. */
  readonly nack: string | null;
  readonly types: readonly DashboardTypeStatus[];
  readonly scrape: { readonly state: 'ok' | 'error' | 'pending' | 'none'; readonly at: string | null; readonly error: string | null };
  /** notAfter of the sidecar's workload certificate (from its scrape), ISO; null when unknown. */
  readonly certExpiry: string | null;
}

export interface DashboardCaRoot {
  readonly subject: string;
  readonly notAfter: string;
}

/** `/dashboard/api/state`. */
export interface DashboardState {
  readonly generatedAt: string;
  readonly windowSeconds: number;
  readonly scrapeIntervalMs: number;
  readonly services: readonly ServiceSignals[];
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
  readonly sidecars: readonly DashboardSidecar[];
  /** The CA's roots and the earliest root expiry; null without a CA. */
  readonly ca: { readonly roots: readonly DashboardCaRoot[]; readonly rootExpiry: string | null } | null;
}

const ASSETS: Readonly<Record<string, string>> = {
  'dashboard.html': 'text/html; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
};

/**
 * The dashboard's `assets/` folder, found by walking up from this file: next to it when running
 * from `src/` (tsx), or `src/control-plane/dashboard/assets` of the package root when running from
 * `dist/` (tsc does not copy non-TS files). Throws if missing.
 */
export function dashboardAssetsDir(): string {
  const beside = path.join(__dirname, 'assets');
  if (fs.existsSync(path.join(beside, 'dashboard.html'))) return beside;
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'src', 'control-plane', 'dashboard', 'assets');
    if (fs.existsSync(path.join(candidate, 'dashboard.html'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no dashboard assets (src/control-plane/dashboard/assets) above ${__dirname}`);
    dir = parent;
  }
}

class SidecarEntry {
  status: NodeStatus | null = null;
  workload: string | null = null;
  namespace: string | null = null;
  adminAddress: string | null = null;
  connected = true;
  disconnectedAt = 0;
  scrapeState: 'ok' | 'error' | 'pending' | 'none' = 'pending';
  scrapeAt: string | null = null;
  scrapeError: string | null = null;
  scraping = false;
  constructor(readonly nodeId: string) {}
}

/** The dashboard: scrape loop, state and HTTP handlers. `start()`, then `handle()` per request, `stop()`. */
export class MeshDashboard {
  readonly telemetry: MeshTelemetry;
  private readonly entries = new Map<string, SidecarEntry>();
  private readonly events = new Set<http.ServerResponse>();
  private readonly assets = new Map<string, Buffer>();
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly windowMs: number;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private stopped = false;
  private caPem: string | null = null;
  private caRoots: DashboardCaRoot[] = [];

  constructor(private readonly options: MeshDashboardOptions) {
    this.intervalMs = options.scrapeIntervalMs ?? 5000;
    this.windowMs = options.windowMs ?? 60_000;
    this.telemetry = new MeshTelemetry({ windowMs: this.windowMs, maxScrapes: Math.ceil(this.windowMs / this.intervalMs) + 2 });
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'dashboard' });
    const dir = options.assetsDir ?? dashboardAssetsDir();
    for (const name of Object.keys(ASSETS)) this.assets.set(name, fs.readFileSync(path.join(dir, name)));
  }

  /** Starts the scrape loop (first round at once). Idempotent. */
  start(): void {
    if (this.timer !== null || this.stopped) return;
    this.timer = setInterval(() => { void this.scrapeOnce(); }, this.intervalMs);
    this.timer.unref();
    void this.scrapeOnce();
  }

  /** Stops the loop and ends every event stream. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const res of this.events) res.end();
    this.events.clear();
    if (this.round !== null) await this.round;
  }

  /**
   * One round: refresh the sidecar list from the push status, scrape every connected sidecar with
   * an admin address (those still busy from the last round are skipped), then publish the state to
   * the event streams. Concurrent calls share the round in flight. Never rejects.
   */
  scrapeOnce(): Promise<void> {
    if (this.round !== null) return this.round;
    const round = this.runRound().catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message }, 'dashboard scrape round failed');
    }).finally(() => { this.round = null; });
    this.round = round;
    return round;
  }

  private async runRound(): Promise<void> {
    this.refreshSidecars();
    const scrapes: Promise<void>[] = [];
    for (const e of this.entries.values()) {
      if (!e.connected) continue;
      if (e.adminAddress === null) {
        e.scrapeState = 'none';
        continue;
      }
      if (e.scraping) continue;
      scrapes.push(this.scrapeSidecar(e, e.adminAddress));
    }
    await Promise.all(scrapes);
    if (!this.stopped) this.publish();
  }

  private refreshSidecars(): void {
    const now = this.options.clock.monotonic();
    const latest = latestPerNode(this.options.nodes());
    for (const [id, status] of latest) {
      let e = this.entries.get(id);
      if (e === undefined) {
        e = new SidecarEntry(id);
        this.entries.set(id, e);
      }
      e.connected = true;
      e.workload = status.workload;
      e.namespace = status.namespace;
      if (status.adminAddress !== e.adminAddress) {
        e.adminAddress = status.adminAddress;
        e.scrapeState = status.adminAddress === null ? 'none' : 'pending';
      }
    }
    const retainMs = this.options.retainDisconnectedMs ?? 60_000;
    for (const [id, e] of this.entries) {
      if (latest.has(id)) continue;
      if (e.connected) {
        e.connected = false;
        e.disconnectedAt = now;
      } else if (now - e.disconnectedAt >= retainMs) {
        this.entries.delete(id);
        this.telemetry.drop(id);
      }
    }
  }

  private async scrapeSidecar(e: SidecarEntry, address: string): Promise<void> {
    e.scraping = true;
    try {
      const body = await scrapeAdmin(address, { timeoutMs: this.options.scrapeTimeoutMs ?? 2000, maxBytes: this.options.maxScrapeBytes ?? 8 * 1024 * 1024 });
      if (this.entries.get(e.nodeId) !== e || e.adminAddress !== address) return;
      const { samples } = parsePrometheusText(body, isDashboardMetric);
      this.telemetry.ingest(e.nodeId, this.options.clock.monotonic(), samples);
      e.scrapeState = 'ok';
      e.scrapeError = null;
    } catch (err) {
      e.scrapeState = 'error';
      e.scrapeError = (err as Error)?.message ?? String(err);
      this.log.debug({ node: e.nodeId, address, err: e.scrapeError }, 'sidecar scrape failed');
    } finally {
      e.scrapeAt = new Date(this.options.clock.now()).toISOString();
      e.scraping = false;
    }
  }

  /**
   * The dashboard's current state (what `/dashboard/api/state` returns). The push status of the
   * connected sidecars is read now; a disconnected one keeps what the state showed last.
   */
  state(): DashboardState {
    for (const [id, status] of latestPerNode(this.options.syncz())) {
      const e = this.entries.get(id);
      if (e !== undefined && e.connected) e.status = status;
    }
    const summary = this.telemetry.summarize(this.options.clock.monotonic());
    const sidecars: DashboardSidecar[] = [];
    for (const e of this.entries.values()) sidecars.push(this.renderSidecar(e));
    sidecars.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    return {
      generatedAt: new Date(this.options.clock.now()).toISOString(),
      windowSeconds: this.windowMs / 1000,
      scrapeIntervalMs: this.intervalMs,
      services: summary.services,
      nodes: summary.nodes,
      edges: summary.edges,
      sidecars,
      ca: this.caState(),
    };
  }

  private renderSidecar(e: SidecarEntry): DashboardSidecar {
    const types: DashboardTypeStatus[] = [];
    let nack: string | null = null;
    let anyStale = false;
    let anyNotSent = false;
    for (const t of e.status?.types ?? []) {
      types.push({
        type: t.type,
        state: t.state,
        versionSent: t.versionSent,
        versionAcked: t.versionAcked,
        lastNack: t.lastNack === null ? null : { message: t.lastNack.message, version: t.lastNack.version, at: t.lastNack.at },
      });
      if (t.state === 'NACKED' && nack === null) nack = `${t.type}: ${t.lastNack?.message ?? ''}`;
      if (t.state === 'STALE') anyStale = true;
      if (t.state === 'NOT_SENT') anyNotSent = true;
    }
    const sync: SidecarSync = !e.connected ? 'DISCONNECTED' : nack !== null ? 'NACKED' : anyStale ? 'STALE' : anyNotSent || types.length === 0 ? 'NOT_SENT' : 'SYNCED';
    const expiry = this.telemetry.certExpiry(e.nodeId);
    return {
      nodeId: e.nodeId,
      workload: e.workload,
      namespace: e.namespace,
      adminAddress: e.adminAddress,
      connected: e.connected,
      connectedSince: e.status?.connectedSince ?? null,
      sync,
      nack,
      types,
      scrape: { state: e.scrapeState, at: e.scrapeAt, error: e.scrapeError },
      certExpiry: expiry === null ? null : new Date(expiry * 1000).toISOString(),
    };
  }

  private caState(): DashboardState['ca'] {
    const bundle = this.options.caTrustBundle ?? null;
    if (bundle === null) return null;
    let pem: string;
    try {
      pem = bundle();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'CA trust bundle unavailable');
      return { roots: [], rootExpiry: null };
    }
    if (pem !== this.caPem) {
      this.caPem = pem;
      this.caRoots = parseRoots(pem);
    }
    let earliest: string | null = null;
    for (const r of this.caRoots) if (earliest === null || r.notAfter < earliest) earliest = r.notAfter;
    return { roots: this.caRoots, rootExpiry: earliest };
  }

  private publish(): void {
    if (this.events.size === 0) return;
    const frame = `event: state\ndata: ${JSON.stringify(this.state())}\n\n`;
    for (const res of this.events) {
      // A client that does not read is cut off rather than buffered without bound.
      if (res.writableLength > 1024 * 1024) {
        res.destroy();
        this.events.delete(res);
        continue;
      }
      res.write(frame);
    }
  }

  /**
   * Serves `path` if it is a dashboard path (`/dashboard`, `/dashboard/`, `/dashboard/assets/*`,
   * `/dashboard/api/state`, `/dashboard/events`); returns false otherwise (the caller answers 404).
   * GET/HEAD only (the caller checks the method).
   */
  handle(req: http.IncomingMessage, res: http.ServerResponse, urlPath: string): boolean {
    if (urlPath === '/dashboard' || urlPath === '/dashboard/') {
      this.sendAsset(res, 'dashboard.html');
      return true;
    }
    if (urlPath.startsWith('/dashboard/assets/')) {
      const name = urlPath.slice('/dashboard/assets/'.length);
      if (!Object.prototype.hasOwnProperty.call(ASSETS, name)) return false;
      this.sendAsset(res, name);
      return true;
    }
    if (urlPath === '/dashboard/api/state') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(this.state()));
      return true;
    }
    if (urlPath === '/dashboard/events') {
      this.openEvents(req, res);
      return true;
    }
    return false;
  }

  private sendAsset(res: http.ServerResponse, name: string): void {
    res.writeHead(200, { 'content-type': ASSETS[name]!, 'cache-control': 'no-cache' });
    res.end(this.assets.get(name));
  }

  private openEvents(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.stopped || this.events.size >= (this.options.maxEventClients ?? 32)) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
      res.end('too many dashboard event streams\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: ${Math.max(1000, this.intervalMs)}\n\nevent: state\ndata: ${JSON.stringify(this.state())}\n\n`);
    this.events.add(res);
    const done = (): void => { this.events.delete(res); };
    req.on('close', done);
    res.on('close', done);
  }

  /** Open `/dashboard/events` streams (for tests). */
  eventClientsForTest(): number {
    return this.events.size;
  }
}

/** Every certificate of a PEM bundle, with its subject and notAfter (ISO); unparsable blocks skipped. */
export function parseRoots(pem: string): DashboardCaRoot[] {
  const out: DashboardCaRoot[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)) {
    try {
      const x = new X509Certificate(m[0]);
      out.push({ subject: x.subject.replace(/\n/g, ', '), notAfter: new Date(x.validTo).toISOString() });
    } catch {
      // not a certificate we can read: skipped
    }
  }
  return out;
}

/** The newest stream of each node id. */
function latestPerNode<T extends NodeSummary>(streams: readonly T[]): Map<string, T> {
  const latest = new Map<string, T>();
  for (const s of streams) {
    const prev = latest.get(s.nodeId);
    if (prev === undefined || s.streamId > prev.streamId) latest.set(s.nodeId, s);
  }
  return latest;
}
