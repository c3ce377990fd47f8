/**
 * The data plane's composition root: loads and compiles the bootstrap, builds the cluster manager,
 * one HttpConnectionManager + Listener per listener, the metrics and the admin server, and owns
 * drain and shutdown. Everything is wired explicitly here (no module-level state), so tests can run
 * several sidecars in one process.
 */
import { writeFileSync } from 'node:fs';
import type * as protobuf from 'protobufjs';
import { ConfigError } from '../core/errors';
import { createRuntime, type Runtime } from '../core/runtime';
import type { BootstrapModel, ListenerModel } from '../config/model';
import { loadBootstrap } from '../config/compile/load-bootstrap';
import type { HttpFilterFactory } from '../filters/filter';
import { defaultExtensionRegistry, type ExtensionRegistry } from '../filters/registry';
import { DEFAULT_REPLAY_BUFFER_BYTES, type RouterDeps } from '../filters/router/router-call';
import { HttpConnectionManager } from '../listeners/connection-manager';
import { DEFAULT_H2_MAX_SESSION_MEMORY_MB, Listener } from '../listeners/listener';
import { SidecarMetrics, type ClusterStats } from '../observability/metrics';
import { RouteTable } from '../routing/route-table';
import { ClusterManager } from '../upstream/cluster-manager';
import { loadEnvoyProtos } from '../xds/protos';
import { AdminServer, type AdminSource } from './admin/admin-server';

export interface SidecarOptions {
  /** Envoy v3 bootstrap (YAML or JSON). */
  readonly bootstrapPath: string;
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
}

export const DEFAULT_DRAIN_TIME_MS = 5000;

export class Sidecar implements AdminSource {
  private readonly listeners = new Map<string, Listener>();
  private readonly clusterStatsByName = new Map<string, ClusterStats>();
  private readonly admin: AdminServer;
  private draining: Promise<void> | null = null;
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
  ) {
    this.admin = new AdminServer(this);
  }

  /** Compiles the bootstrap (throws ConfigError with every field-path error) and starts serving. */
  static async start(options: SidecarOptions): Promise<Sidecar> {
    const runtime = options.runtime ?? createRuntime({ logLevel: options.logLevel ?? 'info' });
    const registry = defaultExtensionRegistry();
    const protos = options.protos ?? loadEnvoyProtos();
    const result = loadBootstrap(options.bootstrapPath, protos, registry);
    if (!result.ok) throw new ConfigError(options.bootstrapPath, result.errors);
    const bootstrap = result.value;
    if (bootstrap.ads !== null) {
      throw new ConfigError(options.bootstrapPath, [{ path: 'dynamic_resources', message: 'dynamic resources (ADS) are not supported by this build yet' }]);
    }
    const metrics = new SidecarMetrics(runtime.metrics, true);
    const clusters = new ClusterManager(runtime);
    clusters.update(bootstrap.clusters);
    const sidecar = new Sidecar(runtime, bootstrap, metrics, clusters, registry, options);
    try {
      await sidecar.startListeners();
      const admin = await sidecar.admin.listen(bootstrap.admin);
      if (options.adminAddressPath !== undefined) writeFileSync(options.adminAddressPath, `${admin.address}:${admin.port}`);
    } catch (err) {
      await sidecar.close();
      throw err;
    }
    runtime.logger.info({ listeners: [...sidecar.listeners.keys()], admin: sidecar.adminUrl() }, 'sidecar started');
    return sidecar;
  }

  private async startListeners(): Promise<void> {
    const deps: RouterDeps = {
      runtime: this.runtime,
      clusters: this.clusters,
      clusterStats: (name) => this.clusterStats(name),
      replayBufferBytes: DEFAULT_REPLAY_BUFFER_BYTES,
    };
    for (const model of this.bootstrap.listeners) {
      const stats = this.metrics.forListener(model.name);
      const hcm = this.buildConnectionManager(model, deps, stats);
      const listener = new Listener(model, hcm, stats, {
        h2MaxSessionMemoryMb: this.options.h2MaxSessionMemoryMb ?? DEFAULT_H2_MAX_SESSION_MEMORY_MB,
        logger: this.runtime.logger.child({ listener: model.name }),
        clock: this.runtime.clock,
      });
      this.listeners.set(model.name, listener);
      await listener.listen();
    }
  }

  /** Config time: route table and filter factories for one listener. */
  private buildConnectionManager(model: ListenerModel, deps: RouterDeps, stats: ReturnType<SidecarMetrics['forListener']>): HttpConnectionManager {
    const hcm = model.hcm;
    const table = hcm.routeConfig === null ? null : RouteTable.compile(hcm.routeConfig, { stripAnyHostPort: hcm.stripAnyHostPort });
    const factories: HttpFilterFactory[] = [];
    for (const f of hcm.httpFilters) {
      const reg = this.extensions.get(f.typeUrl);
      const factory = reg?.createFactory(f.config, { runtime: this.runtime, listenerName: model.name }) ?? null;
      if (factory !== null) factories.push(factory);
    }
    return new HttpConnectionManager(hcm, table, factories, deps, stats, this.runtime);
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
    for (const l of this.listeners.values()) if (l.address() === null) return false;
    if (!this.clusters.allWarm()) return false;
    for (const c of this.clusters.all()) if (c.endpoints().length === 0) return false;
    return true;
  }

  configDump(): unknown {
    const b = this.bootstrap;
    return {
      configs: [
        { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: { node: b.node, admin: { address: b.admin } } },
        { '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump', static_listeners: b.listeners.map((listener) => ({ listener })) },
        { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', static_clusters: b.clusters.map((cluster) => ({ cluster })) },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
          static_route_configs: b.listeners.filter((l) => l.hcm.routeConfig !== null).map((l) => ({ route_config: l.hcm.routeConfig })),
        },
      ],
    };
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
      this.draining = Promise.all([...this.listeners.values()].map((l) => l.drain(timeout)))
        .then(() => this.close())
        .then(() => this.resolveDrained());
    }
    return this.draining;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.listeners.values()) l.destroy();
    await this.clusters.close();
    await this.admin.close();
    this.runtime.timers.close();
  }
}
