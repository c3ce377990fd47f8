/**
 * Builds Node TLS server options for a listener from its compiled `DownstreamTlsModel` (Envoy's
 * `DownstreamTlsContext`) and validates the client certificate once per connection. Envoy semantics:
 * - A client certificate is requested only when a validation context (`trustedCa`) is configured.
 * - With `requireClientCertificate`, the handshake itself fails without a valid certificate
 *   (`rejectUnauthorized`). Without it, a client may connect with NO certificate, but a client that
 *   presents one that does not chain to the trusted CA, or whose SANs do not match
 *   `matchSubjectAltNames`, is refused: the listener calls `checkDownstreamPeer()` after the
 *   handshake and closes the connection when it returns a reason.
 * - ALPN, min/max version and ciphers come from the model; the server's cipher order wins.
 * - SDS: `resolveDownstreamTls()` fills a model's SDS-referenced certificate / validation context
 *   from a `SecretSource`; the listener rebuilds its secure context from the result on every change.
 * - `peerIdentityOf()` turns the verified client certificate into the connection's `PeerIdentity`.
 */
import { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import type { DownstreamTlsModel, SanMatcherModel } from '../config/model';
import { parseSpiffeId, type PeerIdentity } from './peer-identity';
import { compileSanMatchers, parseSubjectAltNames, subjectAltNameMatches, type CompiledSanMatchers } from './san-matcher';
import type { SecretSource } from './secret-source';

/**
 * Server options for `tls.createServer` / `http2.createSecureServer` / `server.setSecureContext`.
 * Pure; call once per listener update (and per SDS secret change, with the resolved model). Client
 * certificates are requested when a validation context is inline or SDS-referenced.
 */
export function buildDownstreamTlsServerOptions(model: DownstreamTlsModel): tls.TlsOptions {
  const verify = requestsClientCertificate(model);
  const opts: tls.TlsOptions = {
    cert: model.certChain ?? undefined,
    key: model.privateKey ?? undefined,
    ALPNProtocols: model.alpnProtocols.slice(),
    minVersion: model.minVersion,
    maxVersion: model.maxVersion,
    honorCipherOrder: true,
    requestCert: verify,
    rejectUnauthorized: verify && model.requireClientCertificate,
  };
  if (model.trustedCa !== null) opts.ca = model.trustedCa;
  if (model.cipherSuites !== null) opts.ciphers = model.cipherSuites;
  return opts;
}

/**
 * Compiled SAN matchers memoised per (frozen, config-time) matcher array, so a per-connection check
 * never recompiles regexes. A WeakMap holds no model alive once a config is replaced.
 */
const compiledByModel = new WeakMap<readonly SanMatcherModel[], CompiledSanMatchers>();

function compiledFor(list: readonly SanMatcherModel[]): CompiledSanMatchers {
  let c = compiledByModel.get(list);
  if (c === undefined) {
    c = compileSanMatchers(list);
    compiledByModel.set(list, c);
  }
  return c;
}

/**
 * Checks the client certificate of an established downstream TLS connection. Returns null when the
 * connection is acceptable, or a short reason (for logs and the connection-close stat; never sent to
 * the client) when it must be closed. Synchronous; call once, after 'secureConnection'.
 */
export function checkDownstreamPeer(socket: tls.TLSSocket, model: DownstreamTlsModel): string | null {
  if (!requestsClientCertificate(model)) return null;
  const cert = socket.getPeerCertificate(false);
  const presented = cert !== null && cert !== undefined && Object.keys(cert).length > 0;
  if (!presented) return model.requireClientCertificate ? 'client certificate required' : null;
  if (!socket.authorized) {
    const why = socket.authorizationError;
    return 'client certificate not authorized: ' + (why === undefined || why === null ? 'unknown' : String(why));
  }
  if (model.matchSubjectAltNames.length > 0 && !subjectAltNameMatches(compiledFor(model.matchSubjectAltNames), cert.subjectaltname)) {
    return 'client certificate subject alt names do not match';
  }
  return null;
}

/**
 * Whether the listener asks clients for a certificate: a validation context is configured inline
 * (`trustedCa`) or comes from SDS (`validationSdsName`). Fixed per listener model (TLS server-level
 * options cannot change with a secret update).
 */
export function requestsClientCertificate(model: DownstreamTlsModel): boolean {
  return model.trustedCa !== null || model.validationSdsName !== null;
}

/**
 * The effective TLS model of a listener: `model` with the SDS-referenced certificate
 * (`certificateSdsName`) and validation context (`validationSdsName`) filled in from `secrets`.
 * The secret's SAN matchers are appended to the model's own (Envoy merges a combined validation
 * context's default part into the dynamic one). Returns `model` itself when nothing is SDS-based,
 * and null while a referenced secret (or the part of it the listener needs) is not known yet.
 * Call at config time and on every `SecretSource.onChange`, never per connection.
 */
export function resolveDownstreamTls(model: DownstreamTlsModel, secrets: SecretSource | null): DownstreamTlsModel | null {
  const certName = model.certificateSdsName;
  const caName = model.validationSdsName;
  if (certName === null && caName === null) return model;
  if (secrets === null) return null;
  let certChain = model.certChain;
  let privateKey = model.privateKey;
  let trustedCa = model.trustedCa;
  let san = model.matchSubjectAltNames;
  if (certName !== null) {
    const tc = secrets.get(certName)?.tlsCertificate ?? null;
    if (tc === null) return null;
    certChain = tc.certChain;
    privateKey = tc.privateKey;
  }
  if (caName !== null) {
    const vc = secrets.get(caName)?.validationContext ?? null;
    if (vc === null) return null;
    trustedCa = vc.trustedCa;
    if (vc.matchSubjectAltNames.length > 0) san = san.length === 0 ? vc.matchSubjectAltNames : [...san, ...vc.matchSubjectAltNames];
  }
  return Object.freeze({ ...model, certChain, privateKey, trustedCa, matchSubjectAltNames: san });
}

/**
 * The verified identity of an accepted client, built once per connection after the handshake and
 * `checkDownstreamPeer()` succeeded; null when the client presented no certificate. Never call it
 * for a connection `checkDownstreamPeer()` refused.
 */
export function peerIdentityOf(socket: tls.TLSSocket): PeerIdentity | null {
  const x509 = socket.getPeerX509Certificate();
  return x509 === undefined ? null : peerIdentityFromCertificate(x509);
}

/** Builds a PeerIdentity from a (verified) certificate: SANs, RFC 2253 subject and SHA-256 hash. */
export function peerIdentityFromCertificate(x509: X509Certificate): PeerIdentity {
  const sans = parseSubjectAltNames(x509.subjectAltName);
  const uriSans: string[] = [];
  const dnsSans: string[] = [];
  for (let i = 0; i < sans.length; i++) {
    const e = sans[i]!;
    if (e.type === 'URI') uriSans.push(e.value);
    else if (e.type === 'DNS') dnsSans.push(e.value);
  }
  let spiffeId: string | null = null;
  for (let i = 0; i < uriSans.length; i++) {
    if (uriSans[i]!.startsWith('spiffe://')) {
      spiffeId = uriSans[i]!;
      break;
    }
  }
  const parsed = spiffeId === null ? null : parseSpiffeId(spiffeId);
  return Object.freeze({
    spiffeId,
    principal: spiffeId === null ? null : spiffeId.slice('spiffe://'.length),
    trustDomain: parsed?.trustDomain ?? null,
    namespace: parsed?.namespace ?? null,
    serviceAccount: parsed?.serviceAccount ?? null,
    uriSans: Object.freeze(uriSans),
    dnsSans: Object.freeze(dnsSans),
    subject: rfc2253Subject(x509.subject),
    certSha256: x509.fingerprint256.replace(/:/g, '').toLowerCase(),
  });
}

/** URI SANs of the first certificate of a PEM chain (the listener's own, for XFCC `By=`); [] when unparsable. */
export function localUriSans(certChain: Buffer | null): readonly string[] {
  if (certChain === null) return [];
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certChain);
  } catch {
    return [];
  }
  const sans = parseSubjectAltNames(x509.subjectAltName);
  const out: string[] = [];
  for (let i = 0; i < sans.length; i++) if (sans[i]!.type === 'URI') out.push(sans[i]!.value);
  return Object.freeze(out);
}

/**
 * Node prints a subject one RDN per line in certificate order, values already escaped per RFC 2253;
 * Envoy prints RFC 2253 (most specific RDN first, comma separated).
 */
function rfc2253Subject(nodeSubject: string | undefined): string {
  if (nodeSubject === undefined || nodeSubject === '') return '';
  return nodeSubject.split('\n').filter((s) => s !== '').reverse().join(',');
}
