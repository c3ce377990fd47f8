import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as protobuf from 'protobufjs';
import YAML from 'yaml';
import { loadEnvoyProtos } from '../../xds/protos';
import type { ConfigIssue, ValidationResult } from '../../core/errors';
import type { BootstrapModel } from '../model';
import { compileBootstrap } from './bootstrap';
import { compileCluster } from './cluster';
import { compileClusterLoadAssignment } from './cluster-load-assignment';
import { ROUTER_TYPE_URL, type CompileDeps, type HttpFilterCompiler } from './http-filter-compiler';
import { loadBootstrap } from './load-bootstrap';
import { parseProtoJson } from './proto-json';
import { compileRouteConfiguration } from './route-configuration';

/** Accepts only the router filter; per-route configs are always rejected. */
const routerOnly: HttpFilterCompiler = {
  compile(_name, typedConfig, p) {
    if (typedConfig['@type'] === ROUTER_TYPE_URL) return { ok: true, value: { router: true } };
    return { ok: false, errors: [{ path: `${p}.@type`, message: `unknown HTTP filter ${String(typedConfig['@type'])}` }] };
  },
  compilePerRoute(filterName, _tc, p) {
    return { ok: false, errors: [{ path: p, message: `filter ${filterName} has no per-route config` }] };
  },
};

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const HPO = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** The canonical Envoy v3 static gRPC proxy example. */
const CANONICAL = `
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }
static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address: { address: 0.0.0.0, port_value: 10000 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: ingress_http
          codec_type: AUTO
          route_config:
            name: local_route
            virtual_hosts:
            - name: local_service
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: grpc_service, timeout: 0s }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": ${ROUTER_TYPE_URL}
  clusters:
  - name: grpc_service
    type: STATIC
    connect_timeout: 0.25s
    lb_policy: ROUND_ROBIN
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": ${HPO}
        explicit_http_config:
          http2_protocol_options: {}
    load_assignment:
      cluster_name: grpc_service
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: 50051 }
`;

const EMPTY_HEADERS = { requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };

const EXPECTED: BootstrapModel = {
  node: { id: '', cluster: '', metadata: {} },
  admin: { host: '127.0.0.1', port: 9901 },
  listeners: [{
    name: 'listener_0',
    address: { host: '0.0.0.0', port: 10000 },
    tls: null,
    plaintextAllowed: true,
    trafficDirection: 'UNSPECIFIED',
    hcm: {
      statPrefix: 'ingress_http',
      codecType: 'AUTO',
      routeConfig: {
        name: 'local_route',
        virtualHosts: [{
          name: 'local_service',
          domains: ['*'],
          routes: [{
            name: '',
            match: { path: { kind: 'prefix', value: '/', caseSensitive: true }, headers: [], queryParameters: [], grpc: false },
            action: {
              type: 'route',
              clusters: [{ name: 'grpc_service', weight: 1, headers: EMPTY_HEADERS }],
              totalWeight: 1,
              timeoutMs: null,
              idleTimeoutMs: null,
              prefixRewrite: null,
              hostRewriteLiteral: null,
              grpcTimeoutHeaderMaxMs: null,
              grpcTimeoutHeaderOffsetMs: 0,
              maxStreamDurationMs: null,
              retryPolicy: null,
              hashPolicy: [],
              rateLimits: [],
            },
            headers: EMPTY_HEADERS,
            perFilterConfig: {},
          }],
          headers: EMPTY_HEADERS,
        }],
        headers: EMPTY_HEADERS,
      },
      rdsRouteConfigName: null,
      httpFilters: [{ name: 'envoy.filters.http.router', typeUrl: ROUTER_TYPE_URL, config: { router: true } }],
      streamIdleTimeoutMs: 300_000,
      requestTimeoutMs: null,
      requestHeadersTimeoutMs: null,
      connectionIdleTimeoutMs: 3_600_000,
      maxRequestHeadersBytes: 60 * 1024,
      maxHeadersCount: 100,
      maxConcurrentStreams: 2147483647,
      initialStreamWindowSize: 268435456,
      initialConnectionWindowSize: 268435456,
      useRemoteAddress: false,
      xffNumTrustedHops: 0,
      generateRequestId: true,
      preserveExternalRequestId: false,
      stripAnyHostPort: false,
      serverName: 'remora',
      forwardClientCertDetails: 'SANITIZE',
      setCurrentClientCertDetails: { subject: false, cert: false, chain: false, dns: false, uri: false },
      tracing: null,
      accessLogs: [],
      istioStats: null,
    },
  }],
  clusters: [{
    name: 'grpc_service',
    type: 'STATIC',
    connectTimeoutMs: 250,
    lbPolicy: 'ROUND_ROBIN',
    leastRequestChoiceCount: 2,
    endpoints: [{ host: '127.0.0.1', port: 50051, weight: 1, priority: 0, healthStatus: 'UNKNOWN', metadata: null }],
    edsServiceName: null,
    protocol: 'http2',
    http2MaxConcurrentStreams: 2147483647,
    http2InitialStreamWindowSize: 268435456,
    http2InitialConnectionWindowSize: 268435456,
    idleTimeoutMs: 3_600_000,
    maxRequestsPerConnection: null,
    tls: null,
    dnsRefreshRateMs: 5000,
    dnsLookupFamily: 'AUTO',
    leastRequestActiveRequestBias: 1,
    ringHash: { minimumRingSize: 1024, maximumRingSize: 8388608 },
    healthyPanicThresholdPercent: 50,
    circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3, retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 } },
    outlierDetection: null,
    healthChecks: [],
  }],
  ads: null,
};

let root: protobuf.Root;
let dir: string;
const files = new Map<string, Buffer>();
const deps: CompileDeps = {
  filters: routerOnly,
  readFile(p) {
    const b = files.get(p);
    if (b === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return b;
  },
};

before(() => {
  root = loadEnvoyProtos();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-bootstrap-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function compileYaml(text: string): ValidationResult<BootstrapModel> {
  const parsed = parseProtoJson(root, 'envoy.config.bootstrap.v3.Bootstrap', YAML.parse(text), '');
  if (!parsed.ok) return parsed;
  return compileBootstrap(parsed.value, deps);
}

function compileDoc(doc: unknown): ValidationResult<BootstrapModel> {
  const parsed = parseProtoJson(root, 'envoy.config.bootstrap.v3.Bootstrap', doc, '');
  if (!parsed.ok) return parsed;
  return compileBootstrap(parsed.value, deps);
}

function errorsOf<T>(r: ValidationResult<T>): readonly ConfigIssue[] {
  assert.equal(r.ok, false, 'expected errors');
  return (r as { errors: readonly ConfigIssue[] }).errors;
}

function expectError<T>(r: ValidationResult<T>, pathStr: string, message?: RegExp): void {
  const errs = errorsOf(r);
  const hit = errs.find((e) => e.path === pathStr);
  assert.ok(hit, `no error at ${pathStr}; got ${JSON.stringify(errs)}`);
  if (message !== undefined) assert.match(hit.message, message);
}

/** The canonical document as a JS object, to mutate in tests. */
function canonical(): any {
  return YAML.parse(CANONICAL);
}

const CLUSTER0 = 'static_resources.clusters[0]';
const HCM_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
const ROUTE0 = `${HCM_PATH}.route_config.virtual_hosts[0].routes[0]`;

describe('compileBootstrap: canonical Envoy gRPC example', () => {
  it('compiles unchanged to the expected model', () => {
    const r = compileYaml(CANONICAL);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.deepEqual(r.value, EXPECTED);
    assert.ok(Object.isFrozen(r.value) && Object.isFrozen(r.value.clusters[0]!.endpoints[0]));
  });

  it('accepts the deprecated top-level http2_protocol_options as explicit h2', () => {
    const doc = canonical();
    const c = doc.static_resources.clusters[0];
    delete c.typed_extension_protocol_options;
    c.http2_protocol_options = { max_concurrent_streams: 100 };
    const r = compileDoc(doc);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.equal(r.value.clusters[0]!.protocol, 'http2');
    assert.equal(r.value.clusters[0]!.http2MaxConcurrentStreams, 100);
    assert.deepEqual({ ...r.value.clusters[0], http2MaxConcurrentStreams: 2147483647 }, EXPECTED.clusters[0]);
  });

  it('rejects both protocol-option forms together', () => {
    const doc = canonical();
    doc.static_resources.clusters[0].http2_protocol_options = {};
    expectError(compileDoc(doc), `${CLUSTER0}.http2_protocol_options`, /cannot be combined/);
  });

  it('accepts camelCase (json_name) keys in YAML', () => {
    const camel = CANONICAL
      .replace('static_resources:', 'staticResources:')
      .replace(/socket_address:/g, 'socketAddress:')
      .replace(/port_value:/g, 'portValue:')
      .replace('filter_chains:', 'filterChains:')
      .replace('typed_config:', 'typedConfig:')
      .replace('stat_prefix:', 'statPrefix:')
      .replace('route_config:', 'routeConfig:')
      .replace('virtual_hosts:', 'virtualHosts:')
      .replace('http_filters:', 'httpFilters:')
      .replace('connect_timeout:', 'connectTimeout:')
      .replace('lb_policy:', 'lbPolicy:')
      .replace('typed_extension_protocol_options:', 'typedExtensionProtocolOptions:')
      .replace('explicit_http_config:', 'explicitHttpConfig:')
      .replace('http2_protocol_options:', 'http2ProtocolOptions:')
      .replace('load_assignment:', 'loadAssignment:')
      .replace('cluster_name:', 'clusterName:')
      .replace('lb_endpoints:', 'lbEndpoints:');
    assert.ok(camel.includes('staticResources') && !camel.includes('lb_endpoints'));
    const r = compileYaml(camel);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.deepEqual(r.value, EXPECTED);
  });

  it('defaults admin to 127.0.0.1:15000 and keeps node fields', () => {
    const doc = canonical();
    delete doc.admin;
    doc.node = { id: 'sidecar-1', cluster: 'svc-a', metadata: { team: 'mesh', n: 2, tags: ['a'] } };
    const r = compileDoc(doc);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.deepEqual(r.value.admin, { host: '127.0.0.1', port: 15000 });
    assert.deepEqual(r.value.node, { id: 'sidecar-1', cluster: 'svc-a', metadata: { team: 'mesh', n: 2, tags: ['a'] } });
  });
});

describe('compileBootstrap: rejections carry the exact field path', () => {
  it('unknown field', () => {
    const doc = canonical();
    doc.static_resources.clusters[0].conect_timeout = '1s';
    expectError(compileDoc(doc), `${CLUSTER0}.conect_timeout`, /unknown field/);
  });

  it('unsupported field', () => {
    const doc = canonical();
    doc.static_resources.clusters[0].outlier_detection = { success_rate_minimum_hosts: 3 };
    expectError(compileDoc(doc), `${CLUSTER0}.outlier_detection.success_rate_minimum_hosts`, /not supported by Remora/);
  });

  it('bad enum', () => {
    const doc = canonical();
    doc.static_resources.clusters[0].lb_policy = 'ROUND_ROBINN';
    expectError(compileDoc(doc), `${CLUSTER0}.lb_policy`, /invalid enum value 'ROUND_ROBINN'/);
  });

  it('unsupported enum value', () => {
    const doc = canonical();
    doc.static_resources.clusters[0].lb_policy = 'MAGLEV';
    expectError(compileDoc(doc), `${CLUSTER0}.lb_policy`, /MAGLEV is not supported/);
  });

  it('bad duration', () => {
    const doc = canonical();
    doc.static_resources.clusters[0].connect_timeout = '250ms';
    expectError(compileDoc(doc), `${CLUSTER0}.connect_timeout`, /invalid duration/);
  });

  it('two oneof members', () => {
    const doc = canonical();
    doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.rds = {
      config_source: { ads: {} }, route_config_name: 'r',
    };
    expectError(compileDoc(doc), `${HCM_PATH}.rds`, /oneof 'route_specifier' already set/);
  });

  it('bad port', () => {
    const doc = canonical();
    doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints.push(
      { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } });
    expectError(compileDoc(doc),
      `${CLUSTER0}.load_assignment.endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value`, /must be in 1\.\.65535/);
  });

  it('port above 65535 is a uint32 but still rejected', () => {
    const doc = canonical();
    doc.static_resources.listeners[0].address.socket_address.port_value = 70000;
    expectError(compileDoc(doc), 'static_resources.listeners[0].address.socket_address.port_value', /0\.\.65535/);
  });

  it('STATIC cluster with a host name; STRICT_DNS accepts it', () => {
    const doc = canonical();
    doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = 'backend.local';
    expectError(compileDoc(doc),
      `${CLUSTER0}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address`, /must be an IP address/);
    doc.static_resources.clusters[0].type = 'STRICT_DNS';
    const r = compileDoc(doc);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.equal(r.value.clusters[0]!.endpoints[0]!.host, 'backend.local');
  });

  it('listener address must be an IP', () => {
    const doc = canonical();
    doc.static_resources.listeners[0].address.socket_address.address = 'localhost';
    expectError(compileDoc(doc), 'static_resources.listeners[0].address.socket_address.address', /must be an IP/);
  });

  it('router not last', () => {
    const doc = canonical();
    const hcm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    hcm.http_filters.push({ name: 'second', typed_config: { '@type': ROUTER_TYPE_URL } });
    const r = compileDoc(doc);
    expectError(r, `${HCM_PATH}.http_filters[0]`, /router filter must be the last/);
  });

  it('non-router last, duplicate names, unknown filter type from the filter compiler', () => {
    const doc = canonical();
    const hcm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    hcm.http_filters.push({ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault' } });
    const r = compileDoc(doc);
    expectError(r, `${HCM_PATH}.http_filters[1]`, /last HTTP filter must be the router/);
    expectError(r, `${HCM_PATH}.http_filters[1].name`, /duplicate HTTP filter name/);
    expectError(r, `${HCM_PATH}.http_filters[1].typed_config.@type`, /unknown HTTP filter/);
  });

  it('duplicate cluster names', () => {
    const doc = canonical();
    doc.static_resources.clusters.push(structuredClone(doc.static_resources.clusters[0]));
    expectError(compileDoc(doc), 'static_resources.clusters[1].name', /duplicate cluster name 'grpc_service'/);
  });

  it('bad regex', () => {
    const doc = canonical();
    doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].match =
      { safe_regex: { google_re2: {}, regex: '/svc/(unclosed' } };
    expectError(compileDoc(doc), `${ROUTE0}.match.safe_regex.regex`, /invalid regex/);
  });

  it('RE2-only and non-RE2 regex syntax', () => {
    const doc = canonical();
    const route = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0];
    route.match = { safe_regex: { regex: '/(?P<svc>[a-z]+)/x' } };
    const ok = compileDoc(doc);
    assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.errors));
    const pm = ok.value.listeners[0]!.hcm.routeConfig!.virtualHosts[0]!.routes[0]!.match.path;
    assert.equal(pm.kind, 'regex');
    assert.ok(pm.kind === 'regex' && pm.regex.fullMatch('/abc/x') && !pm.regex.fullMatch('/abc/xy') && !pm.regex.fullMatch('a/abc/x'));
    route.match = { safe_regex: { regex: '(a)\\1' } };
    expectError(compileDoc(doc), `${ROUTE0}.match.safe_regex.regex`, /invalid regex: .*invalid escape sequence: `\\1`/);
    route.match = { safe_regex: { regex: '/(?=x)' } };
    expectError(compileDoc(doc), `${ROUTE0}.match.safe_regex.regex`, /invalid regex: .*invalid or unsupported Perl syntax/);
    // RE2's inline flags and classes are accepted with RE2's meaning.
    route.match = { safe_regex: { regex: '(?i)/[[:alpha:]]+/\\z' } };
    const flags = compileDoc(doc);
    assert.ok(flags.ok, JSON.stringify(!flags.ok && flags.errors));
    const fm = flags.value.listeners[0]!.hcm.routeConfig!.virtualHosts[0]!.routes[0]!.match.path;
    assert.ok(fm.kind === 'regex' && fm.regex.fullMatch('/ABC/') && !fm.regex.fullMatch('/a1/'));
  });

  it('bad domain wildcard and duplicate domains', () => {
    const doc = canonical();
    const rc = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config;
    rc.virtual_hosts[0].domains = ['foo.*.com', '*.*', 'a.example.com'];
    rc.virtual_hosts.push({ name: 'other', domains: ['A.example.com'], routes: [] });
    const r = compileDoc(doc);
    expectError(r, `${HCM_PATH}.route_config.virtual_hosts[0].domains[0]`, /wildcard must be a prefix/);
    expectError(r, `${HCM_PATH}.route_config.virtual_hosts[0].domains[1]`, /only one wildcard/);
    expectError(r, `${HCM_PATH}.route_config.virtual_hosts[1].domains[0]`, /already used by virtual host 'local_service'/);
  });

  it('missing TLS file is reported at the field that named it', () => {
    const doc = canonical();
    doc.static_resources.listeners[0].filter_chains[0].transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        common_tls_context: { tls_certificates: [{ certificate_chain: { filename: '/nope/cert.pem' }, private_key: { inline_string: 'KEY' } }] },
      },
    };
    expectError(compileDoc(doc),
      'static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[0].certificate_chain.filename',
      /cannot read file '\/nope\/cert.pem': ENOENT/);
  });

  it('unknown cluster referenced by a static route', () => {
    const doc = canonical();
    doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster = 'nope';
    expectError(compileDoc(doc), `${ROUTE0}.route.cluster`, /unknown cluster 'nope'/);
  });

  it('reports several errors of one document together', () => {
    const doc = canonical();
    doc.static_resources.clusters[0].connect_timeout = 'soon';
    doc.static_resources.clusters[0].lb_policy = 'NOPE';
    doc.static_resources.listeners[0].bogus = 1;
    const r1 = compileDoc(doc);
    assert.equal(errorsOf(r1).length, 3, JSON.stringify(r1));
    // and at the compile stage (after a clean proto parse)
    const doc2 = canonical();
    doc2.static_resources.clusters[0].lb_policy = 'MAGLEV';
    doc2.static_resources.listeners[0].address.socket_address.address = 'localhost';
    doc2.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.codec_type = 'HTTP3';
    doc2.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 0;
    const paths = errorsOf(compileDoc(doc2)).map((e) => e.path).sort();
    assert.deepEqual(paths, [
      `${CLUSTER0}.lb_policy`,
      `${CLUSTER0}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value`,
      'static_resources.listeners[0].address.socket_address.address',
      `${HCM_PATH}.codec_type`,
    ].sort());
  });
});

describe('compileBootstrap: features', () => {
  it('ADS dynamic resources with EDS cluster and RDS listener', () => {
    const doc = canonical();
    doc.dynamic_resources = {
      ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }] },
      lds_config: { ads: {}, resource_api_version: 'V3' },
      cds_config: { ads: {} },
    };
    doc.static_resources.clusters.push({
      name: 'xds', type: 'STATIC', http2_protocol_options: {},
      load_assignment: { cluster_name: 'xds', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 15010 } } } }] }] },
    });
    doc.static_resources.clusters.push({ name: 'eds-a', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } });
    const hcm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    delete hcm.route_config;
    hcm.rds = { config_source: { ads: {} }, route_config_name: 'routes-a' };
    const r = compileDoc(doc);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.deepEqual(r.value.ads, { clusterName: 'xds', ldsFromAds: true, cdsFromAds: true });
    assert.equal(r.value.clusters[2]!.edsServiceName, 'eds-a');
    assert.equal(r.value.listeners[0]!.hcm.rdsRouteConfigName, 'routes-a');
    assert.equal(r.value.listeners[0]!.hcm.routeConfig, null);

    doc.dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name = 'missing';
    expectError(compileDoc(doc), 'dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name', /unknown cluster 'missing'/);
    delete doc.dynamic_resources;
    expectError(compileDoc(doc), 'static_resources.clusters[2].type', /require dynamic_resources.ads_config/);
  });

  it('TLS listener, mTLS with SAN matchers, and upstream TLS', () => {
    files.set('/certs/cert.pem', Buffer.from('CERT'));
    files.set('/certs/key.pem', Buffer.from('KEY'));
    files.set('/certs/ca.pem', Buffer.from('CA'));
    const doc = canonical();
    doc.static_resources.listeners[0].filter_chains[0].transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        require_client_certificate: true,
        common_tls_context: {
          tls_certificates: [{ certificate_chain: { filename: '/certs/cert.pem' }, private_key: { filename: '/certs/key.pem' } }],
          validation_context: {
            trusted_ca: { filename: '/certs/ca.pem' },
            match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }],
          },
          tls_params: { tls_minimum_protocol_version: 'TLSv1_3' },
        },
      },
    };
    doc.static_resources.clusters[0].transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: 'backend.example.com',
        common_tls_context: { validation_context: { trusted_ca: { inline_string: 'CA2' } }, alpn_protocols: ['h2'] },
      },
    };
    const r = compileDoc(doc);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    const tls = r.value.listeners[0]!.tls!;
    assert.deepEqual(tls.certChain, Buffer.from('CERT'));
    assert.deepEqual(tls.trustedCa, Buffer.from('CA'));
    assert.equal(tls.requireClientCertificate, true);
    assert.deepEqual(tls.alpnProtocols, ['h2', 'http/1.1']);
    assert.equal(tls.minVersion, 'TLSv1.3');
    assert.equal(tls.maxVersion, 'TLSv1.3');
    assert.deepEqual(tls.matchSubjectAltNames, [{ type: 'URI', matcher: { kind: 'prefix', value: 'spiffe://cluster.local/', ignoreCase: false } }]);
    const up = r.value.clusters[0]!.tls!;
    assert.equal(up.sni, 'backend.example.com');
    assert.deepEqual(up.trustedCa, Buffer.from('CA2'));
    assert.equal(up.certChain, null);
    assert.deepEqual(up.alpnProtocols, ['h2']);
    assert.equal(up.maxVersion, 'TLSv1.2');
  });

  it('routes: headers, query params, weighted clusters, redirects, direct responses, header mutations', () => {
    const doc = canonical();
    doc.static_resources.clusters.push({ name: 'b', connect_timeout: '1s' });
    const rc = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config;
    rc.request_headers_to_add = [{ header: { key: 'X-Mesh', value: '100%%' }, append: false }];
    rc.virtual_hosts[0].routes = [
      {
        name: 'split',
        match: {
          path: '/pkg.Svc/Call', grpc: {},
          headers: [
            { name: 'X-Env', string_match: { exact: 'Canary', ignore_case: true } },
            { name: 'x-old', prefix_match: 'v1' },
            { name: 'x-absent', present_match: false },
            { name: 'x-present' },
          ],
          query_parameters: [{ name: 'debug' }, { name: 'v', string_match: { safe_regex: { regex: '[0-9]+' } } }],
        },
        route: {
          weighted_clusters: { total_weight: 100, clusters: [
            { name: 'grpc_service', weight: 80, request_headers_to_remove: ['x-drop'] },
            { name: 'b', weight: 20 },
            { name: 'b', weight: 0 },
          ] },
          timeout: '2.5s',
          max_stream_duration: { grpc_timeout_header_max: '0s', max_stream_duration: '30s' },
          prefix_rewrite: '/v2/',
        },
        response_headers_to_add: [{ header: { key: 'x-r', value: 'v' }, append_action: 'ADD_IF_ABSENT', keep_empty_value: true }],
      },
      { match: { prefix: '/old' }, redirect: { https_redirect: true, response_code: 'PERMANENT_REDIRECT', strip_query: true } },
      { match: { prefix: '/' }, direct_response: { status: 404, body: { inline_string: 'nope' } } },
    ];
    const r = compileDoc(doc);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    const rcm = r.value.listeners[0]!.hcm.routeConfig!;
    assert.deepEqual(rcm.headers.requestHeadersToAdd, [{ key: 'x-mesh', value: '100%', action: 'OVERWRITE_IF_EXISTS_OR_ADD', keepEmptyValue: false }]);
    const [split, redirect, direct] = rcm.virtualHosts[0]!.routes;
    assert.equal(split!.match.grpc, true);
    assert.deepEqual(split!.match.headers.map((h) => [h.name, h.match && 'kind' in h.match ? h.match.kind : null, h.presentMatch]),
      [['x-env', 'exact', true], ['x-old', 'prefix', true], ['x-absent', null, false], ['x-present', null, true]]);
    assert.deepEqual(split!.match.headers[0]!.match, { kind: 'exact', value: 'canary', ignoreCase: true });
    assert.equal(split!.match.queryParameters[0]!.match, null);
    const action = split!.action;
    assert.equal(action.type, 'route');
    if (action.type === 'route') {
      assert.deepEqual(action.clusters.map((c) => [c.name, c.weight]), [['grpc_service', 80], ['b', 20]]);
      assert.equal(action.totalWeight, 100);
      assert.deepEqual(action.clusters[0]!.headers.requestHeadersToRemove, ['x-drop']);
      assert.equal(action.timeoutMs, 2500);
      assert.equal(action.grpcTimeoutHeaderMaxMs, 0);
      assert.equal(action.maxStreamDurationMs, 30_000);
      assert.equal(action.prefixRewrite, '/v2/');
    }
    assert.deepEqual(split!.headers.responseHeadersToAdd, [{ key: 'x-r', value: 'v', action: 'ADD_IF_ABSENT', keepEmptyValue: true }]);
    assert.deepEqual(redirect!.action, {
      type: 'redirect', status: 308, schemeRedirect: 'https', hostRedirect: null, portRedirect: null, pathRedirect: null, prefixRewrite: null, stripQuery: true,
    });
    assert.deepEqual(direct!.action, { type: 'direct_response', status: 404, body: Buffer.from('nope') });
  });

  it('header rules: substitutions, pseudo-headers, host, append + append_action, total_weight mismatch', () => {
    const doc = canonical();
    const vh = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0];
    vh.request_headers_to_add = [
      { header: { key: 'x-id', value: '%DOWNSTREAM_REMOTE_ADDRESS%' } },
      { header: { key: ':path', value: '/' } },
      { header: { key: 'x-a', value: 'b' }, append: true, append_action: 'ADD_IF_ABSENT' },
    ];
    vh.request_headers_to_remove = ['Host'];
    vh.routes[0].route = { weighted_clusters: { total_weight: 10, clusters: [{ name: 'grpc_service', weight: 3 }] } };
    const r = compileDoc(doc);
    const vp = `${HCM_PATH}.route_config.virtual_hosts[0]`;
    expectError(r, `${vp}.request_headers_to_add[0].header.value`, /substitutions/);
    expectError(r, `${vp}.request_headers_to_add[1].header.key`, /may not be modified/);
    expectError(r, `${vp}.request_headers_to_add[2].append_action`, /mutually exclusive/);
    expectError(r, `${vp}.request_headers_to_remove[0]`, /may not be modified/);
    expectError(r, `${ROUTE0}.route.weighted_clusters.total_weight`, /sum of cluster weights \(3\)/);
  });

  it('HCM settings and defaults', () => {
    const doc = canonical();
    Object.assign(doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config, {
      codec_type: 'HTTP2', stream_idle_timeout: '0s', request_timeout: '10s', max_request_headers_kb: 96,
      common_http_protocol_options: { idle_timeout: '60s', max_headers_count: 50 },
      http2_protocol_options: { max_concurrent_streams: 1000, initial_stream_window_size: 65536 },
      use_remote_address: true, xff_num_trusted_hops: 1, generate_request_id: false, server_name: 'edge',
    });
    const r = compileDoc(doc);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    const h = r.value.listeners[0]!.hcm;
    assert.deepEqual([h.codecType, h.streamIdleTimeoutMs, h.requestTimeoutMs, h.maxRequestHeadersBytes, h.connectionIdleTimeoutMs, h.maxHeadersCount],
      ['HTTP2', null, 10_000, 96 * 1024, 60_000, 50]);
    assert.deepEqual([h.maxConcurrentStreams, h.initialStreamWindowSize, h.useRemoteAddress, h.xffNumTrustedHops, h.generateRequestId, h.serverName],
      [1000, 65536, true, 1, false, 'edge']);
    Object.assign(doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config, { max_request_headers_kb: 9000 });
    expectError(compileDoc(doc), `${HCM_PATH}.max_request_headers_kb`, /1\.\.8192/);
  });
});

describe('standalone compile functions (xDS delivers resources one by one)', () => {
  it('compileCluster, compileClusterLoadAssignment and compileRouteConfiguration', () => {
    const c = parseProtoJson(root, 'envoy.config.cluster.v3.Cluster', {
      name: 'eds-a', type: 'EDS', lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: 3 },
      eds_cluster_config: { eds_config: { ads: {} }, service_name: 'svc-a' },
    }, '');
    assert.ok(c.ok);
    const cm = compileCluster(c.value, deps);
    assert.ok(cm.ok, JSON.stringify(!cm.ok && cm.errors));
    assert.equal(cm.value.edsServiceName, 'svc-a');
    assert.equal(cm.value.leastRequestChoiceCount, 3);

    const cla = parseProtoJson(root, 'envoy.config.endpoint.v3.ClusterLoadAssignment', {
      cluster_name: 'svc-a',
      endpoints: [
        { priority: 1, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } }, load_balancing_weight: 5, health_status: 'HEALTHY' }] },
        { lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'host.local', port_value: 80 } } } }] },
      ],
    }, '');
    assert.ok(cla.ok);
    const bad = compileClusterLoadAssignment(cla.value, 'resource');
    expectError(bad, 'resource.endpoints[1].lb_endpoints[0].endpoint.address.socket_address.address', /must be an IP/);
    (cla.value as any).endpoints.pop();
    const good = compileClusterLoadAssignment(cla.value);
    assert.ok(good.ok);
    assert.deepEqual(good.value, { clusterName: 'svc-a', endpoints: [{ host: '10.0.0.1', port: 80, weight: 5, priority: 1, healthStatus: 'HEALTHY', metadata: null }] });

    const rc = parseProtoJson(root, 'envoy.config.route.v3.RouteConfiguration', {
      name: 'r', virtual_hosts: [{ name: 'v', domains: ['*.svc'], routes: [{ match: { prefix: '/' }, route: { cluster: 'x' },
        typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault' } } }] }],
    }, '');
    assert.ok(rc.ok, JSON.stringify(rc));
    expectError(compileRouteConfiguration(rc.value, deps),
      'virtual_hosts[0].routes[0].typed_per_filter_config["envoy.filters.http.fault"]', /no per-route config/);
  });
});

describe('loadBootstrap', () => {
  it('loads YAML and JSON files', () => {
    const y = path.join(dir, 'b.yaml');
    fs.writeFileSync(y, CANONICAL);
    const r = loadBootstrap(y, root, routerOnly);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.deepEqual(r.value, EXPECTED);
    const j = path.join(dir, 'b.json');
    fs.writeFileSync(j, JSON.stringify(canonical()));
    const rj = loadBootstrap(j, root, routerOnly);
    assert.ok(rj.ok);
    assert.deepEqual(rj.value, EXPECTED);
  });

  it('reports YAML syntax errors as file:line:col', () => {
    const y = path.join(dir, 'bad.yaml');
    fs.writeFileSync(y, 'static_resources:\n  clusters: [\n    - name: a\n');
    const errs = errorsOf(loadBootstrap(y, root, routerOnly));
    assert.match(errs[0]!.path, new RegExp(`^${y.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+$`));
  });

  it('reports a missing bootstrap file and a missing body file at their paths', () => {
    const missing = path.join(dir, 'missing.yaml');
    expectError(loadBootstrap(missing, root, routerOnly), missing, /ENOENT/);
    const doc = canonical();
    doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0] =
      { match: { prefix: '/' }, direct_response: { status: 200, body: { filename: path.join(dir, 'nope.txt') } } };
    const y = path.join(dir, 'body.yaml');
    fs.writeFileSync(y, YAML.stringify(doc));
    expectError(loadBootstrap(y, root, routerOnly), `${ROUTE0}.direct_response.body.filename`, /ENOENT/);
  });
});
