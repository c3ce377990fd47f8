/**
 * SDS in the config compiler: `Secret` resources (certificate or validation context) and the SDS
 * references of TLS contexts in clusters and listeners (`tls_certificate_sds_secret_configs`,
 * `validation_context_sds_secret_config`, `combined_validation_context`), with the mesh TLS 1.3
 * default, and every error at its field path.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../xds/protos';
import { expectConfigError, parseAndCompile } from '../../../test/fakes/compile-support';
import { compileSecret } from './secret';
import { compileCluster } from './cluster';
import { compileListener } from './listener';
import { parseProtoJson } from './proto-json';
import { defaultExtensionRegistry } from '../../filters/registry';

const SECRET = 'envoy.extensions.transport_sockets.tls.v3.Secret';
const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const LISTENER = 'envoy.config.listener.v3.Listener';
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ADS = { ads: {}, resource_api_version: 'V3' };
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

let root: protobuf.Root;
before(() => { root = loadEnvoyProtos(); });

function cluster(common: unknown, extra: Record<string, unknown> = {}): unknown {
  return {
    name: 'mesh', type: 'STATIC', connect_timeout: '1s',
    load_assignment: { cluster_name: 'mesh', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8443 } } } }] }] },
    transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS, common_tls_context: common, ...extra } },
  };
}

describe('compileSecret', () => {
  it('compiles a certificate secret and a validation-context secret', () => {
    const c = parseAndCompile(root, SECRET, { name: 'default', tls_certificate: { certificate_chain: { inline_string: PEM }, private_key: { inline_string: 'KEY' } } }, compileSecret);
    assert.ok(c.ok);
    assert.equal(c.value.name, 'default');
    assert.equal(c.value.tlsCertificate!.certChain.toString(), PEM);
    assert.equal(c.value.validationContext, null);
    const v = parseAndCompile(root, SECRET, {
      name: 'ROOTCA',
      validation_context: { trusted_ca: { inline_string: PEM + PEM }, match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }] },
    }, compileSecret);
    assert.ok(v.ok);
    assert.equal(v.value.validationContext!.trustedCa.toString(), PEM + PEM);
    assert.deepEqual(v.value.validationContext!.matchSubjectAltNames.map((m) => m.type), ['URI']);
  });

  it('reports errors with field paths', () => {
    expectConfigError(parseAndCompile(root, SECRET, { name: 'x' }, compileSecret), '', /one of tls_certificate or validation_context/);
    expectConfigError(parseAndCompile(root, SECRET, { tls_certificate: { certificate_chain: { inline_string: PEM }, private_key: { inline_string: 'K' } } }, compileSecret), 'name', /required/);
    expectConfigError(parseAndCompile(root, SECRET, { name: 'x', tls_certificate: { certificate_chain: { inline_string: PEM } } }, compileSecret), 'tls_certificate.private_key', /required/);
    expectConfigError(parseAndCompile(root, SECRET, { name: 'x', validation_context: {} }, compileSecret), 'validation_context.trusted_ca', /required/);
    expectConfigError(parseAndCompile(root, SECRET, { name: 'x', generic_secret: { secret: { inline_string: 's' } } }, compileSecret), 'generic_secret', /not supported/);
    expectConfigError(parseAndCompile(root, SECRET, {
      name: 'x', validation_context: { trusted_ca: { inline_string: PEM }, match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { safe_regex: { regex: '(' } } }] },
    }, compileSecret), 'validation_context.match_typed_subject_alt_names[0].matcher.safe_regex.regex');
  });
});

describe('SDS references in TLS contexts', () => {
  it('cluster: certificate and combined validation context from SDS, TLS 1.3 by default', () => {
    const r = parseAndCompile(root, CLUSTER, cluster({
      tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: ADS }],
      combined_validation_context: {
        default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/b/sa/server' } }] },
        validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: ADS },
      },
      alpn_protocols: ['h2'],
    }), compileCluster);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    const tls = r.value.tls!;
    assert.equal(tls.certificateSdsName, 'default');
    assert.equal(tls.validationSdsName, 'ROOTCA');
    assert.equal(tls.certChain, null);
    assert.equal(tls.trustedCa, null);
    assert.equal(tls.matchSubjectAltNames.length, 1);
    assert.equal(tls.minVersion, 'TLSv1.3');
    assert.equal(tls.maxVersion, 'TLSv1.3');
  });

  it('cluster: TLS 1.2 only by option; plain validation_context_sds_secret_config', () => {
    const r = parseAndCompile(root, CLUSTER, cluster({
      tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
      tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: ADS }],
      validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: ADS },
    }), compileCluster);
    assert.ok(r.ok);
    assert.equal(r.value.tls!.minVersion, 'TLSv1.2');
    assert.equal(r.value.tls!.maxVersion, 'TLSv1.3');
    assert.equal(r.value.tls!.validationSdsName, 'ROOTCA');
  });

  it('listener: SDS server certificate with required client certificates validated by SDS', () => {
    const doc = {
      name: 'inbound', address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      filter_chains: [{
        filters: [{ name: 'hcm', typed_config: { '@type': HCM, stat_prefix: 'in', route_config: { name: 'r' }, http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }] } }],
        transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: {
          '@type': DOWNSTREAM_TLS,
          require_client_certificate: true,
          common_tls_context: {
            tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: ADS }],
            validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: ADS },
          },
        } },
      }],
    };
    const parsed = parseProtoJson(root, LISTENER, doc, '');
    assert.ok(parsed.ok);
    const r = compileListener(parsed.value, { filters: defaultExtensionRegistry(), readFile: () => { throw new Error('no files'); } });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    const tls = r.value.tls!;
    assert.equal(tls.certificateSdsName, 'default');
    assert.equal(tls.validationSdsName, 'ROOTCA');
    assert.equal(tls.certChain, null);
    assert.equal(tls.requireClientCertificate, true);
    assert.equal(tls.minVersion, 'TLSv1.3');
  });

  it('reports SDS errors with field paths', () => {
    const base = 'transport_socket.typed_config.common_tls_context';
    expectConfigError(parseAndCompile(root, CLUSTER, cluster({ tls_certificate_sds_secret_configs: [{ name: 'default' }] }), compileCluster),
      `${base}.tls_certificate_sds_secret_configs[0].sds_config`, /required/);
    expectConfigError(parseAndCompile(root, CLUSTER, cluster({ tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { path_config_source: { path: '/x' } } }] }), compileCluster),
      `${base}.tls_certificate_sds_secret_configs[0].sds_config.path_config_source`, /not supported/);
    expectConfigError(parseAndCompile(root, CLUSTER, cluster({ tls_certificate_sds_secret_configs: [{ sds_config: ADS }] }), compileCluster),
      `${base}.tls_certificate_sds_secret_configs[0].name`, /required/);
    expectConfigError(parseAndCompile(root, CLUSTER, cluster({
      tls_certificate_sds_secret_configs: [{ name: 'a', sds_config: ADS }, { name: 'b', sds_config: ADS }],
    }), compileCluster), `${base}.tls_certificate_sds_secret_configs`, /at most one/);
    expectConfigError(parseAndCompile(root, CLUSTER, cluster({
      tls_certificates: [{ certificate_chain: { inline_string: PEM }, private_key: { inline_string: 'K' } }],
      tls_certificate_sds_secret_configs: [{ name: 'a', sds_config: ADS }],
    }), compileCluster), `${base}.tls_certificate_sds_secret_configs`, /cannot be combined/);
    expectConfigError(parseAndCompile(root, CLUSTER, cluster({
      combined_validation_context: { default_validation_context: {} },
    }), compileCluster), `${base}.combined_validation_context.validation_context_sds_secret_config`, /required/);
  });
});
