/**
 * Envoy's response flags: why a request ended the way it did, as a bit set on the stream and as
 * Envoy's short codes in access logs, trace attributes and Istio's `response_flags` metric label
 * (`-` when none, codes joined by `,` in Envoy's order). Only codes Remora can produce are listed,
 * so the set of label values stays small and fixed.
 */

export const ResponseFlag = {
  /** UH: no healthy upstream host. */
  NoHealthyUpstream: 1 << 0,
  /** UF: upstream connection failure. */
  UpstreamConnectionFailure: 1 << 1,
  /** UO: upstream overflow (circuit breaking). */
  UpstreamOverflow: 1 << 2,
  /** NR: no route configured (or no cluster for the route). */
  NoRouteFound: 1 << 3,
  /** URX: the retry limit (or the retry budget) was reached. */
  UpstreamRetryLimitExceeded: 1 << 4,
  /** UT: upstream request timeout. */
  UpstreamRequestTimeout: 1 << 5,
  /** UR: upstream remote reset. */
  UpstreamRemoteReset: 1 << 6,
  /** DC: downstream connection termination (the client went away before the response ended). */
  DownstreamConnectionTermination: 1 << 7,
  /** DI: the request was delayed by fault injection. */
  DelayInjected: 1 << 8,
  /** FI: the request was aborted by fault injection. */
  FaultInjected: 1 << 9,
  /** RL: rate limited (local or global). */
  RateLimited: 1 << 10,
  /** UAEX: unauthorized (RBAC denial or JWT failure; Envoy uses RBAC's `RBAC_ACCESS_DENIED`, Istio reports UAEX). */
  UnauthorizedExternalService: 1 << 11,
  /** SI: stream idle timeout. */
  StreamIdleTimeout: 1 << 12,
  /** DPE: downstream protocol error (malformed request, header limits). */
  DownstreamProtocolError: 1 << 13,
  /** RLSE: the rate-limit service failed (Redis down; the request went on fail-open). */
  RateLimitServiceError: 1 << 14,
  /** LR: a local reset (the proxy reset the stream itself, e.g. draining). */
  LocalReset: 1 << 15,
} as const;

/** Envoy's short codes, in Envoy's print order, paired with their bits. */
const CODES: readonly (readonly [number, string])[] = [
  [ResponseFlag.NoHealthyUpstream, 'UH'],
  [ResponseFlag.UpstreamConnectionFailure, 'UF'],
  [ResponseFlag.UpstreamOverflow, 'UO'],
  [ResponseFlag.NoRouteFound, 'NR'],
  [ResponseFlag.UpstreamRetryLimitExceeded, 'URX'],
  [ResponseFlag.UpstreamRequestTimeout, 'UT'],
  [ResponseFlag.UpstreamRemoteReset, 'UR'],
  [ResponseFlag.DownstreamConnectionTermination, 'DC'],
  [ResponseFlag.DelayInjected, 'DI'],
  [ResponseFlag.FaultInjected, 'FI'],
  [ResponseFlag.RateLimited, 'RL'],
  [ResponseFlag.UnauthorizedExternalService, 'UAEX'],
  [ResponseFlag.StreamIdleTimeout, 'SI'],
  [ResponseFlag.DownstreamProtocolError, 'DPE'],
  [ResponseFlag.RateLimitServiceError, 'RLSE'],
  [ResponseFlag.LocalReset, 'LR'],
];

/** Memo of formatted sets: few distinct combinations occur, so each is built once per process. */
export class ResponseFlagFormatter {
  private readonly cache = new Map<number, string>();

  /** `-` for no flags, else the codes joined by `,` (`UF,URX`). */
  format(bits: number): string {
    if (bits === 0) return '-';
    let s = this.cache.get(bits);
    if (s === undefined) {
      s = formatResponseFlags(bits);
      this.cache.set(bits, s);
    }
    return s;
  }
}

/** Formats a flag set without memoisation (config time, tests). */
export function formatResponseFlags(bits: number): string {
  if (bits === 0) return '-';
  const out: string[] = [];
  for (let i = 0; i < CODES.length; i++) if ((bits & CODES[i][0]) !== 0) out.push(CODES[i][1]);
  return out.join(',');
}

/** The bit of a short code (`UH` → NoHealthyUpstream); undefined for an unknown code. */
export function responseFlagBit(code: string): number | undefined {
  for (let i = 0; i < CODES.length; i++) if (CODES[i][1] === code) return CODES[i][0];
  return undefined;
}
