/**
 * One routed request to an upstream cluster: the router filter's per-stream object. It picks an
 * endpoint, opens an HTTP/2 stream (through the endpoint's H2Pool) or an HTTP/1.1 exchange (through
 * undici), forwards the body both ways with backpressure, passes response headers, data and trailers
 * through untouched (gRPC frames are never decoded), and enforces the deadline
 * min(route timeout, client grpc-timeout) and the stream idle timeout. A request the upstream never
 * processed (REFUSED_STREAM, or above a GOAWAY's last-stream-id) is replayed transparently on a fresh
 * session from a bounded body buffer. Every event handler is a module-level function that finds
 * its call through a symbol on the emitter: no per-request closures.
 *
 * Resilience (issue 5): the cluster's ResourceManager admits the call (`max_requests`) and each
 * attempt waiting for a stream (`max_pending_requests`); overflows get an OverflowError local reply.
 * With a route `retry_policy` (and a request that is safe to replay, see CompiledRetryPolicy) a
 * failed attempt is retried on another host after full-jitter backoff or the server's pushback,
 * within `num_retries`, the cluster's retry budget and the call's deadline, as long as nothing of
 * the response has gone downstream. For gRPC calls whose policy retries on gRPC statuses the
 * upstream response headers are held back until the first DATA frame or the trailers, so a status
 * in the trailers of a response without messages can still be retried (gRPC's "committed" rule).
 * Every attempt's outcome is reported to the cluster (outlier detection).
 */
import * as http2 from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import {
  NoClusterError, UpstreamConnectError, UpstreamResetError, UpstreamTimeoutError, ProxyError,
  StreamIdleTimeoutError, RequestTimeoutError, OverflowError,
} from '../../core/errors';
import { connectionHeaderTokens, HOP_BY_HOP, parseGrpcTimeout } from '../../core/headers';
import type { Runtime } from '../../core/runtime';
import type { TimerHandle } from '../../core/timers';
import type { RouteForwardModel, WeightedClusterModel } from '../../config/model';
import type { ClusterStats } from '../../observability/metrics';
import type { CompiledRoute } from '../../routing/route-table';
import { applyHeaderMutations, type MutableHeaders } from '../../routing/header-mutations';
import type { Cluster } from '../../upstream/cluster';
import type { ClusterManager } from '../../upstream/cluster-manager';
import type { Endpoint } from '../../upstream/endpoint';
import type { H2PoolRequest } from '../../upstream/h2-pool';
import type { PickContext } from '../../upstream/lb/picker';
import { UpstreamOutcome } from '../../upstream/outcome';
import type { ResourceManager } from '../../upstream/resource-manager';
import { ResponseFlag } from '../../core/response-flags';
import { sendLocalReply } from '../local-reply';
import type { StreamContext } from '../stream-context';
import { ReplayBody, type ReplayBodyOwner } from './replay-body';
import {
  parseGrpcPushback, parseRetryAfter, PUSHBACK_NONE, PUSHBACK_STOP, RetryState,
} from './retry-state';
import { ResetKind } from '../../routing/retry-policy';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR } = http2.constants;
const FLAG_END_STREAM = 0x1;
/** Bytes of request body kept for transparent replay of refused streams (Envoy's retry buffer size). */
export const DEFAULT_REPLAY_BUFFER_BYTES = 64 * 1024;
/** Attempts in total for requests the upstream never processed. */
const MAX_UNPROCESSED_ATTEMPTS = 5;

/** undici/Node error codes meaning "no connection could be made" (→ upstream_connect_failure). */
const CONNECT_ERROR_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_CONNECT_TIMEOUT', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED',
]);

const kCall = Symbol('remora.routerCall');
type WithCall = { [kCall]?: RouterCall };

/** Shared per-sidecar dependencies of every RouterCall (config-time objects). */
export interface RouterDeps {
  readonly runtime: Runtime;
  readonly clusters: ClusterManager;
  readonly clusterStats: (name: string) => ClusterStats;
  readonly replayBufferBytes: number;
}

/**
 * The undici handler of one HTTP/1.1 attempt of a retriable call: forwards to the call only while
 * it is the call's current attempt, so callbacks of an abandoned attempt (the abort's error) are
 * dropped. Calls without a retry policy pass the RouterCall itself as the handler.
 */
class H1Attempt {
  constructor(private readonly call: RouterCall) {}
  onRequestStart(c: Dispatcher.DispatchController): void {
    if (this.call.h1Attempt === this) this.call.onRequestStart(c);
    else c.abort(new Error('attempt abandoned'));
  }
  onResponseStart(c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (this.call.h1Attempt === this) this.call.onResponseStart(c, status, headers);
  }
  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.call.h1Attempt === this) this.call.onResponseData(c, chunk);
  }
  onResponseEnd(): void {
    if (this.call.h1Attempt === this) this.call.onResponseEnd();
  }
  onResponseError(c: Dispatcher.DispatchController, err: Error & { code?: string }): void {
    if (this.call.h1Attempt === this) this.call.onResponseError(c, err);
  }
}

export class RouterCall implements H2PoolRequest, PickContext, ReplayBodyOwner {
  readonly random;
  exclude: Endpoint | null = null;
  hash: number | null = null;
  upstreamHeaders: http2.OutgoingHttpHeaders;
  upstreamEndStream: boolean;

  private cluster: Cluster | null = null;
  private upstreamH2 = true;
  private weighted: WeightedClusterModel | null = null;
  private stats: ClusterStats | null = null;
  private endpoint: Endpoint | null = null;
  /** @internal */ h2: http2.ClientHttp2Stream | null = null;
  /** @internal */ h1: Dispatcher.DispatchController | null = null;
  /** @internal */ readonly body: Readable | null;
  /** Body chunks kept for replay; null once the response started or the cap was exceeded. */
  private replay: Buffer[] | null = [];
  private replayBytes = 0;
  private bodyPausedForConnect = false;
  private downstreamEnded: boolean;
  private upstreamEnded = false;
  private responseStarted = false;
  private wantTrailers = false;
  /** @internal */ trailers: OutgoingHttpHeaders | null = null;
  private attempts = 0;
  private deadline: TimerHandle | null = null;
  private requestTimer: TimerHandle | null = null;
  /** @internal */ idle: TimerHandle | null = null;
  private upstreamStart = 0;
  private done = false;
  /** The cluster's circuit breakers, once this call holds an active-request slot there. */
  private resources: ResourceManager | null = null;
  /** Whether the current attempt holds a pending-request slot (waiting for a stream/connection). */
  private pendingSlot = false;
  /** Whether the current attempt is open (counted in `endpoint.active`). */
  private attemptOpen = false;
  /** Whether the current attempt's outcome was reported to the cluster. */
  private outcomeReported = false;
  /** Retry bookkeeping; null when the route has no retry policy or the request is not replayable. */
  private retry: RetryState | null = null;
  private perTry: TimerHandle | null = null;
  private backoff: TimerHandle | null = null;
  /** Monotonic time the deadline fires; Infinity without one. */
  private deadlineAt = Infinity;
  /** Upstream response headers held back (retriable gRPC) until the first DATA or the trailers. */
  /** @internal */ heldHeaders: OutgoingHttpHeaders | null = null;
  private heldStatus = 0;
  /** @internal The current HTTP/1.1 attempt's handler (retriable calls only). */
  h1Attempt: H1Attempt | null = null;
  /** The current HTTP/1.1 attempt's request body (retriable calls with a body only). */
  private feed: ReplayBody | null = null;
  private feedPaused = false;

  constructor(
    readonly ctx: StreamContext,
    readonly route: CompiledRoute,
    readonly action: RouteForwardModel,
    private readonly deps: RouterDeps,
    readonly idleTimeoutMs: number | null,
    private readonly requestTimeoutMs: number | null,
  ) {
    this.random = deps.runtime.random;
    const complete = ctx.downstream.completeBody ?? null;
    this.body = complete === null ? ctx.downstream.body : null;
    this.downstreamEnded = this.body === null;
    this.upstreamEndStream = complete === null ? this.body === null : complete.length === 0;
    if (complete !== null && complete.length > 0) {
      // The whole body is already here: it is the replay copy, written when the upstream stream opens.
      this.replay = complete.slice();
      for (let i = 0; i < complete.length; i++) this.replayBytes += complete[i]!.length;
      ctx.bytesReceived += this.replayBytes;
    }
    this.upstreamHeaders = ctx.headers as http2.OutgoingHttpHeaders;
  }

  /** Starts the call; replies locally on any failure. Called once by the router filter. */
  start(): void {
    const ctx = this.ctx;
    const wc = this.route.pickCluster(this.random);
    const cluster = this.deps.clusters.get(wc.name);
    if (cluster === undefined) {
      this.fail(new NoClusterError(wc.name));
      return;
    }
    this.cluster = cluster;
    ctx.upstreamCluster = cluster.name;
    this.stats = this.deps.clusterStats(cluster.name);
    const resources = cluster.resources;
    if (!resources.tryAcquireRequest()) {
      this.fail(new OverflowError('max_requests'));
      return;
    }
    this.resources = resources;
    const policy = this.route.retryPolicy;
    if (policy !== null && policy.allowsRequest(ctx.method, ctx.headers, ctx.isGrpc)) this.retry = new RetryState(policy, this.random);
    const hashPolicy = this.route.hashPolicy;
    if (hashPolicy !== null) this.hash = hashPolicy.hash(ctx.headers, ctx.remoteAddress, ctx.path);

    const headers = ctx.headers;
    const action = this.action;
    // The forwarded path: a filter (the transcoder) may have rewritten it since the request arrived.
    if (action.prefixRewrite !== null) headers[':path'] = this.route.rewritePath(typeof headers[':path'] === 'string' ? headers[':path'] : ctx.path);
    if (action.hostRewriteLiteral !== null) headers[':authority'] = action.hostRewriteLiteral;
    if (wc.headers.requestHeadersToAdd.length > 0 || wc.headers.requestHeadersToRemove.length > 0) {
      applyHeaderMutations(headers, wc.headers.requestHeadersToAdd, wc.headers.requestHeadersToRemove);
    }
    const levels = this.route.requestHeaderMutations;
    for (let i = 0; i < levels.length; i++) applyHeaderMutations(headers, levels[i].adds, levels[i].removes);
    this.weighted = wc;

    const timeout = this.effectiveTimeout();
    if (timeout !== null) {
      this.deadline = this.deps.runtime.timers.setTimeout(onDeadline, timeout, this);
      this.deadlineAt = this.deps.runtime.clock.monotonic() + timeout;
    }
    if (this.idleTimeoutMs !== null) this.idle = this.deps.runtime.timers.setTimeout(onIdle, this.idleTimeoutMs, this);
    if (this.requestTimeoutMs !== null && !this.downstreamEnded) this.requestTimer = this.deps.runtime.timers.setTimeout(onRequestTimeout, this.requestTimeoutMs, this);

    const protocol = cluster.model.protocol;
    this.upstreamH2 = protocol === 'http2' || (protocol === 'downstream' && ctx.downstream.protocol === 'h2');
    const body = this.body;
    if (body !== null && (this.upstreamH2 || this.retry !== null)) {
      // HTTP/2 upstreams: we forward (and keep a replay copy of) the body ourselves. HTTP/1.1
      // upstreams: undici reads the untouched body stream, unless the call may be retried (then
      // each attempt reads a ReplayBody fed from here).
      (body as WithCall)[kCall] = this;
      body.on('data', onDownstreamData);
      body.on('end', onDownstreamEnd);
    } else if (body !== null) {
      // undici reads the body itself: account the declared length (chunked bodies count as 0).
      const cl = ctx.headers['content-length'];
      if (typeof cl === 'string') ctx.bytesReceived = Number(cl) || 0;
    }
    this.attempt();
  }

  /**
   * The deadline: the smaller of the route timeout and the client's grpc-timeout (capped by
   * `grpc_timeout_header_max`, then shortened by `grpc_timeout_header_offset`, when configured).
   */
  private effectiveTimeout(): number | null {
    let timeout = this.action.timeoutMs;
    const a = this.action;
    const raw = this.ctx.isGrpc ? this.ctx.headers['grpc-timeout'] : undefined;
    if (typeof raw === 'string') {
      let client = parseGrpcTimeout(raw);
      if (client === client /* not NaN */) {
        if (a.grpcTimeoutHeaderMaxMs !== null && a.grpcTimeoutHeaderMaxMs > 0 && client > a.grpcTimeoutHeaderMaxMs) client = a.grpcTimeoutHeaderMaxMs;
        if (a.grpcTimeoutHeaderOffsetMs > 0) client = client > a.grpcTimeoutHeaderOffsetMs ? client - a.grpcTimeoutHeaderOffsetMs : 0;
        if (timeout === null || client < timeout) timeout = client;
      }
    }
    if (a.maxStreamDurationMs !== null && (timeout === null || a.maxStreamDurationMs < timeout)) timeout = a.maxStreamDurationMs;
    return timeout;
  }

  private attempt(): void {
    const cluster = this.cluster!;
    const picked = cluster.pick(this);
    if (picked.type !== 'complete') {
      this.fail(picked.type === 'queue' ? new UpstreamConnectError('queued pick') : picked.error);
      return;
    }
    const ep = picked.endpoint;
    if (!this.resources!.tryAcquirePending()) {
      this.fail(new OverflowError('max_pending_requests'));
      return;
    }
    this.pendingSlot = true;
    this.endpoint = ep;
    this.attempts++;
    const ctx = this.ctx;
    ctx.upstreamHost = ep.key;
    ctx.upstreamAttempts = this.attempts;
    ctx.upstreamMetadata = ep.metadata;
    this.attemptOpen = true;
    this.outcomeReported = false;
    this.upstreamEnded = false;
    this.trailers = null;
    ep.active++;
    ep.requestsTotal++;
    this.stats!.requests.inc();
    this.upstreamStart = this.deps.runtime.clock.monotonic();
    const retry = this.retry;
    if (retry !== null && retry.policy.perTryTimeoutMs !== null) {
      this.perTry = this.deps.runtime.timers.setTimeout(onPerTryTimeout, retry.policy.perTryTimeoutMs, this);
    }
    if (this.upstreamH2) {
      cluster.h2PoolFor(ep).request(this);
    } else {
      this.dispatchH1(cluster, ep);
    }
  }

  // ------------------------------------------------------------------ HTTP/2 upstream

  onUpstreamStream(stream: http2.ClientHttp2Stream): void {
    if (this.done || !this.attemptOpen) {
      stream.on('error', onUpstreamError);
      stream.close(NGHTTP2_CANCEL);
      return;
    }
    this.releasePending();
    this.h2 = stream;
    (stream as WithCall)[kCall] = this;
    stream.on('response', onUpstreamResponse);
    // 'data' is listened to from 'response' on (onUpstreamResponse): node:http2 emits 'response' on the
    // next tick but 'data' at once, so when the HEADERS and DATA frames arrive in one read, a listener
    // attached now would see the body first (node would then send default response headers itself).
    stream.on('trailers', onUpstreamTrailers);
    stream.on('end', onUpstreamEnd);
    stream.on('close', onUpstreamClose);
    stream.on('error', onUpstreamError);
    const replay = this.replay;
    if (replay !== null) {
      for (let i = 0; i < replay.length; i++) stream.write(replay[i]);
    }
    if (this.downstreamEnded && !this.upstreamEndStream) stream.end();
    if (this.bodyPausedForConnect) {
      this.bodyPausedForConnect = false;
      this.body!.resume();
    }
  }

  onUpstreamConnectError(err: ProxyError): void {
    if (this.done || !this.attemptOpen) return;
    this.releasePending();
    const connectFailure = err instanceof UpstreamConnectError;
    const ep = this.endpoint;
    if (ep !== null) {
      if (connectFailure) ep.connectFailures++;
      ep.requestErrors++;
    }
    if (connectFailure) {
      this.stats?.connectFailures.inc();
      this.report(UpstreamOutcome.LocalOriginFailure);
      if (this.retryAfterReset(ResetKind.ConnectFailure)) return;
    }
    this.fail(err);
  }

  /** @internal */ handleResponse(headers: IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number): void {
    if (this.done) return;
    const status = Number(headers[':status']);
    if (status >= 100 && status < 200) return; // interim responses are not forwarded
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    if (this.retry !== null && this.maybeRetryOrHold(status, headers as OutgoingHttpHeaders, endStream)) return;
    this.startResponse(status, headers as OutgoingHttpHeaders, endStream);
  }

  /**
   * Retriable calls, before anything went downstream: retries a retriable response (true), or holds
   * the headers of a gRPC response whose status may still come in retriable trailers (true), or
   * lets the response through (false).
   */
  private maybeRetryOrHold(status: number, headers: OutgoingHttpHeaders, endStream: boolean): boolean {
    const policy = this.retry!.policy;
    if (this.ctx.isGrpc && status === 200) {
      if (endStream) {
        // Trailers-only: the status is in the headers.
        const gs = Number(headers['grpc-status']);
        this.report(gs === 14 ? UpstreamOutcome.GatewayError : UpstreamOutcome.Success);
        return policy.retriableGrpcStatus(gs) && this.retryAfterResponse(parseGrpcPushback(headers['grpc-retry-pushback-ms']));
      }
      if (policy.hasGrpcConditions && this.canReplay()) {
        this.heldStatus = status;
        this.heldHeaders = headers;
        return true;
      }
      return false;
    }
    this.reportHttp(status);
    if (!policy.retriableHttpStatus(status)) return false;
    const retryAfter = headers['retry-after'];
    const pushback = retryAfter === undefined ? PUSHBACK_NONE : parseRetryAfter(retryAfter as string, this.deps.runtime.clock.now());
    return this.retryAfterResponse(pushback);
  }

  /** @internal the first DATA frame of a held gRPC response: the call commits; send the headers. */
  flushHeld(): void {
    const headers = this.heldHeaders!;
    this.heldHeaders = null;
    this.startResponse(this.heldStatus, headers, false);
  }

  /** @internal */ handleUpstreamClose(stream: http2.ClientHttp2Stream): void {
    if (this.h2 !== stream) return;
    this.h2 = null;
    if (this.done || this.upstreamEnded) return;
    const rst = stream.rstCode ?? NGHTTP2_NO_ERROR;
    if (!this.responseStarted && rst === NGHTTP2_REFUSED_STREAM && this.replay !== null && this.attempts < MAX_UNPROCESSED_ATTEMPTS) {
      // Never processed by the upstream: replay the buffered request on a fresh session.
      this.heldHeaders = null;
      this.closeAttempt();
      this.stats!.refusedReplays.inc();
      this.attempt();
      return;
    }
    this.endpoint!.requestErrors++;
    this.report(UpstreamOutcome.LocalOriginFailure);
    if (!this.responseStarted && this.retryAfterReset(rst === NGHTTP2_REFUSED_STREAM ? ResetKind.Refused : ResetKind.Reset)) return;
    // A stream torn down with its session (connection lost) is not the peer's RST: -1 → UNAVAILABLE.
    const lost = rst === NGHTTP2_CANCEL && (stream.session === undefined || stream.session.destroyed);
    this.fail(new UpstreamResetError(lost ? -1 : rst));
  }

  // ------------------------------------------------------------------ HTTP/1.1 upstream (undici)

  private dispatchH1(cluster: Cluster, ep: Endpoint): void {
    const src = this.ctx.headers;
    const headers: Record<string, string | string[]> = {};
    const connectionTokens = connectionHeaderTokens(src.connection);
    for (const name in src) {
      const v = src[name];
      if (v === undefined || name.charCodeAt(0) === 0x3a /* : */ || HOP_BY_HOP.has(name) || name === 'host') continue;
      if (connectionTokens !== null && connectionTokens.has(name)) continue;
      headers[name] = v;
    }
    headers.host = String(src[':authority'] ?? this.ctx.authority);
    const pool = cluster.h1PoolFor(ep);
    let body: Readable | Buffer | null = this.body;
    // A complete body (codec wrapper) is sent as one buffer.
    const complete = body === null && this.replay !== null && this.replay.length > 0 ? this.replay : null;
    if (complete !== null) body = complete.length === 1 ? complete[0]! : Buffer.concat(complete);
    let handler: object = this;
    if (this.retry !== null) {
      const attempt = new H1Attempt(this);
      this.h1Attempt = attempt;
      handler = attempt;
      if (body !== null) {
        const replay = this.replay;
        body = this.feed = new ReplayBody(this, replay === null ? EMPTY_CHUNKS : replay, this.downstreamEnded);
        if (this.bodyPausedForConnect) {
          this.bodyPausedForConnect = false;
          this.body!.resume();
        }
      }
    }
    pool.dispatch({
      path: String(src[':path']),
      method: String(src[':method'] ?? this.ctx.method) as Dispatcher.HttpMethod,
      headers,
      body,
      headersTimeout: 0,
      bodyTimeout: 0,
    }, handler as unknown as Dispatcher.DispatchHandler);
  }

  /** @internal ReplayBodyOwner: the attempt reads again; resume the downstream body if the feed paused it. */
  resumeFeed(feed: ReplayBody): void {
    if (this.feed !== feed || !this.feedPaused) return;
    this.feedPaused = false;
    this.body!.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.h1 = controller;
    this.releasePending();
    if (this.done) controller.abort(new Error('cancelled'));
  }

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (this.done || status < 200) return;
    const out: OutgoingHttpHeaders = {};
    const connectionTokens = connectionHeaderTokens(headers.connection);
    for (const name in headers) {
      if (HOP_BY_HOP.has(name) || (connectionTokens !== null && connectionTokens.has(name))) continue;
      out[name] = headers[name];
    }
    if (this.retry !== null && this.maybeRetryOrHold(status, out, false)) return;
    this.startResponse(status, out, false);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return;
    if (this.idle !== null) this.idle.refresh();
    if (!this.ctx.downstream.write(chunk)) this.pauseForDownstream();
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.upstreamEnded = true;
    this.ctx.downstream.end(null);
    this.finish();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error & { code?: string }): void {
    if (this.done) return;
    this.releasePending();
    const ep = this.endpoint;
    if (ep !== null) ep.requestErrors++;
    this.report(UpstreamOutcome.LocalOriginFailure);
    if (this.responseStarted) {
      this.ctx.downstream.reset(NGHTTP2_INTERNAL_ERROR);
      this.finish();
      return;
    }
    if (CONNECT_ERROR_CODES.has(err.code ?? '')) {
      if (ep !== null) ep.connectFailures++;
      this.stats!.connectFailures.inc();
      if (this.retryAfterReset(ResetKind.ConnectFailure)) return;
      this.fail(new UpstreamConnectError(err));
      return;
    }
    if (this.retryAfterReset(ResetKind.Reset)) return;
    this.fail(new UpstreamResetError(-1, err));
  }

  // ------------------------------------------------------------------ retries

  /** Whether the request can be sent again: no body, or the whole body so far is buffered. */
  private canReplay(): boolean {
    return this.body === null || this.replay !== null;
  }

  /** A failure without a response (connect failure, reset, per-try timeout): retry if allowed. */
  private retryAfterReset(kind: ResetKind): boolean {
    const retry = this.retry;
    if (retry === null || this.responseStarted || !retry.policy.retriableReset(kind)) return false;
    return this.scheduleRetry(PUSHBACK_NONE);
  }

  /** A retriable response (not yet sent downstream): retry if allowed, honouring server pushback. */
  private retryAfterResponse(pushback: number): boolean {
    if (pushback === PUSHBACK_STOP) return false;
    return this.scheduleRetry(pushback);
  }

  /**
   * Retries when replay is possible, `num_retries` is not used up, the delay (pushback, else
   * full-jitter backoff) ends before the deadline, and the cluster's retry budget admits one more
   * concurrent retry. On success the current attempt is abandoned (upstream cancelled) and the next
   * one starts after the delay on preferably another host; returns false (changing nothing but
   * counters) otherwise.
   */
  private scheduleRetry(pushback: number): boolean {
    const retry = this.retry!;
    if (this.done || !this.canReplay()) return false;
    const resources = this.resources!;
    if (retry.retriesLeft <= 0) {
      if (resources.stats !== null) resources.stats.retryLimitExceeded.inc();
      this.ctx.responseFlags |= ResponseFlag.UpstreamRetryLimitExceeded;
      return false;
    }
    const delay = pushback >= 0 ? pushback : retry.nextBackoffMs();
    if (this.deps.runtime.clock.monotonic() + delay >= this.deadlineAt) return false;
    if (retry.holdsRetrySlot) {
      retry.holdsRetrySlot = false;
      resources.releaseRetry();
    }
    if (!resources.tryAcquireRetry()) return false;
    retry.holdsRetrySlot = true;
    retry.retriesLeft--;
    retry.retriesDone++;
    if (resources.stats !== null) resources.stats.retries.inc();
    const span = this.ctx.span;
    if (span !== null) span.addEvent('retry', { attempt: this.attempts + 1, 'upstream.host': this.endpoint!.key });
    this.exclude = this.endpoint;
    this.abandonAttempt();
    this.backoff = this.deps.runtime.timers.setTimeout(onBackoff, delay, this);
    return true;
  }

  /** @internal the backoff elapsed: next attempt. */
  handleBackoff(): void {
    this.backoff = null;
    if (this.done) return;
    this.attempt();
  }

  /** @internal `per_try_timeout` fired before the call committed. */
  handlePerTryTimeout(): void {
    this.perTry = null;
    if (this.done || this.responseStarted || !this.attemptOpen) return;
    const stats = this.resources!.stats;
    if (stats !== null) stats.perTryTimeouts.inc();
    this.report(UpstreamOutcome.LocalOriginFailure);
    if (this.retryAfterReset(ResetKind.PerTryTimeout)) return;
    this.fail(new UpstreamTimeoutError());
    this.cancelUpstream();
  }

  /** Cancels the current attempt's upstream exchange and forgets it (a retry follows). */
  private abandonAttempt(): void {
    this.heldHeaders = null;
    const up = this.h2;
    if (up !== null) {
      this.h2 = null;
      up.off('response', onUpstreamResponse);
      up.off('data', onUpstreamData);
      up.off('trailers', onUpstreamTrailers);
      up.off('end', onUpstreamEnd);
      up.off('close', onUpstreamClose);
      up.off('drain', onUpstreamDrain);
      if (!up.closed) up.close(NGHTTP2_CANCEL);
      const body = this.body;
      if (body !== null && !this.downstreamEnded && body.isPaused()) this.bodyPausedForConnect = true;
    }
    const h1 = this.h1;
    this.h1 = null;
    this.h1Attempt = null;
    if (h1 !== null && !this.upstreamEnded) h1.abort(new Error('retrying'));
    const feed = this.feed;
    if (feed !== null) {
      this.feed = null;
      if (this.feedPaused) {
        this.feedPaused = false;
        this.bodyPausedForConnect = true;
      }
      feed.destroy();
    }
    this.closeAttempt();
  }

  /** Ends the current attempt's accounting (pending slot, per-try timer, endpoint active count). */
  private closeAttempt(): void {
    if (this.pendingSlot && this.upstreamH2) {
      // Still queued in the endpoint's pool: take the request back so no stream arrives for it.
      const pool = this.endpoint!.h2;
      if (pool !== null) pool.cancel(this);
    }
    this.releasePending();
    if (this.perTry !== null) {
      this.perTry.clear();
      this.perTry = null;
    }
    if (this.attemptOpen) {
      this.attemptOpen = false;
      this.endpoint!.active--;
    }
  }

  private releasePending(): void {
    if (this.pendingSlot) {
      this.pendingSlot = false;
      this.resources!.releasePending();
    }
  }

  /** Reports the current attempt's outcome to the cluster (once per attempt). */
  private report(outcome: UpstreamOutcome): void {
    if (this.outcomeReported || this.endpoint === null) return;
    this.outcomeReported = true;
    this.cluster!.reportOutcome(this.endpoint, outcome);
  }

  private reportHttp(status: number): void {
    this.report(status === 502 || status === 503 || status === 504
      ? UpstreamOutcome.GatewayError
      : status >= 500 ? UpstreamOutcome.Http5xx : UpstreamOutcome.Success);
  }

  // ------------------------------------------------------------------ shared response path

  private startResponse(status: number, headers: OutgoingHttpHeaders, endStream: boolean): void {
    const ctx = this.ctx;
    this.responseStarted = true;
    this.replay = null;
    if (this.perTry !== null) {
      // Committed: the per-try timeout no longer applies (the deadline and idle timeout still do).
      this.perTry.clear();
      this.perTry = null;
    }
    if (!ctx.isGrpc || status !== 200) this.reportHttp(status);
    else if (endStream) this.report(Number(headers['grpc-status']) === 14 ? UpstreamOutcome.GatewayError : UpstreamOutcome.Success);
    this.stats!.response(status);
    if (this.idle !== null) this.idle.refresh();
    const wc = this.weighted!.headers;
    if (wc.responseHeadersToAdd.length > 0 || wc.responseHeadersToRemove.length > 0) {
      applyHeaderMutations(headers as MutableHeaders, wc.responseHeadersToAdd, wc.responseHeadersToRemove);
    }
    const levels = this.route.responseHeaderMutations;
    for (let i = 0; i < levels.length; i++) applyHeaderMutations(headers as MutableHeaders, levels[i].adds, levels[i].removes);
    const extra = ctx.responseHeadersToAdd;
    if (extra !== null) for (const name in extra) headers[name] = extra[name];
    if (ctx.isGrpc && endStream) {
      const gs = headers['grpc-status'];
      ctx.grpcStatus = gs === undefined ? -1 : Number(gs);
    }
    const ds = ctx.downstream;
    // gRPC: the trailers carry the status (made up when missing), for HTTP/2 clients and the codec
    // wrappers that render them. Other responses: an HTTP/2 client gets whatever trailers the upstream
    // sent, as Envoy forwards them; HTTP/1.1 clients get none.
    this.wantTrailers = !endStream && (ds.protocol === 'h2' || (ctx.isGrpc && ds.acceptsTrailers === true));
    ctx.responseStatus = status;
    ds.respond(status, headers, endStream, this.wantTrailers);
    if (endStream) {
      this.upstreamEnded = true;
      this.finish();
      return;
    }
    (ds.sink as WithCall)[kCall] = this;
  }

  /** @internal the downstream refused a chunk: pause the upstream until the client reads. */
  pauseForDownstream(): void {
    if (this.h2 !== null) this.h2.pause();
    else this.h1?.pause();
    this.ctx.downstream.sink.once('drain', onDownstreamDrain);
  }

  /** @internal */ handleUpstreamEnd(): void {
    if (this.done) return;
    const ctx = this.ctx;
    if (this.heldHeaders !== null) {
      // A gRPC response without messages: its status is in the trailers; retry before committing.
      const t = this.trailers;
      const gs = t === null ? 14 : Number(t['grpc-status']);
      this.report(gs === 14 ? UpstreamOutcome.GatewayError : UpstreamOutcome.Success);
      if (this.retry!.policy.retriableGrpcStatus(gs)
        && this.retryAfterResponse(t === null ? PUSHBACK_NONE : parseGrpcPushback(t['grpc-retry-pushback-ms']))) return;
      this.flushHeld();
      if (this.done) return;
    }
    this.upstreamEnded = true;
    if (ctx.isGrpc) {
      const t = this.trailers;
      this.report(t === null || Number(t['grpc-status']) === 14 ? UpstreamOutcome.GatewayError : UpstreamOutcome.Success);
    }
    if (this.wantTrailers && !ctx.isGrpc) {
      ctx.downstream.end(this.trailers);
    } else if (this.wantTrailers) {
      let trailers = this.trailers;
      if (trailers === null) {
        trailers = { 'grpc-status': '14', 'grpc-message': 'upstream closed the stream without trailers' };
      }
      const gs = trailers['grpc-status'];
      ctx.grpcStatus = gs === undefined ? -1 : Number(gs);
      ctx.downstream.end(trailers);
    } else {
      ctx.downstream.end(null);
    }
    this.finish();
  }

  /** @internal */ handleDownstreamData(chunk: Buffer): void {
    if (this.idle !== null) this.idle.refresh();
    this.ctx.bytesReceived += chunk.length;
    const replay = this.replay;
    if (replay !== null) {
      replay.push(chunk);
      this.replayBytes += chunk.length;
      if (this.replayBytes > this.deps.replayBufferBytes && this.h2 !== null) this.replay = null;
    }
    const up = this.h2;
    const feed = this.feed;
    if (up !== null) {
      if (!up.write(chunk)) {
        // Backpressure: listen for 'drain' only when it is needed.
        this.body!.pause();
        up.once('drain', onUpstreamDrain);
      }
    } else if (feed !== null) {
      if (replay !== null && this.replayBytes > this.deps.replayBufferBytes) this.replay = null;
      if (!feed.feed(chunk) && !this.feedPaused) {
        this.feedPaused = true;
        this.body!.pause();
      }
    } else if (this.replayBytes > this.deps.replayBufferBytes && !this.bodyPausedForConnect) {
      // Still connecting: hold the client back with flow control instead of buffering more.
      this.bodyPausedForConnect = true;
      this.body!.pause();
    }
  }

  /** @internal */ handleDownstreamEnd(): void {
    this.downstreamEnded = true;
    if (this.requestTimer !== null) {
      this.requestTimer.clear();
      this.requestTimer = null;
    }
    const up = this.h2;
    if (up !== null && !up.writableEnded) up.end();
    const feed = this.feed;
    if (feed !== null) feed.finishFeed();
  }

  /**
   * The downstream went away. When the call is unfinished, the client cancelled (or reset): the
   * upstream sees RST_STREAM(CANCEL) / an aborted exchange. Called by the connection manager.
   */
  /** StreamCall: a filter ended the call (e.g. an invalid request message mid-stream): local reply, upstream cancelled. */
  abort(err: ProxyError): void {
    if (this.done) return;
    this.fail(err);
    this.cancelUpstream();
  }

  downstreamClosed(): void {
    if (this.done) return;
    this.ctx.responseFlags |= ResponseFlag.DownstreamConnectionTermination;
    this.finish();
    this.cancelUpstream();
  }

  /** @internal */ handleDeadline(): void {
    if (this.done) return;
    this.fail(new UpstreamTimeoutError());
    this.cancelUpstream();
  }

  /** @internal */ handleIdle(): void {
    if (this.done) return;
    this.fail(new StreamIdleTimeoutError());
    this.cancelUpstream();
  }

  /** @internal */ handleRequestTimeout(): void {
    if (this.done || this.downstreamEnded) return;
    this.fail(new RequestTimeoutError());
    this.cancelUpstream();
  }

  private cancelUpstream(): void {
    const up = this.h2;
    if (up !== null && !up.closed) up.close(NGHTTP2_CANCEL);
    const h1 = this.h1;
    if (h1 !== null && !this.upstreamEnded) h1.abort(new Error('cancelled by downstream'));
    const feed = this.feed;
    if (feed !== null) {
      this.feed = null;
      feed.destroy();
    }
  }

  /** Local reply for an error and finish. */
  private fail(err: ProxyError): void {
    if (this.done) return;
    sendLocalReply(this.ctx, err);
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.deadline !== null) this.deadline.clear();
    if (this.idle !== null) this.idle.clear();
    if (this.requestTimer !== null) this.requestTimer.clear();
    if (this.backoff !== null) {
      this.backoff.clear();
      this.backoff = null;
    }
    this.replay = null;
    this.heldHeaders = null;
    const ep = this.endpoint;
    if (ep !== null && this.attemptOpen) {
      this.stats!.duration.observe((this.deps.runtime.clock.monotonic() - this.upstreamStart) / 1000);
    }
    this.closeAttempt();
    const retry = this.retry;
    const resources = this.resources;
    if (resources !== null) {
      if (retry !== null && retry.holdsRetrySlot) {
        retry.holdsRetrySlot = false;
        resources.releaseRetry();
      }
      this.resources = null;
      resources.releaseRequest();
    }
    const body = this.body;
    if (body !== null) {
      body.off('data', onDownstreamData);
      body.off('end', onDownstreamEnd);
    }
  }
}

// ---------------------------------------------------------------- module-level event handlers

function onUpstreamResponse(this: http2.ClientHttp2Stream & WithCall, headers: IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number): void {
  // Body chunks that arrived with the headers wait in the stream's buffer until now (see onUpstreamStream).
  this.on('data', onUpstreamData);
  this[kCall]!.handleResponse(headers, flags);
}
function onUpstreamData(this: http2.ClientHttp2Stream & WithCall, chunk: Buffer): void {
  const call = this[kCall]!;
  call.idle?.refresh();
  if (call.heldHeaders !== null) {
    call.flushHeld();
    if (call.h2 !== this) return;
  }
  if (!call.ctx.downstream.write(chunk)) call.pauseForDownstream();
}
function onUpstreamTrailers(this: http2.ClientHttp2Stream & WithCall, trailers: IncomingHttpHeaders): void {
  this[kCall]!.trailers = trailers as OutgoingHttpHeaders;
}
function onUpstreamEnd(this: http2.ClientHttp2Stream & WithCall): void {
  this[kCall]!.handleUpstreamEnd();
}
function onUpstreamClose(this: http2.ClientHttp2Stream & WithCall): void {
  this[kCall]!.handleUpstreamClose(this);
}
function onUpstreamError(): void {
  // Errors are handled on 'close' through rstCode; this listener keeps them from being thrown.
}
function onUpstreamDrain(this: http2.ClientHttp2Stream & WithCall): void {
  const call = this[kCall]!;
  call.body?.resume();
}
function onDownstreamData(this: Readable & WithCall, chunk: Buffer): void {
  this[kCall]!.handleDownstreamData(chunk);
}
function onDownstreamEnd(this: Readable & WithCall): void {
  this[kCall]!.handleDownstreamEnd();
}
function onDownstreamDrain(this: WithCall): void {
  const call = this[kCall];
  if (call === undefined) return;
  const up = call.h2;
  if (up !== null) up.resume();
  else call.h1?.resume();
}
function onDeadline(call: RouterCall): void { call.handleDeadline(); }
function onIdle(call: RouterCall): void { call.handleIdle(); }
function onRequestTimeout(call: RouterCall): void { call.handleRequestTimeout(); }
function onPerTryTimeout(call: RouterCall): void { call.handlePerTryTimeout(); }
function onBackoff(call: RouterCall): void { call.handleBackoff(); }

const EMPTY_CHUNKS: readonly Buffer[] = Object.freeze([]);
