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
 */
import type * as tls from 'node:tls';
import type { DownstreamTlsModel, SanMatcherModel } from '../config/model';
import { compileSanMatchers, subjectAltNameMatches, type CompiledSanMatchers } from './san-matcher';

/** Server options for `tls.createServer` / `http2.createSecureServer`. Pure; call once per listener update. */
export function buildDownstreamTlsServerOptions(model: DownstreamTlsModel): tls.TlsOptions {
  const opts: tls.TlsOptions = {
    cert: model.certChain ?? undefined,
    key: model.privateKey ?? undefined,
    ALPNProtocols: model.alpnProtocols.slice(),
    minVersion: model.minVersion,
    maxVersion: model.maxVersion,
    honorCipherOrder: true,
    requestCert: model.trustedCa !== null,
    rejectUnauthorized: model.trustedCa !== null && model.requireClientCertificate,
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
  if (model.trustedCa === null) return null;
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
