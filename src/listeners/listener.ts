/**
 * One downstream listener: accepts TCP (or TLS) connections and hands each to the HTTP/2 or the
 * HTTP/1.1 codec. Plaintext listeners with codec AUTO sniff the first bytes for the HTTP/2 client
 * preface (h2c with prior knowledge) and otherwise speak HTTP/1.1; TLS listeners choose by ALPN.
 * Owns the per-connection limits (h2 SETTINGS, session memory, header list limits, idle timeouts)
 * and graceful drain: stop accepting, GOAWAY every HTTP/2 session, `Connection: close` on HTTP/1.1,
 * wait for in-flight requests, then force-close what is left.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { ListenerModel } from '../config/model';
import type { ListenerStats } from '../observability/metrics';
import { buildDownstreamTlsServerOptions, checkDownstreamPeer } from '../transport/downstream-tls';
import type { HttpConnectionManager } from './connection-manager';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** Remora default for node:http2 `maxSessionMemory` (MB): Node's default, stated explicitly. */
export const DEFAULT_H2_MAX_SESSION_MEMORY_MB = 10;

export interface ListenerOptions {
  /** node:http2 maxSessionMemory in MB (per connection). */
  readonly h2MaxSessionMemoryMb: number;
  readonly logger: Logger;
}

const kListener = Symbol('remora.listener');
const kRemote = Symbol('remora.remoteAddress');
const kActive = Symbol('remora.activeRequests');
type TaggedSession = http2.ServerHttp2Session & { [kRemote]?: string };
type TaggedSocket = net.Socket & { [kListener]?: Listener; [kActive]?: number; [kRemote]?: string };

export class Listener {
  private readonly server: net.Server;
  private readonly h2: http2.Http2Server;
  private readonly h1: http.Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly h1Sockets = new Set<TaggedSocket>();
  private readonly scheme: string;
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
    this.scheme = model.tls === null ? 'http' : 'https';
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

    if (model.tls !== null) {
      const tlsServer = tls.createServer(buildDownstreamTlsServerOptions(model.tls));
      tlsServer.on('secureConnection', onSecureConnection.bind(null, this));
      tlsServer.on('tlsClientError', onTlsClientError.bind(null, this));
      this.server = tlsServer;
    } else {
      this.server = net.createServer({ noDelay: true }, onPlainConnection.bind(null, this));
    }
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

  /** Closes everything now. */
  destroy(): void {
    this.draining = true;
    this.server.close();
    for (const s of this.sessions) s.destroy();
    for (const sock of this.h1Sockets) sock.destroy();
  }

  // ---------------------------------------------------------------- connection handling (internal)

  /** @internal */ acceptSocket(socket: TaggedSocket, protocol: 'h1' | 'h2'): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.stats.connectionsTotal.inc();
    this.stats.connectionsActive.inc();
    socket[kListener] = this;
    socket[kRemote] = socket.remoteAddress ?? '';
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
    session[kRemote] = sock[kRemote] ?? '';
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
    this.hcm.handleH2Stream(stream, headers, flags, rawHeaders, this.scheme, session?.[kRemote] ?? '');
  }

  /** @internal */ onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const sock = req.socket as TaggedSocket;
    sock[kActive] = (sock[kActive] ?? 0) + 1;
    res.once('finish', onH1ResponseDone);
    this.hcm.handleH1Request(req, res, this.scheme, this.draining);
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
  /** @internal */ get logger(): Logger { return this.options.logger; }
  /** @internal */ get tlsModel(): ListenerModel['tls'] { return this.model.tls; }
}

// ---------------------------------------------------------------- module-level handlers

function onPlainConnection(listener: Listener, socket: net.Socket): void {
  const codec = listener.codec;
  if (codec === 'HTTP1') return listener.acceptSocket(socket, 'h1');
  if (codec === 'HTTP2') return listener.acceptSocket(socket, 'h2');
  sniff(listener, socket, Buffer.alloc(0));
}

/** Reads until the bytes either diverge from the HTTP/2 preface or complete it. */
function sniff(listener: Listener, socket: net.Socket, seen: Buffer): void {
  socket.once('data', (chunk: Buffer) => {
    const buf = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(buf.length, H2_PREFACE.length);
    const isPrefix = buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (isPrefix && buf.length < H2_PREFACE.length) {
      sniff(listener, socket, buf);
      return;
    }
    socket.pause();
    socket.unshift(buf);
    listener.acceptSocket(socket, isPrefix ? 'h2' : 'h1');
    // The HTTP/1.1 parser reads through the stream API, so it must flow again; nghttp2 drains the
    // unshifted bytes itself when the h2 session attaches.
    if (!isPrefix) socket.resume();
  });
  socket.once('error', onSniffError);
}

function onSniffError(this: net.Socket): void { this.destroy(); }

function onSecureConnection(listener: Listener, socket: tls.TLSSocket): void {
  const reason = checkDownstreamPeer(socket, listener.tlsModel!);
  if (reason !== null) {
    listener.logger.debug({ reason }, 'client certificate rejected');
    socket.destroy();
    return;
  }
  listener.acceptSocket(socket, socket.alpnProtocol === 'h2' ? 'h2' : 'h1');
}

function onTlsClientError(listener: Listener, err: Error): void {
  listener.logger.debug({ err: err.message }, 'TLS handshake failed');
}

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
