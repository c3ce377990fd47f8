/**
 * One upstream cluster built from a `ClusterModel`: owns its endpoint set (kept by `host:port`
 * identity across updates, so warm connection pools survive), publishes an immutable load-balancer
 * picker on every endpoint or health change, creates each endpoint's HTTP/2 or HTTP/1.1 pool on
 * first use with options (TLS included) built once per cluster, drives STRICT_DNS resolution, and
 * tracks warming (Envoy's cluster initialisation: STATIC is warm at once, STRICT_DNS after its first
 * resolution attempt, EDS after its first ClusterLoadAssignment). A Cluster is immutable in its
 * model: a changed model means a new Cluster (see ClusterManager). When the TLS model names SDS
 * secrets, the TLS options come from the SecretSource (`SdsUpstreamTls`, rebuilt in place when a
 * secret changes: new connections use the new certificate, open sessions keep theirs), and the
 * cluster publishes no picker and is not warm until every referenced secret is known.
 *
 * Events (EventEmitter): `'warm'` once, when the first endpoint set arrives; `'update'` after every
 * published picker; `'dns'` `(failures: number)` after every STRICT_DNS round.
 */
import { EventEmitter, once } from 'node:events';
import type * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { Pool } from 'undici';
import type { ClusterModel, EndpointModel, UpstreamTlsModel } from '../config/model';
import type { Runtime } from '../core/runtime';
import type { SecretSource } from '../transport/secret-source';
import { buildUpstreamTlsOptions, SdsUpstreamTls, usesSds } from '../transport/upstream-tls';
import { DnsResolver, type DnsResolverSink, type LookupFn } from './dns-resolver';
import { Endpoint, endpointKey, HealthFlag, type HealthFlagBit } from './endpoint';
import type { UpstreamOutcome } from './outcome';
import { H2Pool, type H2PoolOptions } from './h2-pool';
import { createH1Pool } from './h1-pool';
import { ResourceManager } from './resource-manager';
import { UpstreamMetrics, type UpstreamLoadSource } from '../observability/upstream-metrics';
import { HealthChecker } from './health-checker';
import { OutlierDetector } from './outlier-detector';
import { buildPicker } from './lb/build-picker';
import { FailPicker, type PickContext, type Picker, type PickerBuildOptions, type PickResult } from './lb/picker';

const COMPONENT = 'cluster';

/** How a cluster creates pools and TLS options; the defaults use the real implementations, tests inject doubles. */
export interface UpstreamFactories {
  h2Pool(host: string, port: number, options: H2PoolOptions, runtime: Runtime): H2Pool;
  h1Pool(host: string, port: number, model: ClusterModel, tls: tls.ConnectionOptions | null): Pool;
  tlsOptions(model: UpstreamTlsModel, alpn: readonly string[]): tls.ConnectionOptions;
}

export const defaultUpstreamFactories: UpstreamFactories = {
  h2Pool: (host, port, options, runtime) => new H2Pool(host, port, options, runtime),
  h1Pool: createH1Pool,
  tlsOptions: buildUpstreamTlsOptions,
};

export interface ClusterOptions {
  readonly factories?: UpstreamFactories;
  /** STRICT_DNS lookup override (tests). */
  readonly lookup?: LookupFn;
  /** Where SDS secrets named by the TLS model come from (the sidecar's SecretManager). */
  readonly secrets?: SecretSource;
}

/** Stands in when no SecretSource was given: SDS-backed clusters then never warm. */
const NO_SECRETS: SecretSource = {
  get: () => null,
  onChange: () => noop,
  whenReady: () => new Promise(noop),
};

const ALPN_H2: readonly string[] = Object.freeze(['h2']);
const ALPN_H1: readonly string[] = Object.freeze(['http/1.1']);

export class Cluster extends EventEmitter implements DnsResolverSink {
  readonly name: string;
  readonly model: ClusterModel;
  /** Set by the ClusterManager: false for bootstrap (static) clusters, true for CDS ones. Admin only. */
  addedViaApi = false;
  /** `outlier_detection`; null when off. */
  readonly outlier: OutlierDetector | null;
  /** Active health checking (`health_checks[0]`); null when off. */
  readonly healthChecker: HealthChecker | null;
  /** Circuit breakers and retry budget (from `model.circuitBreakers`); the router acquires and releases. */
  readonly resources: ResourceManager;

  private readonly runtime: Runtime;
  private readonly logger: Logger;
  private readonly factories: UpstreamFactories;
  private readonly pickerOptions: PickerBuildOptions;
  private picker: Picker;
  private all: readonly Endpoint[] = [];
  private byKey: Map<string, Endpoint> = new Map();
  private isWarm = false;
  private closed = false;
  private readonly resolver: DnsResolver | null;
  /** Built on first h2 pool; TLS options inside are built once per cluster. */
  private h2Options: H2PoolOptions | null = null;
  /** undefined until the first h1 pool; then the h1 TLS options or null for plaintext. */
  private h1Tls: tls.ConnectionOptions | null | undefined = undefined;
  /** Graceful closes of removed endpoints still in progress. */
  private readonly retiring = new Set<Promise<void>>();
  /** Scrape-time readings for `remora_upstream_{connections,requests}_active` / `requests_pending`; null without a registry. */
  private readonly load: ClusterLoadSource | null;
  private readonly upstreamMetrics: UpstreamMetrics | null;
  /** TLS options from SDS secrets; null for plaintext or inline/file TLS material. */
  private readonly sdsTls: SdsUpstreamTls | null;
  /** Whether the first endpoint set arrived (warm also needs the SDS secrets). */
  private endpointsArrived = false;

  constructor(model: ClusterModel, runtime: Runtime, options: ClusterOptions = {}) {
    super();
    this.name = model.name;
    this.model = model;
    this.runtime = runtime;
    this.logger = runtime.logger.child({ component: COMPONENT, cluster: model.name });
    this.factories = options.factories ?? defaultUpstreamFactories;
    this.resources = new ResourceManager(model.circuitBreakers, model.name, runtime.metrics ?? null);
    this.upstreamMetrics = runtime.metrics == null ? null : UpstreamMetrics.forRegistry(runtime.metrics);
    this.load = this.upstreamMetrics === null ? null : new ClusterLoadSource(this);
    if (this.load !== null) this.upstreamMetrics!.track(this.load);
    this.pickerOptions = {
      clusterName: model.name, random: runtime.random, choiceCount: model.leastRequestChoiceCount,
      activeRequestBias: model.leastRequestActiveRequestBias, ringHash: model.ringHash,
      healthyPanicThresholdPercent: model.healthyPanicThresholdPercent,
    };
    this.picker = new FailPicker(model.name);
    this.resolver = null;
    this.outlier = model.outlierDetection === null ? null : new OutlierDetector(model.outlierDetection, this, runtime, {
      clusterName: model.name, ejections: this.resources.stats?.ejections ?? null,
    });
    this.sdsTls = null;
    if (model.tls !== null && usesSds(model.tls)) {
      if (options.secrets === undefined) this.logger.error('the TLS context names SDS secrets but no secret source is configured; the cluster will not warm');
      this.sdsTls = new SdsUpstreamTls(model.tls, options.secrets ?? NO_SECRETS, onSdsTlsReady.bind(null, this));
    }
    const hc = model.healthChecks.length > 0 ? model.healthChecks[0] : null;
    this.healthChecker = hc === null ? null : new HealthChecker(hc, this, runtime, {
      tls: this.tlsOptions(hc.check.type === 'grpc' || model.protocol === 'http2' ? ALPN_H2 : ALPN_H1),
      onCheckComplete: this.outlier === null ? undefined : onCheckComplete.bind(null, this.outlier),
      failures: this.resources.stats?.healthCheckFailures ?? null,
    });
    switch (model.type) {
      case 'STATIC':
        this.setEndpoints(model.endpoints);
        break;
      case 'STRICT_DNS':
        this.resolver = new DnsResolver(
          model.endpoints,
          { refreshRateMs: model.dnsRefreshRateMs, family: model.dnsLookupFamily, lookup: options.lookup },
          this,
          this.logger,
        );
        this.resolver.start();
        break;
      case 'EDS':
        break; // warm on the first ClusterLoadAssignment
    }
  }

  /** True once the cluster received its first endpoint set (it may still be empty). */
  get warm(): boolean { return this.isWarm; }

  /** Resolves when the cluster is warm (immediately if it already is). */
  whenWarm(): Promise<void> {
    if (this.isWarm) return Promise.resolve();
    return once(this, 'warm').then(noop);
  }

  /**
   * Hot path: chooses an endpoint with the current picker. Synchronous. With no routable endpoint
   * (none yet, all unhealthy, or the cluster closed) the result is
   * `{type:'fail', error: NoHealthyUpstreamError}`.
   */
  pick(ctx: PickContext): PickResult {
    return this.picker.pick(ctx);
  }

  /** Every endpoint of the cluster (all priorities and health states), in config order. Never mutated; replaced on update. */
  endpoints(): readonly Endpoint[] {
    return this.all;
  }

  /** The endpoint with this `host:port` key, if present. */
  endpoint(key: string): Endpoint | undefined {
    return this.byKey.get(key);
  }

  /**
   * Replaces the endpoint set (STATIC at construction, STRICT_DNS after each round, EDS on each
   * assignment). Endpoints whose `host:port` is unchanged keep their object, counters and pools
   * (weight, priority and declared health are updated in place); removed ones are closed
   * gracefully in the background; duplicate addresses keep the first entry. Publishes a new picker
   * (and emits 'update') unless nothing changed, and marks the cluster warm. Ignored after `close()`.
   */
  setEndpoints(models: readonly EndpointModel[]): void {
    if (this.closed) return;
    const prev = this.byKey;
    const next: Endpoint[] = [];
    const nextByKey = new Map<string, Endpoint>();
    let changed = false;
    for (let i = 0; i < models.length; i++) {
      const m = models[i];
      const key = endpointKey(m.host, m.port);
      if (nextByKey.has(key)) continue;
      let ep = prev.get(key);
      if (ep === undefined) {
        ep = new Endpoint(m);
        changed = true;
      } else if (ep.applyModel(m)) {
        changed = true;
      }
      if (this.all[next.length] !== ep) changed = true;
      next.push(ep);
      nextByKey.set(key, ep);
    }
    if (next.length !== this.all.length) changed = true;
    if (!changed && this.isWarm) return; // e.g. a DNS refresh with the same answers: keep the picker
    for (const [key, ep] of prev) if (!nextByKey.has(key)) this.retire(ep);
    this.all = Object.freeze(next);
    this.byKey = nextByKey;
    this.endpointsArrived = true;
    this.publish();
    this.maybeWarm();
  }

  /** @internal The SDS secrets became usable: publish the picker held back and warm. */
  onTlsReady(): void {
    if (this.closed || !this.endpointsArrived) return;
    this.publish();
    this.maybeWarm();
  }

  /** Config time: TLS options offering `alpn` (SDS-backed or static), or null for plaintext. */
  private tlsOptions(alpn: readonly string[]): tls.ConnectionOptions | null {
    if (this.model.tls === null) return null;
    if (this.sdsTls !== null) return this.sdsTls.optionsFor(alpn);
    return this.factories.tlsOptions(this.model.tls, alpn);
  }

  private maybeWarm(): void {
    if (this.isWarm || !this.endpointsArrived) return;
    if (this.sdsTls !== null && !this.sdsTls.isReady()) return;
    this.isWarm = true;
    this.emit('warm');
  }

  /**
   * Sets or clears a runtime health flag (active health check failure, outlier ejection) on one
   * of this cluster's endpoints and republishes the picker when its routability changed.
   */
  setHealthFlag(ep: Endpoint, flag: HealthFlagBit, failed: boolean): void {
    if (this.closed || this.byKey.get(ep.key) !== ep) return;
    if (ep.setFlag(flag, failed)) this.publish();
  }

  /**
   * Hot path: the router reports the outcome of one attempt on `ep`; forwarded to the outlier
   * detector when the cluster has one.
   */
  reportOutcome(ep: Endpoint, outcome: UpstreamOutcome): void {
    const outlier = this.outlier;
    if (outlier !== null) outlier.report(ep, outcome);
  }

  /** @internal DnsResolverSink: a STRICT_DNS round completed. */
  onDnsResolved(endpoints: readonly EndpointModel[], failures: number): void {
    if (this.closed) return;
    this.setEndpoints(endpoints);
    this.emit('dns', failures);
  }

  /**
   * The endpoint's HTTP/2 pool, created on first use with this cluster's options (TLS with ALPN
   * `h2`). For an endpoint already removed from the cluster, a pool is still returned but it is
   * closed, so its requests fail with a connect error rather than leaking a connection.
   */
  h2PoolFor(ep: Endpoint): H2Pool {
    const existing = ep.h2;
    if (existing !== null) return existing;
    let opts = this.h2Options;
    if (opts === null) opts = this.h2Options = this.buildH2Options();
    const pool = this.factories.h2Pool(ep.host, ep.port, opts, this.runtime);
    if (ep.closed) void pool.close().catch(noop);
    else ep.h2 = pool;
    return pool;
  }

  /** The endpoint's undici HTTP/1.1 pool, created on first use (TLS with ALPN `http/1.1`); same removal rule as `h2PoolFor`. */
  h1PoolFor(ep: Endpoint): Pool {
    const existing = ep.h1;
    if (existing !== null) return existing;
    let tlsOpts = this.h1Tls;
    if (tlsOpts === undefined) {
      tlsOpts = this.h1Tls = this.tlsOptions(ALPN_H1);
    }
    const pool = this.factories.h1Pool(ep.host, ep.port, this.model, tlsOpts);
    const opened = this.resources.connectionsOpened;
    if (opened !== null && typeof pool.on === 'function') pool.on('connect', () => opened.inc());
    if (ep.closed) void pool.close().catch(noop);
    else ep.h1 = pool;
    return pool;
  }

  /** Completed STRICT_DNS rounds (0 for other types). */
  dnsRounds(): number {
    return this.resolver === null ? 0 : this.resolver.rounds;
  }

  /**
   * Graceful shutdown: stops DNS refresh, publishes a failing picker, and resolves when every
   * endpoint's pools (and those of endpoints removed earlier) have finished their in-flight
   * requests and closed. Idempotent.
   */
  async close(): Promise<void> {
    this.shutdown();
    const pending: Promise<void>[] = Array.from(this.retiring);
    for (let i = 0; i < this.all.length; i++) pending.push(this.all[i].close());
    await Promise.all(pending);
    if (this.load !== null) this.upstreamMetrics!.untrack(this.load);
  }

  /** Abrupt shutdown: like `close()` but resets every connection now. */
  destroy(): void {
    this.shutdown();
    for (let i = 0; i < this.all.length; i++) this.all[i].destroy();
    if (this.load !== null) this.upstreamMetrics!.untrack(this.load);
  }

  /** Open upstream connections over the current endpoints' pools (read when metrics are scraped). */
  activeConnectionCount(): number {
    let n = 0;
    for (let i = 0; i < this.all.length; i++) n += connectionsActive(this.all[i]);
    return n;
  }

  /** Envoy `/clusters?format=json` `cluster_statuses[]` entry (plus Remora's type, policy, warm and pool stats). */
  dump(): object {
    return {
      name: this.name,
      type: this.model.type,
      lb_policy: this.model.lbPolicy,
      added_via_api: this.addedViaApi,
      warm: this.isWarm,
      host_statuses: this.all.map(hostStatus),
    };
  }

  /** Envoy `/clusters` text lines for this cluster (`<cluster>::<host:port>::rq_active::N`, …), newline-terminated. */
  dumpText(): string {
    const c = this.name;
    let out = `${c}::added_via_api::${this.addedViaApi}\n`;
    for (let i = 0; i < this.all.length; i++) {
      const ep = this.all[i];
      const p = `${c}::${ep.key}::`;
      out +=
        `${p}cx_active::${connectionsActive(ep)}\n` +
        `${p}cx_connect_fail::${ep.connectFailures}\n` +
        `${p}rq_active::${ep.active}\n` +
        `${p}rq_error::${ep.requestErrors}\n` +
        `${p}rq_total::${ep.requestsTotal}\n` +
        `${p}hostname::\n` +
        `${p}health_flags::${ep.healthFlagsText()}\n` +
        `${p}weight::${ep.weight}\n` +
        `${p}region::\n${p}zone::\n${p}sub_zone::\n${p}canary::false\n` +
        `${p}priority::${ep.priority}\n`;
    }
    return out;
  }

  /** @internal The currently published picker (tests). */
  pickerForTest(): Picker {
    return this.picker;
  }

  private publish(): void {
    // Without its SDS secrets every handshake would fail: keep failing picks until they arrive.
    if (this.sdsTls !== null && !this.sdsTls.isReady()) return;
    this.picker = buildPicker(this.model.lbPolicy, this.all, this.pickerOptions);
    if (this.healthChecker !== null) this.healthChecker.onEndpointsChanged();
    this.emit('update');
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.resolver !== null) this.resolver.stop();
    if (this.outlier !== null) this.outlier.close();
    if (this.healthChecker !== null) this.healthChecker.close();
    if (this.sdsTls !== null) this.sdsTls.close();
    this.picker = new FailPicker(this.name);
  }

  private retire(ep: Endpoint): void {
    const p: Promise<void> = ep.close().catch((err: unknown) => {
      this.logger.warn({ err, endpoint: ep.key }, 'closing a removed endpoint failed');
    }).finally(() => { this.retiring.delete(p); });
    this.retiring.add(p);
  }

  private buildH2Options(): H2PoolOptions {
    const m = this.model;
    return Object.freeze({
      connectTimeoutMs: m.connectTimeoutMs,
      tls: this.tlsOptions(ALPN_H2),
      maxConcurrentStreams: m.http2MaxConcurrentStreams,
      initialStreamWindowSize: m.http2InitialStreamWindowSize,
      initialConnectionWindowSize: m.http2InitialConnectionWindowSize,
      idleTimeoutMs: m.idleTimeoutMs,
      maxRequestsPerConnection: m.maxRequestsPerConnection,
      connectionLimit: this.resources,
    });
  }
}

function noop(): void {}

/** The cluster as the load gauges see it (`UpstreamMetrics.track`). */
class ClusterLoadSource implements UpstreamLoadSource {
  readonly name: string;
  constructor(private readonly cluster: Cluster) { this.name = cluster.name; }
  activeConnections(): number { return this.cluster.activeConnectionCount(); }
  activeRequests(): number { return this.cluster.resources.activeRequests; }
  pendingRequests(): number { return this.cluster.resources.pendingRequests; }
}

function onSdsTlsReady(cluster: Cluster): void {
  cluster.onTlsReady();
}

function connectionsActive(ep: Endpoint): number {
  let n = 0;
  if (ep.h2 !== null) n += ep.h2.stats().sessions;
  if (ep.h1 !== null) n += ep.h1.stats.connected;
  return n;
}

function hostStatus(ep: Endpoint): object {
  return {
    address: { socket_address: { address: ep.host, port_value: ep.port } },
    stats: [
      { name: 'cx_active', type: 'GAUGE', value: connectionsActive(ep) },
      { name: 'cx_connect_fail', value: ep.connectFailures },
      { name: 'rq_active', type: 'GAUGE', value: ep.active },
      { name: 'rq_error', value: ep.requestErrors },
      { name: 'rq_total', value: ep.requestsTotal },
    ],
    health_status: {
      eds_health_status: ep.healthStatus,
      failed_active_health_check: (ep.healthFlags & HealthFlag.FAILED_ACTIVE_HC) !== 0,
      failed_outlier_check: (ep.healthFlags & HealthFlag.FAILED_OUTLIER_CHECK) !== 0,
    },
    health_flags: ep.healthFlagsText(),
    weight: ep.weight,
    priority: ep.priority,
    pool: {
      h2: ep.h2 === null ? null : ep.h2.stats(),
      h1: ep.h1 === null ? null : h1Stats(ep.h1),
    },
  };
}

/** undici's PoolStats exposes getters on its prototype; copy them into a plain object. */
function h1Stats(pool: Pool): object {
  const s = pool.stats;
  return { connected: s.connected, free: s.free, pending: s.pending, queued: s.queued, running: s.running, size: s.size };
}

/** A passing active health check reinstates an ejected endpoint (Envoy's successful_active_health_check_uneject_host). */
function onCheckComplete(outlier: OutlierDetector, ep: Endpoint, passed: boolean): void {
  if (passed) outlier.onHealthCheckPassed(ep);
}
