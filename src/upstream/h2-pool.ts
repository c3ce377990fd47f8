/**
 * HTTP/2 session pool for one upstream endpoint (host:port): owns the `ClientHttp2Session`s to it,
 * multiplexes streams over them within the peer's SETTINGS_MAX_CONCURRENT_STREAMS and our own cap,
 * opens more sessions when all are full, queues requests in a bounded FIFO while sessions connect,
 * retires sessions on GOAWAY, error, idle timeout or `maxRequestsPerConnection`, and fails waiting
 * requests fast with `UpstreamConnectError` when a connect is refused or times out. Streams are
 * handed to the caller (the router), which owns them from then on; the pool only counts them.
 *
 * Session lifecycle: CONNECTING (TCP/TLS + waiting for the peer's first SETTINGS, which is when we
 * learn its stream limit) → READY (takes new streams) → DRAINING (no new streams; Node's graceful
 * `close()` lets open streams finish) → CLOSED (removed from the pool). A GOAWAY moves a session to
 * DRAINING; streams above the peer's last-stream-id are closed by nghttp2 with
 * `rstCode === NGHTTP2_REFUSED_STREAM` (7), which the router treats as safe to replay, and the next
 * `request()` lands on another (possibly new) session.
 *
 * Hot path: `request()` scans the (few) sessions of this endpoint with an indexed loop and calls
 * `session.request()` synchronously; stream accounting uses one listener per session bound at
 * connect time, so no closure is allocated per stream.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  BadRequestError, InternalProxyError, OverflowError, UpstreamConnectError, type ProxyError,
} from '../core/errors';
import type { Runtime } from '../core/runtime';
import type { TimerHandle } from '../core/timers';

export interface H2PoolOptions {
  readonly connectTimeoutMs: number;
  /** TLS connect options (servername, ca, cert, key, checkServerIdentity, ALPNProtocols ['h2']); null for h2c. */
  readonly tls: tls.ConnectionOptions | null;
  /** Our own cap on streams per session; the peer's SETTINGS_MAX_CONCURRENT_STREAMS also applies. */
  readonly maxConcurrentStreams: number;
  readonly initialStreamWindowSize: number;
  readonly initialConnectionWindowSize: number;
  /** Close a session idle (no streams) for this long; null = never. */
  readonly idleTimeoutMs: number | null;
  /** Drain a session after this many streams; null = unlimited. */
  readonly maxRequestsPerConnection: number | null;
  /**
   * The cluster's `max_connections` breaker, shared by every endpoint's pool; null = unlimited.
   * A pool that cannot open a session and has none fails its queue with OverflowError.
   */
  readonly connectionLimit?: ConnectionLimiter | null;
}

/** Counts upstream connections against a limit (the cluster's ResourceManager). */
export interface ConnectionLimiter {
  /** Takes one connection slot; false (and an overflow counted) when the limit is reached. */
  tryAcquireConnection(): boolean;
  /** Returns a slot taken by `tryAcquireConnection`. */
  releaseConnection(): void;
}

/** Implemented by the router's per-stream object: the pool calls back exactly once. */
export interface H2PoolRequest {
  readonly upstreamHeaders: http2.OutgoingHttpHeaders;
  readonly upstreamEndStream: boolean;
  /**
   * A stream was opened; the caller owns it from now on (it must attach an 'error' listener before
   * returning). May be called synchronously from inside `request()`.
   */
  onUpstreamStream(stream: http2.ClientHttp2Stream): void;
  /**
   * No stream could be had: `UpstreamConnectError` (connect refused, failed or timed out, or the
   * pool was closed), `OverflowError` (pending queue full), `BadRequestError` (Node rejected the
   * headers) or `InternalProxyError`. May be called synchronously from inside `request()`.
   */
  onUpstreamConnectError(err: ProxyError): void;
}

export interface H2PoolStats {
  /** Sessions not yet closed (connecting + ready + draining). */
  readonly sessions: number;
  readonly connecting: number;
  readonly activeStreams: number;
  readonly pending: number;
  /** Counters since the pool was created. */
  readonly sessionsCreated: number;
  readonly connectFailures: number;
  readonly streamsTotal: number;
}

/** Requests waiting for a session beyond this many fail with `OverflowError` (Envoy's default `max_pending_requests`). */
export const H2_POOL_MAX_PENDING = 1024;
/** At most this many sessions connect at once per endpoint (bounds a cold-start burst). */
const MAX_CONNECTING = 32;
/**
 * At most this many live sessions per endpoint; beyond it requests wait in the queue for streams to
 * close (guards against a peer advertising a tiny or zero stream limit).
 */
export const H2_POOL_MAX_SESSIONS = 128;
/** Node's own assumption before the peer's SETTINGS arrive (`peerMaxConcurrentStreams` default). */
const DEFAULT_PEER_LIMIT_HINT = 100;
/**
 * After a graceful close Node waits for the PEER to close the socket (a Node h2 server never does);
 * past this linger we destroy the socket ourselves so drained sessions cannot leak.
 */
const DRAIN_LINGER_MS = 1000;
/** Node's `maxSessionMemory` (MB) for upstream sessions; Node's default of 10 is too small for a proxy's large windows. */
const MAX_SESSION_MEMORY_MB = 64;

const enum State { CONNECTING = 0, READY = 1, DRAINING = 2, CLOSED = 3 }

const kPoolSession = Symbol('remora.h2pool.session');
type TaggedSession = http2.ClientHttp2Session & { [kPoolSession]?: PoolSession };

/** Errors from `session.request()` that mean "this session takes no more streams": try another. */
const SESSION_UNUSABLE_CODES: ReadonlySet<string> = new Set([
  'ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_INVALID_SESSION', 'ERR_HTTP2_OUT_OF_STREAMS', 'ERR_HTTP2_STREAM_ERROR',
]);
/** Errors from `session.request()` caused by the request's own headers. */
const BAD_HEADER_CODES: ReadonlySet<string> = new Set([
  'ERR_HTTP2_INVALID_HEADER_VALUE', 'ERR_INVALID_HTTP_TOKEN', 'ERR_HTTP2_INVALID_PSEUDOHEADER',
  'ERR_HTTP2_HEADER_SINGLE_VALUE', 'ERR_INVALID_CHAR', 'ERR_HTTP2_INVALID_CONNECTION_HEADERS',
]);

/** Outcome of one attempt to open a stream on one session. */
const enum Open { OK = 0, SESSION_UNUSABLE = 1, REQUEST_FAILED = 2 }

/** One upstream session and its accounting. Fields are all initialised here (stable shape). */
class PoolSession {
  state: State = State.CONNECTING;
  /** Streams opened and not yet closed. */
  active = 0;
  /** Streams opened over the session's life (for maxRequestsPerConnection). */
  opened = 0;
  /** min(peer SETTINGS_MAX_CONCURRENT_STREAMS, our cap); meaningful once READY. */
  limit = 0;
  /** `timers.now()` when `active` last dropped to 0. */
  idleSince = 0;
  idleTimer: TimerHandle | null = null;
  connectTimer: TimerHandle | null = null;
  /** Holds a slot of the cluster's connection limit (released once, when the session is gone). */
  counted = false;
  /** Armed when DRAINING with no streams: destroys the socket if the peer never closes it. */
  lingerTimer: TimerHandle | null = null;
  /** The raw TCP/TLS socket, known from 'connect'. */
  socket: net.Socket | null = null;
  /** The first error the session reported (the cause of a connect failure). */
  failure: unknown = null;
  /** Bound once per session: the 'close' listener of every stream opened on it. */
  readonly onStreamClose: () => void;

  constructor(readonly pool: H2Pool, readonly session: http2.ClientHttp2Session) {
    this.onStreamClose = streamClosed.bind(null, this);
  }
}

/** A growable FIFO ring buffer (power-of-two capacity up to a fixed maximum). */
class RingQueue<T> {
  private items: Array<T | null>;
  private head = 0;
  length = 0;
  constructor(initialCapacity: number, readonly maxCapacity: number) {
    this.items = new Array<T | null>(initialCapacity).fill(null);
  }
  /** False when full (at maxCapacity). */
  push(item: T): boolean {
    if (this.length === this.items.length) {
      if (this.items.length >= this.maxCapacity) return false;
      this.grow();
    }
    this.items[(this.head + this.length) & (this.items.length - 1)] = item;
    this.length++;
    return true;
  }
  peek(): T | null {
    return this.length === 0 ? null : this.items[this.head];
  }
  shift(): T | null {
    if (this.length === 0) return null;
    const item = this.items[this.head];
    this.items[this.head] = null;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.length--;
    return item;
  }
  /** Removes one item (O(n)); false when absent. */
  remove(item: T): boolean {
    const mask = this.items.length - 1;
    for (let i = 0; i < this.length; i++) {
      if (this.items[(this.head + i) & mask] !== item) continue;
      for (let j = i; j < this.length - 1; j++) this.items[(this.head + j) & mask] = this.items[(this.head + j + 1) & mask];
      this.items[(this.head + this.length - 1) & mask] = null;
      this.length--;
      return true;
    }
    return false;
  }
  private grow(): void {
    const old = this.items;
    const next = new Array<T | null>(old.length * 2).fill(null);
    for (let i = 0; i < this.length; i++) next[i] = old[(this.head + i) & (old.length - 1)];
    this.items = next;
    this.head = 0;
  }
}

function noDelay<T extends net.Socket>(socket: T): T {
  socket.setNoDelay(true);
  return socket;
}

export class H2Pool {
  private readonly sessions: PoolSession[] = [];
  private readonly pending = new RingQueue<H2PoolRequest>(16, H2_POOL_MAX_PENDING);
  private readonly authority: string;
  private readonly connectOptions: http2.SecureClientSessionOptions;
  private readonly maxStreamsCap: number;
  private connecting = 0;
  /** Expected stream capacity of a session still connecting: the last peer limit seen. */
  private peerLimitHint: number;
  private closed = false;
  private closeResolve: (() => void) | null = null;
  private closePromise: Promise<void> | null = null;
  private sessionsCreated = 0;
  private connectFailures = 0;
  private streamsTotal = 0;

  /** Config-time: builds connect options once; no connection is made until the first `request()`. */
  constructor(
    readonly host: string,
    readonly port: number,
    readonly options: H2PoolOptions,
    readonly runtime: Runtime,
  ) {
    const h = host.indexOf(':') !== -1 && host[0] !== '[' ? `[${host}]` : host;
    this.authority = `${options.tls === null ? 'http' : 'https'}://${h}:${port}`;
    this.maxStreamsCap = Math.max(1, options.maxConcurrentStreams);
    this.peerLimitHint = Math.min(this.maxStreamsCap, DEFAULT_PEER_LIMIT_HINT);
    const connectOptions: http2.SecureClientSessionOptions = {
      settings: { initialWindowSize: options.initialStreamWindowSize, enablePush: false },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    };
    if (options.tls !== null) {
      // Connect the TLS socket ourselves: http2.connect('https://name') would force SNI = name, but an
      // Envoy cluster without `sni` sends none. ALPN must offer h2.
      const tlsOptions: tls.ConnectionOptions = {
        ...options.tls,
        host,
        port,
        ALPNProtocols: options.tls.ALPNProtocols ?? ['h2'],
      };
      connectOptions.createConnection = () => noDelay(tls.connect(tlsOptions));
    } else {
      // Our own socket so Nagle is off: h2 writes HEADERS and DATA separately, and Nagle + delayed
      // ACK would hold the second write for up to 40 ms.
      connectOptions.createConnection = () => net.connect({ host, port, noDelay: true });
    }
    this.connectOptions = connectOptions;
  }

  /**
   * Opens a stream on a session with spare capacity (synchronously when one is ready), else queues
   * the request (FIFO, bounded) and connects sessions as needed. Never throws; calls exactly one of
   * `req.onUpstreamStream` / `req.onUpstreamConnectError`, possibly before returning.
   */
  request(req: H2PoolRequest): void {
    if (this.closed) {
      req.onUpstreamConnectError(new UpstreamConnectError('pool closed'));
      return;
    }
    if (this.pending.length === 0 && this.dispatch(req)) return;
    if (!this.pending.push(req)) {
      req.onUpstreamConnectError(new OverflowError('h2 pool pending requests'));
      return;
    }
    this.maybeConnect();
  }

  /**
   * Withdraws a request still waiting for a session (e.g. the router's timeout fired); true when it
   * was queued, in which case the pool will not call it back. O(pending).
   */
  cancel(req: H2PoolRequest): boolean {
    return this.pending.remove(req);
  }

  stats(): H2PoolStats {
    let active = 0;
    for (let i = 0; i < this.sessions.length; i++) active += this.sessions[i].active;
    return {
      sessions: this.sessions.length,
      connecting: this.connecting,
      activeStreams: active,
      pending: this.pending.length,
      sessionsCreated: this.sessionsCreated,
      connectFailures: this.connectFailures,
      streamsTotal: this.streamsTotal,
    };
  }

  /**
   * Graceful: fails queued requests, stops taking new ones, lets open streams finish (each session
   * sends GOAWAY via `close()`), and resolves when every session has closed. Idempotent.
   */
  close(): Promise<void> {
    if (this.closePromise !== null) return this.closePromise;
    this.closed = true;
    this.failAllPending(new UpstreamConnectError('pool closed'));
    this.closePromise = new Promise<void>((resolve) => { this.closeResolve = resolve; });
    const list = this.sessions.slice();
    for (let i = 0; i < list.length; i++) {
      const ps = list[i];
      if (ps.state === State.CONNECTING) ps.session.destroy();
      else this.drainSession(ps);
    }
    this.maybeResolveClose();
    return this.closePromise;
  }

  /** Immediate: fails queued requests and destroys every session (open streams are reset). */
  destroy(): void {
    this.closed = true;
    this.failAllPending(new UpstreamConnectError('pool destroyed'));
    const list = this.sessions.slice();
    for (let i = 0; i < list.length; i++) list[i].session.destroy();
  }

  // ------------------------------------------------------------------ internals (called by listeners)

  /** Tries every READY session with spare capacity; true when the request got a stream or a final error. */
  private dispatch(req: H2PoolRequest): boolean {
    const sessions = this.sessions;
    for (let i = 0; i < sessions.length; i++) {
      const ps = sessions[i];
      if (ps.state !== State.READY || ps.active >= ps.limit) continue;
      const r = this.open(ps, req);
      if (r !== Open.SESSION_UNUSABLE) return true;
      // `open` moved ps to DRAINING (it may still be in the array); keep scanning.
    }
    return false;
  }

  private open(ps: PoolSession, req: H2PoolRequest): Open {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = ps.session.request(req.upstreamHeaders, { endStream: req.upstreamEndStream });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && BAD_HEADER_CODES.has(code)) {
        req.onUpstreamConnectError(new BadRequestError('invalid request headers'));
        return Open.REQUEST_FAILED;
      }
      if ((typeof code === 'string' && SESSION_UNUSABLE_CODES.has(code)) || ps.session.closed || ps.session.destroyed) {
        if (ps.state !== State.CLOSED) this.drainSession(ps);
        return Open.SESSION_UNUSABLE;
      }
      req.onUpstreamConnectError(new InternalProxyError(err));
      return Open.REQUEST_FAILED;
    }
    ps.active++;
    ps.opened++;
    this.streamsTotal++;
    stream.on('close', ps.onStreamClose);
    const max = this.options.maxRequestsPerConnection;
    if (max !== null && ps.opened >= max) this.drainSession(ps);
    req.onUpstreamStream(stream);
    return Open.OK;
  }

  /** Serves queued requests from READY sessions, then connects more sessions if still needed. */
  private drainPending(): void {
    while (this.pending.length > 0) {
      const req = this.pending.peek() as H2PoolRequest;
      let served = false;
      const sessions = this.sessions;
      for (let i = 0; i < sessions.length && !served; i++) {
        const ps = sessions[i];
        if (ps.state !== State.READY || ps.active >= ps.limit) continue;
        // `open` may call back into the router, which may call request()/cancel(): shift first.
        this.pending.shift();
        const r = this.open(ps, req);
        if (r === Open.SESSION_UNUSABLE) {
          this.pendingUnshift(req);
          continue;
        }
        served = true;
      }
      if (!served) break;
    }
    this.maybeConnect();
  }

  /** Re-queues a request at the head (rare path: a session turned out to be unusable). */
  private pendingUnshift(req: H2PoolRequest): void {
    const rest: H2PoolRequest[] = [];
    for (let r = this.pending.shift(); r !== null; r = this.pending.shift()) rest.push(r);
    this.pending.push(req);
    for (let i = 0; i < rest.length; i++) this.pending.push(rest[i]);
  }

  /** Opens sessions until the connecting ones are expected to absorb the queue. */
  private maybeConnect(): void {
    while (!this.closed && this.connecting < MAX_CONNECTING && this.sessions.length < H2_POOL_MAX_SESSIONS &&
      this.pending.length > this.connecting * this.peerLimitHint) {
      if (!this.connect()) return;
    }
  }

  private connect(): boolean {
    const limiter = this.options.connectionLimit ?? null;
    if (limiter !== null && !limiter.tryAcquireConnection()) {
      // At the cluster's max_connections: queue on the sessions we have, or overflow if there are none.
      if (this.sessions.length === 0) this.failAllPending(new OverflowError('max_connections'));
      return false;
    }
    let session: http2.ClientHttp2Session;
    try {
      session = http2.connect(this.authority, this.connectOptions);
    } catch (err) {
      if (limiter !== null) limiter.releaseConnection();
      this.connectFailures++;
      this.failAllPending(new UpstreamConnectError(err));
      return false;
    }
    const ps = new PoolSession(this, session);
    ps.counted = limiter !== null;
    (session as TaggedSession)[kPoolSession] = ps;
    session.on('connect', onSessionConnect);
    session.on('remoteSettings', onSessionRemoteSettings);
    session.on('goaway', onSessionGoaway);
    session.on('error', onSessionError);
    session.on('close', onSessionClose);
    ps.connectTimer = this.runtime.timers.setTimeout(onConnectTimeout, this.options.connectTimeoutMs, ps);
    this.sessions.push(ps);
    this.connecting++;
    this.sessionsCreated++;
    return true;
  }

  /** @internal the peer's SETTINGS arrived: first time → READY; later → the limit may have changed. */
  sessionSettings(ps: PoolSession): void {
    const peer = ps.session.remoteSettings.maxConcurrentStreams;
    const limit = Math.min(this.maxStreamsCap, peer === undefined ? this.maxStreamsCap : peer);
    const grew = limit > ps.limit;
    ps.limit = limit;
    if (ps.state === State.CONNECTING) {
      ps.state = State.READY;
      this.connecting--;
      if (ps.connectTimer !== null) { ps.connectTimer.clear(); ps.connectTimer = null; }
      this.peerLimitHint = Math.max(1, limit);
      this.drainPending();
      if (ps.active === 0 && ps.state === State.READY) this.markIdle(ps);
    } else if (ps.state === State.READY && grew && this.pending.length > 0) {
      this.drainPending();
    }
  }

  /** @internal a stream of `ps` closed. */
  streamClosed(ps: PoolSession): void {
    ps.active--;
    if (ps.state === State.DRAINING) {
      if (ps.active === 0) this.finishDrain(ps);
      return;
    }
    if (ps.state !== State.READY) return;
    if (this.pending.length > 0) this.drainPending();
    if (ps.active === 0 && ps.state === State.READY) this.markIdle(ps);
  }

  private markIdle(ps: PoolSession): void {
    const timeout = this.options.idleTimeoutMs;
    if (timeout === null) return;
    ps.idleSince = this.runtime.timers.now();
    if (ps.idleTimer === null) ps.idleTimer = this.runtime.timers.setTimeout(onIdleTimer, timeout, ps);
  }

  /** @internal one idle timer per session, re-armed for the remainder when streams came and went. */
  idleTimerFired(ps: PoolSession): void {
    ps.idleTimer = null;
    if (ps.state !== State.READY || ps.active > 0) return;
    const timeout = this.options.idleTimeoutMs as number;
    const left = ps.idleSince + timeout - this.runtime.timers.now();
    if (left > 0) ps.idleTimer = this.runtime.timers.setTimeout(onIdleTimer, left, ps);
    else this.drainSession(ps);
  }

  /** @internal GOAWAY received: no new streams here (Node closes or destroys the session itself). */
  sessionGoaway(ps: PoolSession): void {
    if (ps.state === State.CONNECTING) {
      // Treat as a failed connect once it closes; stop counting it as capacity now.
      ps.state = State.DRAINING;
      this.connecting--;
      if (ps.connectTimer !== null) { ps.connectTimer.clear(); ps.connectTimer = null; }
      this.maybeConnect();
      return;
    }
    if (ps.state === State.READY) {
      ps.state = State.DRAINING;
      this.clearIdle(ps);
      if (ps.active === 0) this.finishDrain(ps);
      if (this.pending.length > 0) this.drainPending();
    }
  }

  /**
   * Stops new streams on `ps` and closes it gracefully once its streams are done. The GOAWAY is
   * deferred until the last stream closes: nghttp2 refuses (RST 7) a stream whose HEADERS are still
   * queued when a local GOAWAY is submitted, which would break the stream just opened.
   */
  private drainSession(ps: PoolSession): void {
    if (ps.state === State.CLOSED) return;
    if (ps.state === State.CONNECTING) this.connecting--;
    ps.state = State.DRAINING;
    this.clearIdle(ps);
    if (ps.connectTimer !== null) { ps.connectTimer.clear(); ps.connectTimer = null; }
    if (ps.active === 0) this.finishDrain(ps);
  }

  /** A DRAINING session has no streams left: GOAWAY it and bound how long the socket may linger. */
  private finishDrain(ps: PoolSession): void {
    closeSessionGracefully(ps.session);
    if (ps.lingerTimer === null && ps.state === State.DRAINING) {
      ps.lingerTimer = this.runtime.timers.setTimeout(onDrainLinger, DRAIN_LINGER_MS, ps);
    }
  }

  /** @internal the peer did not close a drained session in time: drop it. */
  lingerExpired(ps: PoolSession): void {
    ps.lingerTimer = null;
    if (ps.state === State.CLOSED) return;
    this.sessionGone(ps);
    if (ps.socket !== null) ps.socket.destroy();
    ps.session.destroy();
  }

  private clearIdle(ps: PoolSession): void {
    if (ps.idleTimer !== null) { ps.idleTimer.clear(); ps.idleTimer = null; }
  }

  /** @internal connect timer fired: fail now (fast), then destroy the session. */
  connectTimedOut(ps: PoolSession): void {
    ps.connectTimer = null;
    if (ps.state !== State.CONNECTING) return;
    ps.failure = new Error(`connect timeout after ${this.options.connectTimeoutMs} ms`);
    this.sessionGone(ps);
    ps.session.destroy();
  }

  /** @internal the session closed (or failed to connect): remove it and settle what depended on it. */
  sessionGone(ps: PoolSession): void {
    if (ps.state === State.CLOSED) return;
    if (ps.counted) {
      ps.counted = false;
      this.options.connectionLimit!.releaseConnection();
    }
    const wasConnecting = ps.state === State.CONNECTING;
    const neverReady = wasConnecting || ps.limit === 0;
    ps.state = State.CLOSED;
    this.clearIdle(ps);
    if (ps.lingerTimer !== null) { ps.lingerTimer.clear(); ps.lingerTimer = null; }
    if (ps.connectTimer !== null) { ps.connectTimer.clear(); ps.connectTimer = null; }
    const idx = this.sessions.indexOf(ps);
    if (idx !== -1) this.sessions.splice(idx, 1);
    if (wasConnecting) this.connecting--;
    if (neverReady) {
      this.connectFailures++;
      this.failPendingAfterConnectFailure(ps.failure);
    } else if (this.pending.length > 0) {
      this.drainPending();
    }
    this.maybeResolveClose();
  }

  /** Fails the queued requests that the sessions still connecting cannot be expected to absorb. */
  private failPendingAfterConnectFailure(cause: unknown): void {
    const keep = this.connecting * this.peerLimitHint;
    while (this.pending.length > keep) {
      const req = this.pending.shift() as H2PoolRequest;
      req.onUpstreamConnectError(new UpstreamConnectError(cause));
    }
  }

  private failAllPending(err: ProxyError): void {
    for (let req = this.pending.shift(); req !== null; req = this.pending.shift()) req.onUpstreamConnectError(err);
  }

  private maybeResolveClose(): void {
    if (this.closeResolve !== null && this.sessions.length === 0) {
      const resolve = this.closeResolve;
      this.closeResolve = null;
      resolve();
    }
  }
}

// ---------------------------------------------------------------- module-level listeners (no closures)

function closeSessionGracefully(session: http2.ClientHttp2Session): void {
  if (!session.closed && !session.destroyed) session.close();
}

function poolSessionOf(session: http2.ClientHttp2Session): PoolSession | undefined {
  return (session as TaggedSession)[kPoolSession];
}

function onSessionConnect(this: http2.ClientHttp2Session, _session: http2.ClientHttp2Session, socket: net.Socket): void {
  const ps = poolSessionOf(this);
  if (ps === undefined) return;
  ps.socket = socket;
  try {
    if (ps.pool.options.initialConnectionWindowSize > 65535) this.setLocalWindowSize(ps.pool.options.initialConnectionWindowSize);
  } catch {
    // A session destroyed in between: its 'close' settles everything.
  }
}

function onSessionRemoteSettings(this: http2.ClientHttp2Session): void {
  const ps = poolSessionOf(this);
  if (ps !== undefined) ps.pool.sessionSettings(ps);
}

function onSessionGoaway(this: http2.ClientHttp2Session): void {
  const ps = poolSessionOf(this);
  if (ps !== undefined) ps.pool.sessionGoaway(ps);
}

function onSessionError(this: http2.ClientHttp2Session, err: Error): void {
  const ps = poolSessionOf(this);
  if (ps !== undefined && ps.failure === null) ps.failure = err;
}

function onSessionClose(this: http2.ClientHttp2Session): void {
  const ps = poolSessionOf(this);
  if (ps !== undefined) ps.pool.sessionGone(ps);
}

function onConnectTimeout(ps: PoolSession): void {
  ps.pool.connectTimedOut(ps);
}

function onDrainLinger(ps: PoolSession): void {
  ps.pool.lingerExpired(ps);
}

function onIdleTimer(ps: PoolSession): void {
  ps.pool.idleTimerFired(ps);
}

function streamClosed(ps: PoolSession): void {
  ps.pool.streamClosed(ps);
}
