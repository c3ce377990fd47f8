/**
 * Compiles `envoy.config.listener.v3.Listener` into `ListenerModel`: an IP socket address, exactly one
 * filter chain (no `filter_chain_match`) whose only network filter is the HTTP connection manager,
 * and an optional `envoy.transport_sockets.tls` DownstreamTlsContext. The TLS inspector listener filter
 * is accepted and ignored (Remora always inspects the handshake itself).
 */
import type { ListenerModel } from '../model';
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
  for (let i = 0; i < lfs.length; i++) {
    const lp = `${joinPath(path, 'listener_filters')}[${i}]`;
    onlyFields(issues, lfs[i]!, lp, ['name', 'typed_config']);
    if (msg(lfs[i]!, 'typed_config')?.['@type'] !== TLS_INSPECTOR_TYPE_URL) issues.add(lp, 'only the tls_inspector listener filter is supported by Remora');
  }

  const chains = list(l, 'filter_chains');
  const cp = joinPath(path, 'filter_chains');
  if (chains.length !== 1) {
    issues.add(cp, chains.length === 0 ? 'exactly one filter chain is required' : 'only one filter chain is supported by Remora');
    return null;
  }
  const fc = chains[0]!;
  const fcp = `${cp}[0]`;
  onlyFields(issues, fc, fcp, ['name', 'filters', 'transport_socket']);
  const fcm = msg(fc, 'filter_chain_match');
  if (fcm !== undefined && Object.keys(fcm).length > 0) issues.add(joinPath(fcp, 'filter_chain_match'), 'field is not supported by Remora');

  const filters = list(fc, 'filters');
  const fp = joinPath(fcp, 'filters');
  let hcm = null;
  if (filters.length !== 1) {
    issues.add(fp, 'exactly one network filter (envoy.filters.network.http_connection_manager) is required');
  } else {
    const f = filters[0]!;
    const p0 = `${fp}[0]`;
    onlyFields(issues, f, p0, ['name', 'typed_config']);
    const tc = msg(f, 'typed_config');
    if (tc === undefined) issues.add(joinPath(p0, 'typed_config'), 'is required');
    else if (tc['@type'] !== HCM_TYPE_URL) issues.add(joinPath(p0, 'typed_config.@type'), `only ${HCM_TYPE_URL} is supported by Remora`);
    else hcm = compileHcmInto(issues, deps, tc, joinPath(p0, 'typed_config'));
  }

  let tls = null;
  const ts = msg(fc, 'transport_socket');
  if (ts !== undefined) {
    const tp = joinPath(fcp, 'transport_socket');
    const ctx = tlsTypedConfig(issues, ts, tp, DOWNSTREAM_TLS_TYPE_URL);
    if (ctx !== null) {
      const codec = hcm?.codecType ?? 'AUTO';
      const alpn = codec === 'HTTP2' ? ['h2'] : codec === 'HTTP1' ? ['http/1.1'] : ['h2', 'http/1.1'];
      tls = compileDownstreamTls(issues, deps, ctx, joinPath(tp, 'typed_config'), alpn);
    }
  }
  if (issues.count !== before || address === null || hcm === null) return null;
  return { name, address, tls, hcm };
}
