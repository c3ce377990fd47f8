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
 *
 * SDS: when the model names secrets (`certificateSdsName` / `validationSdsName`), `SdsUpstreamTls`
 * builds the options from a `SecretSource` instead. Its options object is built once and carries a
 * `secureContext` whose native context is swapped in place whenever a referenced secret changes,
 * so pools and health checkers that copied the options at creation make their NEXT connections with
 * the new certificate and trust bundle, while open connections keep the one they handshook with.
 * SAN matchers are the model's plus the validation secret's (Envoy's combined validation context).
 */
import * as tls from 'node:tls';
import type { SanMatcherModel, SecretModel, UpstreamTlsModel } from '../config/model';
import { compileSanMatchers, subjectAltNameMatches, type CompiledSanMatchers } from './san-matcher';
import type { SecretSource } from './secret-source';

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

/** Whether `model` takes any TLS material from SDS. */
export function usesSds(model: UpstreamTlsModel): boolean {
  return model.certificateSdsName !== null || model.validationSdsName !== null;
}

/**
 * TLS options of one cluster whose `UpstreamTlsModel` references SDS secrets (config time: one per
 * Cluster object). `options` is stable for the object's lifetime; `isReady()` turns true once every
 * referenced secret is known and usable, and `onReady` is called once at that moment. Connections
 * attempted before that fail their handshake (the cluster keeps its picker failing until ready).
 */
export class SdsUpstreamTls {
  /** Options to copy into pools and health checkers (`ALPNProtocols` set per caller). */
  readonly options: tls.ConnectionOptions;
  private readonly holder: tls.SecureContext;
  private sans: CompiledSanMatchers | null = null;
  private ready = false;
  private lastError: string | null = null;
  private unsubscribe: (() => void) | null;
  private onReady: (() => void) | null;

  constructor(
    private readonly model: UpstreamTlsModel,
    private readonly secrets: SecretSource,
    onReady: (() => void) | null = null,
  ) {
    this.onReady = onReady;
    this.holder = tls.createSecureContext({ minVersion: model.minVersion, maxVersion: model.maxVersion });
    const verify = model.trustedCa !== null || model.validationSdsName !== null || model.matchSubjectAltNames.length > 0;
    const self = this;
    const opts: tls.ConnectionOptions = {
      secureContext: this.holder,
      rejectUnauthorized: verify,
      checkServerIdentity: function checkSdsSan(_host: string, cert: tls.PeerCertificate): Error | undefined {
        const compiled = self.sans;
        if (compiled === null) return undefined;
        return subjectAltNameMatches(compiled, cert.subjectaltname) ? undefined : new UpstreamSanMismatchError(cert.subjectaltname ?? '');
      },
    };
    if (model.sni !== null) opts.servername = model.sni;
    if (model.alpnProtocols.length > 0) opts.ALPNProtocols = model.alpnProtocols.slice();
    this.options = opts;
    this.unsubscribe = secrets.onChange((name) => {
      if (name === model.certificateSdsName || name === model.validationSdsName) this.refresh();
    });
    this.refresh();
  }

  /** True once every referenced secret is known and the context was built from it. */
  isReady(): boolean { return this.ready; }

  /** Why the context is not usable (a missing or wrong-kind secret), or null. */
  notReadyReason(): string | null { return this.ready ? null : this.lastError; }

  /** Options for a caller that offers `alpn` unless the model names its own ALPN list. */
  optionsFor(alpn: readonly string[]): tls.ConnectionOptions {
    return { ...this.options, ALPNProtocols: (this.model.alpnProtocols.length > 0 ? this.model.alpnProtocols : alpn).slice() };
  }

  /**
   * Rebuilds the secure context from the current secrets and swaps it in for new connections.
   * Returns whether the context is usable. Called on every change of a referenced secret.
   */
  refresh(): boolean {
    const m = this.model;
    let certChain = m.certChain;
    let privateKey = m.privateKey;
    let trustedCa = m.trustedCa;
    let sanList: readonly SanMatcherModel[] = m.matchSubjectAltNames;
    if (m.certificateSdsName !== null) {
      const s: SecretModel | null = this.secrets.get(m.certificateSdsName);
      if (s === null || s.tlsCertificate === null) return this.notReady(`secret '${m.certificateSdsName}' ${s === null ? 'is not known yet' : 'holds no tls_certificate'}`);
      certChain = s.tlsCertificate.certChain;
      privateKey = s.tlsCertificate.privateKey;
    }
    if (m.validationSdsName !== null) {
      const s = this.secrets.get(m.validationSdsName);
      if (s === null || s.validationContext === null) return this.notReady(`secret '${m.validationSdsName}' ${s === null ? 'is not known yet' : 'holds no validation_context'}`);
      trustedCa = s.validationContext.trustedCa;
      if (s.validationContext.matchSubjectAltNames.length > 0) sanList = [...sanList, ...s.validationContext.matchSubjectAltNames];
    }
    let fresh: tls.SecureContext;
    try {
      const ctxOpts: tls.SecureContextOptions = { minVersion: m.minVersion, maxVersion: m.maxVersion };
      if (certChain !== null) ctxOpts.cert = certChain;
      if (privateKey !== null) ctxOpts.key = privateKey;
      if (trustedCa !== null) ctxOpts.ca = trustedCa;
      if (m.cipherSuites !== null) ctxOpts.ciphers = m.cipherSuites;
      fresh = tls.createSecureContext(ctxOpts);
    } catch (err) {
      return this.notReady(`unusable TLS material: ${(err as Error).message}`);
    }
    // New connections read `secureContext.context` when they are created; open ones keep theirs.
    (this.holder as unknown as { context: unknown }).context = (fresh as unknown as { context: unknown }).context;
    this.sans = sanList.length > 0 ? compileSanMatchers(sanList) : null;
    this.lastError = null;
    if (!this.ready) {
      this.ready = true;
      const cb = this.onReady;
      this.onReady = null;
      if (cb !== null) cb();
    }
    return true;
  }

  /** Stops following secret changes (the owning cluster closed). */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.onReady = null;
  }

  private notReady(reason: string): boolean {
    // Once ready, a later unusable update keeps the last good context (like a NACKed update).
    this.lastError = reason;
    return this.ready;
  }
}
