/**
 * What the connection manager needs to know about the downstream connection a request arrived on,
 * computed once per connection by the listener (connection time) and shared by all its requests:
 * the peer IP, the verified client identity (`PeerIdentity`, null for plaintext or no client
 * certificate) and the URI SANs of the certificate the listener presented. It also applies Envoy's
 * `forward_client_cert_details` to a request's `x-forwarded-client-cert` header, building the
 * current hop's element (`By=…;Hash=…;Subject="…";URI=…;DNS=…`) once per connection and HCM config.
 * See https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-forwarded-client-cert
 */
import { toPem } from '../transport/x509';
import type * as tls from 'node:tls';
import type { HttpConnectionManagerModel } from '../config/model';
import type { RequestHeaders } from '../filters/stream-context';
import type { PeerIdentity } from '../transport/peer-identity';
import type { ConnectionInfo } from '../observability/stream-info';

export const XFCC = 'x-forwarded-client-cert';

export class DownstreamConnection implements ConnectionInfo {
  /** Telemetry's per-connection state (e.g. Istio metric labels derived from the peer); see ConnectionInfo. */
  telemetrySlot: unknown = null;
  /** The HCM config `xfccElement` was built for; rebuilt when the listener's HCM is replaced. */
  private xfccFor: HttpConnectionManagerModel | null = null;
  private xfccElement = '';

  constructor(
    /** 'https' for TLS connections, 'http' for plaintext (PERMISSIVE listeners serve both). */
    readonly scheme: 'http' | 'https',
    readonly remoteAddress: string,
    /** The verified client certificate's identity; null for plaintext or when no certificate was presented. */
    readonly peer: PeerIdentity | null,
    /** The TLS socket (for XFCC `Cert=`/`Chain=`); null for plaintext. */
    private readonly tlsSocket: tls.TLSSocket | null,
    /** URI SANs of the listener's own certificate on this connection (XFCC `By=`). */
    readonly localUriSans: readonly string[],
  ) {}

  /** TLS with a verified client certificate. */
  get mutualTls(): boolean { return this.peer !== null; }

  /**
   * Applies `model.forwardClientCertDetails` to `headers` (Envoy's order of rules):
   * ALWAYS_FORWARD_ONLY keeps the header as is; SANITIZE, or any mode on a connection without a
   * verified client certificate, removes it; FORWARD_ONLY keeps it; APPEND_FORWARD appends this
   * hop's element (comma separated); SANITIZE_SET replaces it with this hop's element. Synchronous;
   * called once per request by the connection manager.
   */
  applyXfcc(headers: RequestHeaders, model: HttpConnectionManagerModel): void {
    const mode = model.forwardClientCertDetails;
    if (mode === 'ALWAYS_FORWARD_ONLY') return;
    if (mode === 'SANITIZE' || this.peer === null) {
      if (headers[XFCC] !== undefined) delete headers[XFCC];
      return;
    }
    if (mode === 'FORWARD_ONLY') return;
    const element = this.element(model);
    if (mode === 'SANITIZE_SET') {
      headers[XFCC] = element;
      return;
    }
    // APPEND_FORWARD
    const prev = headers[XFCC];
    if (prev === undefined || prev === '') headers[XFCC] = element;
    else headers[XFCC] = `${Array.isArray(prev) ? prev.join(',') : prev},${element}`;
  }

  /** This hop's XFCC element for `model` (cached per connection and config). */
  element(model: HttpConnectionManagerModel): string {
    if (this.xfccFor !== model) {
      this.xfccElement = buildXfccElement(this.peer!, this.localUriSans, model.setCurrentClientCertDetails, this.tlsSocket);
      this.xfccFor = model;
    }
    return this.xfccElement;
  }
}

/**
 * Envoy's element layout: `By=` per local URI SAN, `Hash=`, then (as configured) `Cert="…"`,
 * `Chain="…"`, `Subject="…"` (always present when asked, possibly empty), `URI=` per peer URI SAN
 * (`URI=` when none), `DNS=` per peer DNS SAN; `;` separated.
 */
export function buildXfccElement(
  peer: PeerIdentity,
  localUriSans: readonly string[],
  details: HttpConnectionManagerModel['setCurrentClientCertDetails'],
  socket: tls.TLSSocket | null,
): string {
  const parts: string[] = [];
  for (let i = 0; i < localUriSans.length; i++) parts.push(`By=${localUriSans[i]}`);
  if (peer.certSha256 !== '') parts.push(`Hash=${peer.certSha256}`);
  if (details.cert && socket !== null) {
    const pem = peerCertPem(socket);
    if (pem !== '') parts.push(`Cert="${encodeURIComponent(pem)}"`);
  }
  if (details.chain && socket !== null) {
    const chain = peerChainPem(socket);
    if (chain !== '') parts.push(`Chain="${encodeURIComponent(chain)}"`);
  }
  if (details.subject) parts.push(`Subject="${peer.subject.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  if (details.uri) {
    if (peer.uriSans.length === 0) parts.push('URI=');
    for (let i = 0; i < peer.uriSans.length; i++) parts.push(`URI=${peer.uriSans[i]}`);
  }
  if (details.dns) for (let i = 0; i < peer.dnsSans.length; i++) parts.push(`DNS=${peer.dnsSans[i]}`);
  return parts.join(';');
}

function peerCertPem(socket: tls.TLSSocket): string {
  const c = socket.getPeerCertificate(false);
  return c !== null && c !== undefined && c.raw !== undefined ? toPem('CERTIFICATE', c.raw) : '';
}

/** The peer's certificate followed by the issuers it sent or that verified it (Envoy's `Chain=`). */
function peerChainPem(socket: tls.TLSSocket): string {
  let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  let out = '';
  const seen = new Set<tls.DetailedPeerCertificate>();
  while (c !== undefined && c !== null && c.raw !== undefined && !seen.has(c)) {
    seen.add(c);
    out += toPem('CERTIFICATE', c.raw);
    c = c.issuerCertificate;
  }
  return out;
}
