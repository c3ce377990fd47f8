/**
 * Well-known header names as constant lowercase strings, and the hop-by-hop set a proxy must not
 * forward (RFC 9110 §7.6.1, plus the h2-forbidden connection headers of RFC 9113 §8.2.2).
 */

export const H = {
  METHOD: ':method', PATH: ':path', AUTHORITY: ':authority', SCHEME: ':scheme', STATUS: ':status',
  HOST: 'host', CONTENT_TYPE: 'content-type', CONTENT_LENGTH: 'content-length', TE: 'te',
  GRPC_STATUS: 'grpc-status', GRPC_MESSAGE: 'grpc-message', GRPC_TIMEOUT: 'grpc-timeout',
  REQUEST_ID: 'x-request-id', XFF: 'x-forwarded-for', XFP: 'x-forwarded-proto', LOCATION: 'location',
  CONNECTION: 'connection', KEEP_ALIVE: 'keep-alive', PROXY_CONNECTION: 'proxy-connection',
  TRANSFER_ENCODING: 'transfer-encoding', UPGRADE: 'upgrade', TRAILER: 'trailer',
} as const;

/** Headers that describe one connection and are never forwarded (besides those `Connection` names). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer',
  'proxy-authenticate', 'proxy-authorization', 'http2-settings',
]);

/** True when a content-type marks a gRPC request (`application/grpc`, `application/grpc+proto`, `application/grpc;...`). */
export function isGrpcContentType(ct: string | undefined): boolean {
  if (ct === undefined || ct.length < 16) return false;
  if (!ct.startsWith('application/grpc')) return false;
  if (ct.length === 16) return true;
  const c = ct.charCodeAt(16);
  return c === 0x2b /* + */ || c === 0x3b /* ; */;
}

/**
 * Parses a `grpc-timeout` value (1–8 digits + unit H/M/S/m/u/n) to milliseconds; NaN when malformed.
 * https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#requests
 */
export function parseGrpcTimeout(value: string): number {
  const n = value.length - 1;
  if (n < 1 || n > 8) return NaN;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  switch (value.charCodeAt(n)) {
    case 0x48: return v * 3_600_000; // H
    case 0x4d: return v * 60_000; // M
    case 0x53: return v * 1000; // S
    case 0x6d: return v; // m
    case 0x75: return v / 1000; // u
    case 0x6e: return v / 1_000_000; // n
    default: return NaN;
  }
}

/** Formats milliseconds as a grpc-timeout value (at most 8 digits). */
export function formatGrpcTimeout(ms: number): string {
  if (ms <= 0) return '0m';
  const whole = Math.ceil(ms);
  if (whole < 1e8) return whole + 'm';
  const s = Math.ceil(ms / 1000);
  if (s < 1e8) return s + 'S';
  return Math.min(Math.ceil(ms / 60_000), 99_999_999) + 'M';
}

/**
 * The header names a `Connection` header lists (RFC 9110 §7.6.1), which are hop-by-hop too; null
 * when there is none (the common case: no allocation).
 */
export function connectionHeaderTokens(value: string | string[] | undefined): ReadonlySet<string> | null {
  if (value === undefined) return null;
  const joined = Array.isArray(value) ? value.join(',') : value;
  const tokens = new Set<string>();
  for (const t of joined.split(',')) {
    const name = t.trim().toLowerCase();
    if (name.length > 0) tokens.add(name);
  }
  return tokens;
}
