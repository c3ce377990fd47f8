/**
 * The request facts route matching reads: one plain object per request, built by the router filter
 * from the stream's headers. Kept in its own file so the route table, virtual host and route classes
 * share it without importing each other.
 */
import type { RequestHeaders } from './header-matcher';

export interface RouteRequest {
  /** `:authority` (or HTTP/1 `Host`) as received. */
  authority: string;
  /** The full `:path`, query string included. */
  path: string;
  method: string;
  /**
   * Lowercase names. For HTTP/2 the pseudo headers `:method`, `:path`, `:authority`, `:scheme` are
   * present; for HTTP/1 the caller provides the same pseudo names too.
   */
  headers: RequestHeaders;
  /** True for a gRPC content-type (see `core/headers.ts` `isGrpcContentType`). */
  isGrpc: boolean;
}

/** Index of the first '?' or '#' in `path`, or `path.length`: where the path proper ends. */
export function pathEndIndex(path: string): number {
  let end = path.indexOf('?');
  if (end === -1) end = path.length;
  const hash = path.indexOf('#');
  return hash !== -1 && hash < end ? hash : end;
}
