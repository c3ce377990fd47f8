/**
 * The mTLS bench's "floor": the least an HTTP/2 proxy written on node:http2 must do, so the report
 * can show how much of the Remora pair's added latency and CPU is Node's own HTTP/2 + TLS stack and
 * how much is Remora. One `FloorForwarder` listens (h2c, or TLS 1.3 h2 requiring a client certificate
 * from the mesh root), keeps ONE upstream session (h2c, or TLS 1.3 h2 with a client certificate, the
 * mesh root as the only CA and the server's URI SAN pinned — as Remora's sidecar A pins B), reconnects
 * it when it closes, and per stream: forwards the request headers (minus `:scheme`, which the upstream
 * session sets, and connection-specific headers), pipes the bodies both ways, answers with the
 * upstream's response headers (`waitForTrailers`) and then its trailers — or passes a trailers-only
 * response through as trailers-only — and resets either side when the other is reset. TCP_NODELAY on
 * every socket. Nothing else: no routing, no metrics, no per-request logging, no timeouts.
 *
 * As a script (forked by run.ts so its CPU is its own in /proc):
 *   floor-forwarder --listen <port> --upstream <host:port>
 *     [--tls-cert <pem> --tls-key <pem> --tls-ca <pem> --require-client-cert [--client-san <uri>]]
 *     [--upstream-tls-cert <pem> --upstream-tls-key <pem> --upstream-tls-ca <pem> --upstream-san <uri>]
 * It reports readiness as IPC `{type:'listening', port, pid}` when forked (else `listening <port>` on
 * stdout) and exits on SIGTERM/SIGINT or when the parent disconnects.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';

const {
  HTTP2_HEADER_SCHEME,
  NGHTTP2_NO_ERROR,
  NGHTTP2_CANCEL,
  NGHTTP2_INTERNAL_ERROR,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_FLAG_END_STREAM,
} = http2.constants;

/** PEM material of one TLS side (already read from disk). */
export interface FloorTlsFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

/** Everything a forwarder needs; built by `parseForwarderArgs` or directly by tests. */
export interface FloorForwarderOptions {
  /** Port on 127.0.0.1 to listen on (0 = any). */
  readonly listenPort: number;
  /** Downstream TLS (TLS 1.3, ALPN h2, client certificate required from `ca`); null = h2c. */
  readonly serverTls: FloorTlsFiles | null;
  /** When set (TLS only), connections whose client certificate lacks this URI SAN are destroyed. */
  readonly clientSan: string | null;
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  /** Upstream TLS (TLS 1.3, client certificate, `ca` the only root); null = h2c. */
  readonly upstreamTls: FloorTlsFiles | null;
  /** The URI SAN the upstream certificate must carry (required with `upstreamTls`). */
  readonly upstreamSan: string | null;
}

const USAGE =
  'usage: floor-forwarder --listen <port> --upstream <host:port> ' +
  '[--tls-cert f --tls-key f --tls-ca f --require-client-cert [--client-san uri]] ' +
  '[--upstream-tls-cert f --upstream-tls-key f --upstream-tls-ca f --upstream-san uri]';

/**
 * Parses argv (without node and script; `--flag value` only) and reads the PEM files. Throws with the
 * usage on bad or inconsistent input: TLS options come in complete sets, a TLS listener must require
 * client certificates, and upstream TLS needs `--upstream-san`.
 */
export function parseForwarderArgs(argv: readonly string[]): FloorForwarderOptions {
  const v = new Map<string, string>();
  let requireClientCert = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--require-client-cert') {
      requireClientCert = true;
      continue;
    }
    if (!a.startsWith('--') || i + 1 >= argv.length) throw new Error(`bad argument ${a}\n${USAGE}`);
    v.set(a, argv[++i]);
  }
  const known = ['--listen', '--upstream', '--tls-cert', '--tls-key', '--tls-ca', '--client-san', '--upstream-tls-cert', '--upstream-tls-key', '--upstream-tls-ca', '--upstream-san'];
  for (const k of v.keys()) if (!known.includes(k)) throw new Error(`unknown argument ${k}\n${USAGE}`);
  const listen = Number(v.get('--listen'));
  if (!Number.isInteger(listen) || listen < 0 || listen > 65535) throw new Error(`--listen: expected a port\n${USAGE}`);
  const up = /^(.+):(\d+)$/.exec(v.get('--upstream') ?? '');
  if (up === null) throw new Error(`--upstream: expected host:port\n${USAGE}`);
  const tlsSet = (prefix: string): FloorTlsFiles | null => {
    const files = [v.get(`${prefix}-cert`), v.get(`${prefix}-key`), v.get(`${prefix}-ca`)];
    if (files.every((f) => f === undefined)) return null;
    if (files.some((f) => f === undefined)) throw new Error(`${prefix}-cert, ${prefix}-key and ${prefix}-ca go together\n${USAGE}`);
    return { cert: fs.readFileSync(files[0]!), key: fs.readFileSync(files[1]!), ca: fs.readFileSync(files[2]!) };
  };
  const serverTls = tlsSet('--tls');
  const upstreamTls = tlsSet('--upstream-tls');
  if (serverTls !== null && !requireClientCert) throw new Error(`a TLS listener must --require-client-cert (mTLS)\n${USAGE}`);
  if (serverTls === null && (requireClientCert || v.has('--client-san'))) throw new Error(`--require-client-cert/--client-san need --tls-*\n${USAGE}`);
  const upstreamSan = v.get('--upstream-san') ?? null;
  if ((upstreamTls === null) !== (upstreamSan === null)) throw new Error(`--upstream-san goes with --upstream-tls-*\n${USAGE}`);
  return {
    listenPort: listen,
    serverTls,
    clientSan: v.get('--client-san') ?? null,
    upstreamHost: up[1],
    upstreamPort: Number(up[2]),
    upstreamTls,
    upstreamSan,
  };
}

/** True when the `subjectaltname` string of a peer certificate lists exactly `uri` as a URI SAN. */
export function hasUriSan(subjectaltname: string | undefined, uri: string): boolean {
  if (subjectaltname === undefined) return false;
  const want = `URI:${uri}`;
  const parts = subjectaltname.split(', ');
  for (let i = 0; i < parts.length; i++) if (parts[i] === want) return true;
  return false;
}

/** Request headers a proxy must not re-send on its own connection (RFC 9113 §8.2.2), plus `:scheme`. */
const DROPPED_REQUEST_HEADERS: ReadonlySet<string> = new Set([HTTP2_HEADER_SCHEME, 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

function setNoDelay(socket: net.Socket): void {
  socket.setNoDelay(true);
}

function ignoreError(): void {
  // Stream/session errors surface as 'close' with an rstCode; handled there.
}

/** A forwarder instance: `listen()` once, `close()` once. */
export class FloorForwarder {
  private readonly opts: FloorForwarderOptions;
  private readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly upstreamAuthority: string;
  private readonly upstreamConnectOptions: http2.ClientSessionOptions;
  private readonly sessions: Set<http2.ServerHttp2Session> = new Set();
  private upstream: http2.ClientHttp2Session | null = null;
  private closed = false;

  /** Builds the server (not yet listening) from `opts`; throws if `upstreamTls` is set without `upstreamSan`. */
  constructor(opts: FloorForwarderOptions) {
    this.opts = opts;
    const host = opts.upstreamHost.includes(':') ? `[${opts.upstreamHost}]` : opts.upstreamHost;
    this.upstreamAuthority = `${opts.upstreamTls === null ? 'http' : 'https'}://${host}:${opts.upstreamPort}`;
    let tlsConnect: tls.ConnectionOptions | null = null;
    if (opts.upstreamTls !== null) {
      const san = opts.upstreamSan;
      if (san === null) throw new Error('upstream TLS needs the upstream SAN to pin');
      tlsConnect = {
        host: opts.upstreamHost,
        port: opts.upstreamPort,
        cert: opts.upstreamTls.cert,
        key: opts.upstreamTls.key,
        ca: opts.upstreamTls.ca,
        minVersion: 'TLSv1.3',
        ALPNProtocols: ['h2'],
        rejectUnauthorized: true,
        checkServerIdentity: (_host: string, cert: tls.PeerCertificate): Error | undefined =>
          hasUriSan(cert.subjectaltname, san) ? undefined : new Error(`upstream certificate SANs "${cert.subjectaltname ?? ''}" lack URI:${san}`),
      };
    }
    // We open the socket ourselves: the session's socket proxy refuses setNoDelay afterwards.
    const tcpConnect: net.NetConnectOpts = { host: opts.upstreamHost, port: opts.upstreamPort, noDelay: true };
    const connect = tlsConnect;
    this.upstreamConnectOptions = {
      createConnection: connect !== null
        ? (): tls.TLSSocket => tls.connect(connect).setNoDelay(true)
        : (): net.Socket => net.connect(tcpConnect),
    };
    const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => this.forward(stream, headers);
    if (opts.serverTls !== null) {
      const secure = http2.createSecureServer({
        cert: opts.serverTls.cert,
        key: opts.serverTls.key,
        ca: opts.serverTls.ca,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
        ALPNProtocols: ['h2'],
        allowHTTP1: false,
      });
      const clientSan = opts.clientSan;
      if (clientSan !== null) {
        secure.on('secureConnection', (socket: tls.TLSSocket) => {
          if (!hasUriSan(socket.getPeerCertificate().subjectaltname, clientSan)) socket.destroy();
        });
      }
      this.server = secure;
    } else {
      this.server = http2.createServer();
    }
    this.server.on('connection', setNoDelay);
    this.server.on('stream', onStream);
    this.server.on('sessionError', ignoreError);
    this.server.on('session', (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
    });
  }

  /** Starts listening on 127.0.0.1:`listenPort` and opens the upstream session; resolves with the bound port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.listenPort, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.session();
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops accepting, closes the upstream session and destroys open downstream sessions; idempotent. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const up = this.upstream;
    this.upstream = null;
    if (up !== null) up.destroy();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      // Open sessions keep the server open; tests and shutdown want it gone now.
      for (const session of this.sessions) session.destroy();
    });
  }

  /** The live upstream session, (re)connected on demand. */
  private session(): http2.ClientHttp2Session {
    const cur = this.upstream;
    if (cur !== null && !cur.closed && !cur.destroyed) return cur;
    const s = http2.connect(this.upstreamAuthority, this.upstreamConnectOptions);
    const forget = (): void => {
      if (this.upstream === s) this.upstream = null;
    };
    s.on('error', forget);
    s.on('goaway', forget);
    s.on('close', forget);
    this.upstream = s;
    return s;
  }

  /** One downstream stream: relay it over the upstream session. */
  private forward(down: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const out: http2.OutgoingHttpHeaders = {};
    const names = Object.keys(headers);
    for (let i = 0; i < names.length; i++) {
      const n = names[i];
      if (!DROPPED_REQUEST_HEADERS.has(n)) out[n] = headers[n];
    }
    down.on('error', ignoreError);
    let up: http2.ClientHttp2Stream;
    try {
      up = this.session().request(out);
    } catch {
      down.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    up.on('error', ignoreError);
    let trailers: http2.OutgoingHttpHeaders | null = null;
    up.on('response', (h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number) => {
      if (down.closed || down.destroyed) return;
      if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
        // Trailers-only (e.g. a gRPC error): one HEADERS frame with END_STREAM, passed through as is.
        down.respond(h, { endStream: true });
        return;
      }
      down.respond(h, { waitForTrailers: true });
      up.pipe(down);
    });
    up.on('trailers', (t: http2.IncomingHttpHeaders) => {
      trailers = t;
    });
    down.on('wantTrailers', () => {
      // Without upstream trailers Node ends the stream with an empty DATA frame.
      down.sendTrailers(trailers ?? {});
    });
    up.on('close', () => {
      if (down.closed || down.destroyed) return;
      if (up.rstCode !== NGHTTP2_NO_ERROR || !down.headersSent) down.close(up.rstCode === NGHTTP2_CANCEL ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
    });
    down.on('close', () => {
      if (up.closed || up.destroyed) return;
      if (down.rstCode !== NGHTTP2_NO_ERROR) up.close(NGHTTP2_CANCEL);
    });
    down.pipe(up);
  }
}

/** A forked forwarder process and the port it listens on. */
export interface FloorProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** The last `lines` lines of its stdout/stderr log. */
  logTail(lines?: number): string;
}

/** Which file to fork and with which Node flags. */
export interface FloorLaunch {
  readonly script: string;
  readonly execArgv: readonly string[];
}

/** This very file under the caller's execArgv (e.g. `--import tsx`) plus `nodeArgs`. */
export function selfLaunch(nodeArgs: readonly string[] = []): FloorLaunch {
  return { script: __filename, execArgv: [...process.execArgv, ...nodeArgs] };
}

/**
 * Forks the forwarder script (`launch`, default this file under the caller's execArgv) with `args`
 * (the script's command line), output appended to `logFile`, tracked by `track` (e.g. a
 * ChildRegistry's `track`), and resolves once it reports its port (rejects with the log tail if it
 * exits first or stays silent for `timeoutMs`). The caller stops it (SIGTERM).
 */
export function startFloorForwarder(
  track: (child: ChildProcess) => ChildProcess,
  args: readonly string[],
  logFile: string,
  launch: FloorLaunch = selfLaunch(),
  timeoutMs = 15000,
): Promise<FloorProcess> {
  const fd = fs.openSync(logFile, 'a');
  const child = track(fork(launch.script, [...args], { execArgv: [...launch.execArgv], stdio: ['ignore', fd, fd, 'ipc'] }));
  fs.closeSync(fd);
  const logTail = (lines = 20): string => {
    try {
      return fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`floor forwarder did not report a port within ${timeoutMs} ms\n${logTail()}`)), timeoutMs);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`floor forwarder exited (${code ?? sig}) during startup\n${logTail()}`));
    });
    child.once('message', (m: { type?: string; port?: number }) => {
      clearTimeout(timer);
      if (m.type === 'listening' && typeof m.port === 'number') resolve({ child, port: m.port, logTail });
      else reject(new Error(`unexpected floor forwarder message ${JSON.stringify(m)}`));
    });
  });
}

/** Script entry: parse, listen, report readiness, exit on SIGTERM/SIGINT or parent disconnect. */
async function main(argv: readonly string[]): Promise<void> {
  let opts: FloorForwarderOptions;
  try {
    opts = parseForwarderArgs(argv);
  } catch (e) {
    process.stderr.write(`floor-forwarder: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const fwd = new FloorForwarder(opts);
  const port = await fwd.listen();
  if (process.send !== undefined) process.send({ type: 'listening', port, pid: process.pid });
  else process.stdout.write(`listening ${port}\n`);
  const stop = (): void => {
    void fwd.close();
    process.exit(0);
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`floor-forwarder: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
