/**
 * Compiles Envoy's TLS transport sockets: `envoy.transport_sockets.tls` with a
 * `DownstreamTlsContext` (listeners) or `UpstreamTlsContext` (clusters) into `DownstreamTlsModel` /
 * `UpstreamTlsModel`. Certificate material is read here (DataSource filename | inline_string |
 * inline_bytes) so the data plane never touches files; cipher names are checked against Node's
 * OpenSSL. Only TLS 1.2 and 1.3 are supported.
 *
 * SDS references (secrets delivered over ADS, or the sidecar's own workload identity under the
 * Istio names `default` and `ROOTCA`): `tls_certificate_sds_secret_configs[0]` sets
 * `certificateSdsName`; `validation_context_sds_secret_config` or
 * `combined_validation_context.validation_context_sds_secret_config` sets `validationSdsName`
 * (the combined form's `default_validation_context` contributes SAN matchers and an optional
 * trusted CA). Only `sds_config: {ads: {}}` is accepted. Remora deviation (mesh mTLS): a context
 * whose certificate comes from SDS defaults to TLS 1.3 only when `tls_params` leaves the version
 * unset; TLS 1.2 stays available by setting `tls_minimum_protocol_version: TLSv1_2`.
 */
import * as tls from 'node:tls';
import type { DownstreamTlsModel, SanMatcherModel, UpstreamTlsModel } from '../model';
import {
  CompileDeps, checkAdsConfigSource, compileDataSource, Issues, joinPath, list, msg, onlyFields, str, strList, wrapped,
} from './context';
import type { ProtoObject } from './proto-json';
import { compileSanMatcher, compileStringMatcher } from './string-matcher';

export const DOWNSTREAM_TLS_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

interface CommonTls {
  certChain: Buffer | null;
  privateKey: Buffer | null;
  certSds: string | null;
  validationSds: string | null;
  trustedCa: Buffer | null;
  san: SanMatcherModel[];
  alpn: string[] | null;
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
  cipherSuites: string | null;
}

function tlsVersion(issues: Issues, v: string | undefined, path: string, dflt: TlsVersion): TlsVersion {
  if (v === undefined || v === 'TLS_AUTO') return dflt;
  if (v === 'TLSv1_2') return 'TLSv1.2';
  if (v === 'TLSv1_3') return 'TLSv1.3';
  issues.add(path, `${v} is not supported by Remora (TLS 1.2 and 1.3 only)`);
  return dflt;
}

function compileCommon(issues: Issues, deps: CompileDeps, c: ProtoObject | undefined, path: string, side: 'downstream' | 'upstream'): CommonTls {
  const out: CommonTls = {
    certChain: null, privateKey: null, certSds: null, validationSds: null, trustedCa: null, san: [], alpn: null,
    minVersion: 'TLSv1.2', maxVersion: side === 'downstream' ? 'TLSv1.3' : 'TLSv1.2', cipherSuites: null,
  };
  if (c === undefined) {
    if (side === 'downstream') issues.add(joinPath(path, 'common_tls_context'), 'is required');
    return out;
  }
  const cp = joinPath(path, 'common_tls_context');
  onlyFields(issues, c, cp, [
    'tls_params', 'tls_certificates', 'validation_context', 'alpn_protocols',
    'tls_certificate_sds_secret_configs', 'validation_context_sds_secret_config', 'combined_validation_context',
  ]);
  const certs = list(c, 'tls_certificates');
  const sdsCerts = list(c, 'tls_certificate_sds_secret_configs');
  if (certs.length > 1) issues.add(joinPath(cp, 'tls_certificates'), 'at most one certificate is supported by Remora');
  if (sdsCerts.length > 1) issues.add(joinPath(cp, 'tls_certificate_sds_secret_configs'), 'at most one SDS certificate is supported by Remora');
  if (certs.length > 0 && sdsCerts.length > 0) issues.add(joinPath(cp, 'tls_certificate_sds_secret_configs'), 'cannot be combined with tls_certificates');
  if (certs.length === 0 && sdsCerts.length === 0 && side === 'downstream') issues.add(joinPath(cp, 'tls_certificates'), 'a server certificate is required');
  if (certs.length > 0) {
    const tc = compileTlsCertificate(issues, deps, certs[0]!, `${cp}.tls_certificates[0]`);
    out.certChain = tc.certChain;
    out.privateKey = tc.privateKey;
  }
  if (sdsCerts.length > 0) out.certSds = compileSdsSecretConfig(issues, sdsCerts[0]!, `${cp}.tls_certificate_sds_secret_configs[0]`);
  const vc = msg(c, 'validation_context');
  const vcSds = msg(c, 'validation_context_sds_secret_config');
  const combined = msg(c, 'combined_validation_context');
  if ([vc, vcSds, combined].filter((x) => x !== undefined).length > 1) {
    issues.add(cp, 'only one of validation_context, validation_context_sds_secret_config and combined_validation_context may be set');
  }
  if (vc !== undefined) {
    const v = compileValidationContext(issues, deps, vc, joinPath(cp, 'validation_context'));
    out.trustedCa = v.trustedCa;
    out.san.push(...v.matchSubjectAltNames);
  }
  if (vcSds !== undefined) out.validationSds = compileSdsSecretConfig(issues, vcSds, joinPath(cp, 'validation_context_sds_secret_config'));
  if (combined !== undefined) {
    const cvp = joinPath(cp, 'combined_validation_context');
    onlyFields(issues, combined, cvp, ['default_validation_context', 'validation_context_sds_secret_config']);
    const dflt = msg(combined, 'default_validation_context');
    if (dflt === undefined) issues.add(joinPath(cvp, 'default_validation_context'), 'is required');
    else {
      const v = compileValidationContext(issues, deps, dflt, joinPath(cvp, 'default_validation_context'));
      out.trustedCa = v.trustedCa;
      out.san.push(...v.matchSubjectAltNames);
    }
    const sds = msg(combined, 'validation_context_sds_secret_config');
    if (sds === undefined) issues.add(joinPath(cvp, 'validation_context_sds_secret_config'), 'is required');
    else out.validationSds = compileSdsSecretConfig(issues, sds, joinPath(cvp, 'validation_context_sds_secret_config'));
  }
  if (c['alpn_protocols'] !== undefined) {
    out.alpn = strList(c, 'alpn_protocols');
    for (let i = 0; i < out.alpn.length; i++) {
      if (out.alpn[i] === '' || out.alpn[i]!.length > 255) issues.add(`${cp}.alpn_protocols[${i}]`, 'must be 1..255 bytes');
    }
  }
  const tp = msg(c, 'tls_params');
  // Mesh mTLS (certificate from SDS): TLS 1.3 unless tls_params says otherwise.
  if (out.certSds !== null) {
    out.minVersion = 'TLSv1.3';
    out.maxVersion = 'TLSv1.3';
  }
  if (tp !== undefined) {
    const pp = joinPath(cp, 'tls_params');
    onlyFields(issues, tp, pp, ['tls_minimum_protocol_version', 'tls_maximum_protocol_version', 'cipher_suites']);
    out.minVersion = tlsVersion(issues, str(tp, 'tls_minimum_protocol_version'), joinPath(pp, 'tls_minimum_protocol_version'), out.minVersion);
    out.maxVersion = tlsVersion(issues, str(tp, 'tls_maximum_protocol_version'), joinPath(pp, 'tls_maximum_protocol_version'), out.maxVersion);
    if (out.minVersion === 'TLSv1.3' && out.maxVersion === 'TLSv1.2') issues.add(pp, 'tls_minimum_protocol_version is above tls_maximum_protocol_version');
    const suites = strList(tp, 'cipher_suites');
    if (suites.length > 0) {
      const known = new Set(tls.getCiphers());
      for (let i = 0; i < suites.length; i++) {
        const s = suites[i]!;
        if (s.includes('[')) issues.add(`${pp}.cipher_suites[${i}]`, 'equal-preference cipher groups are not supported by Remora');
        else if (!known.has(s.toLowerCase())) issues.add(`${pp}.cipher_suites[${i}]`, `unknown cipher suite '${s}'`);
      }
      out.cipherSuites = suites.join(':');
    }
  }
  return out;
}

/** Compiles a `TlsCertificate` (certificate_chain + private_key DataSources) found at `path`. */
export function compileTlsCertificate(issues: Issues, deps: CompileDeps, tc: ProtoObject, path: string): { certChain: Buffer | null; privateKey: Buffer | null } {
  onlyFields(issues, tc, path, ['certificate_chain', 'private_key']);
  return {
    certChain: compileDataSource(issues, deps, msg(tc, 'certificate_chain'), joinPath(path, 'certificate_chain')),
    privateKey: compileDataSource(issues, deps, msg(tc, 'private_key'), joinPath(path, 'private_key')),
  };
}

/**
 * Compiles a `CertificateValidationContext` found at `path`: `trusted_ca` (null when absent) and
 * the SAN matchers (typed, plus the deprecated untyped form, matched against every SAN type).
 */
export function compileValidationContext(issues: Issues, deps: CompileDeps, vc: ProtoObject, path: string): { trustedCa: Buffer | null; matchSubjectAltNames: SanMatcherModel[] } {
  onlyFields(issues, vc, path, ['trusted_ca', 'match_typed_subject_alt_names', 'match_subject_alt_names']);
  const out: { trustedCa: Buffer | null; matchSubjectAltNames: SanMatcherModel[] } = { trustedCa: null, matchSubjectAltNames: [] };
  if (vc['trusted_ca'] !== undefined) out.trustedCa = compileDataSource(issues, deps, msg(vc, 'trusted_ca'), joinPath(path, 'trusted_ca'));
  const typed = list(vc, 'match_typed_subject_alt_names');
  for (let i = 0; i < typed.length; i++) {
    const m = compileSanMatcher(issues, typed[i]!, `${path}.match_typed_subject_alt_names[${i}]`);
    if (m !== null) out.matchSubjectAltNames.push(m);
  }
  // Deprecated untyped form: Envoy matches it against every SAN type.
  const untyped = list(vc, 'match_subject_alt_names');
  for (let i = 0; i < untyped.length; i++) {
    const m = compileStringMatcher(issues, untyped[i], `${path}.match_subject_alt_names[${i}]`);
    if (m === null) continue;
    for (const type of ['DNS', 'URI', 'IP_ADDRESS', 'EMAIL'] as const) out.matchSubjectAltNames.push({ type, matcher: m });
  }
  return out;
}

/** Compiles an `SdsSecretConfig` (`name` + `sds_config: {ads: {}}`); returns the name or null. */
export function compileSdsSecretConfig(issues: Issues, sds: ProtoObject, path: string): string | null {
  const before = issues.count;
  onlyFields(issues, sds, path, ['name', 'sds_config']);
  const name = str(sds, 'name') ?? '';
  if (name === '') issues.add(joinPath(path, 'name'), 'is required');
  checkAdsConfigSource(issues, msg(sds, 'sds_config'), joinPath(path, 'sds_config'));
  return issues.count === before ? name : null;
}

/**
 * Compiles a `DownstreamTlsContext` ProtoObject found at `path`. `defaultAlpn` is the ALPN list to
 * advertise when `alpn_protocols` is unset (derived from the HCM codec by the listener compiler).
 */
export function compileDownstreamTls(issues: Issues, deps: CompileDeps, ctx: ProtoObject, path: string, defaultAlpn: readonly string[]): DownstreamTlsModel | null {
  const before = issues.count;
  onlyFields(issues, ctx, path, ['common_tls_context', 'require_client_certificate']);
  const c = compileCommon(issues, deps, msg(ctx, 'common_tls_context'), path, 'downstream');
  const requireClient = wrapped<boolean>(ctx, 'require_client_certificate') ?? false;
  if (requireClient && c.trustedCa === null && c.validationSds === null && issues.count === before) {
    issues.add(joinPath(path, 'require_client_certificate'), 'requires common_tls_context.validation_context.trusted_ca (or an SDS validation context)');
  }
  if (issues.count !== before) return null;
  if (c.certSds === null && (c.certChain === null || c.privateKey === null)) return null;
  return {
    certChain: c.certChain,
    privateKey: c.privateKey,
    certificateSdsName: c.certSds,
    validationSdsName: c.validationSds,
    trustedCa: c.trustedCa,
    requireClientCertificate: requireClient,
    matchSubjectAltNames: c.san,
    alpnProtocols: c.alpn ?? [...defaultAlpn],
    minVersion: c.minVersion,
    maxVersion: c.maxVersion,
    cipherSuites: c.cipherSuites,
  };
}

/** Compiles an `UpstreamTlsContext` ProtoObject found at `path`. */
export function compileUpstreamTls(issues: Issues, deps: CompileDeps, ctx: ProtoObject, path: string): UpstreamTlsModel | null {
  const before = issues.count;
  onlyFields(issues, ctx, path, ['common_tls_context', 'sni']);
  const c = compileCommon(issues, deps, msg(ctx, 'common_tls_context'), path, 'upstream');
  const sni = str(ctx, 'sni') ?? '';
  if (sni.length > 255) issues.add(joinPath(path, 'sni'), 'must be at most 255 bytes');
  if ((c.certChain === null) !== (c.privateKey === null)) {
    issues.add(joinPath(path, 'common_tls_context.tls_certificates[0]'), 'certificate_chain and private_key must both be set');
  }
  if (issues.count !== before) return null;
  return {
    certChain: c.certChain,
    privateKey: c.privateKey,
    certificateSdsName: c.certSds,
    validationSdsName: c.validationSds,
    trustedCa: c.trustedCa,
    sni: sni === '' ? null : sni,
    matchSubjectAltNames: c.san,
    alpnProtocols: c.alpn ?? [],
    minVersion: c.minVersion,
    maxVersion: c.maxVersion,
    cipherSuites: c.cipherSuites,
  };
}

/**
 * Compiles a `transport_socket` (`TransportSocket {name, typed_config}`) that must hold the given
 * TLS context type; returns the typed_config ProtoObject or null (issue recorded).
 */
export function tlsTypedConfig(issues: Issues, ts: ProtoObject, path: string, typeUrl: string): ProtoObject | null {
  onlyFields(issues, ts, path, ['name', 'typed_config']);
  const tc = msg(ts, 'typed_config');
  if (tc === undefined) {
    issues.add(joinPath(path, 'typed_config'), 'is required');
    return null;
  }
  if (tc['@type'] !== typeUrl) {
    issues.add(joinPath(path, 'typed_config.@type'), `expected ${typeUrl}; other transport sockets are not supported by Remora`);
    return null;
  }
  return tc;
}
