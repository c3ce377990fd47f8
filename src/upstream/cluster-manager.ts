/**
 * The set of upstream clusters of one sidecar, keyed by name: applies cluster configs from the
 * bootstrap (`update`) and from CDS (`addOrUpdate` / `remove`), and endpoint assignments from EDS
 * (`setClusterLoadAssignment`). A cluster object is replaced only when its model changed (deep
 * equality); the replaced object keeps serving requests that already picked from it and is closed
 * gracefully in the background. As in Envoy's cluster warming, a replacement that is not warm yet
 * (an EDS cluster waiting for its assignment, a STRICT_DNS cluster before its first resolution)
 * waits beside the active one and takes over only once warm; brand-new clusters become active at
 * once (they fail picks with "no healthy upstream" until warm). The last assignment per EDS service
 * name is cached and applied to every new cluster of that service (Envoy's EDS resource cache),
 * so a CDS update does not lose its endpoints. Also renders the admin `/clusters` page.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ClusterLoadAssignmentModel, ClusterModel } from '../config/model';
import type { Runtime } from '../core/runtime';
import { Cluster, type ClusterOptions } from './cluster';

export class ClusterManager {
  private readonly active = new Map<string, Cluster>();
  /** Replacements not warm yet; promoted into `active` on their 'warm' event. */
  private readonly warming = new Map<string, Cluster>();
  /** Last ClusterLoadAssignment per EDS service name. */
  private readonly assignments = new Map<string, ClusterLoadAssignmentModel>();
  private readonly retiring = new Set<Promise<void>>();
  private warmWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly runtime: Runtime,
    private readonly clusterOptions: ClusterOptions = {},
  ) {}

  /**
   * Hot path: the active cluster with this name (a Map lookup), or undefined. Callers must fetch
   * it per request (or per route-config snapshot) rather than caching it forever: an updated
   * model replaces the object.
   */
  get(name: string): Cluster | undefined {
    return this.active.get(name);
  }

  /** Every active cluster, in insertion order. */
  all(): Cluster[] {
    return Array.from(this.active.values());
  }

  /**
   * Makes the active set exactly `models` (bootstrap or a full CDS state of the world): adds new
   * names, replaces clusters whose model changed, keeps unchanged ones (same object), removes
   * missing ones.
   */
  update(models: readonly ClusterModel[], addedViaApi = false): void {
    const names = new Set<string>();
    for (let i = 0; i < models.length; i++) {
      names.add(models[i].name);
      this.addOrUpdate(models[i], addedViaApi);
    }
    for (const name of Array.from(this.active.keys())) if (!names.has(name)) this.remove(name);
    for (const name of Array.from(this.warming.keys())) if (!names.has(name)) this.remove(name);
  }

  /**
   * Adds a cluster or replaces one whose model differs (deep equality); an identical model is a
   * no-op. Returns the cluster that now serves (or will serve, once warm) this name.
   */
  addOrUpdate(model: ClusterModel, addedViaApi = true): Cluster {
    if (this.closed) throw new Error('ClusterManager is closed');
    const name = model.name;
    const current = this.warming.get(name) ?? this.active.get(name);
    if (current !== undefined && isDeepStrictEqual(current.model, model)) {
      current.addedViaApi = addedViaApi;
      return current;
    }
    const cluster = new Cluster(model, this.runtime, this.clusterOptions);
    cluster.addedViaApi = addedViaApi;
    if (model.type === 'EDS') {
      const cla = this.assignments.get(edsName(model));
      if (cla !== undefined) cluster.setEndpoints(cla.endpoints);
    }
    const staleWarming = this.warming.get(name);
    if (staleWarming !== undefined) {
      this.warming.delete(name);
      this.retire(staleWarming);
    }
    const old = this.active.get(name);
    if (old !== undefined && !cluster.warm) {
      this.warming.set(name, cluster);
      cluster.once('warm', () => this.promote(cluster));
      return cluster;
    }
    this.active.set(name, cluster);
    if (old !== undefined) this.retire(old);
    if (!cluster.warm) cluster.once('warm', () => this.checkWarm());
    this.checkWarm();
    return cluster;
  }

  /** Removes a cluster (active and warming); it finishes in-flight requests and closes in the background. */
  remove(name: string): boolean {
    const a = this.active.get(name);
    const w = this.warming.get(name);
    this.active.delete(name);
    this.warming.delete(name);
    if (a !== undefined) this.retire(a);
    if (w !== undefined) this.retire(w);
    this.checkWarm();
    return a !== undefined || w !== undefined;
  }

  /**
   * Applies an EDS assignment to every cluster (active or warming) whose EDS service name is
   * `cla.clusterName`, and caches it for clusters created later.
   */
  setClusterLoadAssignment(cla: ClusterLoadAssignmentModel): void {
    this.assignments.set(cla.clusterName, cla);
    for (const c of Array.from(this.warming.values())) applyAssignment(c, cla);
    for (const c of this.active.values()) applyAssignment(c, cla);
  }

  /** Forgets the cached assignment of an EDS service (EDS resource removed); clusters keep their endpoints. */
  removeClusterLoadAssignment(serviceName: string): void {
    this.assignments.delete(serviceName);
  }

  /** True when every active cluster received its first endpoint set. */
  allWarm(): boolean {
    for (const c of this.active.values()) if (!c.warm) return false;
    return true;
  }

  /** Resolves once `allWarm()` holds (immediately if it does); re-evaluated whenever clusters change. */
  whenAllWarm(): Promise<void> {
    if (this.allWarm()) return Promise.resolve();
    return new Promise<void>((resolve) => { this.warmWaiters.push(resolve); });
  }

  /** Admin `/clusters?format=json`: Envoy's `cluster_statuses` array. */
  dump(): object[] {
    return this.all().map((c) => c.dump());
  }

  /** Admin `/clusters` text format: `<cluster>::<host:port>::<stat>::<value>` lines. */
  dumpText(): string {
    let out = '';
    for (const c of this.active.values()) out += c.dumpText();
    return out;
  }

  /** Closes every cluster gracefully and resolves when all (and those replaced earlier) have closed. */
  async close(): Promise<void> {
    this.closed = true;
    const clusters = [...this.active.values(), ...this.warming.values()];
    this.active.clear();
    this.warming.clear();
    const pending: Promise<void>[] = Array.from(this.retiring);
    for (const c of clusters) pending.push(c.close());
    await Promise.all(pending);
    this.checkWarm();
  }

  private promote(cluster: Cluster): void {
    const name = cluster.name;
    if (this.warming.get(name) !== cluster) return; // superseded or removed meanwhile
    this.warming.delete(name);
    const old = this.active.get(name);
    this.active.set(name, cluster);
    if (old !== undefined) this.retire(old);
    this.checkWarm();
  }

  private retire(cluster: Cluster): void {
    const p: Promise<void> = cluster.close().catch((err: unknown) => {
      this.runtime.logger.warn({ err, cluster: cluster.name }, 'closing a replaced cluster failed');
    }).finally(() => { this.retiring.delete(p); });
    this.retiring.add(p);
  }

  private checkWarm(): void {
    if (this.warmWaiters.length === 0 || !this.allWarm()) return;
    const waiters = this.warmWaiters;
    this.warmWaiters = [];
    for (const w of waiters) w();
  }
}

function edsName(model: ClusterModel): string {
  return model.edsServiceName ?? model.name;
}

function applyAssignment(c: Cluster, cla: ClusterLoadAssignmentModel): void {
  if (c.model.type === 'EDS' && edsName(c.model) === cla.clusterName) c.setEndpoints(cla.endpoints);
}
