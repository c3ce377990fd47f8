/**
 * Compiles `envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager` into
 * `HttpConnectionManagerModel`: codec, routes (inline `route_config` or `rds` over ADS), the HTTP
 * filter chain (each filter compiled by the HttpFilterCompiler; the router must be last and only
 * last, names unique), timeouts, header limits, HTTP/2 settings, the request-id / XFF knobs and
 * x-forwarded-client-cert handling (`forward_client_cert_details`, `set_current_client_cert_details`).
 */
import type {
  ClientCertDetailsModel, CodecType, ForwardClientCertModel, HttpConnectionManagerModel, HttpFilterModel, RouteConfigModel,
} from '../model';
import type { ValidationResult } from '../../core/errors';
import {
  bool, checkAdsConfigSource, CompileDeps, Issues, joinPath, list, msg, num, onlyFields, optDurationMs, str, wrapped, wrappedInt,
} from './context';
import { ROUTER_TYPE_URL } from './http-filter-compiler';
import type { ProtoObject } from './proto-json';
import { compileRouteConfigInto } from './route-configuration';
import { compileTracing } from './tracing';
import { compileAccessLogs } from './access-log';
import { compileIstioStats, ISTIO_STATS_TYPE_URL } from './istio-stats';
import type { IstioStatsModel } from '../istio-stats-model';

export const HCM_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

const MAX_INT32 = 2147483647;
const DEFAULT_WINDOW = 268435456;

/** Compiles a standalone HCM ProtoObject (`path` is where it sits, '' at a root). */
export function compileHttpConnectionManager(obj: ProtoObject, deps: CompileDeps, path = ''): ValidationResult<HttpConnectionManagerModel> {
  const issues = new Issues();
  const hcm = compileHcmInto(issues, deps, obj, path);
  return issues.result(hcm as HttpConnectionManagerModel);
}

/** Compiles an HCM into `issues`; the value is meaningful only if no issue was added. */
export function compileHcmInto(issues: Issues, deps: CompileDeps, h: ProtoObject, path: string): HttpConnectionManagerModel | null {
  const before = issues.count;
  onlyFields(issues, h, path, [
    'stat_prefix', 'codec_type', 'rds', 'route_config', 'http_filters', 'stream_idle_timeout', 'request_timeout',
    'request_headers_timeout', 'common_http_protocol_options', 'max_request_headers_kb', 'http2_protocol_options',
    'use_remote_address', 'xff_num_trusted_hops', 'generate_request_id', 'preserve_external_request_id',
    'strip_any_host_port', 'server_name', 'server_header_transformation',
    'forward_client_cert_details', 'set_current_client_cert_details', 'tracing', 'access_log',
  ]);
  const statPrefix = str(h, 'stat_prefix') ?? '';
  if (statPrefix === '') issues.add(joinPath(path, 'stat_prefix'), 'is required');
  const codec = str(h, 'codec_type') ?? 'AUTO';
  if (codec !== 'AUTO' && codec !== 'HTTP1' && codec !== 'HTTP2') issues.add(joinPath(path, 'codec_type'), `${codec} is not supported by Remora`);

  let routeConfig: RouteConfigModel | null = null;
  let rdsName: string | null = null;
  const rc = msg(h, 'route_config');
  const rds = msg(h, 'rds');
  if (rc !== undefined) {
    routeConfig = compileRouteConfigInto(issues, deps, rc, joinPath(path, 'route_config'));
  } else if (rds !== undefined) {
    const rp = joinPath(path, 'rds');
    onlyFields(issues, rds, rp, ['config_source', 'route_config_name']);
    checkAdsConfigSource(issues, msg(rds, 'config_source'), joinPath(rp, 'config_source'));
    rdsName = str(rds, 'route_config_name') ?? '';
    if (rdsName === '') issues.add(joinPath(rp, 'route_config_name'), 'is required');
  } else if (h['scoped_routes'] === undefined) {
    issues.add(path, 'one of route_config or rds is required');
  }

  const filterEntries = list(h, 'http_filters');
  const fp = joinPath(path, 'http_filters');
  let istioStats: IstioStatsModel | null = null;
  const chain: ProtoObject[] = [];
  for (let i = 0; i < filterEntries.length; i++) {
    const tc = msg(filterEntries[i]!, 'typed_config');
    if (tc !== undefined && tc['@type'] === ISTIO_STATS_TYPE_URL) istioStats = compileIstioStats(issues, tc, `${fp}[${i}].typed_config`);
    else chain.push(filterEntries[i]!);
  }
  const httpFilters = compileHttpFilters(issues, deps, chain, fp);

  const common = msg(h, 'common_http_protocol_options') ?? {};
  const cp = joinPath(path, 'common_http_protocol_options');
  onlyFields(issues, common, cp, ['idle_timeout', 'max_headers_count']);
  const h2 = msg(h, 'http2_protocol_options') ?? {};
  const h2p = joinPath(path, 'http2_protocol_options');
  onlyFields(issues, h2, h2p, ['max_concurrent_streams', 'initial_stream_window_size', 'initial_connection_window_size']);

  const sht = str(h, 'server_header_transformation') ?? 'OVERWRITE';
  if (sht !== 'OVERWRITE' && sht !== 'PASS_THROUGH') issues.add(joinPath(path, 'server_header_transformation'), `${sht} is not supported by Remora`);
  const serverName = sht === 'PASS_THROUGH' ? null : (str(h, 'server_name') || 'remora');

  const model: HttpConnectionManagerModel = {
    statPrefix,
    codecType: codec as CodecType,
    routeConfig,
    rdsRouteConfigName: rdsName,
    httpFilters,
    streamIdleTimeoutMs: optDurationMs(issues, h, 'stream_idle_timeout', path, 300_000),
    requestTimeoutMs: optDurationMs(issues, h, 'request_timeout', path, null),
    requestHeadersTimeoutMs: optDurationMs(issues, h, 'request_headers_timeout', path, null),
    connectionIdleTimeoutMs: optDurationMs(issues, common, 'idle_timeout', cp, 3_600_000),
    maxRequestHeadersBytes: wrappedInt(issues, h, 'max_request_headers_kb', path, 60, 1, 8192) * 1024,
    maxHeadersCount: wrappedInt(issues, common, 'max_headers_count', cp, 100, 1, MAX_INT32),
    maxConcurrentStreams: wrappedInt(issues, h2, 'max_concurrent_streams', h2p, MAX_INT32, 1, MAX_INT32),
    initialStreamWindowSize: wrappedInt(issues, h2, 'initial_stream_window_size', h2p, DEFAULT_WINDOW, 65535, MAX_INT32),
    initialConnectionWindowSize: wrappedInt(issues, h2, 'initial_connection_window_size', h2p, DEFAULT_WINDOW, 65535, MAX_INT32),
    useRemoteAddress: wrapped<boolean>(h, 'use_remote_address') ?? false,
    xffNumTrustedHops: num(h, 'xff_num_trusted_hops') ?? 0,
    generateRequestId: wrapped<boolean>(h, 'generate_request_id') ?? true,
    preserveExternalRequestId: bool(h, 'preserve_external_request_id') ?? false,
    stripAnyHostPort: bool(h, 'strip_any_host_port') ?? false,
    serverName,
    forwardClientCertDetails: compileForwardClientCert(issues, h, path),
    setCurrentClientCertDetails: compileClientCertDetails(issues, h, path),
    tracing: compileTracing(issues, h, path),
    accessLogs: compileAccessLogs(issues, deps, h, path),
    istioStats,
  };
  return issues.count === before ? model : null;
}

const FORWARD_CLIENT_CERT: readonly ForwardClientCertModel[] = ['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY'];

/** `forward_client_cert_details` (x-forwarded-client-cert), default SANITIZE. */
function compileForwardClientCert(issues: Issues, h: ProtoObject, path: string): ForwardClientCertModel {
  const v = str(h, 'forward_client_cert_details') ?? 'SANITIZE';
  if ((FORWARD_CLIENT_CERT as readonly string[]).includes(v)) return v as ForwardClientCertModel;
  issues.add(joinPath(path, 'forward_client_cert_details'), `${v} is not supported by Remora`);
  return 'SANITIZE';
}

/** `set_current_client_cert_details` (`subject` is a BoolValue, the rest plain bools). */
function compileClientCertDetails(issues: Issues, h: ProtoObject, path: string): ClientCertDetailsModel {
  const d = msg(h, 'set_current_client_cert_details') ?? {};
  const dp = joinPath(path, 'set_current_client_cert_details');
  onlyFields(issues, d, dp, ['subject', 'cert', 'chain', 'dns', 'uri']);
  return {
    subject: wrapped<boolean>(d, 'subject') ?? false,
    cert: bool(d, 'cert') ?? false,
    chain: bool(d, 'chain') ?? false,
    dns: bool(d, 'dns') ?? false,
    uri: bool(d, 'uri') ?? false,
  };
}

function compileHttpFilters(issues: Issues, deps: CompileDeps, filters: ProtoObject[], path: string): HttpFilterModel[] {
  const out: HttpFilterModel[] = [];
  if (filters.length === 0) {
    issues.add(path, `must end with the router filter (${ROUTER_TYPE_URL})`);
    return out;
  }
  const names = new Set<string>();
  for (let i = 0; i < filters.length; i++) {
    const fp = `${path}[${i}]`;
    const f = filters[i]!;
    onlyFields(issues, f, fp, ['name', 'typed_config']);
    const name = str(f, 'name') ?? '';
    if (name === '') issues.add(joinPath(fp, 'name'), 'is required');
    else if (names.has(name)) issues.add(joinPath(fp, 'name'), `duplicate HTTP filter name '${name}'`);
    names.add(name);
    const tc = msg(f, 'typed_config');
    if (tc === undefined) {
      issues.add(joinPath(fp, 'typed_config'), 'is required');
      continue;
    }
    const typeUrl = String(tc['@type']);
    const isRouter = typeUrl === ROUTER_TYPE_URL;
    const last = i === filters.length - 1;
    if (isRouter && !last) issues.add(fp, 'the router filter must be the last HTTP filter');
    if (!isRouter && last) issues.add(fp, `the last HTTP filter must be the router (${ROUTER_TYPE_URL})`);
    const config = issues.take(deps.filters.compile(name, tc, joinPath(fp, 'typed_config'), deps.readFile));
    out.push({ name, typeUrl, config });
  }
  return out;
}
