/**
 * Builds Node `tls.connect` options for an upstream cluster from its compiled `UpstreamTlsModel`
 * (Envoy's `UpstreamTlsContext`), once per cluster at config time. Semantics follow Envoy, not
 * Node's defaults:
 * - The server's certificate chain is verified only when `trustedCa` is set
 *   (`validation_context.trusted_ca`); then `rejectUnauthorized` is true and only that CA is trusted
 *   (Node's bundled roots are not). Without a trusted CA any certificate is accepted, like Envoy.
 * - The host name is NOT checked against the certificate (Envoy never does this implicitly); Node's
 *   default `checkServerIdentity` is replaced.
 * - When `matchSubjectAltNames` is non-empty, the certificate is accepted iff any of its SANs
 *   (DNS, URI, IP Address, email) matches any matcher of the same type (see `san-matcher.ts`).
 *   Envoy rejects SAN matchers without a trusted CA at config time ("SAN-based verification of peer
 *   certificates without trusted CA is insecure and not allowed"); the config compiler should too.
 *   Should such a model reach us anyway we fail closed: the chain is verified against Node's default
 *   roots (which Node requires before it calls `checkServerIdentity`) and SANs are still matched.
 * - SNI is sent only when `sni` is set (`servername`); null sends none. Note that callers which
 *   hand these options to `http2.connect('https://name')` or undici get that library's own default
 *   SNI for DNS names; `H2Pool` connects its TLS socket itself to honour "no SNI".
 * - `alpnProtocols` from the model win; otherwise the caller's protocol list (`['h2']` for H2Pool).
 * - Min/max protocol version and cipher list map to `minVersion`/`maxVersion`/`ciphers`.
 */
import type * as tls from 'node:tls';
import type { UpstreamTlsModel } from '../config/model';
import { compileSanMatchers, subjectAltNameMatches, type CompiledSanMatchers } from './san-matcher';

/** Error returned from `checkServerIdentity` when no SAN matches; `code` is stable. */
export class UpstreamSanMismatchError extends Error {
  readonly code = 'REMORA_ERR_UPSTREAM_SAN_MISMATCH';
  constructor(readonly subjectaltname: string) {
    super('upstream certificate subject alt names do not match');
    this.name = 'UpstreamSanMismatchError';
  }
}

/** Envoy never checks the host name implicitly: accept every certificate identity. */
function acceptAnyIdentity(): Error | undefined {
  return undefined;
}

/**
 * Returns fresh `tls.ConnectionOptions` for one cluster (no host/port: the pool adds them).
 * Pure: call once per cluster update and reuse the result for every connection.
 */
export function buildUpstreamTlsOptions(model: UpstreamTlsModel, alpn: readonly string[]): tls.ConnectionOptions {
  const opts: tls.ConnectionOptions = {
    minVersion: model.minVersion,
    maxVersion: model.maxVersion,
    ALPNProtocols: (model.alpnProtocols.length > 0 ? model.alpnProtocols : alpn).slice(),
    rejectUnauthorized: model.trustedCa !== null || model.matchSubjectAltNames.length > 0,
    checkServerIdentity: model.matchSubjectAltNames.length > 0
      ? sanIdentityChecker(compileSanMatchers(model.matchSubjectAltNames))
      : acceptAnyIdentity,
  };
  if (model.certChain !== null) opts.cert = model.certChain;
  if (model.privateKey !== null) opts.key = model.privateKey;
  if (model.trustedCa !== null) opts.ca = model.trustedCa;
  if (model.sni !== null) opts.servername = model.sni;
  if (model.cipherSuites !== null) opts.ciphers = model.cipherSuites;
  return opts;
}

/** One checker per cluster (config time): Node calls it once per handshake, after chain verification. */
function sanIdentityChecker(compiled: CompiledSanMatchers): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  return function checkSan(_host: string, cert: tls.PeerCertificate): Error | undefined {
    const san = cert.subjectaltname;
    return subjectAltNameMatches(compiled, san) ? undefined : new UpstreamSanMismatchError(san ?? '');
  };
}
