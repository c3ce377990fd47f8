/**
 * Passive health checking for one cluster (Envoy's consecutive-error outlier detection,
 * `source/common/upstream/outlier_detection_impl.cc`): the router reports every attempt's outcome
 * through `report()`, which keeps per-endpoint consecutive 5xx, gateway-failure and local-origin
 * failure counters; reaching a threshold ejects the endpoint (sets `FAILED_OUTLIER_CHECK` on the
 * target, so the picker skips it) if `max_ejection_percent` and the enforcing percentage allow it.
 * An interval sweep (`interval`) reinstates endpoints whose ejection time, `base × n` capped at
 * `max_ejection_time`, has elapsed, and lowers `n` again for endpoints that stay healthy. The
 * per-endpoint state lives in a Map keyed by the Endpoint object and is pruned when the target's
 * endpoint set changes (a re-added `host:port` is a new Endpoint, so it starts afresh, as in Envoy).
 *
 * Semantics, following current Envoy (see https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier):
 * - Without `split_external_local_origin_errors`, a local-origin failure (connect failure, reset,
 *   per-try timeout) counts as a gateway error (Envoy maps it to 503/504): it charges both the
 *   consecutive-5xx and the consecutive-gateway-failure counters. With the split, it only charges
 *   the consecutive-local-origin counter, and any upstream response resets that counter.
 * - A non-gateway 5xx resets the gateway counter; a Success resets every counter.
 * - Ejection is allowed while `(ejected + 1) / endpoints ≤ max_ejection_percent`. Envoy no longer
 *   guarantees one ejection regardless of the percentage (that is `always_eject_one_host`, default
 *   false; not in our model, so it is an option here). With the default 10% and fewer than 10
 *   endpoints nothing is ever ejected, exactly as in Envoy.
 * - The "enforcing" percentages are drawn with `runtime.random`; a detection that is not enforced
 *   only counts in `ejectionsDetectedTotal`. The threshold's counter is reset after a detection
 *   either way; an ejected endpoint is not charged again until it is reinstated (all counters reset).
 * - Reinstatement happens on the sweep after `min(base × backoff, max)` elapsed; `backoff` grows by
 *   one per ejection (while `backoff × base < max + base`) and shrinks by one per sweep for an
 *   endpoint that has been back for at least one interval.
 */
import type { Logger } from 'pino';
import type { OutlierDetectionModel } from '../config/model';
import type { Runtime } from '../core/runtime';
import type { TimerHandle } from '../core/timers';
import { HealthFlag, type Endpoint, type HealthFlagBit } from './endpoint';
import { UpstreamOutcome, type OutcomeSink } from './outcome';

const COMPONENT = 'outlier';

/** What the detector ejects endpoints from; `Cluster` implements it. */
export interface OutlierTarget {
  /** The cluster's current endpoints. The array is replaced (never mutated) when the set changes. */
  endpoints(): readonly Endpoint[];
  /** Sets or clears a runtime health flag; must ignore endpoints no longer in the set. */
  setHealthFlag(ep: Endpoint, flag: HealthFlagBit, failed: boolean): void;
}

export interface OutlierDetectorOptions {
  /**
   * Envoy's `always_eject_one_host` (default false): allow one ejection when none is active even if
   * `max_ejection_percent` would forbid it (older Envoy and gRPC's behaviour).
   */
  readonly alwaysEjectOneHost?: boolean;
  /** Cluster name for log bindings (default none). */
  readonly clusterName?: string;
  /** Incremented on every enforced ejection (the cluster's `remora_upstream_outlier_ejections_total` child). */
  readonly ejections?: Incrementer | null;
}

/** A metric child the component increments (prom-client's Counter children fit). */
export interface Incrementer {
  inc(): void;
}

/** Why an endpoint was ejected (Envoy's `OutlierEjectionType` subset). */
export const EjectionType = {
  Consecutive5xx: 0,
  ConsecutiveGatewayFailure: 1,
  ConsecutiveLocalOriginFailure: 2,
} as const;
export type EjectionTypeValue = (typeof EjectionType)[keyof typeof EjectionType];

/** Per-endpoint state (Envoy's `DetectorHostMonitorImpl`). Every field initialised: stable shape. */
class HostMonitor {
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;
  consecutiveLocalOriginFailure = 0;
  ejected = false;
  /** Ejections since the endpoint joined the cluster (admin / tests). */
  numEjections = 0;
  /** The ejection time multiplier. */
  backoff = 0;
  /** Monotonic ms of the last ejection; -1 = never. */
  lastEjectionTime = -1;
  /** Monotonic ms of the last reinstatement; -1 = never. */
  lastUnejectionTime = -1;
}

export class OutlierDetector implements OutcomeSink {
  /** Enforced ejections (Envoy `ejections_enforced_total`). */
  ejectionsTotal = 0;
  /** Enforced ejections by type, indexed by `EjectionType`. */
  readonly ejectionsEnforcedByType: number[] = [0, 0, 0];
  /** Thresholds reached, enforced or not (Envoy `ejections_detected_*` summed). */
  ejectionsDetectedTotal = 0;
  /** Detections refused by `max_ejection_percent` (Envoy `ejections_overflow`). */
  ejectionsOverflowTotal = 0;
  /** Reinstatements by time or by a successful active health check. */
  unejectionsTotal = 0;

  private readonly model: OutlierDetectionModel;
  private readonly target: OutlierTarget;
  private readonly runtime: Runtime;
  private readonly logger: Logger;
  private readonly split: boolean;
  private readonly alwaysEjectOneHost: boolean;
  private readonly ejectionCounter: Incrementer | null;
  private readonly monitors = new Map<Endpoint, HostMonitor>();
  /** The endpoint array `members` was built from; compared by identity to notice set changes. */
  private seen: readonly Endpoint[] | null = null;
  private members: Set<Endpoint> = new Set();
  private active = 0;
  private timer: TimerHandle | null = null;
  private closed = false;

  constructor(model: OutlierDetectionModel, target: OutlierTarget, runtime: Runtime, options: OutlierDetectorOptions = {}) {
    this.model = model;
    this.target = target;
    this.runtime = runtime;
    this.logger = runtime.logger.child(
      options.clusterName !== undefined ? { component: COMPONENT, cluster: options.clusterName } : { component: COMPONENT },
    );
    this.split = model.splitExternalLocalOriginErrors;
    this.alwaysEjectOneHost = options.alwaysEjectOneHost ?? false;
    this.ejectionCounter = options.ejections ?? null;
    this.armTimer();
  }

  /** Endpoints currently ejected (Envoy `ejections_active` gauge). */
  get activeEjections(): number {
    this.reconcile();
    return this.active;
  }

  /**
   * Hot path, synchronous: records the outcome of one attempt on `ep`. Allocates only the first
   * time an endpoint reports. May eject `ep` (calling `target.setHealthFlag`) when a threshold is
   * reached. A no-op after `close()`.
   */
  report(ep: Endpoint, outcome: UpstreamOutcome): void {
    if (this.closed) return;
    let m = this.monitors.get(ep);
    if (m === undefined) {
      this.reconcile();
      if (!this.members.has(ep)) return; // a late report for a removed endpoint: keep no state
      m = new HostMonitor();
      this.monitors.set(ep, m);
    }
    switch (outcome) {
      case UpstreamOutcome.Success:
        m.consecutive5xx = 0;
        m.consecutiveGatewayFailure = 0;
        m.consecutiveLocalOriginFailure = 0;
        return;
      case UpstreamOutcome.Http5xx:
        this.put5xx(ep, m, false);
        return;
      case UpstreamOutcome.GatewayError:
        this.put5xx(ep, m, true);
        return;
      case UpstreamOutcome.LocalOriginFailure:
        if (!this.split) {
          this.put5xx(ep, m, true);
        } else if (++m.consecutiveLocalOriginFailure === this.model.consecutiveLocalOriginFailure) {
          this.onConsecutiveError(ep, m, EjectionType.ConsecutiveLocalOriginFailure);
        }
        return;
      default:
        return;
    }
  }

  /**
   * Envoy's `successful_active_health_check_uneject_host`: the active health checker calls this
   * after a passing check; an ejected endpoint that is not failing active health checks is
   * reinstated at once (its counters reset). Synchronous.
   */
  onHealthCheckPassed(ep: Endpoint): void {
    if (this.closed) return;
    const m = this.monitors.get(ep);
    if (m === undefined || !m.ejected || (ep.healthFlags & HealthFlag.FAILED_ACTIVE_HC) !== 0) return;
    this.uneject(ep, m, this.runtime.clock.monotonic());
  }

  /** Whether `ep` is currently ejected by this detector. */
  isEjected(ep: Endpoint): boolean {
    const m = this.monitors.get(ep);
    return m !== undefined && m.ejected;
  }

  /** How many times `ep` was ejected since it joined the cluster (0 if never). */
  numEjections(ep: Endpoint): number {
    const m = this.monitors.get(ep);
    return m === undefined ? 0 : m.numEjections;
  }

  /**
   * The interval sweep (called by the detector's own timer every `interval`): reinstates endpoints
   * whose ejection time elapsed and decays the backoff of healthy ones. Public for tests that drive
   * a manual clock; harmless to call at any time.
   */
  sweep(): void {
    if (this.closed) return;
    this.reconcile();
    const now = this.runtime.clock.monotonic();
    const base = this.model.baseEjectionTimeMs;
    const max = this.model.maxEjectionTimeMs;
    const interval = this.model.intervalMs;
    const eps = this.target.endpoints();
    for (let i = 0; i < eps.length; i++) {
      const ep = eps[i];
      const m = this.monitors.get(ep);
      if (m === undefined) continue;
      if (m.ejected) {
        if (Math.min(base * m.backoff, max) <= now - m.lastEjectionTime) this.uneject(ep, m, now);
      } else if (m.lastUnejectionTime !== -1 && now - m.lastUnejectionTime >= interval && m.backoff > 0) {
        m.backoff--;
      }
    }
  }

  /** Stops the sweep timer; later reports are ignored. Ejection flags already set stay set. Idempotent. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) this.timer.clear();
    this.timer = null;
  }

  // ------------------------------------------------------------------ internals

  private put5xx(ep: Endpoint, m: HostMonitor, gateway: boolean): void {
    // An upstream response means the connection worked: reset the local-origin streak (split mode).
    m.consecutiveLocalOriginFailure = 0;
    if (gateway) {
      if (++m.consecutiveGatewayFailure === this.model.consecutiveGatewayFailure) {
        this.onConsecutiveError(ep, m, EjectionType.ConsecutiveGatewayFailure);
      }
    } else {
      m.consecutiveGatewayFailure = 0;
    }
    if (++m.consecutive5xx === this.model.consecutive5xx) {
      this.onConsecutiveError(ep, m, EjectionType.Consecutive5xx);
    }
  }

  private onConsecutiveError(ep: Endpoint, m: HostMonitor, type: EjectionTypeValue): void {
    if (m.ejected) return;
    this.reconcile();
    if (!this.members.has(ep)) return; // reported by a request that outlived the endpoint
    this.ejectionsDetectedTotal++;
    this.ejectHost(ep, m, type);
    switch (type) {
      case EjectionType.Consecutive5xx: m.consecutive5xx = 0; break;
      case EjectionType.ConsecutiveGatewayFailure: m.consecutiveGatewayFailure = 0; break;
      default: m.consecutiveLocalOriginFailure = 0; break;
    }
  }

  private ejectHost(ep: Endpoint, m: HostMonitor, type: EjectionTypeValue): void {
    const maxPercent = Math.min(100, this.model.maxEjectionPercent);
    const n = this.members.size;
    let allowed = n > 0 && (100 * (this.active + 1)) / n <= maxPercent;
    if (this.alwaysEjectOneHost && this.active === 0) allowed = true;
    if (!allowed) {
      this.ejectionsOverflowTotal++;
      return;
    }
    if (!this.enforced(type)) return;
    const now = this.runtime.clock.monotonic();
    this.active++;
    this.ejectionsTotal++;
    this.ejectionsEnforcedByType[type]++;
    if (this.ejectionCounter !== null) this.ejectionCounter.inc();
    m.ejected = true;
    m.numEjections++;
    m.lastEjectionTime = now;
    const base = this.model.baseEjectionTimeMs;
    if (m.backoff * base < this.model.maxEjectionTimeMs + base) m.backoff++;
    this.logger.warn({ endpoint: ep.key, type, ejections: m.numEjections, ejectionMs: Math.min(base * m.backoff, this.model.maxEjectionTimeMs) }, 'endpoint ejected');
    this.target.setHealthFlag(ep, HealthFlag.FAILED_OUTLIER_CHECK, true);
  }

  private enforced(type: EjectionTypeValue): boolean {
    let percent: number;
    switch (type) {
      case EjectionType.Consecutive5xx: percent = this.model.enforcingConsecutive5xx; break;
      case EjectionType.ConsecutiveGatewayFailure: percent = this.model.enforcingConsecutiveGatewayFailure; break;
      default: percent = this.model.enforcingConsecutiveLocalOriginFailure; break;
    }
    if (percent >= 100) return true;
    if (percent <= 0) return false;
    return this.runtime.random.next() * 100 < percent;
  }

  private uneject(ep: Endpoint, m: HostMonitor, now: number): void {
    this.active--;
    this.unejectionsTotal++;
    m.ejected = false;
    m.consecutive5xx = 0;
    m.consecutiveGatewayFailure = 0;
    m.consecutiveLocalOriginFailure = 0;
    m.lastUnejectionTime = now;
    this.logger.info({ endpoint: ep.key }, 'endpoint reinstated');
    this.target.setHealthFlag(ep, HealthFlag.FAILED_OUTLIER_CHECK, false);
  }

  /** Rebuilds the membership set when the target's endpoint array changed, dropping removed endpoints' state. */
  private reconcile(): void {
    const eps = this.target.endpoints();
    if (eps === this.seen) return;
    this.seen = eps;
    const members = new Set<Endpoint>();
    for (let i = 0; i < eps.length; i++) members.add(eps[i]);
    this.members = members;
    for (const [ep, m] of this.monitors) {
      if (members.has(ep)) continue;
      if (m.ejected) this.active--;
      this.monitors.delete(ep);
    }
  }

  private armTimer(): void {
    if (this.closed) return;
    this.timer = this.runtime.timers.setTimeout(onIntervalTimer, this.model.intervalMs, this);
  }

  /** @internal Timer entry point. */
  runInterval(): void {
    this.timer = null;
    if (this.closed) return;
    this.sweep();
    this.armTimer();
  }
}

function onIntervalTimer(detector: OutlierDetector): void {
  detector.runInterval();
}
