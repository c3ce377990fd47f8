/**
 * Compiles Envoy's TLS transport sockets: `envoy.transport_sockets.tls` with a
 * `DownstreamTlsContext` (listeners) or `UpstreamTlsContext` (clusters) into `DownstreamTlsModel` /
 * `UpstreamTlsModel`. Certificate material is read here (DataSource filename | inline_string |
 * inline_bytes) so the data plane never touches files; cipher names are checked against Node's
 * OpenSSL. Only TLS 1.2 and 1.3 are supported.
 */
import * as tls from 'node:tls';
import type { DownstreamTlsModel, SanMatcherModel, UpstreamTlsModel } from '../model';
import {
  CompileDeps, compileDataSource, Issues, joinPath, list, msg, onlyFields, str, strList, wrapped,
} from './context';
import type { ProtoObject } from './proto-json';
import { compileSanMatcher, compileStringMatcher } from './string-matcher';

export const DOWNSTREAM_TLS_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

interface CommonTls {
  certChain: Buffer | null;
  privateKey: Buffer | null;
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
    certChain: null, privateKey: null, trustedCa: null, san: [], alpn: null,
    minVersion: 'TLSv1.2', maxVersion: side === 'downstream' ? 'TLSv1.3' : 'TLSv1.2', cipherSuites: null,
  };
  if (c === undefined) {
    if (side === 'downstream') issues.add(joinPath(path, 'common_tls_context'), 'is required');
    return out;
  }
  const cp = joinPath(path, 'common_tls_context');
  onlyFields(issues, c, cp, ['tls_params', 'tls_certificates', 'validation_context', 'alpn_protocols']);
  const certs = list(c, 'tls_certificates');
  if (certs.length > 1) issues.add(joinPath(cp, 'tls_certificates'), 'at most one certificate is supported by Remora');
  if (certs.length === 0 && side === 'downstream') issues.add(joinPath(cp, 'tls_certificates'), 'a server certificate is required');
  if (certs.length > 0) {
    const tp = `${cp}.tls_certificates[0]`;
    onlyFields(issues, certs[0]!, tp, ['certificate_chain', 'private_key']);
    out.certChain = compileDataSource(issues, deps, msg(certs[0]!, 'certificate_chain'), joinPath(tp, 'certificate_chain'));
    out.privateKey = compileDataSource(issues, deps, msg(certs[0]!, 'private_key'), joinPath(tp, 'private_key'));
  }
  const vc = msg(c, 'validation_context');
  if (vc !== undefined) {
    const vp = joinPath(cp, 'validation_context');
    onlyFields(issues, vc, vp, ['trusted_ca', 'match_typed_subject_alt_names', 'match_subject_alt_names']);
    if (vc['trusted_ca'] !== undefined) out.trustedCa = compileDataSource(issues, deps, msg(vc, 'trusted_ca'), joinPath(vp, 'trusted_ca'));
    const typed = list(vc, 'match_typed_subject_alt_names');
    for (let i = 0; i < typed.length; i++) {
      const m = compileSanMatcher(issues, typed[i]!, `${vp}.match_typed_subject_alt_names[${i}]`);
      if (m !== null) out.san.push(m);
    }
    // Deprecated untyped form: Envoy matches it against every SAN type.
    const untyped = list(vc, 'match_subject_alt_names');
    for (let i = 0; i < untyped.length; i++) {
      const m = compileStringMatcher(issues, untyped[i], `${vp}.match_subject_alt_names[${i}]`);
      if (m === null) continue;
      for (const type of ['DNS', 'URI', 'IP_ADDRESS', 'EMAIL'] as const) out.san.push({ type, matcher: m });
    }
  }
  if (c['alpn_protocols'] !== undefined) {
    out.alpn = strList(c, 'alpn_protocols');
    for (let i = 0; i < out.alpn.length; i++) {
      if (out.alpn[i] === '' || out.alpn[i]!.length > 255) issues.add(`${cp}.alpn_protocols[${i}]`, 'must be 1..255 bytes');
    }
  }
  const tp = msg(c, 'tls_params');
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

/**
 * Compiles a `DownstreamTlsContext` ProtoObject found at `path`. `defaultAlpn` is the ALPN list to
 * advertise when `alpn_protocols` is unset (derived from the HCM codec by the listener compiler).
 */
export function compileDownstreamTls(issues: Issues, deps: CompileDeps, ctx: ProtoObject, path: string, defaultAlpn: readonly string[]): DownstreamTlsModel | null {
  const before = issues.count;
  onlyFields(issues, ctx, path, ['common_tls_context', 'require_client_certificate']);
  const c = compileCommon(issues, deps, msg(ctx, 'common_tls_context'), path, 'downstream');
  const requireClient = wrapped<boolean>(ctx, 'require_client_certificate') ?? false;
  if (requireClient && c.trustedCa === null && issues.count === before) {
    issues.add(joinPath(path, 'require_client_certificate'), 'requires common_tls_context.validation_context.trusted_ca');
  }
  if (issues.count !== before || c.certChain === null || c.privateKey === null) return null;
  return {
    certChain: c.certChain,
    privateKey: c.privateKey,
    certificateSdsName: null,
    validationSdsName: null,
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
    certificateSdsName: null,
    validationSdsName: null,
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
