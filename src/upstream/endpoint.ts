/**
 * One upstream host (`address:port`) of a cluster: its identity, its load-balancing attributes
 * (weight, priority, declared health), the runtime health flags set by health checking and outlier
 * detection, the per-host counters the router maintains, and the connection pools towards it. An
 * Endpoint outlives picker rebuilds: `Cluster.setEndpoints` keeps the same object (and its warm
 * pools) for as long as its `host:port` stays in the cluster's endpoint set. Pools are created
 * lazily by the owning Cluster (which holds the pool options) through `Cluster.h2PoolFor` and
 * `Cluster.h1PoolFor`; the Endpoint only stores and closes them.
 */
import type { Pool } from 'undici';
import type { EndpointModel } from '../config/model';
import type { H2Pool } from './h2-pool';

/** Health status as declared by EDS / `load_assignment` (Envoy's `core.v3.HealthStatus`). */
export type EndpointHealthStatus = EndpointModel['healthStatus'];

/** Runtime health flags (Envoy's `Host::HealthFlag` subset); a bit set means "do not route here". */
export const HealthFlag = {
  /** Failed active health checking (`/failed_active_hc`). */
  FAILED_ACTIVE_HC: 1,
  /** Ejected by outlier detection (`/failed_outlier_check`). */
  FAILED_OUTLIER_CHECK: 2,
} as const;
export type HealthFlagBit = (typeof HealthFlag)[keyof typeof HealthFlag];

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class Endpoint {
  /** IP address or host name as given (STRICT_DNS endpoints carry the resolved address). */
  readonly host: string;
  readonly port: number;
  /** `host:port` (IPv6 hosts in brackets); the identity used across endpoint-set updates. */
  readonly key: string;
  /** `load_balancing_weight` (≥ 1). Updated in place only by `Cluster.setEndpoints`, before it publishes a new picker. */
  readonly weight: number;
  /** Priority level (0 is highest). Updated like `weight`. */
  readonly priority: number;
  /** Declared health; only HEALTHY and UNKNOWN are routable. Updated like `weight`. */
  readonly healthStatus: EndpointHealthStatus;
  /** `HealthFlag` bits; non-zero means unhealthy at runtime. Change via `Cluster.setHealthFlag` so the picker is rebuilt. */
  readonly healthFlags: number;
  /** `filter_metadata` of the endpoint (e.g. Istio's workload metadata for telemetry); null when none. Updated like `weight`. */
  readonly metadata: Readonly<Record<string, unknown>> | null;

  /** In-flight requests; the router increments when it starts a request here and decrements when it ends. */
  active = 0;
  /** Requests started towards this endpoint (router-maintained). */
  requestsTotal = 0;
  /** Requests that ended in an upstream error, reset, timeout or 5xx (router-maintained). */
  requestErrors = 0;
  /** Connection attempts that failed (router/pool-maintained). */
  connectFailures = 0;

  /** @internal The HTTP/2 pool, created on first use by `Cluster.h2PoolFor`. */
  h2: H2Pool | null = null;
  /** @internal The HTTP/1.1 pool, created on first use by `Cluster.h1PoolFor`. */
  h1: Pool | null = null;
  /** True once `close()` or `destroy()` ran; the cluster then refuses to create pools for it. */
  closed = false;

  constructor(model: EndpointModel) {
    this.host = model.host;
    this.port = model.port;
    this.key = endpointKey(model.host, model.port);
    this.weight = model.weight > 0 ? model.weight : 1;
    this.priority = model.priority;
    this.healthStatus = model.healthStatus;
    this.healthFlags = 0;
    this.metadata = model.metadata ?? null;
  }

  /** True when the load balancer may send requests here: declared HEALTHY/UNKNOWN and no runtime flag set. */
  get routable(): boolean {
    return this.healthFlags === 0 && (this.healthStatus === 'HEALTHY' || this.healthStatus === 'UNKNOWN');
  }

  /**
   * @internal Copies weight, priority and declared health from a newer model of the same
   * `host:port`. Called by `Cluster.setEndpoints` only; returns whether anything changed.
   */
  applyModel(model: EndpointModel): boolean {
    const self = this as Mutable<Endpoint>;
    const weight = model.weight > 0 ? model.weight : 1;
    const changed = weight !== this.weight || model.priority !== this.priority || model.healthStatus !== this.healthStatus;
    self.weight = weight;
    self.priority = model.priority;
    self.healthStatus = model.healthStatus;
    self.metadata = model.metadata ?? null;
    return changed;
  }

  /** @internal Sets or clears one `HealthFlag` bit; returns whether routability changed. Use `Cluster.setHealthFlag`. */
  setFlag(flag: HealthFlagBit, on: boolean): boolean {
    const before = this.healthFlags;
    (this as Mutable<Endpoint>).healthFlags = on ? before | flag : before & ~flag;
    return (before === 0) !== (this.healthFlags === 0);
  }

  /**
   * Envoy's admin `health_flags` rendering: `healthy`, or `/`-joined reasons
   * (`/failed_active_hc/failed_outlier_check/failed_eds_health`).
   */
  healthFlagsText(): string {
    let s = '';
    if ((this.healthFlags & HealthFlag.FAILED_ACTIVE_HC) !== 0) s += '/failed_active_hc';
    if ((this.healthFlags & HealthFlag.FAILED_OUTLIER_CHECK) !== 0) s += '/failed_outlier_check';
    switch (this.healthStatus) {
      case 'UNHEALTHY': case 'TIMEOUT': s += '/failed_eds_health'; break;
      case 'DEGRADED': s += '/degraded_eds_health'; break;
      case 'DRAINING': s += '/eds_status_draining'; break;
      default: break;
    }
    return s === '' ? 'healthy' : s;
  }

  /**
   * Graceful shutdown: no new pools are created; existing pools finish their in-flight requests
   * (h2 GOAWAY, undici `close()`). Resolves when both pools have closed. Idempotent.
   */
  async close(): Promise<void> {
    this.closed = true;
    const h2 = this.h2;
    const h1 = this.h1;
    const pending: Promise<unknown>[] = [];
    if (h2 !== null) pending.push(h2.close());
    if (h1 !== null && !h1.closed) pending.push(h1.close());
    await Promise.all(pending);
  }

  /** Abrupt shutdown: resets every stream and connection of both pools. Idempotent. */
  destroy(): void {
    this.closed = true;
    if (this.h2 !== null) this.h2.destroy();
    if (this.h1 !== null && !this.h1.destroyed) void this.h1.destroy().catch(ignore);
  }
}

function ignore(): void {}

/** `host:port`, bracketing IPv6 literals (`[::1]:80`), as Envoy prints addresses. */
export function endpointKey(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
