/**
 * The verified identity of a downstream peer, taken once per connection from its client
 * certificate after the TLS handshake (and the listener's own checks) succeeded. Requests on the
 * connection share the object; authorization, access logs, metrics and `x-forwarded-client-cert`
 * read it. Nothing here is client-asserted: only a certificate that chained to the listener's trust
 * bundle produces a PeerIdentity.
 */
export interface PeerIdentity {
  /** The first `spiffe://` URI SAN, e.g. `spiffe://cluster.local/ns/default/sa/sleep`; null when none. */
  readonly spiffeId: string | null;
  /**
   * Istio's principal form: the SPIFFE ID without `spiffe://` (`cluster.local/ns/default/sa/sleep`),
   * or null without a SPIFFE ID. AuthorizationPolicy `principals` match this.
   */
  readonly principal: string | null;
  /** Parsed from a `spiffe://<td>/ns/<ns>/sa/<sa>` ID; null otherwise. */
  readonly trustDomain: string | null;
  readonly namespace: string | null;
  readonly serviceAccount: string | null;
  /** Every URI SAN of the certificate, in order. */
  readonly uriSans: readonly string[];
  /** Every DNS SAN of the certificate, in order. */
  readonly dnsSans: readonly string[];
  /** The certificate subject as Envoy prints it (`CN=...,O=...`); '' when empty. */
  readonly subject: string;
  /** Hex SHA-256 of the DER certificate (XFCC `Hash=`). */
  readonly certSha256: string;
}

/**
 * A request principal from a verified JWT (RequestAuthentication / jwt_authn): Istio's
 * `<iss>/<sub>` and the token's claims. Set on the stream by the JWT filter; read by authorization.
 */
export interface RequestPrincipal {
  readonly issuer: string;
  readonly subject: string;
  /** `${issuer}/${subject}` (Istio's `requestPrincipals` form). */
  readonly principal: string;
  readonly audiences: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
}

/** Parses `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`; null for anything else. */
export function parseSpiffeId(uri: string): { trustDomain: string; namespace: string; serviceAccount: string } | null {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  return m === null ? null : { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}

/** The control plane's own identity: the SPIFFE ID of its secure xDS serving certificate. */
export const CONTROL_PLANE_IDENTITY = Object.freeze({ namespace: 'remora-system', serviceAccount: 'remora-control-plane' });

/** `spiffe://<trustDomain>/ns/remora-system/sa/remora-control-plane`: what sidecars pin on secure xDS. */
export function controlPlaneSpiffeId(trustDomain: string): string {
  return `spiffe://${trustDomain}/ns/${CONTROL_PLANE_IDENTITY.namespace}/sa/${CONTROL_PLANE_IDENTITY.serviceAccount}`;
}
