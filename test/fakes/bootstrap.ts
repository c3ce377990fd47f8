/**
 * Builders for Envoy v3 Bootstrap YAML used by the integration tests. They cover the common shapes
 * (an HCM listener with inline routes, STATIC/STRICT_DNS clusters speaking HTTP/1.1 or HTTP/2, a
 * downstream TLS context) and accept raw Envoy fragments for everything else, so a test reads like
 * the Envoy config it exercises. Every port defaults to 0.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';

type Json = Record<string, unknown>;

export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const HTTP_PROTOCOL_OPTIONS_TYPE = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
export const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

export interface TlsSpec {
  readonly certPath: string;
  readonly keyPath: string;
  /** Trusted CA for client certificates; omit to not verify clients. */
  readonly caPath?: string;
  readonly requireClientCertificate?: boolean;
  readonly alpn?: string[];
}

export interface ListenerSpec {
  readonly name: string;
  readonly port?: number;
  /** Raw Envoy virtual hosts; default one host `*` with `routes`. */
  readonly virtualHosts?: Json[];
  /** Raw Envoy routes for the default `*` virtual host. */
  readonly routes?: Json[];
  /** Extra HttpConnectionManager fields (e.g. max_request_headers_kb). */
  readonly hcm?: Json;
  /** Extra route_config fields (e.g. request_headers_to_add). */
  readonly routeConfig?: Json;
  readonly tls?: TlsSpec;
}

export interface ClusterSpec {
  readonly name: string;
  readonly endpoints: ReadonlyArray<{ host: string; port: number }>;
  /** Upstream HTTP/2 (gRPC) via explicit_http_config; default HTTP/1.1. */
  readonly http2?: boolean;
  readonly type?: 'STATIC' | 'STRICT_DNS';
  /** Envoy Duration string, default '1s'. */
  readonly connectTimeout?: string;
  /** Extra raw cluster fields. */
  readonly extra?: Json;
  /** Extra fields inside explicit_http_config.http2_protocol_options. */
  readonly http2Options?: Json;
}

export interface BootstrapSpec {
  readonly listeners: ListenerSpec[];
  readonly clusters: ClusterSpec[];
  readonly adminPort?: number;
}

/** A route with `match` sending to `cluster`; `action` adds raw RouteAction fields. */
export function routeTo(cluster: string, match: Json = { prefix: '/' }, action: Json = {}, extra: Json = {}): Json {
  return { match, route: { cluster, ...action }, ...extra };
}

/** A route with `match` splitting across clusters by weight. */
export function weightedRoute(weights: Record<string, number>, match: Json = { prefix: '/' }, action: Json = {}): Json {
  return {
    match,
    route: { weighted_clusters: { clusters: Object.entries(weights).map(([name, weight]) => ({ name, weight })) }, ...action },
  };
}

export function listenerJson(spec: ListenerSpec): Json {
  const virtualHosts = spec.virtualHosts ?? [{ name: 'default', domains: ['*'], routes: spec.routes ?? [] }];
  const hcm: Json = {
    '@type': HCM_TYPE,
    stat_prefix: spec.name,
    codec_type: 'AUTO',
    route_config: { name: `${spec.name}-routes`, virtual_hosts: virtualHosts, ...(spec.routeConfig ?? {}) },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
    ...(spec.hcm ?? {}),
  };
  const chain: Json = { filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] };
  if (spec.tls !== undefined) {
    const common: Json = {
      tls_certificates: [{ certificate_chain: { filename: spec.tls.certPath }, private_key: { filename: spec.tls.keyPath } }],
      alpn_protocols: spec.tls.alpn ?? ['h2', 'http/1.1'],
    };
    if (spec.tls.caPath !== undefined) common['validation_context'] = { trusted_ca: { filename: spec.tls.caPath } };
    chain['transport_socket'] = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': DOWNSTREAM_TLS_TYPE,
        common_tls_context: common,
        require_client_certificate: spec.tls.requireClientCertificate ?? false,
      },
    };
  }
  return {
    name: spec.name,
    address: { socket_address: { address: '127.0.0.1', port_value: spec.port ?? 0 } },
    filter_chains: [chain],
  };
}

export function clusterJson(spec: ClusterSpec): Json {
  const cluster: Json = {
    name: spec.name,
    type: spec.type ?? 'STATIC',
    connect_timeout: spec.connectTimeout ?? '1s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: spec.name,
      endpoints: [{
        lb_endpoints: spec.endpoints.map((e) => ({ endpoint: { address: { socket_address: { address: e.host, port_value: e.port } } } })),
      }],
    },
    ...(spec.extra ?? {}),
  };
  if (spec.http2 === true) {
    cluster['typed_extension_protocol_options'] = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': HTTP_PROTOCOL_OPTIONS_TYPE,
        explicit_http_config: { http2_protocol_options: { ...(spec.http2Options ?? {}) } },
      },
    };
  }
  return cluster;
}

/** The whole bootstrap as a JSON-shaped object. */
export function bootstrapJson(spec: BootstrapSpec): Json {
  return {
    node: { id: 'remora-test', cluster: 'remora-test' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: spec.adminPort ?? 0 } } },
    static_resources: {
      listeners: spec.listeners.map(listenerJson),
      clusters: spec.clusters.map(clusterJson),
    },
  };
}

/** The whole bootstrap as YAML. */
export function bootstrapYaml(spec: BootstrapSpec): string {
  return stringify(bootstrapJson(spec));
}

/** Shorthand: one listener `name` routing everything to one cluster `upstream` at 127.0.0.1:port. */
export function simpleProxy(opts: { listener?: string; port: number; http2: boolean; hcm?: Json; routeAction?: Json }): BootstrapSpec {
  const listener = opts.listener ?? 'ingress';
  return {
    listeners: [{ name: listener, routes: [routeTo('upstream', { prefix: '/' }, opts.routeAction ?? {})], hcm: opts.hcm }],
    clusters: [{ name: 'upstream', endpoints: [{ host: '127.0.0.1', port: opts.port }], http2: opts.http2 }],
  };
}

/** Writes `yaml` to a fresh temp dir; returns the file path and a cleanup function. */
export function writeTempBootstrap(yaml: string): { path: string; dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-bootstrap-'));
  const file = path.join(dir, 'bootstrap.yaml');
  fs.writeFileSync(file, yaml);
  return { path: file, dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
