/**
 * The control plane's composition root: a watched mesh config source (file or directory) →
 * validation (`mesh/`) → per-node translation (`translate/`) → the ADS server, plus the admin
 * server. An invalid change is rejected whole: it is logged, counted, and shown on
 * `/debug/config` and `remora status`, while the last good config keeps serving.
 */
import type * as protobuf from 'protobufjs';
import { Counter, Gauge } from 'prom-client';
import type { Runtime } from '../core/runtime';
import { loadEnvoyProtos } from '../xds/protos';
import { ControlPlaneAdmin } from './admin/control-plane-admin';
import { formatMeshIssue, loadMeshConfig, type MeshConfig, type MeshConfigIssue } from './mesh';
import { AdsServer } from './server/ads-server';
import { XdsMetrics } from './server/xds-metrics';
import { FileSource, type MeshSourceSnapshot } from './sources/file-source';
import { DEFAULT_TRANSLATE_OPTIONS, translateForNode, translationKey } from './translate';

export interface ControlPlaneOptions {
  /** Mesh config file or directory (watched). */
  readonly configPath: string;
  readonly runtime: Runtime;
  /** ADS port (default 15010; 0 = ephemeral). */
  readonly xdsPort?: number;
  /** Admin port (default 15014; 0 = ephemeral). */
  readonly adminPort?: number;
  /** Bind host for both servers (default 127.0.0.1). */
  readonly host?: string;
  /** Quiet period before a change is read (default 100 ms). */
  readonly debounceMs?: number;
  readonly protos?: protobuf.Root;
}

/** The initial config is invalid: the control plane does not start (the CLI exits 2). */
export class MeshConfigError extends Error {
  readonly code = 'REMORA_ERR_MESH_CONFIG';
  constructor(readonly issues: readonly MeshConfigIssue[]) {
    super(`invalid mesh config:\n${issues.map((i) => '  ' + formatMeshIssue(i)).join('\n')}`);
    this.name = 'MeshConfigError';
  }
}

interface Rejection {
  readonly at: string;
  readonly errors: readonly string[];
}

export class ControlPlane {
  private mesh: MeshConfig;
  private generation = 1;
  private acceptedAt: string;
  private lastRejected: Rejection | null = null;
  private readonly reloads: Counter<'result'>;
  private readonly generationGauge: Gauge;

  private constructor(
    private readonly options: ControlPlaneOptions,
    initial: MeshConfig,
    private readonly source: FileSource,
    readonly ads: AdsServer,
    readonly admin: ControlPlaneAdmin,
  ) {
    this.mesh = initial;
    this.acceptedAt = new Date(options.runtime.clock.now()).toISOString();
    const registers = [options.runtime.metrics];
    this.reloads = new Counter({ name: 'remora_control_plane_config_reloads_total', help: 'Mesh config changes read, by result (accepted|rejected).', labelNames: ['result'], registers });
    this.generationGauge = new Gauge({ name: 'remora_control_plane_config_generation', help: 'Generation of the mesh config being served (1 = the initial one).', registers });
    this.generationGauge.set(1);
  }

  /** Reads and validates the config (throws MeshConfigError when invalid), then serves. */
  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    const { runtime } = options;
    const source = new FileSource(options.configPath, { debounceMs: options.debounceMs ?? 100 });
    const first = await source.read();
    const result = loadMeshConfig(first.files);
    if (!result.ok) throw new MeshConfigError(result.errors);
    let cp: ControlPlane | null = null;
    const ads = new AdsServer({
      root: options.protos ?? loadEnvoyProtos(),
      provider: (node) => (cp === null ? null : translateForNode(cp.mesh, node, DEFAULT_TRANSLATE_OPTIONS)),
      nodeKey: translationKey,
      port: options.xdsPort ?? 15010,
      host: options.host ?? '127.0.0.1',
      clock: runtime.clock,
      logger: runtime.logger,
      metrics: new XdsMetrics(runtime.metrics),
    });
    const admin = new ControlPlaneAdmin({
      port: options.adminPort ?? 15014,
      host: options.host ?? '127.0.0.1',
      registry: runtime.metrics,
      ready: () => cp !== null,
      syncz: () => ads.pushStatus.list(),
      config: () => cp?.debugConfig() ?? null,
    });
    cp = new ControlPlane(options, result.config, source, ads, admin);
    await ads.start();
    await admin.start();
    await source.start({
      onChange: (snap) => cp!.reload(snap),
      onError: (err) => runtime.logger.warn({ err: err.message }, 'mesh config could not be read; keeping the last good config'),
    });
    runtime.logger.info({ config: options.configPath, xds: ads.port, admin: admin.port }, 'control plane started');
    return cp;
  }

  /** Validates a changed snapshot; applies it whole or rejects it whole. */
  private reload(snap: MeshSourceSnapshot): void {
    const log = this.options.runtime.logger;
    const result = loadMeshConfig(snap.files);
    const at = new Date(this.options.runtime.clock.now()).toISOString();
    if (!result.ok) {
      const errors = result.errors.map(formatMeshIssue);
      this.lastRejected = { at, errors };
      this.reloads.labels('rejected').inc();
      log.error({ errors }, 'mesh config change rejected; the last good config keeps serving');
      return;
    }
    this.mesh = result.config;
    this.generation++;
    this.acceptedAt = at;
    this.lastRejected = null;
    this.reloads.labels('accepted').inc();
    this.generationGauge.set(this.generation);
    log.info({ generation: this.generation }, 'mesh config accepted');
    this.ads.notify();
  }

  /** `/debug/config`: what is served and the last rejected change. */
  debugConfig(): unknown {
    return {
      source: this.options.configPath,
      generation: this.generation,
      accepted_at: this.acceptedAt,
      last_rejected: this.lastRejected,
    };
  }

  get xdsPort(): number { return this.ads.port; }
  get adminPort(): number { return this.admin.port; }

  async stop(): Promise<void> {
    this.source.close();
    await this.ads.stop();
    await this.admin.stop();
  }
}
