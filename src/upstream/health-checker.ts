/**
 * Active health checking for one cluster (Envoy's `HealthCheckerImplBase` with the gRPC and HTTP
 * checkers): one `HealthCheckSession` per endpoint runs its own timer, sends a
 * `grpc.health.v1.Health/Check` over a dedicated h2c (or TLS) HTTP/2 session, or an HTTP/1.1 GET
 * through the checker's own keep-alive agent, bounds each check by `timeout`, and counts
 * consecutive results against `healthy_threshold` / `unhealthy_threshold` to set or clear
 * `FAILED_ACTIVE_HC` on the target (so the picker drops or restores the endpoint). Health-check
 * connections are separate from the data-path pools, as in Envoy.
 *
 * Semantics (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/health_checking):
 * - By default a new endpoint is routable until it fails `unhealthy_threshold` consecutive checks
 *   (`startUnhealthy: false`). Envoy instead marks hosts added to a health-checked cluster
 *   FAILED_ACTIVE_HC until their first check; `startUnhealthy: true` does that. Either way, the very
 *   first successful check of an endpoint clears the flag at once (Envoy's "first check" rule);
 *   later recoveries need `healthy_threshold` consecutive successes.
 * - Scheduling: the first check runs after a random delay in [0, initial_jitter), then every
 *   `interval` (or `unhealthy_interval` while the endpoint is flagged) plus random
 *   [0, interval × interval_jitter_percent %) plus random [0, interval_jitter), measured from the
 *   end of the previous check. Envoy's no_traffic_interval and edge intervals are not modelled.
 * - gRPC: success iff `:status` 200, `grpc-status` 0 and the response says SERVING. The
 *   `:authority` is `authority` or the cluster name. A timeout destroys the session (a hung peer
 *   gets a fresh connection on the next check).
 * - HTTP: GET `path` with `Host` = `host` or the cluster name; success iff the status is in one of
 *   `expected_statuses` ([start, end) ranges). A timeout destroys that request's socket.
 *
 * The target's endpoint set is re-read by `onEndpointsChanged()`, which the owning Cluster calls
 * after its `'update'` event; it is cheap and re-entrant (the array is compared by identity).
 */
import type { Incrementer } from './outlier-detector';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { HealthCheckModel } from '../config/model';
import type { Runtime } from '../core/runtime';
import type { TimerHandle } from '../core/timers';
import { HealthFlag, type Endpoint, type HealthFlagBit } from './endpoint';
import { decodeHealthCheckResponse, encodeHealthCheckRequest, HEALTH_CHECK_PATH, ServingStatus } from './health/grpc-health-codec';

const COMPONENT = 'health_check';
const USER_AGENT = 'remora-health-check';

/** What the checker watches and flags; `Cluster` implements it. */
export interface HealthCheckTarget {
  /** Cluster name: the default `Host` / `:authority` of checks. */
  readonly name: string;
  /** The current endpoints; the array is replaced (never mutated) when the set changes. */
  endpoints(): readonly Endpoint[];
  /** Sets or clears a runtime health flag; must ignore endpoints no longer in the set. */
  setHealthFlag(ep: Endpoint, flag: HealthFlagBit, failed: boolean): void;
}

export interface HealthCheckerOptions {
  /** TLS for check connections (the cluster's transport socket); null or absent = plaintext (h2c / HTTP). */
  readonly tls?: tls.ConnectionOptions | null;
  /** Envoy's behaviour for new endpoints: flagged FAILED_ACTIVE_HC until their first passing check. Default false. */
  readonly startUnhealthy?: boolean;
  /**
   * Called after every completed check with its result (e.g. `OutlierDetector.onHealthCheckPassed`
   * on success). Synchronous; must not throw.
   */
  readonly onCheckComplete?: ((ep: Endpoint, passed: boolean) => void) | null;
  /** Incremented on every failed check (the cluster's `remora_upstream_health_check_failures_total` child). */
  readonly failures?: Incrementer | null;
}

/** The outcome of one check, before threshold counting. */
const enum CheckResult {
  Pass = 0,
  Fail = 1,
  Timeout = 2,
  NetworkError = 3,
}

export class HealthChecker {
  /** Checks started. */
  checksTotal = 0;
  /** Checks that passed. */
  successesTotal = 0;
  /** Checks that failed for any reason (timeouts and network errors included). */
  failuresTotal = 0;
  /** Of those, checks that timed out. */
  timeoutsTotal = 0;
  /** Of those, connect failures, resets and malformed responses. */
  networkFailuresTotal = 0;

  /** @internal */ readonly model: HealthCheckModel;
  /** @internal */ readonly runtime: Runtime;
  /** @internal */ readonly logger: Logger;
  /** @internal */ readonly target: HealthCheckTarget;
  /** @internal */ readonly tls: tls.ConnectionOptions | null;
  /** @internal Framed grpc request (gRPC checks), built once. */
  readonly grpcRequest: Buffer | null;
  /** @internal `:authority` / `Host` of checks. */
  readonly authority: string;
  /** @internal HTTP/1.1 keep-alive agent (HTTP checks). */
  readonly agent: http.Agent | null;
  private readonly startUnhealthy: boolean;
  private readonly onCheckComplete: ((ep: Endpoint, passed: boolean) => void) | null;
  private readonly sessions = new Map<Endpoint, HealthCheckSession>();
  private seen: readonly Endpoint[] | null = null;
  private closed = false;

  private readonly failureCounter: Incrementer | null;

  constructor(model: HealthCheckModel, target: HealthCheckTarget, runtime: Runtime, options: HealthCheckerOptions = {}) {
    this.model = model;
    this.target = target;
    this.runtime = runtime;
    this.logger = runtime.logger.child({ component: COMPONENT, cluster: target.name });
    this.tls = options.tls ?? null;
    this.startUnhealthy = options.startUnhealthy ?? false;
    this.onCheckComplete = options.onCheckComplete ?? null;
    this.failureCounter = options.failures ?? null;
    const check = model.check;
    if (check.type === 'grpc') {
      this.grpcRequest = encodeHealthCheckRequest(check.serviceName);
      this.authority = check.authority ?? target.name;
      this.agent = null;
    } else {
      this.grpcRequest = null;
      this.authority = check.host ?? target.name;
      this.agent = this.tls !== null
        ? new https.Agent({ ...this.tls, keepAlive: true, maxSockets: 1 })
        : new http.Agent({ keepAlive: true, maxSockets: 1 });
    }
    this.onEndpointsChanged();
  }

  /**
   * Re-reads the target's endpoints: starts a session for each new endpoint and stops those of
   * removed ones. Cheap when nothing changed (array identity), so it may be called on every
   * Cluster `'update'`, including the ones this checker's own flag changes cause. No-op after close().
   */
  onEndpointsChanged(): void {
    if (this.closed) return;
    const eps = this.target.endpoints();
    if (eps === this.seen) return;
    this.seen = eps;
    const current = new Set<Endpoint>(eps);
    for (const [ep, s] of this.sessions) {
      if (!current.has(ep)) {
        s.close();
        this.sessions.delete(ep);
      }
    }
    const added: HealthCheckSession[] = [];
    for (let i = 0; i < eps.length; i++) {
      const ep = eps[i];
      if (this.sessions.has(ep)) continue;
      const s = new HealthCheckSession(this, ep);
      this.sessions.set(ep, s);
      added.push(s);
    }
    // Flag changes re-enter onEndpointsChanged (Cluster 'update'); the identity check above returns early.
    for (let i = 0; i < added.length; i++) {
      if (this.startUnhealthy) this.target.setHealthFlag(added[i].ep, HealthFlag.FAILED_ACTIVE_HC, true);
      added[i].start();
    }
  }

  /** Endpoints currently flagged FAILED_ACTIVE_HC among the target's endpoints. */
  unhealthyCount(): number {
    const eps = this.target.endpoints();
    let n = 0;
    for (let i = 0; i < eps.length; i++) if ((eps[i].healthFlags & HealthFlag.FAILED_ACTIVE_HC) !== 0) n++;
    return n;
  }

  /** Stops every timer, in-flight check and connection. Flags already set stay set. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
    if (this.agent !== null) this.agent.destroy();
  }

  /** @internal A session finished one check. */
  recordResult(s: HealthCheckSession, result: CheckResult): void {
    if (this.closed) return;
    const ep = s.ep;
    const flagged = (ep.healthFlags & HealthFlag.FAILED_ACTIVE_HC) !== 0;
    const first = s.firstCheck;
    s.firstCheck = false;
    if (result === CheckResult.Pass) {
      this.successesTotal++;
      s.numUnhealthy = 0;
      if (flagged && (first || ++s.numHealthy >= this.model.healthyThreshold)) {
        s.numHealthy = 0;
        this.logger.info({ endpoint: ep.key }, 'endpoint passed health checks');
        this.target.setHealthFlag(ep, HealthFlag.FAILED_ACTIVE_HC, false);
      }
    } else {
      this.failuresTotal++;
      if (this.failureCounter !== null) this.failureCounter.inc();
      if (result === CheckResult.Timeout) this.timeoutsTotal++;
      else if (result === CheckResult.NetworkError) this.networkFailuresTotal++;
      s.numHealthy = 0;
      if (!flagged && ++s.numUnhealthy >= this.model.unhealthyThreshold) {
        s.numUnhealthy = 0;
        this.logger.warn({ endpoint: ep.key, result }, 'endpoint failed health checks');
        this.target.setHealthFlag(ep, HealthFlag.FAILED_ACTIVE_HC, true);
      }
    }
    if (this.onCheckComplete !== null) this.onCheckComplete(ep, result === CheckResult.Pass);
  }

  /** @internal Delay before the next check of `ep`, jitter included. */
  nextDelay(ep: Endpoint): number {
    const m = this.model;
    const unhealthy = (ep.healthFlags & HealthFlag.FAILED_ACTIVE_HC) !== 0;
    let base = unhealthy && m.unhealthyIntervalMs !== null ? m.unhealthyIntervalMs : m.intervalMs;
    const random = this.runtime.random;
    if (m.intervalJitterPercent > 0) base += Math.floor(random.next() * ((m.intervalJitterPercent * base) / 100));
    if (m.intervalJitterMs > 0) base += Math.floor(random.next() * m.intervalJitterMs);
    return base;
  }

  /** @internal Delay before an endpoint's first check. */
  initialDelay(): number {
    const j = this.model.initialJitterMs;
    return j > 0 ? Math.floor(this.runtime.random.next() * j) : 0;
  }
}

/** Per-endpoint check loop and its connection. Every field initialised: stable shape. */
class HealthCheckSession {
  numHealthy = 0;
  numUnhealthy = 0;
  firstCheck = true;
  /** Incremented per check; callbacks of an older check (or after close) compare and bail out. */
  private seq = 0;
  private inFlight = false;
  private timer: TimerHandle | null = null;
  private timeout: TimerHandle | null = null;
  private h2: http2.ClientHttp2Session | null = null;
  private stream: http2.ClientHttp2Stream | null = null;
  private req: http.ClientRequest | null = null;
  private closed = false;

  constructor(readonly checker: HealthChecker, readonly ep: Endpoint) {}

  start(): void {
    this.schedule(this.checker.initialDelay());
  }

  close(): void {
    this.closed = true;
    this.seq++;
    if (this.timer !== null) this.timer.clear();
    if (this.timeout !== null) this.timeout.clear();
    this.timer = null;
    this.timeout = null;
    this.abortInFlight();
    this.destroySession();
  }

  /** @internal Timer entry: run one check. */
  run(): void {
    this.timer = null;
    if (this.closed || this.inFlight) return;
    this.inFlight = true;
    const seq = ++this.seq;
    this.checker.checksTotal++;
    this.timeout = this.checker.runtime.timers.setTimeout(onCheckTimeout, this.checker.model.timeoutMs, this);
    if (this.checker.grpcRequest !== null) this.runGrpc(seq);
    else this.runHttp(seq);
  }

  /** @internal Timeout entry. */
  onTimeout(): void {
    this.timeout = null;
    if (!this.inFlight) return;
    const seq = this.seq;
    this.abortInFlight();
    this.destroySession();
    this.complete(seq, CheckResult.Timeout);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = this.checker.runtime.timers.setTimeout(onCheckTimer, delayMs, this);
  }

  private complete(seq: number, result: CheckResult): void {
    if (this.closed || seq !== this.seq || !this.inFlight) return;
    this.inFlight = false;
    this.stream = null;
    this.req = null;
    if (this.timeout !== null) this.timeout.clear();
    this.timeout = null;
    this.checker.recordResult(this, result);
    this.schedule(this.checker.nextDelay(this.ep));
  }

  private abortInFlight(): void {
    const stream = this.stream;
    const req = this.req;
    this.stream = null;
    this.req = null;
    if (stream !== null && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    if (req !== null) req.destroy();
  }

  private destroySession(): void {
    const s = this.h2;
    this.h2 = null;
    if (s !== null && !s.destroyed) s.destroy();
  }

  // ------------------------------------------------------------------ gRPC

  private session(): http2.ClientHttp2Session {
    const existing = this.h2;
    if (existing !== null && !existing.closed && !existing.destroyed) return existing;
    const tlsOpts = this.checker.tls;
    const url = (tlsOpts !== null ? 'https://' : 'http://') + this.ep.key;
    const s = tlsOpts !== null
      ? http2.connect(url, { ...tlsOpts, ALPNProtocols: ['h2'] })
      : http2.connect(url);
    s.on('error', ignore);
    const drop = (): void => { if (this.h2 === s) this.h2 = null; };
    s.on('close', drop);
    s.on('goaway', drop);
    s.unref();
    this.h2 = s;
    return s;
  }

  private runGrpc(seq: number): void {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.session().request({
        ':method': 'POST',
        ':path': HEALTH_CHECK_PATH,
        ':authority': this.checker.authority,
        'content-type': 'application/grpc',
        te: 'trailers',
        'user-agent': USER_AGENT,
      });
    } catch {
      this.destroySession();
      this.complete(seq, CheckResult.NetworkError);
      return;
    }
    this.stream = stream;
    let httpStatus = 0;
    let grpcStatus: string | null = null;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => {
      httpStatus = Number(headers[':status']);
      const gs = headers['grpc-status'];
      if (typeof gs === 'string') grpcStatus = gs; // trailers-only response
    });
    stream.on('trailers', (trailers) => {
      const gs = trailers['grpc-status'];
      if (typeof gs === 'string') grpcStatus = gs;
    });
    stream.on('data', (chunk: Buffer) => { chunks.push(chunk); });
    stream.on('error', ignore);
    stream.on('close', () => {
      if (httpStatus === 0) {
        this.complete(seq, CheckResult.NetworkError);
        return;
      }
      if (httpStatus !== 200 || grpcStatus !== '0') {
        this.complete(seq, CheckResult.Fail);
        return;
      }
      const status = decodeHealthCheckResponse(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
      if (status === -1) this.complete(seq, CheckResult.NetworkError);
      else this.complete(seq, status === ServingStatus.SERVING ? CheckResult.Pass : CheckResult.Fail);
    });
    stream.end(this.checker.grpcRequest!);
  }

  // ------------------------------------------------------------------ HTTP

  private runHttp(seq: number): void {
    const check = this.checker.model.check;
    if (check.type !== 'http') return;
    const tlsOpts = this.checker.tls;
    const options: http.RequestOptions = {
      host: this.ep.host,
      port: this.ep.port,
      method: 'GET',
      path: check.path,
      headers: { host: this.checker.authority, 'user-agent': USER_AGENT },
      agent: this.checker.agent!,
    };
    const req = tlsOpts !== null ? https.request(options) : http.request(options);
    this.req = req;
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.on('error', ignore);
      res.resume();
      this.complete(seq, statusExpected(status, check.expectedStatuses) ? CheckResult.Pass : CheckResult.Fail);
    });
    req.on('error', () => { this.complete(seq, CheckResult.NetworkError); });
    req.end();
  }
}

function statusExpected(status: number, ranges: readonly (readonly [number, number])[]): boolean {
  for (let i = 0; i < ranges.length; i++) {
    if (status >= ranges[i][0] && status < ranges[i][1]) return true;
  }
  return false;
}

function onCheckTimer(s: HealthCheckSession): void { s.run(); }
function onCheckTimeout(s: HealthCheckSession): void { s.onTimeout(); }
function ignore(): void {}
