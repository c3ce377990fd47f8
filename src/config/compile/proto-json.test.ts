import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../xds/protos';
import type { ConfigIssue, ValidationResult } from '../../core/errors';
import { decodeProtoBinary, encodeProtoObject, packAny, parseProtoJson, type ProtoObject } from './proto-json';

let root: protobuf.Root;
before(() => {
  root = loadEnvoyProtos();
});

const CLUSTER = 'envoy.config.cluster.v3.Cluster';

function ok(r: ValidationResult<ProtoObject>): ProtoObject {
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.value;
}
function errs(r: ValidationResult<ProtoObject>): readonly ConfigIssue[] {
  assert.equal(r.ok, false);
  return (r as { errors: readonly ConfigIssue[] }).errors;
}

describe('parseProtoJson', () => {
  it('accepts proto names and json names, keeps only present fields, keepCase output', () => {
    const v = ok(parseProtoJson(root, CLUSTER, { name: 'a', connectTimeout: '1.5s', lb_policy: 'RANDOM' }, ''));
    assert.deepEqual(v, { name: 'a', connect_timeout: { seconds: 1, nanos: 500_000_000 }, lb_policy: 'RANDOM' });
  });

  it('rejects the same field under both names', () => {
    const e = errs(parseProtoJson(root, CLUSTER, { connect_timeout: '1s', connectTimeout: '2s' }, 'c'));
    assert.deepEqual(e.map((x) => x.path), ['c.connect_timeout']);
  });

  it('enums by name or number; unknown names and numbers are errors', () => {
    assert.equal(ok(parseProtoJson(root, CLUSTER, { lb_policy: 1 }, '')).lb_policy, 'LEAST_REQUEST');
    assert.deepEqual(errs(parseProtoJson(root, CLUSTER, { lb_policy: 'X', type: 99 }, '')).map((x) => x.path), ['lb_policy', 'type']);
  });

  it('scalars: int64 as number or string, type checks, ranges', () => {
    const v = ok(parseProtoJson(root, CLUSTER, { per_connection_buffer_limit_bytes: 1024, name: 'x', ignore_health_on_host_removal: true }, ''));
    assert.deepEqual(v.per_connection_buffer_limit_bytes, { value: 1024 });
    const hc = ok(parseProtoJson(root, 'envoy.config.core.v3.HealthCheck', { interval_jitter_percent: 5 }, ''));
    assert.equal(hc.interval_jitter_percent, 5);
    const i64 = ok(parseProtoJson(root, 'envoy.type.v3.Int64Range', { start: '-5', end: 10 }, ''));
    assert.deepEqual(i64, { start: -5, end: 10 });
    const e = errs(parseProtoJson(root, CLUSTER, { name: 3, ignore_health_on_host_removal: 'yes', per_connection_buffer_limit_bytes: -1 }, ''));
    assert.deepEqual(e.map((x) => x.path), ['name', 'ignore_health_on_host_removal', 'per_connection_buffer_limit_bytes']);
    assert.equal(errs(parseProtoJson(root, 'envoy.config.core.v3.SocketAddress', { port_value: 1.5 }, ''))[0]!.path, 'port_value');
  });

  it('well-known types: Duration, Timestamp, wrappers, Struct, Value, ListValue, Empty, bytes', () => {
    const c = ok(parseProtoJson(root, CLUSTER, {
      dns_refresh_rate: '0.000000001s',
      max_requests_per_connection: 7, metadata: { filter_metadata: { a: { k: [1, 'x', null, { y: true }] } } },
    }, ''));
    assert.deepEqual(c.dns_refresh_rate, { seconds: 0, nanos: 1 });
    assert.deepEqual(c.max_requests_per_connection, { value: 7 });
    assert.deepEqual(c.metadata, { filter_metadata: { a: { k: [1, 'x', null, { y: true }] } } });
    const ts = ok(parseProtoJson(root, 'envoy.config.core.v3.Node', { locality: {}, user_agent_build_version: { version: { major_number: 1 } } }, ''));
    assert.deepEqual(ts, { locality: {}, user_agent_build_version: { version: { major_number: 1 } } });
    const stamp = parseProtoJson(root, 'google.protobuf.Timestamp', '2024-01-02T03:04:05.5Z', '');
    assert.deepEqual(ok(stamp), { seconds: 1704164645, nanos: 500_000_000 });
    assert.equal(errs(parseProtoJson(root, 'google.protobuf.Timestamp', 'yesterday', 'ts'))[0]!.path, 'ts');
    const t = ok(parseProtoJson(root, 'envoy.extensions.transport_sockets.tls.v3.TlsSessionTicketKeys', {}, ''));
    assert.deepEqual(t, {});
    const ev = ok(parseProtoJson(root, 'envoy.service.discovery.v3.Resource', { ttl: '2s', name: 'x' }, ''));
    assert.deepEqual(ev.ttl, { seconds: 2, nanos: 0 });
    const ds = ok(parseProtoJson(root, 'envoy.config.core.v3.DataSource', { inline_bytes: Buffer.from('hi').toString('base64') }, ''));
    assert.deepEqual(ds.inline_bytes, Buffer.from('hi'));
    const bad = errs(parseProtoJson(root, CLUSTER, { connect_timeout: '5', dns_refresh_rate: 5, metadata: { filter_metadata: { a: 1 } } }, ''));
    assert.deepEqual(bad.map((x) => x.path), ['connect_timeout', 'dns_refresh_rate', 'metadata.filter_metadata["a"]']);
    const secret = errs(parseProtoJson(root, 'envoy.config.core.v3.DataSource', { inline_bytes: '***' }, 'x'));
    assert.equal(secret[0]!.path, 'x.inline_bytes');
  });

  it('Any: recursive parse, canonical {@type, ...}; unknown @type is an error', () => {
    const url = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
    const v = ok(parseProtoJson(root, CLUSTER, {
      typed_extension_protocol_options: { k: { '@type': url, explicitHttpConfig: { http2ProtocolOptions: { maxConcurrentStreams: 9 } } } },
    }, ''));
    assert.deepEqual(v.typed_extension_protocol_options, {
      k: { '@type': url, explicit_http_config: { http2_protocol_options: { max_concurrent_streams: { value: 9 } } } },
    });
    const e = errs(parseProtoJson(root, CLUSTER, {
      typed_extension_protocol_options: { k: { '@type': 'type.googleapis.com/no.Such', x: 1 }, j: { '@type': url, bogus: 1 } },
    }, ''));
    assert.deepEqual(e.map((x) => x.path), ['typed_extension_protocol_options["k"].@type', 'typed_extension_protocol_options["j"].bogus']);
  });

  it('oneof: two members set is an error; repeated must be an array', () => {
    const e = errs(parseProtoJson(root, 'envoy.type.matcher.v3.StringMatcher', { exact: 'a', prefix: 'b' }, 'm'));
    assert.equal(e[0]!.path, 'm.prefix');
    assert.match(e[0]!.message, /oneof 'match_pattern' already set by 'exact'/);
    assert.equal(errs(parseProtoJson(root, 'envoy.config.route.v3.VirtualHost', { domains: 'x' }, ''))[0]!.path, 'domains');
  });

  it('reports nested unknown fields with their full path', () => {
    const e = errs(parseProtoJson(root, 'envoy.config.endpoint.v3.ClusterLoadAssignment', {
      endpoints: [{ lb_endpoints: [{}, { endpoint: { adress: {} } }] }],
    }, 'cla'));
    assert.deepEqual(e.map((x) => x.path), ['cla.endpoints[0].lb_endpoints[1].endpoint.adress']);
  });
});

describe('binary round trip', () => {
  const cluster = {
    name: 'grpc-backend',
    type: 'STRICT_DNS',
    connect_timeout: '0.25s',
    lb_policy: 'LEAST_REQUEST',
    least_request_lb_config: { choice_count: 3 },
    dns_lookup_family: 'V4_ONLY',
    per_connection_buffer_limit_bytes: 32768,
    metadata: { filter_metadata: { remora: { team: 'mesh', weight: 2.5, tags: ['a', 'b'], nested: { on: true } } } },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100, initial_stream_window_size: 65536 } },
        common_http_protocol_options: { idle_timeout: '30s' },
      },
    },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: 'backend.example.com',
        common_tls_context: {
          validation_context: { trusted_ca: { inline_bytes: Buffer.from('CA-PEM').toString('base64') } },
          alpn_protocols: ['h2'],
        },
      },
    },
    load_assignment: {
      cluster_name: 'grpc-backend',
      endpoints: [{
        priority: 1,
        load_balancing_weight: 10,
        lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'backend', port_value: 50051 } } }, health_status: 'HEALTHY' }],
      }],
    },
  };

  it('packAny → decodeProtoBinary equals the JSON-parsed ProtoObject', () => {
    const parsed = ok(parseProtoJson(root, CLUSTER, cluster, ''));
    const any = packAny(root, `type.googleapis.com/${CLUSTER}`, parsed);
    assert.equal(any.type_url, `type.googleapis.com/${CLUSTER}`);
    assert.ok(Buffer.isBuffer(any.value) && any.value.length > 100);
    const decoded = decodeProtoBinary(root, CLUSTER, any.value);
    assert.deepEqual(decoded, parsed);
    assert.deepEqual(encodeProtoObject(root, CLUSTER, decoded), any.value);
  });

  it('an Any of the resource decodes into the canonical {@type, ...} form', () => {
    const parsed = ok(parseProtoJson(root, CLUSTER, cluster, ''));
    const anyBytes = encodeProtoObject(root, 'google.protobuf.Any', { '@type': `type.googleapis.com/${CLUSTER}`, ...parsed });
    assert.deepEqual(decodeProtoBinary(root, 'google.protobuf.Any', anyBytes), { '@type': `type.googleapis.com/${CLUSTER}`, ...parsed });
  });
});
