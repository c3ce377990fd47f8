/**
 * Applies xDS resources accepted by the ADS client to the running sidecar (the `AdsConfigSink`).
 * The ADS server pushes in make-before-break order (CDS → EDS → LDS → RDS) and the client applies
 * each response as it arrives, so clusters exist (and warm, see ClusterManager) before listeners and
 * routes reference them. Clusters go to the ClusterManager (a replaced cluster keeps serving until
 * its successor is warm); assignments to `setClusterLoadAssignment`. A new listener is bound at
 * once; a changed listener on the same socket settings gets a freshly built HttpConnectionManager
 * through `setConnectionManager` (requests in flight keep the old one), but only once the route
 * configuration it names is known, so a switch to a new RDS name never passes through "no route".
 * A changed address binds the new listener before draining the old one; other socket-level changes
 * (TLS, codec, HTTP/2 settings) drain the old one first and bind again. Removed listeners drain.
 * An RDS update rebuilds the connection manager of every listener that references it. SDS secrets
 * go to the SecretManager, whose listeners (TLS listeners and SDS-backed clusters) rebuild their
 * TLS contexts in place.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { ClusterLoadAssignmentModel, ClusterModel, ListenerModel, RouteConfigModel, SecretModel } from '../config/model';
import type { HttpConnectionManager } from '../listeners/connection-manager';
import type { Listener } from '../listeners/listener';
import type { ClusterManager } from '../upstream/cluster-manager';
import type { SecretManager } from '../transport/identity/secret-manager';
import type { AdsConfigSink, ApplyFailure, XdsUpdate } from '../xds/ads-client';

/** What DynamicConfig needs from the composition root. */
export interface DynamicConfigHost {
  readonly clusters: ClusterManager;
  /** The sidecar's listener table by name (static and dynamic); DynamicConfig adds and removes dynamic ones. */
  readonly listeners: Map<string, Listener>;
  /** Names from the bootstrap's static_resources, which xDS may not replace. */
  readonly staticClusterNames: ReadonlySet<string>;
  readonly staticListenerNames: ReadonlySet<string>;
  /** Config time: the HCM of `model` with `routeConfig` (inline or from RDS; null = no routes yet). */
  buildConnectionManager(model: ListenerModel, routeConfig: RouteConfigModel | null): HttpConnectionManager;
  /** A new, unbound Listener for `model`. */
  createListener(model: ListenerModel, hcm: HttpConnectionManager): Listener;
  /** How long a replaced or removed listener may drain. */
  readonly drainTimeMs: number;
  readonly logger: Logger;
  /** Where SDS secrets go. */
  readonly secrets: SecretManager;
}

export class DynamicConfig implements AdsConfigSink {
  /** Route configurations from RDS by name. */
  private readonly routes = new Map<string, RouteConfigModel>();
  /** The latest accepted model of each dynamic listener (also when its HCM swap is still pending). */
  private readonly models = new Map<string, ListenerModel>();
  /** Listeners whose new model waits for its RDS route configuration before being swapped in. */
  private readonly pending = new Set<string>();
  private readonly log: Logger;

  constructor(private readonly host: DynamicConfigHost) {
    this.log = host.logger.child({ component: 'dynamic-config' });
  }

  /** Names of the dynamic listeners. */
  listenerNames(): string[] { return [...this.models.keys()]; }

  /** The RDS route configuration `name`, if received. */
  routeConfig(name: string): RouteConfigModel | null { return this.routes.get(name) ?? null; }

  async applyClusters(update: XdsUpdate<ClusterModel>): Promise<readonly ApplyFailure[]> {
    const failures: ApplyFailure[] = [];
    const clusters = this.host.clusters;
    for (const model of update.upserts) {
      if (this.host.staticClusterNames.has(model.name)) {
        failures.push({ name: model.name, message: 'name: a static cluster of the bootstrap cannot be replaced by CDS' });
        continue;
      }
      clusters.addOrUpdate(model, true);
    }
    for (const name of update.removals) if (!this.host.staticClusterNames.has(name)) clusters.remove(name);
    return failures;
  }

  async applyEndpoints(update: XdsUpdate<ClusterLoadAssignmentModel>): Promise<readonly ApplyFailure[]> {
    for (const cla of update.upserts) this.host.clusters.setClusterLoadAssignment(cla);
    for (const name of update.removals) this.host.clusters.removeClusterLoadAssignment(name);
    return [];
  }

  async applyListeners(update: XdsUpdate<ListenerModel>): Promise<readonly ApplyFailure[]> {
    const failures: ApplyFailure[] = [];
    for (const name of update.removals) this.removeListener(name);
    for (const model of update.upserts) {
      if (this.host.staticListenerNames.has(model.name)) {
        failures.push({ name: model.name, message: 'name: a static listener of the bootstrap cannot be replaced by LDS' });
        continue;
      }
      try {
        await this.upsertListener(model);
      } catch (err) {
        failures.push({ name: model.name, message: `address: cannot bind ${model.address.host}:${model.address.port}: ${(err as Error).message}` });
      }
    }
    return failures;
  }

  async applyRoutes(update: XdsUpdate<RouteConfigModel>): Promise<readonly ApplyFailure[]> {
    for (const name of update.removals) this.routes.delete(name);
    for (const rc of update.upserts) {
      this.routes.set(rc.name, rc);
      for (const [lname, model] of this.models) {
        if (model.hcm.rdsRouteConfigName !== rc.name) continue;
        const listener = this.host.listeners.get(lname);
        if (listener === undefined) continue;
        listener.setConnectionManager(this.host.buildConnectionManager(model, rc));
        this.pending.delete(lname);
      }
    }
    return [];
  }

  async applySecrets(update: XdsUpdate<SecretModel>): Promise<readonly ApplyFailure[]> {
    this.host.secrets.applySds(update.upserts, update.removals);
    return [];
  }

  private routeFor(model: ListenerModel): RouteConfigModel | null {
    const hcm = model.hcm;
    if (hcm.routeConfig !== null) return hcm.routeConfig;
    return hcm.rdsRouteConfigName === null ? null : this.routes.get(hcm.rdsRouteConfigName) ?? null;
  }

  private async upsertListener(model: ListenerModel): Promise<void> {
    const name = model.name;
    const existing = this.host.listeners.get(name);
    const route = this.routeFor(model);
    if (existing === undefined) {
      const listener = this.host.createListener(model, this.host.buildConnectionManager(model, route));
      await listenOrDestroy(listener);
      this.host.listeners.set(name, listener);
      this.models.set(name, model);
      this.log.info({ listener: name, address: listener.address() }, 'listener added');
      return;
    }
    if (sameSocketSettings(existing.model, model)) {
      this.models.set(name, model);
      if (route === null && model.hcm.rdsRouteConfigName !== null) {
        // Keep serving the current connection manager until the new route configuration arrives.
        this.pending.add(name);
        return;
      }
      this.pending.delete(name);
      existing.setConnectionManager(this.host.buildConnectionManager(model, route));
      this.log.info({ listener: name }, 'listener updated in place');
      return;
    }
    const replacement = this.host.createListener(model, this.host.buildConnectionManager(model, route));
    const sameAddress = existing.model.address.port !== 0 && existing.model.address.port === model.address.port;
    if (sameAddress) {
      // The port is needed by the replacement: stop accepting on the old one first.
      void existing.drain(this.host.drainTimeMs);
      await listenRetrying(replacement);
    } else {
      await listenOrDestroy(replacement);
      void existing.drain(this.host.drainTimeMs);
    }
    this.host.listeners.set(name, replacement);
    this.models.set(name, model);
    this.pending.delete(name);
    this.log.info({ listener: name, address: replacement.address() }, 'listener replaced');
  }

  private removeListener(name: string): void {
    const listener = this.host.listeners.get(name);
    this.models.delete(name);
    this.pending.delete(name);
    if (listener === undefined || this.host.staticListenerNames.has(name)) return;
    this.host.listeners.delete(name);
    this.log.info({ listener: name }, 'listener removed; draining');
    void listener.drain(this.host.drainTimeMs);
  }
}

/** Whether two listener models differ only in what a new HttpConnectionManager carries. */
function sameSocketSettings(a: ListenerModel, b: ListenerModel): boolean {
  const x = a.hcm;
  const y = b.hcm;
  return isDeepStrictEqual(a.address, b.address)
    && isDeepStrictEqual(a.tls, b.tls)
    && a.plaintextAllowed === b.plaintextAllowed
    && x.codecType === y.codecType
    && x.maxHeadersCount === y.maxHeadersCount
    && x.maxRequestHeadersBytes === y.maxRequestHeadersBytes
    && x.maxConcurrentStreams === y.maxConcurrentStreams
    && x.initialStreamWindowSize === y.initialStreamWindowSize
    && x.initialConnectionWindowSize === y.initialConnectionWindowSize
    && x.requestTimeoutMs === y.requestTimeoutMs
    && x.requestHeadersTimeoutMs === y.requestHeadersTimeoutMs
    && x.connectionIdleTimeoutMs === y.connectionIdleTimeoutMs;
}

async function listenOrDestroy(listener: Listener): Promise<void> {
  try {
    await listener.listen();
  } catch (err) {
    listener.destroy();
    throw err;
  }
}

/** Binds, retrying briefly on EADDRINUSE while the previous owner of the port closes. */
async function listenRetrying(listener: Listener): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await listener.listen();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || i >= 20) {
        listener.destroy();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
