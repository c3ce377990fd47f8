/**
 * HTTP/2 session pool for one upstream endpoint. (Interface first; implementation follows.)
 */
import type * as http2 from 'node:http2';
import type * as tls from 'node:tls';
import type { ProxyError } from '../core/errors';
import type { Runtime } from '../core/runtime';

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
}

/** Implemented by the router's per-stream object: the pool calls back exactly once. */
export interface H2PoolRequest {
  readonly upstreamHeaders: http2.OutgoingHttpHeaders;
  readonly upstreamEndStream: boolean;
  /** A stream was opened; the caller owns it from now on. */
  onUpstreamStream(stream: http2.ClientHttp2Stream): void;
  /** No session could be had (connect failure or timeout, or the pool was closed). */
  onUpstreamConnectError(err: ProxyError): void;
}

export interface H2PoolStats {
  readonly sessions: number;
  readonly activeStreams: number;
  readonly pending: number;
}

export class H2Pool {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly options: H2PoolOptions,
    readonly runtime: Runtime,
  ) {}
  /** Opens a stream on a session with spare capacity, connecting a new session when all are full. */
  request(_req: H2PoolRequest): void { throw new Error('not implemented'); }
  stats(): H2PoolStats { return { sessions: 0, activeStreams: 0, pending: 0 }; }
  /** Graceful: GOAWAY every session and resolve when they have closed. */
  async close(): Promise<void> {}
  destroy(): void {}
}
