/**
 * Small builders for the Envoy v3 fragments every translator repeats, in the canonical ProtoObject
 * form (`config/compile/proto-json.ts`): type URLs, Durations, the ADS config source, the router
 * filter, an HTTP connection manager with RDS over ADS, socket addresses and header mutations.
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import type { HeaderOperations, HeadersSpec } from '../mesh/model';

export const HCM_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
export const HTTP_PROTOCOL_OPTIONS_TYPE_URL = `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS_KEY}`;

/** A google.protobuf.Duration for `ms` milliseconds. */
export function duration(ms: number): ProtoObject {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** `{ads: {}, resource_api_version: V3}`. */
export function adsConfigSource(): ProtoObject {
  return { ads: {}, resource_api_version: 'V3' };
}

/**
 * An HCM (as an Any) routing through RDS `routeConfigName` over ADS: `filters` (HttpFilter entries,
 * in order) and then the router filter, last.
 */
export function hcmWithRds(statPrefix: string, routeConfigName: string, filters: readonly ProtoObject[] = []): ProtoObject {
  return {
    '@type': HCM_TYPE_URL,
    stat_prefix: statPrefix,
    rds: { config_source: adsConfigSource(), route_config_name: routeConfigName },
    http_filters: [...filters, { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE_URL } }],
  };
}

export function socketAddress(address: string, port: number): ProtoObject {
  return { socket_address: { address, port_value: port } };
}

/** `typed_extension_protocol_options` forcing HTTP/2 upstream (GRPC/HTTP2 ports). */
export function http2ProtocolOptions(): ProtoObject {
  return {
    [HTTP_PROTOCOL_OPTIONS_KEY]: { '@type': HTTP_PROTOCOL_OPTIONS_TYPE_URL, explicit_http_config: { http2_protocol_options: {} } },
  };
}

function headerValueOptions(ops: HeaderOperations): ProtoObject[] {
  const out: ProtoObject[] = [];
  for (const [key, value] of ops.set) out.push({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  for (const [key, value] of ops.add) out.push({ header: { key, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' });
  return out;
}

/**
 * Writes Istio `headers` operations onto an Envoy route / weighted cluster as
 * `request_headers_to_add`/`_remove` and `response_headers_to_add`/`_remove` (appending to any
 * already present, so route-level and destination-level operations compose).
 */
export function applyHeaders(target: ProtoObject, headers: HeadersSpec | null): void {
  if (headers === null) return;
  const append = (key: string, items: unknown[]): void => {
    if (items.length === 0) return;
    target[key] = [...((target[key] as unknown[] | undefined) ?? []), ...items];
  };
  append('request_headers_to_add', headerValueOptions(headers.request));
  append('request_headers_to_remove', [...headers.request.remove]);
  append('response_headers_to_add', headerValueOptions(headers.response));
  append('response_headers_to_remove', [...headers.response.remove]);
}
