/**
 * Compiles `envoy.config.listener.v3.Listener` into `ListenerModel`: an IP socket address and the
 * HTTP connection manager as the only network filter, optionally behind an `envoy.transport_sockets.tls`
 * DownstreamTlsContext. Two filter-chain shapes are supported:
 * - one chain without `filter_chain_match` (plaintext, or TLS-only = Istio STRICT when it has a
 *   transport socket), optionally with a `transport_protocol` match that agrees with it;
 * - Istio's PERMISSIVE shape: the `envoy.filters.listener.tls_inspector` listener filter plus exactly
 *   two chains, one matching `transport_protocol: tls` with a TLS transport socket and one matching
 *   `transport_protocol: raw_buffer` without, both carrying the same HCM. The model then has `tls`
 *   and `plaintextAllowed: true`, and the listener tells the two apart by the first byte.
 * Everything else (other match fields, other listener filters, more chains) is rejected with its
 * field path. The TLS inspector is otherwise accepted and ignored (Remora inspects the handshake itself).
 */
import { isDeepStrictEqual } from 'node:util';
import type { DownstreamTlsModel, HttpConnectionManagerModel, ListenerModel } from '../model';
import type { ValidationResult } from '../../core/errors';
import { CompileDeps, compileSocketAddress, Issues, joinPath, list, msg, onlyFields, str } from './context';
import { compileHcmInto, HCM_TYPE_URL } from './http-connection-manager';
import type { ProtoObject } from './proto-json';
import { compileDownstreamTls, DOWNSTREAM_TLS_TYPE_URL, tlsTypedConfig } from './tls';

const TLS_INSPECTOR_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';

/** Compiles a standalone Listener ProtoObject (LDS, or at `path` inside a bootstrap). */
export function compileListener(obj: ProtoObject, deps: CompileDeps, path = ''): ValidationResult<ListenerModel> {
  const issues = new Issues();
  const l = compileListenerInto(issues, deps, obj, path);
  return issues.result(l as ListenerModel);
}

/** Compiles a Listener into `issues`; the value is meaningful only if no issue was added. */
export function compileListenerInto(issues: Issues, deps: CompileDeps, l: ProtoObject, path: string): ListenerModel | null {
  const before = issues.count;
  onlyFields(issues, l, path, ['name', 'address', 'filter_chains', 'listener_filters', 'stat_prefix', 'traffic_direction']);
  const name = str(l, 'name') ?? '';
  if (name === '') issues.add(joinPath(path, 'name'), 'is required');
  const address = compileSocketAddress(issues, msg(l, 'address'), joinPath(path, 'address'), 'ip', 0);

  const lfs = list(l, 'listener_filters');
  let tlsInspector = false;
  for (let i = 0; i < lfs.length; i++) {
    const lp = `${joinPath(path, 'listener_filters')}[${i}]`;
    onlyFields(issues, lfs[i]!, lp, ['name', 'typed_config']);
    if (msg(lfs[i]!, 'typed_config')?.['@type'] !== TLS_INSPECTOR_TYPE_URL) issues.add(lp, 'only the tls_inspector listener filter is supported by Remora');
    else tlsInspector = true;
  }

  const chains = list(l, 'filter_chains');
  const cp = joinPath(path, 'filter_chains');
  if (chains.length === 0 || chains.length > 2) {
    issues.add(cp, chains.length === 0
      ? 'exactly one filter chain is required'
      : 'at most two filter chains (PERMISSIVE: transport_protocol tls + raw_buffer) are supported by Remora');
    return null;
  }

  let hcm: HttpConnectionManagerModel | null = null;
  let tls: DownstreamTlsModel | null = null;
  let plaintextAllowed: boolean;
  if (chains.length === 1) {
    const c = compileChain(issues, deps, chains[0]!, `${cp}[0]`, 'any');
    hcm = c.hcm;
    tls = c.tls;
    plaintextAllowed = !c.hasTransportSocket;
  } else {
    // PERMISSIVE: one TLS chain and one plaintext chain with the same HCM.
    const protos = [transportProtocol(chains[0]!), transportProtocol(chains[1]!)];
    const tlsIdx = protos.indexOf('tls');
    const rawIdx = protos.indexOf('raw_buffer');
    if (tlsIdx < 0 || rawIdx < 0) {
      issues.add(cp, 'two filter chains must match filter_chain_match.transport_protocol "tls" and "raw_buffer" (Istio PERMISSIVE); other shapes are not supported by Remora');
      return null;
    }
    if (!tlsInspector) issues.add(joinPath(path, 'listener_filters'), 'matching on transport_protocol requires the envoy.filters.listener.tls_inspector listener filter');
    const t = compileChain(issues, deps, chains[tlsIdx]!, `${cp}[${tlsIdx}]`, 'tls');
    const r = compileChain(issues, deps, chains[rawIdx]!, `${cp}[${rawIdx}]`, 'raw_buffer');
    if (!isDeepStrictEqual(hcmOf(chains[tlsIdx]!), hcmOf(chains[rawIdx]!))) {
      issues.add(`${cp}[${rawIdx}].filters`, `must be the same HTTP connection manager as filter_chains[${tlsIdx}] (PERMISSIVE); different HCMs per transport are not supported by Remora`);
    }
    hcm = t.hcm ?? r.hcm;
    tls = t.tls;
    plaintextAllowed = true;
  }
  if (issues.count !== before || address === null || hcm === null) return null;
  const direction = str(l, 'traffic_direction') ?? 'UNSPECIFIED';
  if (direction !== 'UNSPECIFIED' && direction !== 'INBOUND' && direction !== 'OUTBOUND') issues.add(joinPath(path, 'traffic_direction'), `${direction} is not a traffic direction`);
  if (issues.count !== before) return null;
  return { name, address, tls, plaintextAllowed, trafficDirection: direction as ListenerModel['trafficDirection'], hcm };
}

interface CompiledChain {
  hcm: HttpConnectionManagerModel | null;
  tls: DownstreamTlsModel | null;
  hasTransportSocket: boolean;
}

/** `filter_chain_match.transport_protocol` of a chain ('' when absent). */
function transportProtocol(fc: ProtoObject): string {
  const m = msg(fc, 'filter_chain_match');
  return m === undefined ? '' : (str(m, 'transport_protocol') ?? '');
}

function hcmOf(fc: ProtoObject): unknown {
  return msg(list(fc, 'filters')[0] ?? {}, 'typed_config');
}

/**
 * One filter chain: its HCM and optional TLS transport socket. `expect` is the transport the chain
 * must serve ('any' for a lone chain: a `transport_protocol` match, if present, must agree with it).
 */
function compileChain(issues: Issues, deps: CompileDeps, fc: ProtoObject, fcp: string, expect: 'tls' | 'raw_buffer' | 'any'): CompiledChain {
  onlyFields(issues, fc, fcp, ['name', 'filters', 'transport_socket', 'filter_chain_match']);
  const ts = msg(fc, 'transport_socket');
  const fcm = msg(fc, 'filter_chain_match');
  if (fcm !== undefined) {
    const mp = joinPath(fcp, 'filter_chain_match');
    onlyFields(issues, fcm, mp, ['transport_protocol']);
    const tp = str(fcm, 'transport_protocol') ?? '';
    if (tp !== '' && tp !== 'tls' && tp !== 'raw_buffer') issues.add(joinPath(mp, 'transport_protocol'), `'${tp}' is not supported by Remora (tls or raw_buffer)`);
    else if (tp === 'tls' && ts === undefined) issues.add(joinPath(fcp, 'transport_socket'), 'a chain matching transport_protocol "tls" needs a TLS transport_socket');
    else if (tp === 'raw_buffer' && ts !== undefined) issues.add(joinPath(fcp, 'transport_socket'), 'a chain matching transport_protocol "raw_buffer" must not have a transport_socket');
  }
  if (expect === 'tls' && ts === undefined) issues.add(joinPath(fcp, 'transport_socket'), 'is required on the "tls" chain');

  const filters = list(fc, 'filters');
  const fp = joinPath(fcp, 'filters');
  let hcm: HttpConnectionManagerModel | null = null;
  if (filters.length !== 1) {
    issues.add(fp, 'exactly one network filter (envoy.filters.network.http_connection_manager) is required');
  } else {
    const f = filters[0]!;
    const p0 = `${fp}[0]`;
    onlyFields(issues, f, p0, ['name', 'typed_config']);
    const tc = msg(f, 'typed_config');
    if (tc === undefined) issues.add(joinPath(p0, 'typed_config'), 'is required');
    else if (tc['@type'] !== HCM_TYPE_URL) issues.add(joinPath(p0, 'typed_config.@type'), `only ${HCM_TYPE_URL} is supported by Remora`);
    // The raw_buffer chain of a PERMISSIVE pair carries the same HCM as the tls chain: compile it once.
    else if (expect !== 'raw_buffer') hcm = compileHcmInto(issues, deps, tc, joinPath(p0, 'typed_config'));
  }

  let tls: DownstreamTlsModel | null = null;
  if (ts !== undefined && expect !== 'raw_buffer') {
    const tp = joinPath(fcp, 'transport_socket');
    const ctx = tlsTypedConfig(issues, ts, tp, DOWNSTREAM_TLS_TYPE_URL);
    if (ctx !== null) {
      const codec = hcm?.codecType ?? 'AUTO';
      const alpn = codec === 'HTTP2' ? ['h2'] : codec === 'HTTP1' ? ['http/1.1'] : ['h2', 'http/1.1'];
      tls = compileDownstreamTls(issues, deps, ctx, joinPath(tp, 'typed_config'), alpn);
    }
  }
  return { hcm, tls, hasTransportSocket: ts !== undefined };
}
