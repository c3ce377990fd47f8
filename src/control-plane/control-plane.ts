/**
 * The control plane's composition root: a watched mesh config source (file or directory, or an
 * etcd key prefix shared by several replicas) →
 * validation (`mesh/`) → per-node translation (`translate/`) → the ADS server, plus the admin
 * server with the mesh dashboard (`dashboard/`: sidecar sync status and scraped golden signals). An invalid change is rejected whole: it is logged, counted, and shown on
 * `/debug/config` and `remora status`, while the last good config keeps serving. With a mesh CA
 * (`ca`, the CLI's `--ca-dir`) it also serves ADS over mTLS on the secure xDS port (15012) with a
 * serving certificate from that CA, takes each secure node's identity from its client certificate,
 * and turns on automatic mTLS in translation (PeerAuthentication, the ROOTCA secret); without a CA
 * the output is exactly as before.
 */
import { ensureProcessMetrics } from '../observability/process-metrics';
import { isIP } from 'node:net';
import type * as protobuf from 'protobufjs';
import { Counter, Gauge } from 'prom-client';
import type { Runtime } from '../core/runtime';
import { loadEnvoyProtos } from '../xds/protos';
import { ControlPlaneAdmin } from './admin/control-plane-admin';
import { CONTROL_PLANE_IDENTITY } from './ca/ca-service';
import { MeshDashboard } from './dashboard/mesh-dashboard';
import { formatMeshIssue, type MeshConfig, type MeshConfigIssue } from './mesh';
import { MeshConfigLoader } from './mesh/mesh-config-loader';
import { DescriptorSources } from './sources/descriptor-sources';
import { AdsServer } from './server/ads-server';
import { AdsTlsCertificates, type AdsTlsMaterial } from './server/ads-tls';
import { XdsMetrics } from './server/xds-metrics';
import { EtcdSource } from './sources/etcd-source';
import { FileSource } from './sources/file-source';
import type { MeshSource, MeshSourceSnapshot } from './sources/mesh-source';
import { ClusterMemo, DEFAULT_TRANSLATE_OPTIONS, translateForNode, translationKey, type TranslateOptions } from './translate';

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
  /** The mesh CA: enables the secure xDS port and automatic mTLS. Absent = neither (plaintext mesh). */
  readonly ca?: ControlPlaneCa;
  /** Secure (mTLS) ADS port with `ca` (default 15012; 0 = ephemeral). */
  readonly xdsTlsPort?: number;
  /** Istio root namespace: its selector-less PeerAuthentication is mesh-wide (default `istio-system`). */
  readonly rootNamespace?: string;
  /**
   * How often the trust bundle is compared with the CA's and the serving certificate checked for
   * renewal (at half its lifetime), in ms (default 5000). `refreshTrust()` does it on demand.
   */
  readonly trustRefreshMs?: number;
  /** Further gRPC services on the xDS server (both ports), e.g. the mesh CA service. */
  readonly extraServices?: (server: import('@grpc/grpc-js').Server) => void;
  /** Streams the ADS server pushes to per event-loop turn (`AdsServerOptions.pushBatchSize`; default 1000). */
  readonly pushBatchSize?: number;
  /** The mesh dashboard on the admin port (`/dashboard`): its settings, or false to turn it off (default on). */
  readonly dashboard?: DashboardSettings | false;
}

/** Mesh dashboard settings (see dashboard/mesh-dashboard.ts for the defaults). */
export interface DashboardSettings {
  /** How often each sidecar's admin `/stats/prometheus` is scraped (default 5000 ms). */
  readonly scrapeIntervalMs?: number;
  /** Window of rates and latency quantiles (default 60000 ms). */
  readonly windowMs?: number;
  /** How long a disconnected sidecar stays listed (default 60000 ms). */
  readonly retainDisconnectedMs?: number;
  /** Per-scrape deadline (default 2000 ms). */
  readonly scrapeTimeoutMs?: number;
}

/**
 * What the control plane needs from the mesh CA (`ca/mesh-ca.ts` `MeshCa` satisfies it): the trust
 * domain, the trust bundle (every trusted root; old and new during a rotation) and a certificate
 * for its own serving key.
 */
export interface ControlPlaneCa {
  readonly trustDomain: string;
  trustBundlePem(): string;
  issueWithNewKey(
    identity: { readonly namespace: string; readonly serviceAccount: string },
    options?: { ttlMs?: number | null; dnsNames?: readonly string[]; ipAddresses?: readonly string[] },
  ): { readonly certChainPem: readonly string[]; readonly keyPem: string; readonly notBefore: Date; readonly notAfter: Date };
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
  /** Translation options in force (mTLS settings follow the CA's trust bundle). */
  private translateOptions: TranslateOptions;
  /** Clusters shared by the nodes of a config generation and across VirtualService-only changes. */
  private readonly clusterMemo = new ClusterMemo();
  private trustTimer: NodeJS.Timeout | null = null;
  /** Monotonic-free wall time (Clock) at which the secure port's certificate is renewed. */
  private renewAt = 0;
  private meshDashboard: MeshDashboard | null = null;
  /** The snapshot last read from the source (re-validated when a descriptor file changes). */
  private lastSnapshot: MeshSourceSnapshot | null = null;

  private constructor(
    private readonly options: ControlPlaneOptions,
    initial: MeshConfig,
    private readonly source: MeshSource,
    private readonly sourceName: string,
    readonly ads: AdsServer,
    readonly admin: ControlPlaneAdmin,
    /** Validates each change, reusing what the previous load parsed and validated. */
    private readonly loader: MeshConfigLoader,
    private readonly tlsCertificates: AdsTlsCertificates | null,
    /** GrpcTranscoder/GrpcValidation descriptor files: compiled per load, cached, and watched. */
    private readonly descriptors: DescriptorSources,
  ) {
    this.mesh = initial;
    this.translateOptions = translateOptionsFor(options);
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
    const descriptors = new DescriptorSources({ pollIntervalMs: options.debounceMs ?? 100 });
    const loader = new MeshConfigLoader(descriptors);
    const result = loader.load(first.files);
    if (!result.ok) {
      await source.close();
      throw new MeshConfigError(result.errors);
    }
    let cp: ControlPlane | null = null;
    const ca = options.ca ?? null;
    let tlsCertificates: AdsTlsCertificates | null = null;
    let renewAt = 0;
    if (ca !== null) {
      const issued = issueServingMaterial(ca, options);
      tlsCertificates = new AdsTlsCertificates(issued.material);
      renewAt = issued.renewAt;
    }
    const ads = new AdsServer({
      root: options.protos ?? loadEnvoyProtos(),
      provider: (node) => (cp === null ? null : translateForNode(cp.mesh, node, cp.translateOptions, cp.clusterMemo)),
      extraServices: options.extraServices ?? null,
      tls: ca === null ? null : { port: options.xdsTlsPort ?? 15012, certificates: tlsCertificates!, trustDomain: ca.trustDomain },
      nodeKey: translationKey,
      port: options.xdsPort ?? 15010,
      host: options.host ?? '127.0.0.1',
      clock: runtime.clock,
      logger: runtime.logger,
      metrics: new XdsMetrics(runtime.metrics),
      ...(options.pushBatchSize === undefined ? {} : { pushBatchSize: options.pushBatchSize }),
    });
    const dashboard = options.dashboard === false ? null : new MeshDashboard({
      ...options.dashboard,
      syncz: () => ads.pushStatus.list(),
      nodes: () => ads.pushStatus.summaries(),
      clock: runtime.clock,
      logger: runtime.logger,
      caTrustBundle: ca === null ? null : () => ca.trustBundlePem(),
    });
    ensureProcessMetrics(runtime.metrics);
    const admin = new ControlPlaneAdmin({
      dashboard,
      port: options.adminPort ?? 15014,
      host: options.host ?? '127.0.0.1',
      registry: runtime.metrics,
      ready: () => cp !== null,
      syncz: () => ads.pushStatus.list(),
      config: () => cp?.debugConfig() ?? null,
    });
    cp = new ControlPlane(options, result.config, source, sourceName, ads, admin, loader, tlsCertificates, descriptors);
    cp.lastSnapshot = first;
    cp.renewAt = renewAt;
    cp.meshDashboard = dashboard;
    await ads.start();
    await admin.start();
    dashboard?.start();
    const watched = await source.start({
      onChange: (snap) => cp!.reload(snap),
      onError: (err) => runtime.logger.warn({ err: err.message }, 'mesh config could not be read; keeping the last good config'),
    });
    // A change between the first read and the start of watching is applied now, not lost.
    if (!sameFiles(first, watched)) cp.reload(watched);
    // An edit to a referenced .proto / descriptor set file re-validates the current documents.
    descriptors.startWatching(() => {
      if (cp!.lastSnapshot !== null) cp!.reload(cp!.lastSnapshot);
    });
    if (ca !== null) {
      const timer = setInterval(() => cp!.refreshTrust(), options.trustRefreshMs ?? 5000);
      timer.unref();
      cp.trustTimer = timer;
    }
    runtime.logger.info({ config: sourceName, xds: ads.port, xdsTls: ads.tlsPort === 0 ? null : ads.tlsPort, admin: admin.port }, 'control plane started');
    return cp;
  }

  /**
   * Re-reads the CA: a changed trust bundle (root rotation) is pushed to every sidecar as the new
   * ROOTCA secret and trusted for new secure-port handshakes; the secure port's own certificate is
   * renewed when past half its lifetime. Synchronous; a no-op without a CA. Errors are logged and
   * keep the current material.
   */
  refreshTrust(): void {
    const ca = this.options.ca;
    if (ca === undefined || this.tlsCertificates === null) return;
    const log = this.options.runtime.logger;
    try {
      const next = translateOptionsFor(this.options);
      const bundle = next.mtls!.trustBundlePem;
      let material: AdsTlsMaterial = this.tlsCertificates.current;
      if (this.options.runtime.clock.now() >= this.renewAt) {
        const issued = issueServingMaterial(ca, this.options);
        material = issued.material;
        this.renewAt = issued.renewAt;
        log.info({ renewAt: new Date(issued.renewAt).toISOString() }, 'secure xDS serving certificate renewed');
      }
      this.tlsCertificates.update({ ...material, trustBundlePem: bundle });
      if (bundle !== this.translateOptions.mtls?.trustBundlePem) {
        this.translateOptions = next;
        log.info('mesh trust bundle changed; pushing ROOTCA');
        this.ads.notify();
      }
    } catch (err) {
      log.error({ err: (err as Error).message }, 'trust refresh failed; keeping the current certificates');
    }
  }

  /** Validates a changed snapshot; applies it whole or rejects it whole. */
  private reload(snap: MeshSourceSnapshot): void {
    const log = this.options.runtime.logger;
    this.lastSnapshot = snap;
    const result = this.loader.load(snap.files);
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
  /** The secure (mTLS) xDS port; 0 without a CA. */
  get xdsTlsPort(): number { return this.ads.tlsPort; }
  get adminPort(): number { return this.admin.port; }
  /** The mesh dashboard (null when turned off). */
  get dashboard(): MeshDashboard | null { return this.meshDashboard; }

  async stop(): Promise<void> {
    if (this.trustTimer !== null) clearInterval(this.trustTimer);
    this.trustTimer = null;
    this.descriptors.close();
    await this.source.close();
    await this.meshDashboard?.stop();
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

/** The translation options for `options`: mTLS on exactly when a CA is configured. */
function translateOptionsFor(options: ControlPlaneOptions): TranslateOptions {
  const base = options.rootNamespace === undefined ? DEFAULT_TRANSLATE_OPTIONS : Object.freeze({ ...DEFAULT_TRANSLATE_OPTIONS, rootNamespace: options.rootNamespace });
  if (options.ca === undefined) return base;
  return Object.freeze({
    ...base,
    mtls: Object.freeze({
      trustDomain: options.ca.trustDomain,
      trustBundlePem: options.ca.trustBundlePem(),
      rootNamespace: options.rootNamespace ?? 'istio-system',
    }),
  });
}

/**
 * A fresh serving key and certificate for the secure xDS port (the control plane's SPIFFE ID,
 * `CONTROL_PLANE_IDENTITY`, plus DNS/IP SANs clients check the host name against),
 * and the wall time at which to renew it (half its lifetime).
 */
function issueServingMaterial(ca: ControlPlaneCa, options: ControlPlaneOptions): { material: AdsTlsMaterial; renewAt: number } {
  const rootNs = options.rootNamespace ?? 'istio-system';
  const host = options.host ?? '127.0.0.1';
  const ips = ['127.0.0.1', '::1'];
  const { namespace, serviceAccount } = CONTROL_PLANE_IDENTITY;
  const dns = ['localhost', serviceAccount, `${serviceAccount}.${namespace}.svc`, `istiod.${rootNs}.svc`];
  if (isIP(host) !== 0) {
    if (!ips.includes(host) && host !== '0.0.0.0' && host !== '::') ips.push(host);
  } else if (!dns.includes(host)) dns.push(host);
  const issued = ca.issueWithNewKey(CONTROL_PLANE_IDENTITY, { dnsNames: dns, ipAddresses: ips });
  const start = issued.notBefore.getTime();
  const end = issued.notAfter.getTime();
  return {
    material: { trustBundlePem: ca.trustBundlePem(), certChainPem: issued.certChainPem.join(''), privateKeyPem: issued.keyPem },
    renewAt: start + (end - start) / 2,
  };
}

function sameFiles(a: MeshSourceSnapshot, b: MeshSourceSnapshot): boolean {
  if (a.files.size !== b.files.size) return false;
  for (const [k, v] of b.files) if (a.files.get(k) !== v) return false;
  return true;
}
