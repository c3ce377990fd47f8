/**
 * HTTP/1.1 connection pool for one upstream endpoint: an undici `Pool` configured from the cluster
 * model (Envoy's `common_http_protocol_options` and `connect_timeout`). Keep-alive connections are
 * reused; one request per connection at a time (`pipelining: 1`, as Envoy does), so concurrency is
 * bounded by the connection limit: the cluster's `circuit_breakers.max_connections` (default 1024),
 * applied per endpoint here (Envoy counts it per cluster; HTTP/2 pools count it per cluster);
 * excess requests queue inside undici. Response header and body timeouts are
 * disabled here: the router owns request, idle and per-try timeouts (Envoy has no default either).
 */
import type * as tls from 'node:tls';
import { Pool } from 'undici';
import type { ClusterModel } from '../config/model';

/** Connections per endpoint (Envoy's default `circuit_breakers.max_connections`). */
export const H1_MAX_CONNECTIONS = 1024;
/** undici's default keep-alive when the cluster sets no idle timeout. */
const UNDICI_DEFAULT_KEEPALIVE_MS = 4000;
/** undici's default ceiling for server `Keep-Alive: timeout=` hints. */
const UNDICI_DEFAULT_KEEPALIVE_MAX_MS = 600_000;

/**
 * Builds the pool for `host:port` (config time; no connection until the first request).
 * - `keepAliveTimeout`: `model.idleTimeoutMs`, or undici's default (4 s) when null. A server's
 *   `Keep-Alive: timeout=` hint still shortens it, as undici does.
 * - `connect`: `{ timeout: model.connectTimeoutMs, ...tls }`; `tls` from `buildUpstreamTlsOptions`
 *   (undici sets ALPN `http/1.1` and, for DNS names without `servername`, SNI itself).
 * - `maxRequestsPerClient`: `model.maxRequestsPerConnection` (null → unlimited).
 * Errors surface through undici's typed errors (`UND_ERR_CONNECT_TIMEOUT`, `ECONNREFUSED`, …); the
 * router maps them to `UpstreamConnectError`. Callers `close()`/`destroy()` the pool when the
 * endpoint leaves the cluster.
 */
export function createH1Pool(host: string, port: number, model: ClusterModel, tlsOptions: tls.ConnectionOptions | null): Pool {
  const h = host.indexOf(':') !== -1 && host[0] !== '[' ? `[${host}]` : host;
  const origin = `${tlsOptions === null ? 'http' : 'https'}://${h}:${port}`;
  const keepAlive = model.idleTimeoutMs ?? UNDICI_DEFAULT_KEEPALIVE_MS;
  const options: Pool.Options = {
    connections: Math.min(H1_MAX_CONNECTIONS, model.circuitBreakers.maxConnections),
    pipelining: 1,
    keepAliveTimeout: keepAlive,
    keepAliveMaxTimeout: Math.max(keepAlive, UNDICI_DEFAULT_KEEPALIVE_MAX_MS),
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: { ...(tlsOptions ?? {}), timeout: model.connectTimeoutMs } as Pool.Options['connect'],
  };
  if (model.maxRequestsPerConnection !== null) options.maxRequestsPerClient = model.maxRequestsPerConnection;
  return new Pool(origin, options);
}
