/**
 * Compiles `envoy.config.cluster.v3.Cluster` into `ClusterModel`: discovery type (STATIC,
 * STRICT_DNS, EDS over ADS), connect timeout, LB policy (with its ring-hash / least-request /
 * common LB settings), the static `load_assignment`, the upstream HTTP protocol (from
 * `typed_extension_protocol_options` HttpProtocolOptions or the deprecated top-level
 * `http2_protocol_options`), upstream TLS and DNS settings, and the resilience settings
 * (`circuit_breakers`, `outlier_detection`, `health_checks`, compiled in cluster-resilience.ts).
 */
import type { ClusterModel, UpstreamProtocol, UpstreamTlsModel } from '../model';
import type { ValidationResult } from '../../core/errors';
import {
  checkAdsConfigSource, CompileDeps, Issues, joinPath, list, msg, onlyFields, optDurationMs, str, wrappedInt,
} from './context';
import { compileEndpointsInto } from './cluster-load-assignment';
import {
  compileActiveRequestBias, compileCircuitBreakers, compileCommonLbConfig, compileHealthChecks, compileOutlierDetection,
  compileRingHashConfig, DEFAULT_RING_HASH,
} from './cluster-resilience';
import type { ProtoObject } from './proto-json';
import { compileUpstreamTls, tlsTypedConfig, UPSTREAM_TLS_TYPE_URL } from './tls';

export const HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const HTTP_PROTOCOL_OPTIONS_TYPE_URL = `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS_KEY}`;
const MAX_INT32 = 2147483647;
const DEFAULT_WINDOW = 268435456;
/** Re-exported: the defaults live with their compile functions in cluster-resilience.ts. */
export { DEFAULT_CIRCUIT_BREAKERS, DEFAULT_OUTLIER_DETECTION, DEFAULT_RING_HASH } from './cluster-resilience';

interface ProtocolSettings {
  protocol: UpstreamProtocol;
  maxConcurrentStreams: number;
  streamWindow: number;
  connectionWindow: number;
  idleTimeoutMs: number | null;
  maxRequestsPerConnection: number | null;
}

/** Compiles a standalone Cluster ProtoObject (CDS, or at `path` inside a bootstrap). */
export function compileCluster(obj: ProtoObject, deps: CompileDeps, path = ''): ValidationResult<ClusterModel> {
  const issues = new Issues();
  const c = compileClusterInto(issues, deps, obj, path);
  return issues.result(c as ClusterModel);
}

function compileH2(issues: Issues, h2: ProtoObject, path: string, s: ProtocolSettings): void {
  onlyFields(issues, h2, path, ['max_concurrent_streams', 'initial_stream_window_size', 'initial_connection_window_size']);
  s.maxConcurrentStreams = wrappedInt(issues, h2, 'max_concurrent_streams', path, MAX_INT32, 1, MAX_INT32);
  s.streamWindow = wrappedInt(issues, h2, 'initial_stream_window_size', path, DEFAULT_WINDOW, 65535, MAX_INT32);
  s.connectionWindow = wrappedInt(issues, h2, 'initial_connection_window_size', path, DEFAULT_WINDOW, 65535, MAX_INT32);
}

function compileCommonHttp(issues: Issues, c: ProtoObject, path: string, s: ProtocolSettings): void {
  onlyFields(issues, c, path, ['idle_timeout', 'max_requests_per_connection']);
  s.idleTimeoutMs = optDurationMs(issues, c, 'idle_timeout', path, 3_600_000);
  const max = wrappedInt(issues, c, 'max_requests_per_connection', path, 0, 0, 0xffffffff);
  s.maxRequestsPerConnection = max === 0 ? null : max;
}

function compileHttpProtocolOptions(issues: Issues, o: ProtoObject, path: string, s: ProtocolSettings): void {
  onlyFields(issues, o, path, ['explicit_http_config', 'use_downstream_protocol_config', 'common_http_protocol_options']);
  const explicit = msg(o, 'explicit_http_config');
  const downstream = msg(o, 'use_downstream_protocol_config');
  if (explicit !== undefined) {
    const ep = joinPath(path, 'explicit_http_config');
    onlyFields(issues, explicit, ep, ['http_protocol_options', 'http2_protocol_options']);
    const h1 = msg(explicit, 'http_protocol_options');
    const h2 = msg(explicit, 'http2_protocol_options');
    if (h2 !== undefined) {
      s.protocol = 'http2';
      compileH2(issues, h2, joinPath(ep, 'http2_protocol_options'), s);
    } else if (h1 !== undefined) {
      onlyFields(issues, h1, joinPath(ep, 'http_protocol_options'), []);
      s.protocol = 'http1';
    } else if (explicit['http3_protocol_options'] === undefined) {
      issues.add(ep, 'one of http_protocol_options or http2_protocol_options is required');
    }
  } else if (downstream !== undefined) {
    const dp = joinPath(path, 'use_downstream_protocol_config');
    onlyFields(issues, downstream, dp, ['http_protocol_options', 'http2_protocol_options']);
    s.protocol = 'downstream';
    const h1 = msg(downstream, 'http_protocol_options');
    if (h1 !== undefined) onlyFields(issues, h1, joinPath(dp, 'http_protocol_options'), []);
    const h2 = msg(downstream, 'http2_protocol_options');
    if (h2 !== undefined) compileH2(issues, h2, joinPath(dp, 'http2_protocol_options'), s);
  } else if (o['auto_config'] === undefined) {
    issues.add(path, 'one of explicit_http_config or use_downstream_protocol_config is required');
  }
  const common = msg(o, 'common_http_protocol_options');
  if (common !== undefined) compileCommonHttp(issues, common, joinPath(path, 'common_http_protocol_options'), s);
}

/** Compiles a Cluster into `issues`; the value is meaningful only if no issue was added. */
export function compileClusterInto(issues: Issues, deps: CompileDeps, c: ProtoObject, path: string): ClusterModel | null {
  const before = issues.count;
  onlyFields(issues, c, path, [
    'name', 'alt_stat_name', 'type', 'eds_cluster_config', 'connect_timeout', 'lb_policy', 'least_request_lb_config',
    'load_assignment', 'typed_extension_protocol_options', 'http2_protocol_options', 'common_http_protocol_options',
    'transport_socket', 'dns_refresh_rate', 'dns_lookup_family', 'metadata', 'protocol_selection',
    'ring_hash_lb_config', 'common_lb_config', 'circuit_breakers', 'outlier_detection', 'health_checks',
  ]);
  const name = str(c, 'name') ?? '';
  if (name === '') issues.add(joinPath(path, 'name'), 'is required');
  const type = str(c, 'type') ?? 'STATIC';
  if (type !== 'STATIC' && type !== 'STRICT_DNS' && type !== 'EDS') issues.add(joinPath(path, 'type'), `${type} is not supported by Remora`);

  let edsServiceName: string | null = null;
  const eds = msg(c, 'eds_cluster_config');
  if (type === 'EDS') {
    const ep = joinPath(path, 'eds_cluster_config');
    if (eds === undefined) issues.add(ep, 'is required for EDS clusters');
    else {
      onlyFields(issues, eds, ep, ['eds_config', 'service_name']);
      checkAdsConfigSource(issues, msg(eds, 'eds_config'), joinPath(ep, 'eds_config'));
      edsServiceName = str(eds, 'service_name') || name;
    }
    if (c['load_assignment'] !== undefined) issues.add(joinPath(path, 'load_assignment'), 'must not be set for EDS clusters (endpoints come from EDS)');
  } else if (eds !== undefined) {
    issues.add(joinPath(path, 'eds_cluster_config'), 'is only valid for EDS clusters');
  }

  const connectTimeoutMs = optDurationMs(issues, c, 'connect_timeout', path, 5000, false);
  if (connectTimeoutMs === 0) issues.add(joinPath(path, 'connect_timeout'), 'must be greater than 0');

  const lbPolicy = str(c, 'lb_policy') ?? 'ROUND_ROBIN';
  if (lbPolicy !== 'ROUND_ROBIN' && lbPolicy !== 'LEAST_REQUEST' && lbPolicy !== 'RANDOM' && lbPolicy !== 'RING_HASH') {
    issues.add(joinPath(path, 'lb_policy'), `${lbPolicy} is not supported by Remora`);
  }
  let choiceCount = 2;
  let activeRequestBias = 1;
  const lr = msg(c, 'least_request_lb_config');
  if (lr !== undefined) {
    const lp = joinPath(path, 'least_request_lb_config');
    onlyFields(issues, lr, lp, ['choice_count', 'active_request_bias']);
    if (lbPolicy !== 'LEAST_REQUEST') issues.add(lp, 'requires lb_policy LEAST_REQUEST');
    choiceCount = wrappedInt(issues, lr, 'choice_count', lp, 2, 2, 0xffffffff);
    activeRequestBias = compileActiveRequestBias(issues, lr, lp);
  }
  let ringHash: ClusterModel['ringHash'] = DEFAULT_RING_HASH;
  const rh = msg(c, 'ring_hash_lb_config');
  if (rh !== undefined) {
    const rp = joinPath(path, 'ring_hash_lb_config');
    if (lbPolicy !== 'RING_HASH') issues.add(rp, 'requires lb_policy RING_HASH');
    ringHash = compileRingHashConfig(issues, rh, rp);
  }
  const common = msg(c, 'common_lb_config');
  const healthyPanicThresholdPercent = common === undefined ? 50 : compileCommonLbConfig(issues, common, joinPath(path, 'common_lb_config'));
  const circuitBreakers = compileCircuitBreakers(issues, msg(c, 'circuit_breakers'), joinPath(path, 'circuit_breakers'));
  const od = msg(c, 'outlier_detection');
  const outlierDetection = od === undefined ? null : compileOutlierDetection(issues, od, joinPath(path, 'outlier_detection'));
  const healthChecks = compileHealthChecks(issues, list(c, 'health_checks'), path);

  const endpoints = [];
  const la = msg(c, 'load_assignment');
  if (la !== undefined && type !== 'EDS') {
    endpoints.push(...compileEndpointsInto(issues, la, joinPath(path, 'load_assignment'), type === 'STRICT_DNS' ? 'ip-or-hostname' : 'ip'));
  }

  const s: ProtocolSettings = {
    protocol: 'http1', maxConcurrentStreams: MAX_INT32, streamWindow: DEFAULT_WINDOW, connectionWindow: DEFAULT_WINDOW,
    idleTimeoutMs: 3_600_000, maxRequestsPerConnection: null,
  };
  const tepo = msg(c, 'typed_extension_protocol_options');
  const tp = joinPath(path, 'typed_extension_protocol_options');
  if (tepo !== undefined) {
    for (const key of Object.keys(tepo)) {
      const kp = `${tp}[${JSON.stringify(key)}]`;
      const opts = tepo[key] as ProtoObject;
      if (key !== HTTP_PROTOCOL_OPTIONS_KEY || opts['@type'] !== HTTP_PROTOCOL_OPTIONS_TYPE_URL) {
        issues.add(kp, `only ${HTTP_PROTOCOL_OPTIONS_KEY} is supported by Remora`);
        continue;
      }
      compileHttpProtocolOptions(issues, opts, kp, s);
    }
  }
  const legacyH2 = msg(c, 'http2_protocol_options');
  if (legacyH2 !== undefined) {
    if (tepo?.[HTTP_PROTOCOL_OPTIONS_KEY] !== undefined) {
      issues.add(joinPath(path, 'http2_protocol_options'), `cannot be combined with typed_extension_protocol_options[${JSON.stringify(HTTP_PROTOCOL_OPTIONS_KEY)}]`);
    } else {
      s.protocol = str(c, 'protocol_selection') === 'USE_DOWNSTREAM_PROTOCOL' ? 'downstream' : 'http2';
      compileH2(issues, legacyH2, joinPath(path, 'http2_protocol_options'), s);
    }
  } else if (str(c, 'protocol_selection') === 'USE_DOWNSTREAM_PROTOCOL') {
    issues.add(joinPath(path, 'protocol_selection'), 'use typed_extension_protocol_options use_downstream_protocol_config instead');
  }
  const legacyCommon = msg(c, 'common_http_protocol_options');
  if (legacyCommon !== undefined) compileCommonHttp(issues, legacyCommon, joinPath(path, 'common_http_protocol_options'), s);

  let tls: UpstreamTlsModel | null = null;
  const ts = msg(c, 'transport_socket');
  if (ts !== undefined) {
    const tsp = joinPath(path, 'transport_socket');
    const ctx = tlsTypedConfig(issues, ts, tsp, UPSTREAM_TLS_TYPE_URL);
    if (ctx !== null) tls = compileUpstreamTls(issues, deps, ctx, joinPath(tsp, 'typed_config'));
  }

  const dnsRefreshRateMs = optDurationMs(issues, c, 'dns_refresh_rate', path, 5000, false);
  if (c['dns_refresh_rate'] !== undefined && (dnsRefreshRateMs ?? 0) < 1) issues.add(joinPath(path, 'dns_refresh_rate'), 'must be at least 1ms');
  const family = str(c, 'dns_lookup_family') ?? 'AUTO';

  if (issues.count !== before) return null;
  return {
    name,
    type: type as ClusterModel['type'],
    connectTimeoutMs: connectTimeoutMs ?? 5000,
    lbPolicy: lbPolicy as ClusterModel['lbPolicy'],
    leastRequestChoiceCount: choiceCount,
    endpoints,
    edsServiceName,
    protocol: s.protocol,
    http2MaxConcurrentStreams: s.maxConcurrentStreams,
    http2InitialStreamWindowSize: s.streamWindow,
    http2InitialConnectionWindowSize: s.connectionWindow,
    idleTimeoutMs: s.idleTimeoutMs,
    maxRequestsPerConnection: s.maxRequestsPerConnection,
    tls,
    dnsRefreshRateMs: dnsRefreshRateMs ?? 5000,
    dnsLookupFamily: family as ClusterModel['dnsLookupFamily'],
    leastRequestActiveRequestBias: activeRequestBias,
    ringHash,
    healthyPanicThresholdPercent,
    circuitBreakers,
    outlierDetection,
    healthChecks,
  };
}
