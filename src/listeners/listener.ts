/**
 * One downstream listener: accepts TCP connections, decides per connection between TLS and
 * plaintext, and hands each to the HTTP/2 or the HTTP/1.1 codec. TLS listeners read the first byte:
 * a TLS record (0x16, a ClientHello) goes through the listener's `tls.Server`; anything else is
 * served as plaintext only when the model allows it (PERMISSIVE) and refused otherwise (STRICT:
 * closed and counted). Plaintext connections with codec AUTO sniff for the HTTP/2 client preface
 * (h2c with prior knowledge) and otherwise speak HTTP/1.1; TLS connections choose by ALPN.
 * TLS material may come from SDS: the listener resolves it through a `SecretSource`, swaps it live
 * with `setSecureContext` when the secret changes (new connections get the new certificate, open
 * ones keep theirs) and refuses TLS connections until the secret is first known. After the handshake
 * it checks the client certificate, builds the connection's `PeerIdentity` once and hands it, with
 * the rest of the connection facts (`DownstreamConnection`), to the connection manager per request.
 * Owns the per-connection limits (h2 SETTINGS, session memory, header list limits, idle timeouts)
 * and graceful drain: stop accepting, GOAWAY every HTTP/2 session, `Connection: close` on HTTP/1.1,
 * wait for in-flight requests, then force-close what is left.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { DownstreamTlsModel, ListenerModel } from '../config/model';
import type { ListenerStats } from '../observability/metrics';
import {
  buildDownstreamTlsServerOptions, checkDownstreamPeer, localUriSans, peerIdentityOf, resolveDownstreamTls,
} from '../transport/downstream-tls';
import type { PeerIdentity } from '../transport/peer-identity';
import type { SecretSource } from '../transport/secret-source';
import type { HttpConnectionManager } from './connection-manager';
import { DownstreamConnection } from './downstream-connection';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** First byte of a TLS record carrying a handshake message (ContentType handshake = 22). */
const TLS_HANDSHAKE_RECORD = 0x16;
/** Remora default for node:http2 `maxSessionMemory` (MB): Node's default, stated explicitly. */
export const DEFAULT_H2_MAX_SESSION_MEMORY_MB = 10;
const NO_SANS: readonly string[] = Object.freeze([]);

/** Why a connection was closed before any HTTP was spoken. */
export type ConnectionRejectReason =
  /** A plaintext client on a TLS-only (STRICT) listener. */
  | 'plaintext'
  /** A TLS client while the listener's SDS certificate / trust bundle is not known yet. */
  | 'tls_not_ready'
  /** The TLS handshake failed (includes a missing or untrusted client certificate when one is required). */
  | 'tls_handshake'
  /** The handshake succeeded but the client certificate was refused after it (untrusted when optional, SAN mismatch). */
  | 'client_certificate';

export interface ListenerOptions {
  /** node:http2 maxSessionMemory in MB (per connection). */
  readonly h2MaxSessionMemoryMb: number;
  readonly logger: Logger;
  /**
   * Where SDS-referenced TLS material comes from (the sidecar's SecretManager); null or absent when
   * the sidecar has none (a listener whose TLS model names an SDS secret then refuses TLS).
   */
  readonly secrets?: SecretSource | null;
  /** Called once per refused connection (e.g. to count it in a metric); optional. */
  readonly onConnectionRejected?: ((reason: ConnectionRejectReason) => void) | null;
}

/** Connections refused before HTTP, by reason, since the listener was created. */
export interface RejectedConnections {
  plaintext: number;
  tls_not_ready: number;
  tls_handshake: number;
  client_certificate: number;
}

const kListener = Symbol('remora.listener');
const kConn = Symbol('remora.downstreamConnection');
const kActive = Symbol('remora.activeRequests');
type TaggedSession = http2.ServerHttp2Session & { [kConn]?: DownstreamConnection };
type TaggedSocket = net.Socket & { [kListener]?: Listener; [kActive]?: number; [kConn]?: DownstreamConnection };

export class Listener {
  private readonly server: net.Server;
  private readonly h2: http2.Http2Server;
  private readonly h1: http.Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly h1Sockets = new Set<TaggedSocket>();
  /** Raw sockets before HTTP: being classified, or under (or past) a TLS handshake. Destroyed by destroy(). */
  private readonly rawSockets = new Set<net.Socket>();
  /** TLS termination; null for plaintext-only listeners. Never listens itself: connections are handed to it. */
  private readonly tlsServer: tls.Server | null;
  /** The effective TLS model (SDS material resolved); null while an SDS secret is unknown or without TLS. */
  private tlsEffective: DownstreamTlsModel | null = null;
  /** URI SANs of the current server certificate (XFCC `By=`). */
  private localSans: readonly string[] = NO_SANS;
  private readonly secrets: SecretSource | null;
  private unsubscribeSecrets: (() => void) | null = null;
  private readyWaiters: Array<() => void> = [];
  private readonly rejected: RejectedConnections = { plaintext: 0, tls_not_ready: 0, tls_handshake: 0, client_certificate: 0 };
  private draining = false;
  /** Set while a drain waits for the last connection to close. */
  private onIdle: (() => void) | null = null;
  private bound: net.AddressInfo | null = null;

  constructor(
    readonly model: ListenerModel,
    /** The current connection manager; replaced atomically on config updates. */
    private hcm: HttpConnectionManager,
    private readonly stats: ListenerStats,
    private readonly options: ListenerOptions,
  ) {
    const m = model.hcm;
    this.secrets = options.secrets ?? null;
    this.h2 = http2.createServer({
      maxSessionMemory: options.h2MaxSessionMemoryMb,
      // Node's own header guards sit above ours so that our limits answer 431 instead of a reset.
      maxHeaderListPairs: Math.max(m.maxHeadersCount * 2 + 8, 128),
      settings: {
        maxConcurrentStreams: m.maxConcurrentStreams,
        initialWindowSize: m.initialStreamWindowSize,
        maxHeaderListSize: Math.min(m.maxRequestHeadersBytes * 2, 0xffffffff),
        enablePush: false,
      },
    });
    this.h2.on('session', onH2Session.bind(null, this));
    this.h2.on('stream', onH2Stream.bind(null, this));
    this.h1 = http.createServer({
      maxHeaderSize: m.maxRequestHeadersBytes,
      requestTimeout: m.requestTimeoutMs ?? 0,
      // Node's slowloris guard (60 s) unless configured; it may not exceed the request timeout.
      headersTimeout: Math.min(m.requestHeadersTimeoutMs ?? 60_000, m.requestTimeoutMs ?? Infinity),
      keepAliveTimeout: m.connectionIdleTimeoutMs ?? 0,
      noDelay: true,
    });
    // No truncation by Node (it would silently drop headers, Host included): the header bytes are
    // bounded by maxHeaderSize, and the connection manager answers 431 above max_headers_count.
    this.h1.maxHeadersCount = 0;
    this.h1.on('request', onH1Request.bind(null, this));
    this.h1.on('clientError', onH1ClientError.bind(null, this));

    const tlsModel = model.tls;
    if (tlsModel !== null) {
      // Server-level options (ALPN, client certificate request) come from the model; the material
      // (certificate, key, trust bundle) from the resolved model, swapped by setSecureContext.
      const resolved = resolveDownstreamTls(tlsModel, this.secrets);
      const tlsServer = tls.createServer(buildDownstreamTlsServerOptions(resolved ?? tlsModel));
      tlsServer.on('secureConnection', onSecureConnection.bind(null, this));
      tlsServer.on('tlsClientError', onTlsClientError.bind(null, this));
      this.tlsServer = tlsServer;
      if (resolved !== null) this.installTls(resolved, false);
      const sds = [tlsModel.certificateSdsName, tlsModel.validationSdsName];
      if (sds[0] !== null || sds[1] !== null) {
        if (this.secrets === null) {
          options.logger.error({ secrets: sds.filter((n) => n !== null) }, 'listener references SDS secrets but the sidecar has no secret source; TLS connections are refused');
        } else {
          this.unsubscribeSecrets = this.secrets.onChange((name) => { if (sds.includes(name)) this.refreshTls(); });
          if (resolved === null) options.logger.info({ secrets: sds.filter((n) => n !== null) }, 'waiting for SDS secrets; TLS connections are refused until they arrive');
        }
      }
    } else {
      this.tlsServer = null;
    }
    this.server = net.createServer({ noDelay: true }, onConnection.bind(null, this));
  }
  get name(): string { return this.model.name; }

  /** Binds the socket; resolves with the bound address (port 0 → an ephemeral port). */
  listen(): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.model.address.port, this.model.address.host, () => {
        this.server.off('error', reject);
        this.bound = this.server.address() as net.AddressInfo;
        resolve(this.bound);
      });
    });
  }

  address(): net.AddressInfo | null { return this.bound; }

  /**
   * True when the listener can serve every transport it accepts: always for plaintext and inline
   * TLS; with SDS, once the referenced secrets are known. Until then TLS connections are refused.
   */
  get ready(): boolean { return this.tlsServer === null || this.tlsEffective !== null; }

  /** Resolves once `ready` (at once when it already is); for warming and the admin /ready check. */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => { this.readyWaiters.push(resolve); });
  }

  /** Connections refused before HTTP, by reason (a copy). */
  rejectedConnections(): RejectedConnections { return { ...this.rejected }; }

  /** Swaps in a newly compiled connection manager; streams in flight keep the old one. */
  setConnectionManager(hcm: HttpConnectionManager): void { this.hcm = hcm; }

  /** Graceful drain; resolves when every connection closed or `timeoutMs` passed (then forces). */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    this.server.close();
    for (const s of this.sessions) if (!s.closed) s.close();
    for (const sock of this.h1Sockets) if ((sock[kActive] ?? 0) === 0) sock.destroy();
    if (!this.idle()) {
      let timer: NodeJS.Timeout | null = null;
      await Promise.race([
        new Promise<void>((resolve) => { this.onIdle = resolve; }),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); }),
      ]);
      if (timer !== null) clearTimeout(timer);
      this.onIdle = null;
    }
    this.destroy();
  }

  /** No connection is open. */
  private idle(): boolean { return this.sessions.size === 0 && this.h1Sockets.size === 0; }

  /** Called when a connection goes away: completes a drain waiting for the last one. */
  private connectionGone(): void {
    if (this.onIdle !== null && this.idle()) this.onIdle();
  }

  /** Closes everything now and stops following SDS secrets. */
  destroy(): void {
    this.draining = true;
    this.server.close();
    if (this.unsubscribeSecrets !== null) {
      this.unsubscribeSecrets();
      this.unsubscribeSecrets = null;
    }
    for (const s of this.sessions) s.destroy();
    for (const sock of this.h1Sockets) sock.destroy();
    for (const sock of this.rawSockets) sock.destroy();
  }

  // ---------------------------------------------------------------- TLS material (config time)

  /** Re-resolves the SDS material after a secret changed and swaps the secure context. */
  private refreshTls(): void {
    const resolved = resolveDownstreamTls(this.model.tls!, this.secrets);
    // A secret that went missing keeps the last good material (SDS semantics: no removal mid-flight).
    if (resolved === null || resolved === this.tlsEffective) return;
    this.installTls(resolved, true);
  }

  /**
   * Makes `resolved` the material for new connections. `swap` replaces the tls.Server's secure context
   * (session ticket keys kept, so clients may still resume); connections already open are untouched.
   */
  private installTls(resolved: DownstreamTlsModel, swap: boolean): void {
    if (swap) {
      const server = this.tlsServer!;
      try {
        server.setSecureContext({ ...buildDownstreamTlsServerOptions(resolved), ticketKeys: server.getTicketKeys() });
      } catch (err) {
        this.options.logger.error({ err: (err as Error).message }, 'SDS secret rejected (bad certificate or key); keeping the previous TLS context');
        return;
      }
    }
    this.tlsEffective = resolved;
    this.localSans = localUriSans(resolved.certChain);
    if (this.readyWaiters.length > 0) {
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (let i = 0; i < waiters.length; i++) waiters[i]!();
    }
  }

  // ---------------------------------------------------------------- connection handling (internal)

  /** @internal A connection was refused before HTTP. */
  reject(socket: net.Socket, reason: ConnectionRejectReason): void {
    this.rejected[reason]++;
    const hook = this.options.onConnectionRejected;
    if (hook !== undefined && hook !== null) hook(reason);
    socket.destroy();
  }

  /** @internal Tracks a raw socket until it closes (destroy() closes what is still open). */
  trackRaw(socket: net.Socket): void {
    this.rawSockets.add(socket);
    socket.once('close', onRawSocketClose.bind(null, this, socket));
  }

  /** @internal */ rawClosed(socket: net.Socket): void { this.rawSockets.delete(socket); }

  /**
   * @internal Routes a connection whose first bytes `buf` were read (and are unshifted again by the
   * caller's choice): TLS, plaintext (HTTP/1.1 or h2c), or refusal. Returns false when more bytes
   * are needed to tell h2c from HTTP/1.1.
   */
  classify(socket: net.Socket, buf: Buffer): boolean {
    if (this.tlsServer !== null) {
      if (buf[0] === TLS_HANDSHAKE_RECORD) {
        socket.pause();
        socket.unshift(buf);
        this.startTls(socket);
        return true;
      }
      if (!this.model.plaintextAllowed) {
        this.reject(socket, 'plaintext');
        return true;
      }
    }
    const codec = this.model.hcm.codecType;
    let h2: boolean;
    if (codec === 'AUTO') {
      const n = Math.min(buf.length, H2_PREFACE.length);
      h2 = buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (h2 && buf.length < H2_PREFACE.length) return false;
    } else {
      h2 = codec === 'HTTP2';
    }
    socket.pause();
    socket.unshift(buf);
    this.acceptSocket(socket, h2 ? 'h2' : 'h1', new DownstreamConnection('http', socket.remoteAddress ?? '', null, null, NO_SANS));
    // The HTTP/1.1 parser reads through the stream API, so it must flow again; nghttp2 drains the
    // unshifted bytes itself when the h2 session attaches.
    if (!h2) socket.resume();
    return true;
  }

  /** Hands a raw socket whose first byte announced TLS to the tls.Server (or refuses it). */
  private startTls(socket: net.Socket): void {
    if (this.tlsEffective === null) {
      this.reject(socket, 'tls_not_ready');
      return;
    }
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.tlsServer!.emit('connection', socket);
  }

  /** @internal The handshake completed: check the client certificate, attach the identity, go HTTP. */
  secured(socket: tls.TLSSocket): void {
    const model = this.tlsEffective!;
    const reason = checkDownstreamPeer(socket, model);
    if (reason !== null) {
      this.options.logger.debug({ reason }, 'client certificate rejected');
      this.reject(socket, 'client_certificate');
      return;
    }
    let peer: PeerIdentity | null = null;
    if (model.trustedCa !== null) {
      try {
        peer = peerIdentityOf(socket);
      } catch (err) {
        this.options.logger.debug({ err: (err as Error).message }, 'client certificate unparsable');
        this.reject(socket, 'client_certificate');
        return;
      }
    }
    const conn = new DownstreamConnection('https', socket.remoteAddress ?? '', peer, socket, this.localSans);
    this.acceptSocket(socket, socket.alpnProtocol === 'h2' ? 'h2' : 'h1', conn);
  }

  /** @internal */ handshakeFailed(err: Error): void {
    this.rejected.tls_handshake++;
    const hook = this.options.onConnectionRejected;
    if (hook !== undefined && hook !== null) hook('tls_handshake');
    this.options.logger.debug({ err: err.message }, 'TLS handshake failed');
  }

  /** @internal */ acceptSocket(socket: TaggedSocket, protocol: 'h1' | 'h2', conn: DownstreamConnection): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.stats.connectionsTotal.inc();
    this.stats.connectionsActive.inc();
    socket[kListener] = this;
    socket[kConn] = conn;
    socket.once('close', onSocketClose);
    if (protocol === 'h2') {
      this.h2.emit('connection', socket);
    } else {
      socket[kActive] = 0;
      this.h1Sockets.add(socket);
      this.h1.emit('connection', socket);
    }
  }

  /** @internal */ socketClosed(socket: TaggedSocket): void {
    this.stats.connectionsActive.dec();
    this.h1Sockets.delete(socket);
    this.connectionGone();
  }

  /** @internal */ addSession(session: TaggedSession): void {
    const sock = session.socket as unknown as TaggedSocket;
    session[kConn] = sock[kConn];
    this.sessions.add(session);
    const wnd = this.model.hcm.initialConnectionWindowSize;
    if (wnd > 65_535) {
      try { session.setLocalWindowSize(wnd); } catch { /* session already closing */ }
    }
    session.once('close', () => {
      this.sessions.delete(session);
      this.connectionGone();
    });
    session.on('error', onSessionError);
    const idle = this.model.hcm.connectionIdleTimeoutMs;
    if (idle !== null) session.setTimeout(idle, onSessionIdle);
    if (this.draining) session.close();
  }

  /** @internal */ onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]): void {
    const session = stream.session as TaggedSession | undefined;
    const conn = session?.[kConn];
    if (conn === undefined) {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.hcm.handleH2Stream(stream, headers, flags, rawHeaders, conn);
  }

  /** @internal */ onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const sock = req.socket as TaggedSocket;
    sock[kActive] = (sock[kActive] ?? 0) + 1;
    res.once('finish', onH1ResponseDone);
    this.hcm.handleH1Request(req, res, this.draining, sock[kConn]!);
  }

  /** @internal */ h1ResponseDone(sock: TaggedSocket): void {
    sock[kActive] = (sock[kActive] ?? 1) - 1;
    if (this.draining && sock[kActive] === 0) sock.end();
  }

  /** @internal */ clientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const overflow = err.code === 'HPE_HEADER_OVERFLOW';
    this.stats.localReply(overflow ? 'header_overflow' : 'bad_request');
    this.stats.request(overflow ? 431 : 400, -1);
    const status = overflow ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  }

  /** @internal */ get codec(): ListenerModel['hcm']['codecType'] { return this.model.hcm.codecType; }
  /** @internal */ get sniffs(): boolean { return this.tlsServer !== null || this.model.hcm.codecType === 'AUTO'; }
  /** @internal */ get logger(): Logger { return this.options.logger; }
}

// ---------------------------------------------------------------- module-level handlers

function onConnection(listener: Listener, socket: net.Socket): void {
  if (!listener.sniffs) {
    // Plaintext-only listener with a fixed codec: nothing to detect.
    const conn = new DownstreamConnection('http', socket.remoteAddress ?? '', null, null, NO_SANS);
    listener.acceptSocket(socket, listener.codec === 'HTTP2' ? 'h2' : 'h1', conn);
    return;
  }
  listener.trackRaw(socket);
  socket.on('error', onRawError);
  sniff(listener, socket, Buffer.alloc(0));
}

/** Reads until the first bytes tell TLS from plaintext, and h2c from HTTP/1.1. */
function sniff(listener: Listener, socket: net.Socket, seen: Buffer): void {
  socket.once('data', (chunk: Buffer) => {
    const buf = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    if (!listener.classify(socket, buf)) sniff(listener, socket, buf);
  });
}

/** Errors on a raw socket (before or under TLS) close it; handled through 'close'. */
function onRawError(this: net.Socket): void { this.destroy(); }
function onRawSocketClose(listener: Listener, socket: net.Socket): void { listener.rawClosed(socket); }

function onSecureConnection(listener: Listener, socket: tls.TLSSocket): void { listener.secured(socket); }

function onTlsClientError(listener: Listener, err: Error): void { listener.handshakeFailed(err); }

function onSocketClose(this: TaggedSocket): void { this[kListener]?.socketClosed(this); }
/**
 * HCM idle_timeout: a connection with no frames for the timeout is closed gracefully (GOAWAY;
 * streams still open may finish), approximating Envoy's "no active streams" rule.
 */
function onSessionIdle(this: http2.ServerHttp2Session): void { if (!this.closed) this.close(); }
function onSessionError(): void { /* session errors close the session; streams see 'close' */ }

function onH2Session(listener: Listener, session: http2.ServerHttp2Session): void { listener.addSession(session); }

function onH2Stream(listener: Listener, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]): void {
  listener.onStream(stream, headers, flags, rawHeaders);
}

function onH1Request(listener: Listener, req: http.IncomingMessage, res: http.ServerResponse): void { listener.onRequest(req, res); }
function onH1ClientError(listener: Listener, err: NodeJS.ErrnoException, socket: net.Socket): void { listener.clientError(err, socket); }

function onH1ResponseDone(this: http.ServerResponse): void {
  const sock = this.socket as TaggedSocket | null;
  if (sock) sock[kListener]?.h1ResponseDone(sock);
}
