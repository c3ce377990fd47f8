/**
 * HCM `tracing` compile: defaults, sampling percentages, custom tags, the OpenTelemetry provider
 * over OTLP/gRPC and OTLP/HTTP, and the rejections (envoy_grpc, environment tags, unknown fields,
 * other tracers) with their field paths. Input goes through the real proto JSON parser.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../xds/protos';
import type { ValidationResult } from '../../core/errors';
import type { TracingModel } from '../tracing-model';
import { expectConfigError } from '../../../test/fakes/compile-support';
import { Issues } from './context';
import { parseProtoJson } from './proto-json';
import { compileTracing, OPENTELEMETRY_CONFIG_TYPE_URL } from './tracing';

const TRACING_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing';

let root: protobuf.Root;
before(() => {
  root = loadEnvoyProtos();
});

function compile(doc: unknown): ValidationResult<TracingModel | null> {
  const parsed = parseProtoJson(root, TRACING_TYPE, doc, 'tracing');
  if (!parsed.ok) return parsed;
  const issues = new Issues();
  const model = compileTracing(issues, { tracing: parsed.value }, '');
  return issues.result(model);
}

function ok(doc: unknown): TracingModel {
  const r = compile(doc);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.ok(r.value !== null);
  return r.value;
}

const grpcProvider = (extra: Record<string, unknown> = {}, svc: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'envoy.tracers.opentelemetry',
  typed_config: { '@type': OPENTELEMETRY_CONFIG_TYPE_URL, grpc_service: { google_grpc: { target_uri: 'collector:4317', stat_prefix: 'otlp' }, ...svc }, service_name: 'svc', ...extra },
});

describe('compileTracing', () => {
  it('returns null when the HCM has no tracing', () => {
    const issues = new Issues();
    assert.equal(compileTracing(issues, {}, ''), null);
    assert.equal(issues.count, 0);
  });

  it('applies Envoy defaults (100 % sampling, 256 path tag length) and builds the gRPC exporter', () => {
    const m = ok({ provider: grpcProvider() });
    assert.equal(m.randomSamplingPercent, 100);
    assert.equal(m.overallSamplingPercent, 100);
    assert.equal(m.clientSamplingPercent, 100);
    assert.equal(m.maxPathTagLength, 256);
    assert.deepEqual(m.customTags, []);
    assert.deepEqual({ ...m.exporter, key: undefined }, { protocol: 'grpc', endpoint: 'http://collector:4317', serviceName: 'svc', timeoutMs: 5000, key: undefined });
  });

  it('reads percentages, max_path_tag_length, dns:/// targets, timeouts and custom tags', () => {
    const m = ok({
      random_sampling: { value: 1.5 },
      overall_sampling: { value: 50 },
      client_sampling: { value: 0 },
      max_path_tag_length: 64,
      custom_tags: [
        { tag: 'env', literal: { value: 'prod' } },
        { tag: 'user', request_header: { name: 'X-User', default_value: 'anon' } },
        { tag: 'tenant', request_header: { name: 'x-tenant' } },
      ],
      provider: grpcProvider({}, { google_grpc: { target_uri: 'dns:///otel.obs:4317' }, timeout: '0.25s' }),
    });
    assert.equal(m.randomSamplingPercent, 1.5);
    assert.equal(m.overallSamplingPercent, 50);
    assert.equal(m.clientSamplingPercent, 0);
    assert.equal(m.maxPathTagLength, 64);
    assert.deepEqual(m.customTags, [
      { kind: 'literal', tag: 'env', value: 'prod' },
      { kind: 'request_header', tag: 'user', name: 'x-user', defaultValue: 'anon' },
      { kind: 'request_header', tag: 'tenant', name: 'x-tenant', defaultValue: null },
    ]);
    assert.equal(m.exporter.endpoint, 'http://otel.obs:4317');
    assert.equal(m.exporter.timeoutMs, 250);
  });

  it('builds the OTLP/HTTP exporter from http_service (cluster accepted and ignored)', () => {
    const m = ok({
      provider: {
        name: 'envoy.tracers.opentelemetry',
        typed_config: { '@type': OPENTELEMETRY_CONFIG_TYPE_URL, http_service: { http_uri: { uri: 'http://otel:4318/v1/traces', cluster: 'otel', timeout: '3s' } } },
      },
    });
    assert.equal(m.exporter.protocol, 'http');
    assert.equal(m.exporter.endpoint, 'http://otel:4318/v1/traces');
    assert.equal(m.exporter.timeoutMs, 3000);
    assert.equal(m.exporter.serviceName, '');
  });

  it('equal provider configs share an exporter key; different ones do not', () => {
    const a = ok({ provider: grpcProvider() });
    const b = ok({ random_sampling: { value: 1 }, provider: grpcProvider() });
    const c = ok({ provider: grpcProvider({ service_name: 'other' }) });
    assert.equal(a.exporter.key, b.exporter.key);
    assert.notEqual(a.exporter.key, c.exporter.key);
  });

  it('rejects a missing provider, envoy_grpc, bad targets and both services at once', () => {
    expectConfigError(compile({ random_sampling: { value: 5 } }), 'tracing.provider', /required/);
    expectConfigError(compile({ provider: grpcProvider({}, { google_grpc: undefined, envoy_grpc: { cluster_name: 'otel' } }) }),
      'tracing.provider.typed_config.grpc_service.envoy_grpc', /directly, not through a cluster/);
    expectConfigError(compile({ provider: grpcProvider({}, { google_grpc: { target_uri: 'not a target' } }) }),
      'tracing.provider.typed_config.grpc_service.google_grpc.target_uri', /host:port/);
    expectConfigError(compile({ provider: grpcProvider({ http_service: { http_uri: { uri: 'http://x/v1/traces', cluster: 'c', timeout: '1s' } } }) }),
      'tracing.provider.typed_config', /only one of/);
    expectConfigError(compile({ provider: { name: 'envoy.tracers.opentelemetry', typed_config: { '@type': OPENTELEMETRY_CONFIG_TYPE_URL } } }),
      'tracing.provider.typed_config', /one of grpc_service or http_service/);
    expectConfigError(compile({
      provider: { name: 'envoy.tracers.opentelemetry', typed_config: { '@type': OPENTELEMETRY_CONFIG_TYPE_URL, http_service: { http_uri: { uri: 'ftp://x', cluster: 'c', timeout: '1s' } } } },
    }), 'tracing.provider.typed_config.http_service.http_uri.uri', /http/);
  });

  it('rejects other tracers, environment and metadata tags, bad percentages and unsupported fields', () => {
    expectConfigError(compile({ provider: { ...grpcProvider(), name: 'envoy.tracers.zipkin' } }), 'tracing.provider.name', /only envoy.tracers.opentelemetry/);
    expectConfigError(compile({ provider: { name: 'envoy.tracers.opentelemetry', typed_config: { '@type': 'type.googleapis.com/google.protobuf.Empty' } } }),
      'tracing.provider.typed_config', /not supported/);
    expectConfigError(compile({ custom_tags: [{ tag: 'pod', environment: { name: 'POD_NAME' } }], provider: grpcProvider() }),
      'tracing.custom_tags[0].environment', /environment tags are not supported/);
    expectConfigError(compile({ custom_tags: [{ tag: 'a', literal: { value: 'x' } }, { tag: 'a', literal: { value: 'y' } }], provider: grpcProvider() }),
      'tracing.custom_tags[1].tag', /duplicate/);
    expectConfigError(compile({ custom_tags: [{ tag: 'h', request_header: { name: 'bad header' } }], provider: grpcProvider() }),
      'tracing.custom_tags[0].request_header.name', /not a valid header name/);
    expectConfigError(compile({ random_sampling: { value: 150 }, provider: grpcProvider() }), 'tracing.random_sampling.value', /0\.\.100/);
    expectConfigError(compile({ provider: grpcProvider({ resource_detectors: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/google.protobuf.Empty' } }] }) }),
      'tracing.provider.typed_config.resource_detectors', /not supported/);
    expectConfigError(compile({ provider: grpcProvider({}, { initial_metadata: [{ key: 'a', value: 'b' }] }) }),
      'tracing.provider.typed_config.grpc_service.initial_metadata', /not supported/);
  });
});
