/**
 * The resilience parts of translation, as Envoy v3 fragments in canonical ProtoObject form:
 * VirtualService `retries` → route `retry_policy` (plus Remora's safe default), `fault` → the
 * route's `typed_per_filter_config["envoy.filters.http.fault"]` and the HCM fault filter that
 * enables it, DestinationRule `loadBalancer.consistentHash` → cluster RING_HASH and the routes'
 * `hash_policy`, `connectionPool` → `connect_timeout`, `circuit_breakers` and upstream
 * HttpProtocolOptions, and `outlierDetection` → `outlier_detection` and the panic threshold, with
 * Istio's mapping (see docs/mesh-config.md "Resilience").
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import type { ConsistentHash, HttpFault, HttpRetry, Percent, PortProtocol, TrafficPolicy } from '../mesh/model';
import { duration, HTTP_PROTOCOL_OPTIONS_KEY, HTTP_PROTOCOL_OPTIONS_TYPE_URL } from './envoy-builders';

export const FAULT_FILTER_NAME = 'envoy.filters.http.fault';
export const FAULT_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

/**
 * Remora's retry policy for sidecar routes whose VirtualService has no `retries`: retry twice, only
 * when the upstream provably never received the request (connect failure, REFUSED_STREAM), so no
 * call is ever duplicated. Istio's default also retries `unavailable`, `cancelled` and 503, which
 * can repeat a non-idempotent call that the server already executed.
 */
export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream';
export const DEFAULT_NUM_RETRIES = 2;

/**
 * The route `retry_policy` for `retries` (null = not configured), or null for no retry policy:
 * `attempts: 0` disables retries, and proxyless gRPC gets no default (gRPC already replays calls that
 * never left the client transparently).
 */
export function retryPolicy(retries: HttpRetry | null, proxyless: boolean): ProtoObject | null {
  if (retries === null) return proxyless ? null : { retry_on: DEFAULT_RETRY_ON, num_retries: { value: DEFAULT_NUM_RETRIES } };
  if (retries.attempts === 0) return null;
  const rp: ProtoObject = { retry_on: retries.retryOn.join(','), num_retries: { value: retries.attempts } };
  if (retries.perTryTimeoutMs !== null) rp['per_try_timeout'] = duration(retries.perTryTimeoutMs);
  if (retries.retriableStatusCodes.length > 0) rp['retriable_status_codes'] = [...retries.retriableStatusCodes];
  if (retries.backoffMs !== null) rp['retry_back_off'] = { base_interval: duration(retries.backoffMs), max_interval: duration(10 * retries.backoffMs) };
  return rp;
}

/** An Envoy FractionalPercent for `p` percent: HUNDRED when whole, else MILLION (Istio's precision). */
export function fractionalPercent(p: Percent): ProtoObject {
  if (Number.isInteger(p)) return { numerator: p, denominator: 'HUNDRED' };
  return { numerator: Math.round(p * 10_000), denominator: 'MILLION' };
}

/** The per-route HTTPFault (as an Any) for `fault`. */
export function faultConfig(fault: HttpFault): ProtoObject {
  const out: ProtoObject = { '@type': FAULT_TYPE_URL };
  if (fault.delay !== null) out['delay'] = { fixed_delay: duration(fault.delay.fixedDelayMs), percentage: fractionalPercent(fault.delay.percent) };
  if (fault.abort !== null) {
    const a: ProtoObject = {};
    if (fault.abort.httpStatus !== null) a['http_status'] = fault.abort.httpStatus;
    else a['grpc_status'] = fault.abort.grpcStatus!;
    a['percentage'] = fractionalPercent(fault.abort.percent);
    out['abort'] = a;
  }
  return out;
}

/** The HCM entry enabling per-route faults: an empty HTTPFault (no fault unless a route configures one). */
export function faultHttpFilter(): ProtoObject {
  return { name: FAULT_FILTER_NAME, typed_config: { '@type': FAULT_TYPE_URL } };
}

/** Whether any route of these virtual hosts carries a fault config. */
export function routesUseFault(vhosts: readonly ProtoObject[]): boolean {
  for (const vh of vhosts) {
    for (const r of (vh['routes'] as ProtoObject[] | undefined) ?? []) {
      const t = r['typed_per_filter_config'] as ProtoObject | undefined;
      if (t !== undefined && t[FAULT_FILTER_NAME] !== undefined) return true;
    }
  }
  return false;
}

/** The route `hash_policy` entry for a consistent-hash key. */
export function hashPolicy(h: ConsistentHash): ProtoObject {
  switch (h.key.kind) {
    case 'header': return { header: { header_name: h.key.name } };
    case 'cookie': return { cookie: { name: h.key.name } };
    case 'sourceIp': return { connection_properties: { source_ip: true } };
    case 'queryParameter': return { query_parameter: { name: h.key.name } };
  }
}

const UINT = (value: number): ProtoObject => ({ value });

/**
 * Writes `policy` onto cluster `c` (already holding name/type/endpoints and, for GRPC/HTTP2 ports,
 * HTTP/2 protocol options). Proxyless gRPC keeps ROUND_ROBIN for `simple` policies (grpc-js-xds
 * rejects the others) but gets RING_HASH; fields gRPC ignores are harmless to it.
 */
export function applyTrafficPolicy(c: ProtoObject, policy: TrafficPolicy | null, protocol: PortProtocol, proxyless: boolean): void {
  const lb = policy?.loadBalancer ?? null;
  if (lb !== null && lb.kind === 'simple' && lb.policy !== 'ROUND_ROBIN' && !proxyless) c['lb_policy'] = lb.policy;
  if (lb !== null && lb.kind === 'consistentHash') {
    c['lb_policy'] = 'RING_HASH';
    if (lb.hash.minimumRingSize !== null) c['ring_hash_lb_config'] = { minimum_ring_size: UINT(lb.hash.minimumRingSize) };
  }
  const pool = policy?.connectionPool ?? null;
  if (pool !== null) {
    if (pool.tcp?.connectTimeoutMs != null) c['connect_timeout'] = duration(pool.tcp.connectTimeoutMs);
    const t: ProtoObject = {};
    if (pool.tcp?.maxConnections != null) t['max_connections'] = UINT(pool.tcp.maxConnections);
    if (pool.http?.http1MaxPendingRequests != null) t['max_pending_requests'] = UINT(pool.http.http1MaxPendingRequests);
    if (pool.http?.http2MaxRequests != null) t['max_requests'] = UINT(pool.http.http2MaxRequests);
    if (pool.http?.maxRetries != null) t['max_retries'] = UINT(pool.http.maxRetries);
    // Explicit thresholds turn Envoy's retry budget off; keep Remora's default budget (20%, min 3)
    // unless the rule caps concurrent retries itself with maxRetries.
    else if (Object.keys(t).length > 0) t['retry_budget'] = { budget_percent: { value: 20 }, min_retry_concurrency: UINT(3) };
    if (Object.keys(t).length > 0) c['circuit_breakers'] = { thresholds: [t] };
    const common: ProtoObject = {};
    if (pool.http?.idleTimeoutMs != null) common['idle_timeout'] = duration(pool.http.idleTimeoutMs);
    if (pool.http?.maxRequestsPerConnection != null) common['max_requests_per_connection'] = UINT(pool.http.maxRequestsPerConnection);
    if (Object.keys(common).length > 0) {
      const existing = (c['typed_extension_protocol_options'] as ProtoObject | undefined)?.[HTTP_PROTOCOL_OPTIONS_KEY] as ProtoObject | undefined;
      const explicit = existing?.['explicit_http_config']
        ?? (protocol === 'GRPC' || protocol === 'HTTP2' ? { http2_protocol_options: {} } : { http_protocol_options: {} });
      c['typed_extension_protocol_options'] = {
        [HTTP_PROTOCOL_OPTIONS_KEY]: { '@type': HTTP_PROTOCOL_OPTIONS_TYPE_URL, explicit_http_config: explicit, common_http_protocol_options: common },
      };
    }
  }
  const od = policy?.outlierDetection ?? null;
  if (od !== null) {
    // Istio: success-rate ejection off; a consecutive detector is enforced at 100% when its count is
    // set and > 0, and switched off (enforcing 0) by a count of 0.
    const o: ProtoObject = { enforcing_success_rate: UINT(0) };
    if (od.consecutive5xxErrors !== null) {
      if (od.consecutive5xxErrors > 0) o['consecutive_5xx'] = UINT(od.consecutive5xxErrors);
      o['enforcing_consecutive_5xx'] = UINT(od.consecutive5xxErrors > 0 ? 100 : 0);
    }
    if (od.consecutiveGatewayErrors !== null) {
      if (od.consecutiveGatewayErrors > 0) o['consecutive_gateway_failure'] = UINT(od.consecutiveGatewayErrors);
      o['enforcing_consecutive_gateway_failure'] = UINT(od.consecutiveGatewayErrors > 0 ? 100 : 0);
    }
    if (od.splitExternalLocalOriginErrors) {
      o['split_external_local_origin_errors'] = true;
      if (od.consecutiveLocalOriginFailures !== null) {
        o['consecutive_local_origin_failure'] = UINT(od.consecutiveLocalOriginFailures);
        o['enforcing_consecutive_local_origin_failure'] = UINT(100);
      }
    }
    if (od.intervalMs !== null) o['interval'] = duration(od.intervalMs);
    if (od.baseEjectionTimeMs !== null) {
      o['base_ejection_time'] = duration(od.baseEjectionTimeMs);
      // Envoy caps each ejection at max_ejection_time (default 300 s), which must not be below the base.
      if (od.baseEjectionTimeMs > 300_000) o['max_ejection_time'] = duration(od.baseEjectionTimeMs);
    }
    if (od.maxEjectionPercent !== null) o['max_ejection_percent'] = UINT(od.maxEjectionPercent);
    c['outlier_detection'] = o;
    // Istio sets the panic threshold from minHealthPercent (default 0: panic mode off).
    c['common_lb_config'] = { healthy_panic_threshold: { value: od.minHealthPercent } };
  }
}
