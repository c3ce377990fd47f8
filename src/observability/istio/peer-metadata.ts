/**
 * Istio-style metadata exchange for the destination side of Istio's metrics. The control plane
 * puts a header on the outbound requests a sidecar sends to mesh-internal services, carrying the
 * caller workload's name, namespace, service account and labels (computed once per node, at
 * config time). The destination sidecar reads it once per connection, and trusts it only on an
 * mTLS connection whose verified certificate has the same namespace and service account. It
 * removes the header from every request before the app sees it. The value is base64url JSON,
 * encoded and decoded only here.
 */

export const PEER_METADATA_HEADER = 'x-remora-peer-metadata';

/** What a caller claims about itself (all strings; '' when unknown). */
export interface PeerMetadata {
  readonly workload: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly cluster: string;
}

const KEYS: readonly (keyof PeerMetadata)[] = ['workload', 'namespace', 'serviceAccount', 'app', 'version', 'canonicalService', 'canonicalRevision', 'cluster'];
/** A claim longer than this is ignored (a header is no place for more). */
const MAX_ENCODED = 1024;
const MAX_FIELD = 253;

/** The header value for `m` (config time). */
export function encodePeerMetadata(m: PeerMetadata): string {
  return Buffer.from(JSON.stringify(KEYS.map((k) => m[k])), 'utf8').toString('base64url');
}

/** The claim in a header value; null when it is malformed or oversized (never throws). */
export function decodePeerMetadata(value: string): PeerMetadata | null {
  if (value.length === 0 || value.length > MAX_ENCODED) return null;
  let arr: unknown;
  try {
    arr = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(arr) || arr.length !== KEYS.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < KEYS.length; i++) {
    const v = arr[i];
    if (typeof v !== 'string' || v.length > MAX_FIELD) return null;
    out[KEYS[i]!] = v;
  }
  return out as unknown as PeerMetadata;
}
