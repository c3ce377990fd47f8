/**
 * The data plane's composition root: loads and compiles the bootstrap, builds the cluster manager,
 * one HttpConnectionManager + Listener per listener, the metrics and the admin server, and owns
 * drain and shutdown. With `dynamic_resources.ads_config` it also runs the ADS client
 * (src/xds/ads-client.ts) towards the control plane named by the static ADS cluster, applying what
 * it accepts through DynamicConfig; `/ready` then waits for the first complete config. Everything is
 * wired explicitly here (no module-level state), so tests can run several sidecars in one process.
 *
 * TLS secrets: one SecretManager per sidecar feeds listeners and clusters whose TLS contexts name
 * SDS secrets. With a workload identity configured (`SidecarOptions.identity`, or node metadata
 * `CA_ADDRESS` + `TRUST_DOMAIN` [+ `CA_TOKEN_FILE`, `CERT_TTL_SECONDS`, `ROTATE_FRACTION`] in the
 * bootstrap; the SPIFFE ID comes from node metadata NAMESPACE and SERVICE_ACCOUNT) the sidecar
 * requests its certificate from the CA at start and keeps rotating it; `default` and `ROOTCA` are
 * then served locally and `/ready` waits for the first certificate.
 *
 * Secure xDS: when the static ADS cluster has an UpstreamTlsContext (`remora sidecar --xds-tls`, or
 * a bootstrap like Istio's `xds-grpc` cluster), the ADS client connects over mTLS with it
 * (`AdsTlsCredentials`): SDS `default` / `ROOTCA` there must be the workload identity's (the
 * secrets cannot come over the stream they secure), and the first stream waits for the first
 * certificate; reconnects after a rotation present the renewed one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';
import { ConfigError } from '../core/errors';
import { createRuntime, type Runtime } from '../core/runtime';
import type { ValidationResult } from '../core/errors';
import type { BootstrapModel, ListenerModel, NodeModel, RouteConfigModel, SocketAddressModel } from '../config/model';
import { compileBootstrap } from '../config/compile/bootstrap';
import { BOOTSTRAP_TYPE, loadBootstrap } from '../config/compile/load-bootstrap';
import { parseProtoJson } from '../config/compile/proto-json';
import type { HttpFilterFactory } from '../filters/filter';
import { defaultExtensionRegistry, type ExtensionRegistry } from '../filters/registry';
import { DEFAULT_REPLAY_BUFFER_BYTES, type RouterDeps } from '../filters/router/router-call';
import { HttpConnectionManager } from '../listeners/connection-manager';
import { DEFAULT_H2_MAX_SESSION_MEMORY_MB, Listener } from '../listeners/listener';
import { SidecarMetrics, type ClusterStats } from '../observability/metrics';
import { ListenerTelemetry } from './listener-telemetry';
import { RouteTable } from '../routing/route-table';
import { ClusterManager } from '../upstream/cluster-manager';
import { IstioCaClient, type CertificateSigner } from '../transport/identity/ca-client';
import { ROOT_CA_SECRET, SecretManager, WORKLOAD_CERT_SECRET } from '../transport/identity/secret-manager';
import { WorkloadIdentity } from '../transport/identity/workload-identity';
import { AdsClient, AdsTlsCredentials } from '../xds/ads-client';
import { loadEnvoyProtos } from '../xds/protos';
import { AdminServer, type AdminSource } from './admin/admin-server';
import { HealthServer } from './admin/health-server';
import { DynamicConfig } from './dynamic-config';
import { NodeMetadataKey } from '../config/node-metadata';

export interface SidecarOptions {
  /** Envoy v3 bootstrap file (YAML or JSON). One of `bootstrapPath` and `bootstrapJson` is required. */
  readonly bootstrapPath?: string;
  /** An in-memory Envoy v3 Bootstrap (JSON shape), e.g. from `buildAdsBootstrap` for `--xds`. */
  readonly bootstrapJson?: unknown;
  /** ADS reconnect backoff (default 100 ms base, 10 s cap). */
  readonly xdsBackoffBaseMs?: number;
  readonly xdsBackoffMaxMs?: number;
  /** How long a drain waits for in-flight requests (default 5 s). */
  readonly drainTimeMs?: number;
  /** pino level when no runtime is given (default 'info'). */
  readonly logLevel?: string;
  readonly runtime?: Runtime;
  /** A loaded Envoy proto Root to share between sidecars (tests); loaded when absent. */
  readonly protos?: protobuf.Root;
  /** Envoy's --admin-address-path: the bound admin `host:port` is written here. */
  readonly adminAddressPath?: string;
  /** node:http2 maxSessionMemory per downstream connection, MB (default 10). */
  readonly h2MaxSessionMemoryMb?: number;
  /**
   * Serve `GET /healthz/ready` here (admin/health-server.ts), e.g. 0.0.0.0:15021 for the kubelet
   * while the admin API stays on loopback; absent = no health port.
   */
  readonly healthAddress?: SocketAddressModel;
  /** The workload identity (mesh CA); overrides the bootstrap's node metadata CA_ADDRESS etc. */
  readonly identity?: SidecarIdentityOptions;
}

/** How the sidecar obtains its SPIFFE certificate. */
export interface SidecarIdentityOptions {
  /** `host:port` of the CA (required unless `signer` is given). */
  readonly caAddress?: string;
  /** File holding the bearer token for the CA (re-read on every request); none → no token. */
  readonly caTokenFile?: string;
  /** Channel credentials towards the CA (default insecure). */
  readonly caCredentials?: grpc.ChannelCredentials;
  /** Default 'cluster.local'. */
  readonly trustDomain?: string;
  /** Default: node metadata NAMESPACE / SERVICE_ACCOUNT. */
  readonly namespace?: string;
  readonly serviceAccount?: string;
  /** Requested lifetime (default 24 h) and renewal point (default 0.5 of the lifetime). */
  readonly certTtlMs?: number;
  readonly rotateFraction?: number;
  /** Retry backoff towards the CA (defaults 500 ms / 30 s). */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** A signer to use instead of the gRPC CA client (tests, embedded CAs). */
  readonly signer?: CertificateSigner;
}

export const DEFAULT_DRAIN_TIME_MS = 5000;
/** How long close() lets upstream sessions finish before destroying them. */
const CLOSE_GRACE_MS = 1000;

export class Sidecar implements AdminSource {
  private readonly listeners = new Map<string, Listener>();
  private readonly clusterStatsByName = new Map<string, ClusterStats>();
  private readonly admin: AdminServer;
  private readonly health: HealthServer;
  private draining: Promise<void> | null = null;
  private ads: AdsClient | null = null;
  private adsTls: AdsTlsCredentials | null = null;
  /** TLS secrets by name (SDS and the workload identity), for listeners and clusters. */
  readonly secrets: SecretManager;
  private identity: WorkloadIdentity | null = null;
  private signer: CertificateSigner | null = null;
  private dynamic: DynamicConfig | null = null;
  private readonly routerDeps: RouterDeps;
  /** Tracing, Istio metrics and access logs per listener config. */
  private readonly telemetry: ListenerTelemetry;
  private closed = false;
  private resolveDrained: () => void = () => {};
  /** Settles once a drain (SIGTERM, POST /drain or `drain()`) has completed and everything closed. */
  readonly drained: Promise<void> = new Promise((resolve) => { this.resolveDrained = resolve; });

  private constructor(
    readonly runtime: Runtime,
    readonly bootstrap: BootstrapModel,
    readonly metrics: SidecarMetrics,
    readonly clusters: ClusterManager,
    private readonly extensions: ExtensionRegistry,
    private readonly options: SidecarOptions,
    secrets: SecretManager,
  ) {
    this.secrets = secrets;
    this.telemetry = new ListenerTelemetry(runtime, bootstrap.node);
    this.admin = new AdminServer(this);
    this.health = new HealthServer(() => this.isReady());
    this.routerDeps = {
      runtime,
      clusters,
      clusterStats: (name) => this.clusterStats(name),
      replayBufferBytes: DEFAULT_REPLAY_BUFFER_BYTES,
    };
  }

  /** Compiles the bootstrap (throws ConfigError with every field-path error) and starts serving. */
  static async start(options: SidecarOptions): Promise<Sidecar> {
    const runtime = options.runtime ?? createRuntime({ logLevel: options.logLevel ?? 'info' });
    const registry = defaultExtensionRegistry();
    const protos = options.protos ?? loadEnvoyProtos();
    const source = options.bootstrapPath ?? '<bootstrap>';
    let result: ValidationResult<BootstrapModel>;
    if (options.bootstrapPath !== undefined) {
      result = loadBootstrap(options.bootstrapPath, protos, registry);
    } else if (options.bootstrapJson !== undefined) {
      const proto = parseProtoJson(protos, BOOTSTRAP_TYPE, options.bootstrapJson, '');
      result = proto.ok ? compileBootstrap(proto.value, { filters: registry, readFile: (p) => readFileSync(p) }) : proto;
    } else {
      throw new ConfigError(source, [{ path: '', message: 'a bootstrap (file or object) is required' }]);
    }
    if (!result.ok) throw new ConfigError(source, result.errors);
    const bootstrap = result.value;
    let adsTarget: string | null = null;
    if (bootstrap.ads !== null) {
      const adsCluster = bootstrap.clusters.find((c) => c.name === bootstrap.ads!.clusterName);
      const ep = adsCluster?.endpoints[0];
      if (ep === undefined) {
        throw new ConfigError(source, [{ path: 'dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name', message: `the ADS cluster '${bootstrap.ads.clusterName}' has no endpoint` }]);
      }
      adsTarget = ep.host.includes(':') ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
    }
    const identityOptions = resolveIdentityOptions(options.identity, bootstrap, source);
    if (bootstrap.ads !== null) checkAdsTls(bootstrap, identityOptions !== null, source);
    const metrics = new SidecarMetrics(runtime.metrics, true);
    const secrets = new SecretManager(runtime.logger.child({ component: 'secrets' }));
    const clusters = new ClusterManager(runtime, { secrets });
    const sidecar = new Sidecar(runtime, bootstrap, metrics, clusters, registry, options, secrets);
    // The identity first, so that SDS-backed static clusters and listeners warm as soon as it arrives.
    if (identityOptions !== null) sidecar.startIdentity(identityOptions);
    clusters.update(bootstrap.clusters);
    try {
      await sidecar.startListeners();
      const admin = await sidecar.admin.listen(bootstrap.admin);
      if (options.adminAddressPath !== undefined) writeFileSync(options.adminAddressPath, `${admin.address}:${admin.port}`);
      if (options.healthAddress !== undefined) await sidecar.health.listen(options.healthAddress);
      if (adsTarget !== null) sidecar.startAds(adsTarget, protos);
    } catch (err) {
      await sidecar.close();
      throw err;
    }
    runtime.logger.info({ listeners: [...sidecar.listeners.keys()], admin: sidecar.adminUrl() }, 'sidecar started');
    return sidecar;
  }

  private async startListeners(): Promise<void> {
    for (const model of this.bootstrap.listeners) {
      const listener = this.createListener(model, this.buildConnectionManager(model, model.hcm.routeConfig));
      this.listeners.set(model.name, listener);
      await listener.listen();
    }
  }

  /** Creates the workload identity, feeds it into the SecretManager and requests the first certificate. */
  private startIdentity(o: ResolvedIdentityOptions): void {
    const signer = o.signer ?? new IstioCaClient({
      target: o.caAddress!,
      token: o.caTokenFile === null ? () => null : readTokenFile.bind(null, o.caTokenFile),
      credentials: o.caCredentials,
      clock: this.runtime.clock,
    });
    this.signer = o.signer === undefined ? signer : null; // close only what we created
    const identity = new WorkloadIdentity({
      trustDomain: o.trustDomain,
      namespace: o.namespace,
      serviceAccount: o.serviceAccount,
      signer,
      runtime: this.runtime,
      ttlMs: o.certTtlMs,
      rotateFraction: o.rotateFraction,
      retryBaseMs: o.retryBaseMs,
      retryMaxMs: o.retryMaxMs,
    });
    this.identity = identity;
    this.secrets.attachIdentity(identity);
    identity.start().catch(() => { /* closed before the first certificate */ });
  }

  /** The workload identity, or null when none is configured. */
  get workloadIdentity(): WorkloadIdentity | null { return this.identity; }

  /** Starts the ADS client towards `target` with DynamicConfig as its sink. */
  private startAds(target: string, protos: protobuf.Root): void {
    const ads = this.bootstrap.ads!;
    const self = this;
    this.dynamic = new DynamicConfig({
      clusters: this.clusters,
      listeners: this.listeners,
      staticClusterNames: new Set(this.bootstrap.clusters.map((c) => c.name)),
      staticListenerNames: new Set(this.bootstrap.listeners.map((l) => l.name)),
      buildConnectionManager: (model, routeConfig) => self.buildConnectionManager(model, routeConfig),
      createListener: (model, hcm) => self.createListener(model, hcm),
      drainTimeMs: this.options.drainTimeMs ?? DEFAULT_DRAIN_TIME_MS,
      logger: this.runtime.logger,
      secrets: this.secrets,
    });
    const adsCluster = this.bootstrap.clusters.find((c) => c.name === ads.clusterName)!;
    const adsTls = adsCluster.tls === null ? null : new AdsTlsCredentials(adsCluster.tls, this.secrets);
    this.adsTls = adsTls;
    this.ads = new AdsClient({
      target,
      credentials: adsTls?.credentials,
      channelOptions: adsTls?.channelOptions(),
      node: withAdminAddress(this.bootstrap.node, this.admin.address()),
      metrics: this.runtime.metrics,
      root: protos,
      compileDeps: { filters: this.extensions, readFile: (p) => readFileSync(p) },
      sink: this.dynamic,
      clock: this.runtime.clock,
      random: this.runtime.random,
      logger: this.runtime.logger,
      backoffBaseMs: this.options.xdsBackoffBaseMs,
      backoffMaxMs: this.options.xdsBackoffMaxMs,
      lds: ads.ldsFromAds,
      cds: ads.cdsFromAds,
      staticSecretNames: staticSecretNames(this.bootstrap),
      localSecretNames: this.identity !== null ? [WORKLOAD_CERT_SECRET] : [],
    });
    if (adsTls === null) {
      this.ads.start();
      return;
    }
    // mTLS: the first stream waits for the workload certificate and the trust bundle.
    const client = this.ads;
    adsTls.whenReady().then(() => {
      if (!this.closed && this.draining === null) client.start();
    }, () => { /* never rejects */ });
  }

  /** The ADS client, or null for a static-only bootstrap. */
  get adsClient(): AdsClient | null { return this.ads; }

  private createListener(model: ListenerModel, hcm: HttpConnectionManager): Listener {
    return new Listener(model, hcm, hcm.stats, {
      h2MaxSessionMemoryMb: this.options.h2MaxSessionMemoryMb ?? DEFAULT_H2_MAX_SESSION_MEMORY_MB,
      logger: this.runtime.logger.child({ listener: model.name }),
      secrets: this.secrets,
      onConnectionRejected: (reason) => hcm.stats.connectionRejected(reason),
    });
  }

  /** Config time: route table and filter factories for one listener, with `routeConfig` (inline or RDS). */
  private buildConnectionManager(model: ListenerModel, routeConfig: RouteConfigModel | null): HttpConnectionManager {
    const hcm = model.hcm;
    const deps = this.routerDeps;
    const stats = this.metrics.forListener(model.name);
    const table = routeConfig === null ? null : RouteTable.compile(routeConfig, { stripAnyHostPort: hcm.stripAnyHostPort });
    const factories: HttpFilterFactory[] = [];
    for (const f of hcm.httpFilters) {
      const reg = this.extensions.get(f.typeUrl);
      const factory = reg?.createFactory(f.config, { runtime: this.runtime, listenerName: model.name, filterName: f.name }) ?? null;
      if (factory !== null) factories.push(factory);
    }
    return new HttpConnectionManager(hcm, table, factories, deps, stats, this.runtime, this.telemetry.build(model));
  }

  private clusterStats(name: string): ClusterStats {
    let s = this.clusterStatsByName.get(name);
    if (s === undefined) {
      s = this.metrics.forCluster(name);
      this.clusterStatsByName.set(name, s);
    }
    return s;
  }

  // ---------------------------------------------------------------- AdminSource

  get registry(): Runtime['metrics'] { return this.runtime.metrics; }

  isReady(): boolean {
    if (this.draining !== null || this.closed) return false;
    if (this.identity !== null && this.identity.current() === null) return false;
    // A listener whose certificate comes from SDS is bound but refuses TLS until the secret arrives.
    for (const l of this.listeners.values()) if (l.address() === null || !l.ready) return false;
    if (this.bootstrap.ads !== null && (this.ads === null || !this.ads.initialConfigComplete())) return false;
    if (!this.clusters.allWarm()) return false;
    // Static clusters must have endpoints; an xDS cluster is ready once its assignment arrived (even empty).
    for (const c of this.bootstrap.clusters) if ((this.clusters.get(c.name)?.endpoints().length ?? 0) === 0) return false;
    return true;
  }

  configDump(): unknown {
    const b = this.bootstrap;
    const ads = this.ads;
    const listeners: Record<string, unknown> = { '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump', static_listeners: b.listeners.map((listener) => ({ listener })) };
    const clusters: Record<string, unknown> = { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', static_clusters: b.clusters.map((cluster) => ({ cluster })) };
    const routes: Record<string, unknown> = {
      '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
      static_route_configs: b.listeners.filter((l) => l.hcm.routeConfig !== null).map((l) => ({ route_config: l.hcm.routeConfig })),
    };
    const configs: unknown[] = [
      { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: { node: b.node, admin: { address: b.admin }, dynamic_resources: b.ads } },
      listeners, clusters, routes,
    ];
    if (ads !== null) {
      const status = ads.status();
      const byType = new Map(status.map((t) => [t.type, t]));
      const errorState = (type: string, name: string): unknown => {
        const t = byType.get(type as never);
        const r = t?.rejected.find((x) => x.name === name);
        return r === undefined || t === undefined ? undefined : { last_update_attempt: t.lastNack?.at, details: r.error };
      };
      listeners['version_info'] = byType.get('lds')!.version;
      listeners['dynamic_listeners'] = ads.accepted('lds').map((r) => ({
        name: r.name,
        active_state: { version_info: r.version, listener: r.model, last_updated: r.lastUpdated },
        error_state: errorState('lds', r.name),
      }));
      clusters['version_info'] = byType.get('cds')!.version;
      clusters['dynamic_active_clusters'] = ads.accepted('cds').map((r) => ({ version_info: r.version, cluster: r.model, last_updated: r.lastUpdated, error_state: errorState('cds', r.name) }));
      routes['dynamic_route_configs'] = ads.accepted('rds').map((r) => ({ version_info: r.version, route_config: r.model, last_updated: r.lastUpdated, error_state: errorState('rds', r.name) }));
      configs.push({
        '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
        dynamic_endpoint_configs: ads.accepted('eds').map((r) => ({ version_info: r.version, endpoint_config: r.model, last_updated: r.lastUpdated })),
      });
      // Remora's view of the ADS protocol state (Envoy shows part of this only through CSDS).
      configs.push({
        '@type': 'remora.admin.v1.AdsStatus',
        connected: ads.connected,
        streams_opened: ads.streamCount,
        initial_config_complete: ads.initialConfigComplete(),
        types: status.map((t) => ({
          type_url: t.typeUrl,
          subscribed: t.subscribed ?? ['*'],
          version_info: t.version,
          last_acked_version: t.lastAckedVersion,
          received: t.received,
          last_nack: t.lastNack === null ? null : { time: t.lastNack.at, version_info: t.lastNack.version, nonce: t.lastNack.nonce, error: t.lastNack.error },
          rejected: t.rejected,
        })),
      });
    }
    return { configs };
  }

  clustersJson(): unknown { return { cluster_statuses: this.clusters.dump() }; }
  clustersText(): string { return this.clusters.dumpText(); }

  listenersJson(): unknown {
    const out: unknown[] = [];
    for (const [name, l] of this.listeners) {
      const a = l.address();
      out.push({ name, local_address: { socket_address: { address: a?.address ?? l.model.address.host, port_value: a?.port ?? l.model.address.port } } });
    }
    return out;
  }

  // ---------------------------------------------------------------- lifecycle

  adminUrl(): string {
    const a = this.admin.address();
    if (a === null) throw new Error('admin server not bound');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  /** The bound port of a listener by name. */
  listenerPort(name: string): number {
    const a = this.listeners.get(name)?.address();
    if (a === undefined || a === null) throw new Error(`no bound listener named '${name}'`);
    return a.port;
  }

  /**
   * Graceful drain: /ready turns 503, listeners stop accepting, HTTP/2 sessions get GOAWAY,
   * in-flight requests get up to drainTimeMs to finish, then everything is closed.
   */
  drain(): Promise<void> {
    if (this.draining === null) {
      this.runtime.logger.info('draining');
      const timeout = this.options.drainTimeMs ?? DEFAULT_DRAIN_TIME_MS;
      this.ads?.close();
      this.draining = Promise.all([...this.listeners.values()].map((l) => l.drain(timeout)))
        .then(() => this.close())
        .then(() => this.resolveDrained());
    }
    return this.draining;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ads?.close();
    this.adsTls?.close();
    this.identity?.close();
    this.signer?.close();
    this.secrets.close();
    for (const l of this.listeners.values()) l.destroy();
    // Upstream sessions get a short grace period to finish (drain already waited for requests),
    // then whatever is left is destroyed: close() never hangs on a stuck upstream.
    const clusters = this.clusters.all();
    let timer: NodeJS.Timeout | null = null;
    const graceElapsed = new Promise<void>((resolve) => { timer = setTimeout(resolve, CLOSE_GRACE_MS); });
    await Promise.race([this.clusters.close(), graceElapsed]);
    if (timer !== null) clearTimeout(timer);
    for (const c of clusters) c.destroy();
    await this.telemetry.close();
    await this.admin.close();
    await this.health.close();
    this.runtime.timers.close();
  }
}

interface ResolvedIdentityOptions extends Omit<SidecarIdentityOptions, 'caTokenFile'> {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly caTokenFile: string | null;
}

/**
 * The identity configuration from the options, else from node metadata (CA_ADDRESS, TRUST_DOMAIN,
 * CA_TOKEN_FILE, CERT_TTL_SECONDS, ROTATE_FRACTION); null when neither asks for one. Throws a
 * ConfigError naming the missing piece (namespace / service account) when one is asked for.
 */
function resolveIdentityOptions(o: SidecarIdentityOptions | undefined, bootstrap: BootstrapModel, source: string): ResolvedIdentityOptions | null {
  const md = bootstrap.node.metadata;
  const mdString = (k: string): string | undefined => (typeof md[k] === 'string' && md[k] !== '' ? md[k] as string : undefined);
  const mdNumber = (k: string): number | undefined => {
    const v = md[k];
    const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
    return Number.isFinite(n) ? n : undefined;
  };
  const caAddress = o?.caAddress ?? mdString(NodeMetadataKey.CaAddress);
  if (o === undefined && caAddress === undefined) return null;
  const errors: Array<{ path: string; message: string }> = [];
  if (caAddress === undefined && o?.signer === undefined) errors.push({ path: 'node.metadata.CA_ADDRESS', message: 'the CA address is required for a workload identity' });
  const namespace = o?.namespace ?? mdString(NodeMetadataKey.Namespace);
  const serviceAccount = o?.serviceAccount ?? mdString(NodeMetadataKey.ServiceAccount);
  if (namespace === undefined) errors.push({ path: 'node.metadata.NAMESPACE', message: 'is required for a workload identity' });
  if (serviceAccount === undefined) errors.push({ path: 'node.metadata.SERVICE_ACCOUNT', message: 'is required for a workload identity' });
  if (errors.length > 0) throw new ConfigError(source, errors);
  const ttlSeconds = mdNumber('CERT_TTL_SECONDS');
  return {
    ...o,
    caAddress,
    caTokenFile: o?.caTokenFile ?? mdString(NodeMetadataKey.CaTokenFile) ?? null,
    trustDomain: o?.trustDomain ?? mdString(NodeMetadataKey.TrustDomain) ?? 'cluster.local',
    namespace: namespace!,
    serviceAccount: serviceAccount!,
    certTtlMs: o?.certTtlMs ?? (ttlSeconds === undefined ? undefined : ttlSeconds * 1000),
    rotateFraction: o?.rotateFraction ?? mdNumber('ROTATE_FRACTION'),
  };
}

/**
 * The node with `REMORA_ADMIN_ADDRESS` (the bound admin `host:port`) added to its metadata, so the
 * control plane's dashboard can scrape this sidecar's `/stats/prometheus`. A value already in the
 * bootstrap's metadata wins (e.g. an address reachable from the control plane when the admin server
 * binds a wildcard address).
 */
function withAdminAddress(node: NodeModel, admin: AddressInfo | null): NodeModel {
  if (admin === null || node.metadata[NodeMetadataKey.AdminAddress] !== undefined) return node;
  const host = admin.family === 'IPv6' ? `[${admin.address}]` : admin.address;
  return { ...node, metadata: { ...node.metadata, [NodeMetadataKey.AdminAddress]: `${host}:${admin.port}` } };
}

/** Reads the CA token file (trimmed); re-read per request so a rotated token is picked up. */
function readTokenFile(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * Checks the static ADS cluster's TLS context (when it has one): its SDS secrets can only be the
 * workload identity's `default` / `ROOTCA` (served locally; any other name would have to come over
 * the very stream it secures), which then requires a workload identity, and it must verify the
 * server (inline `trusted_ca` or `ROOTCA`). Throws a ConfigError naming the cluster otherwise.
 */
function checkAdsTls(b: BootstrapModel, hasIdentity: boolean, source: string): void {
  const index = b.clusters.findIndex((c) => c.name === b.ads!.clusterName);
  const tls = b.clusters[index]?.tls ?? null;
  if (tls === null) return;
  const path = `static_resources.clusters[${index}].transport_socket`;
  const errors: Array<{ path: string; message: string }> = [];
  const allowed: Array<[string | null, string, string]> = [
    [tls.certificateSdsName, WORKLOAD_CERT_SECRET, 'tls_certificate_sds_secret_configs'],
    [tls.validationSdsName, ROOT_CA_SECRET, 'validation_context_sds_secret_config'],
  ];
  for (const [name, expected, field] of allowed) {
    if (name !== null && name !== expected) {
      errors.push({ path: `${path}.${field}`, message: `the ADS cluster can only use the workload identity's SDS secret '${expected}', not '${name}' (secrets cannot come over the stream they secure)` });
    }
  }
  if ((tls.certificateSdsName !== null || tls.validationSdsName !== null) && !hasIdentity) {
    errors.push({ path, message: "the ADS cluster's TLS context uses the workload identity's SDS secrets ('default' / 'ROOTCA'): configure a workload identity (--ca-address, or node metadata CA_ADDRESS)" });
  }
  if (tls.trustedCa === null && tls.validationSdsName === null) {
    errors.push({ path, message: "the ADS cluster's TLS context must verify the control plane (a trusted_ca or the 'ROOTCA' secret)" });
  }
  if (errors.length > 0) throw new ConfigError(source, errors);
}

/** SDS names referenced by the bootstrap's static listeners and clusters. */
function staticSecretNames(b: BootstrapModel): string[] {
  const names = new Set<string>();
  for (const x of [...b.listeners.map((l) => l.tls), ...b.clusters.map((c) => c.tls)]) {
    if (x === null) continue;
    if (x.certificateSdsName !== null) names.add(x.certificateSdsName);
    if (x.validationSdsName !== null) names.add(x.validationSdsName);
  }
  return [...names];
}
