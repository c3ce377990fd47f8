/**
 * The control plane's composition root: a watched mesh config source (file or directory, or an
 * etcd key prefix shared by several replicas) →
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
import { MeshDocumentCache } from './mesh/document-cache';
import { AdsServer } from './server/ads-server';
import { XdsMetrics } from './server/xds-metrics';
import { EtcdSource } from './sources/etcd-source';
import { FileSource } from './sources/file-source';
import type { MeshSource, MeshSourceSnapshot } from './sources/mesh-source';
import { DEFAULT_TRANSLATE_OPTIONS, translateForNode, translationKey } from './translate';

/** Where the mesh config lives when it is in etcd: every key under `prefix` is one YAML document. */
export interface EtcdSourceSpec {
  /** Client URLs (`http://host:2379`). */
  readonly endpoints: readonly string[];
  /** Key prefix, e.g. `/remora/`. */
  readonly prefix: string;
}

export interface ControlPlaneOptions {
  /** Mesh config file or directory (watched). Exactly one of `configPath` and `etcd` is required. */
  readonly configPath?: string;
  /** Mesh config in etcd (watched); replicas sharing it serve the same mesh. */
  readonly etcd?: EtcdSourceSpec;
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
    private readonly source: MeshSource,
    private readonly sourceName: string,
    readonly ads: AdsServer,
    readonly admin: ControlPlaneAdmin,
    /** Parsed documents reused across reloads: an edit re-parses only what changed. */
    private readonly documents: MeshDocumentCache,
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
    const { source, name: sourceName } = openSource(options);
    let first: MeshSourceSnapshot;
    try {
      first = await source.read();
    } catch (err) {
      await source.close();
      throw err;
    }
    const documents = new MeshDocumentCache();
    const result = loadMeshConfig(first.files, documents);
    if (!result.ok) {
      await source.close();
      throw new MeshConfigError(result.errors);
    }
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
    cp = new ControlPlane(options, result.config, source, sourceName, ads, admin, documents);
    await ads.start();
    await admin.start();
    const watched = await source.start({
      onChange: (snap) => cp!.reload(snap),
      onError: (err) => runtime.logger.warn({ err: err.message }, 'mesh config could not be read; keeping the last good config'),
    });
    // A change between the first read and the start of watching is applied now, not lost.
    if (!sameFiles(first, watched)) cp.reload(watched);
    runtime.logger.info({ config: sourceName, xds: ads.port, admin: admin.port }, 'control plane started');
    return cp;
  }

  /** Validates a changed snapshot; applies it whole or rejects it whole. */
  private reload(snap: MeshSourceSnapshot): void {
    const log = this.options.runtime.logger;
    const result = loadMeshConfig(snap.files, this.documents);
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
      source: this.sourceName,
      generation: this.generation,
      accepted_at: this.acceptedAt,
      last_rejected: this.lastRejected,
    };
  }

  get xdsPort(): number { return this.ads.port; }
  get adminPort(): number { return this.admin.port; }

  async stop(): Promise<void> {
    await this.source.close();
    await this.ads.stop();
    await this.admin.stop();
  }
}

/** Builds the configured mesh source (file/directory or etcd prefix) and its display name. */
function openSource(options: ControlPlaneOptions): { source: MeshSource; name: string } {
  if ((options.configPath === undefined) === (options.etcd === undefined)) {
    throw new TypeError('ControlPlaneOptions: exactly one of configPath and etcd is required');
  }
  if (options.etcd !== undefined) {
    const src = new EtcdSource({
      endpoints: options.etcd.endpoints,
      prefix: options.etcd.prefix,
      clock: options.runtime.clock,
      debounceMs: options.debounceMs ?? 100,
    });
    return { source: src, name: src.describe() };
  }
  return { source: new FileSource(options.configPath!, { debounceMs: options.debounceMs ?? 100 }), name: options.configPath! };
}

function sameFiles(a: MeshSourceSnapshot, b: MeshSourceSnapshot): boolean {
  if (a.files.size !== b.files.size) return false;
  for (const [k, v] of b.files) if (a.files.get(k) !== v) return false;
  return true;
}
