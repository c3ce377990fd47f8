/**
 * The JSON line of one request: a fixed-shape `AccessLogLine` (field names are the documented,
 * stable schema of json_access_log.proto) filled from a finished request's StreamInfo and
 * serialised with one `JSON.stringify`. Each formatter owns one line object that it refills per
 * request (formatting is synchronous), so a line costs the string work and nothing else. Masking
 * (path query, configured request headers, JSON-valued headers) happens while filling, before
 * anything leaves this file.
 */
import { ResponseFlag, type ResponseFlagFormatter } from '../../core/response-flags';
import type { StreamInfo } from '../stream-info';
import type { Masker } from './masking';

/** One line; every field is always present (null when unknown), `request_headers` only when configured. */
export class AccessLogLine {
  /** ISO 8601 UTC, millisecond precision, of the request's first byte. */
  start_time = '';
  /** Milliseconds from the first request byte to the end of the stream (microsecond precision). */
  duration_ms = 0;
  method = '';
  authority = '';
  /** `:path` with masked query parameter values. */
  path = '';
  /** `HTTP/1.1` or `HTTP/2`. */
  protocol = '';
  /** From a gRPC path `/pkg.Service/Method`; null for other requests. */
  grpc_service: string | null = null;
  grpc_method: string | null = null;
  /** HTTP status sent to the client; 0 when none was sent (the client went away). */
  response_code = 0;
  /** grpc-status sent to the client; null when not gRPC or none was sent. */
  grpc_status: number | null = null;
  /** Envoy's response flag codes (`UF,URX`), `-` when none. */
  response_flags = '-';
  /** Why the proxy answered itself (`no healthy upstream`, `rate limited`, …); null for upstream responses. */
  reason: string | null = null;
  bytes_received = 0;
  bytes_sent = 0;
  /** `ip:port` of the last upstream host tried. */
  upstream_host: string | null = null;
  upstream_cluster: string | null = null;
  /** 1 + retries; 0 when the request never reached the router. */
  upstream_attempts = 0;
  request_id: string | null = null;
  trace_id: string | null = null;
  /** The downstream peer's SPIFFE ID (mTLS); null without a verified client certificate. */
  peer_principal: string | null = null;
  /** The client's IP address. */
  downstream_remote_address = '';
  /** The matched route's name ('' when unnamed); null when no route matched. */
  route_name: string | null = null;
  /** Configured request headers (masked), null for absent ones; undefined (omitted) when none are configured. */
  request_headers: Record<string, string | null> | undefined = undefined;
}

/** UTC ISO time with the `YYYY-MM-DDTHH:MM:SS.` prefix memoised per second. */
class IsoTime {
  private second = -1;
  private prefix = '';

  format(ms: number): string {
    const t = Math.floor(ms);
    const sec = Math.floor(t / 1000);
    if (sec !== this.second) {
      this.second = sec;
      this.prefix = new Date(sec * 1000).toISOString().slice(0, 20);
    }
    const milli = t - sec * 1000;
    return `${this.prefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
  }
}

/** The `reason` of a line: the local reply's client message (or its reason code spelled out). */
export function localReplyText(info: StreamInfo): string | null {
  const reason = info.localReplyReason;
  if (reason === null) {
    if ((info.responseFlags & ResponseFlag.DownstreamConnectionTermination) !== 0) return 'downstream disconnected before the response';
    return null;
  }
  const m = info.localReplyMessage;
  return m !== null && m !== '' ? m : reason.split('_').join(' ');
}

export class AccessLogFormatter {
  private readonly line = new AccessLogLine();
  private readonly time = new IsoTime();
  private readonly headerNames: readonly string[];

  constructor(private readonly masker: Masker, requestHeaders: readonly string[], private readonly flags: ResponseFlagFormatter) {
    this.headerNames = requestHeaders;
    if (requestHeaders.length > 0) {
      const h = Object.create(null) as Record<string, string | null>;
      for (let i = 0; i < requestHeaders.length; i++) h[requestHeaders[i]!] = null;
      this.line.request_headers = h;
    }
  }

  /** The JSON line of `info`, newline-terminated. Synchronous; never throws for any StreamInfo. */
  format(info: StreamInfo): string {
    const l = this.line;
    l.start_time = this.time.format(info.startTimeWall);
    l.duration_ms = Math.round((info.endTime - info.startTime) * 1000) / 1000;
    l.method = info.method;
    l.authority = info.authority;
    l.path = this.masker.maskPath(info.path);
    l.protocol = info.protocol === 'h2' ? 'HTTP/2' : 'HTTP/1.1';
    l.grpc_service = null;
    l.grpc_method = null;
    if (info.isGrpc) {
      const p = info.path;
      const slash = p.indexOf('/', 1);
      if (p.charCodeAt(0) === 47 && slash > 1 && slash < p.length - 1) {
        l.grpc_service = p.slice(1, slash);
        l.grpc_method = p.slice(slash + 1);
      }
    }
    l.response_code = info.responseStatus;
    l.grpc_status = info.grpcStatus < 0 ? null : info.grpcStatus;
    l.response_flags = this.flags.format(info.responseFlags);
    l.reason = localReplyText(info);
    l.bytes_received = info.bytesReceived;
    l.bytes_sent = info.bytesSent;
    l.upstream_host = info.upstreamHost;
    l.upstream_cluster = info.upstreamCluster;
    l.upstream_attempts = info.upstreamAttempts;
    l.request_id = info.requestId;
    l.trace_id = info.traceId;
    const conn = info.connection;
    l.peer_principal = conn !== null && conn.peer !== null ? conn.peer.spiffeId : null;
    l.downstream_remote_address = info.remoteAddress;
    l.route_name = info.routeName;
    const rh = l.request_headers;
    if (rh !== undefined) {
      const names = this.headerNames;
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        const v = info.headers[name];
        rh[name] = v === undefined ? null : this.masker.maskHeader(name, typeof v === 'string' ? v : v.join(', '));
      }
    }
    return JSON.stringify(l) + '\n';
  }
}
