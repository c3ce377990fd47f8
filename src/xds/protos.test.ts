import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { ENVOY_PROTO_FILES, loadEnvoyProtos, protoIncludeDirs } from './protos';

describe('protos', () => {
  it('protoIncludeDirs returns the four deps dirs of @grpc/grpc-js-xds', () => {
    const dirs = protoIncludeDirs();
    assert.deepEqual(dirs.map((d) => path.basename(d)), ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate']);
    for (const d of dirs) assert.ok(fs.statSync(d).isDirectory(), d);
    for (const f of ENVOY_PROTO_FILES) assert.ok(fs.existsSync(path.join(dirs[0]!, f)), f);
  });

  it('loadEnvoyProtos resolves every type the config pipeline and xDS need', (t) => {
    const start = process.hrtime.bigint();
    const root = loadEnvoyProtos();
    t.diagnostic(`loadEnvoyProtos took ${Number(process.hrtime.bigint() - start) / 1e6} ms`);
    for (const name of [
      'envoy.config.bootstrap.v3.Bootstrap', 'envoy.config.listener.v3.Listener', 'envoy.config.route.v3.RouteConfiguration',
      'envoy.config.cluster.v3.Cluster', 'envoy.config.endpoint.v3.ClusterLoadAssignment',
      'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      'envoy.extensions.filters.http.router.v3.Router', 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', 'envoy.extensions.transport_sockets.tls.v3.Secret',
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions', 'envoy.service.discovery.v3.DiscoveryRequest',
      'envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder', 'envoy.extensions.filters.http.fault.v3.HTTPFault',
      'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit', 'envoy.extensions.filters.http.ratelimit.v3.RateLimit',
      'envoy.extensions.filters.http.rbac.v3.RBAC', 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
      'google.protobuf.Duration', 'google.protobuf.Struct', 'google.protobuf.Any',
    ]) {
      assert.ok(root.lookupType(name) instanceof protobuf.Type, name);
    }
    const ads = root.lookupService('envoy.service.discovery.v3.AggregatedDiscoveryService');
    const m = ads.methods['StreamAggregatedResources']!;
    assert.equal(m.requestStream, true);
    assert.equal(m.responseStream, true);
    // keepCase: proto field names, not camelCase
    assert.ok(root.lookupType('envoy.config.cluster.v3.Cluster').fields['connect_timeout']);
  });

  it('returns a fresh Root per call (no module-level cache)', () => {
    assert.notEqual(loadEnvoyProtos(), loadEnvoyProtos());
  });
});
