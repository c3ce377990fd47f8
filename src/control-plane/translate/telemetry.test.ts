/**
 * Telemetry translation: Istio's scope precedence (root namespace → namespace → workload, per-field
 * for tracing, per-provider for access logs and metrics, CLIENT = outbound, SERVER = inbound), the
 * HCM `tracing` / `access_log` / `istio.stats` shapes, and a round trip of the translated listeners
 * through the Envoy protos (so every field is a real Envoy or Remora proto field).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtoBinary, packAny, type ProtoObject } from '../../config/compile';
import { Issues } from '../../config/compile/context';
import { compileTracing } from '../../config/compile/tracing';
import { loadEnvoyProtos } from '../../xds/protos';
import { TYPE_URL, type NodeIdentity } from '../cache/resources';
import { formatMeshIssue, loadMeshConfig, type MeshConfig } from '../mesh';
import { nodeView } from './node-view';
import {
  CEL_FILTER_TYPE_URL, FILE_ACCESS_LOG_TYPE_URL, ISTIO_STATS_FILTER, JSON_ACCESS_LOG_TYPE_URL, listenerTelemetry, OPENTELEMETRY_CONFIG_TYPE_URL,
} from './telemetry';
import { translateForNode } from './translate-for-node';

const root = loadEnvoyProtos();

const BASE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.shop.svc]
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-1, namespace: shop}
spec: {address: 127.0.0.1, labels: {app: api, version: v1}, ports: {http: 15106}}
---
apiVersion: remora.dev/v1alpha1
kind: MeshConfig
metadata: {name: mesh, namespace: istio-system}
spec:
  extensionProviders:
  - name: otel
    opentelemetry: {service: collector.obs, port: 4317, grpc: {timeout: 1.5s}}
  - name: otel-http
    opentelemetry: {service: collector.obs, port: 4318, http: {path: /v1/traces}}
  - name: file
    envoyFileAccessLog: {path: /tmp/file.log}
  - name: json
    remoraAccessLog: {path: /tmp/json.log, successSamplePercent: 5, requestHeaders: [x-user], mask: {headers: [x-secret], replaceDefaults: true}}
`;

function mesh(...docs: string[]): MeshConfig {
  const r = loadMeshConfig(new Map([['mesh.yaml', [BASE, ...docs].join('---\n')]]));
  if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
  return r.config;
}

function tel(name: string, namespace: string, spec: string): string {
  return `apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n${spec}`;
}

const API: NodeIdentity = { id: 'api-1', cluster: '', metadata: { WORKLOAD_NAME: 'api-1', NAMESPACE: 'shop', LABELS: { app: 'api', version: 'v1' }, APP_PORTS: [8080] } };
const WEB: NodeIdentity = { id: 'web-1', cluster: '', metadata: { WORKLOAD_NAME: 'web-1', NAMESPACE: 'web', LABELS: { app: 'web' } } };

function telemetry(m: MeshConfig, node: NodeIdentity, direction: 'INBOUND' | 'OUTBOUND', rootNs = 'istio-system') {
  return listenerTelemetry(m, nodeView(node), direction, rootNs);
}

function tracing(m: MeshConfig, node: NodeIdentity, direction: 'INBOUND' | 'OUTBOUND'): ProtoObject | undefined {
  return telemetry(m, node, direction).hcmFields['tracing'] as ProtoObject | undefined;
}

function logs(m: MeshConfig, node: NodeIdentity, direction: 'INBOUND' | 'OUTBOUND'): ProtoObject[] {
  return (telemetry(m, node, direction).hcmFields['access_log'] as ProtoObject[] | undefined) ?? [];
}

function hcmOf(m: MeshConfig, node: NodeIdentity, listener: 'inbound' | 'outbound'): ProtoObject {
  const l = translateForNode(m, node).byType.get(TYPE_URL.LISTENER)!.get(listener)!;
  const chains = l['filter_chains'] as ProtoObject[];
  return (chains[chains.length - 1]!['filters'] as ProtoObject[])[0]!['typed_config'] as ProtoObject;
}

describe('telemetry translation', () => {
  it('no Telemetry: istio.stats only, no tracing or access log (the defaults)', () => {
    const m = mesh();
    for (const d of ['INBOUND', 'OUTBOUND'] as const) {
      assert.deepEqual(telemetry(m, API, d), { filters: [ISTIO_STATS_FILTER], hcmFields: {} });
    }
  });

  it('mesh-wide tracing: OpenTelemetry gRPC provider, sampling, custom tags, service name', () => {
    const m = mesh(tel('default', 'istio-system', `  tracing:
  - providers: [{name: otel}]
    randomSamplingPercentage: 10
    customTags:
      zone: {literal: {value: z1}}
      user: {header: {name: x-user, defaultValue: anon}}
`));
    assert.deepEqual(tracing(m, API, 'INBOUND'), {
      random_sampling: { value: 10 },
      provider: {
        name: 'envoy.tracers.opentelemetry',
        typed_config: {
          '@type': OPENTELEMETRY_CONFIG_TYPE_URL, service_name: 'api.shop',
          grpc_service: { google_grpc: { target_uri: 'collector.obs:4317', stat_prefix: 'otel' }, timeout: { seconds: 1, nanos: 500_000_000 } },
        },
      },
      custom_tags: [
        { tag: 'user', request_header: { name: 'x-user', default_value: 'anon' } },
        { tag: 'zone', literal: { value: 'z1' } },
      ],
    });
    // Another namespace inherits the mesh-wide config; its service name is its app label.
    const web = tracing(m, WEB, 'OUTBOUND')!;
    assert.equal(((web['provider'] as ProtoObject)['typed_config'] as ProtoObject)['service_name'], 'web.web');
  });

  it('OTLP/HTTP provider: http_service with the URI and the default timeout', () => {
    const m = mesh(tel('default', 'istio-system', '  tracing: [{providers: [{name: otel-http}], randomSamplingPercentage: 100}]\n'));
    const cfg = ((tracing(m, API, 'OUTBOUND')!['provider'] as ProtoObject)['typed_config']) as ProtoObject;
    assert.deepEqual(cfg['http_service'], {
      http_uri: { uri: 'http://collector.obs:4318/v1/traces', timeout: { seconds: 10, nanos: 0 } },
    });
    assert.equal(cfg['grpc_service'], undefined);
  });

  it('tracing precedence: workload > namespace > mesh, field by field; modes pick the listener', () => {
    const m = mesh(
      tel('default', 'istio-system', '  tracing: [{providers: [{name: otel}], randomSamplingPercentage: 1, customTags: {a: {literal: {value: "1"}}}}]\n'),
      tel('ns', 'shop', '  tracing: [{randomSamplingPercentage: 50}]\n'),
      tel('wl', 'shop', '  selector: {matchLabels: {app: api}}\n  tracing: [{match: {mode: SERVER}, providers: [{name: otel-http}]}, {match: {mode: CLIENT}, disableSpanReporting: true}]\n'),
    );
    const inb = tracing(m, API, 'INBOUND')!;
    assert.deepEqual(inb['random_sampling'], { value: 50 }, 'namespace sampling over the mesh');
    assert.deepEqual(inb['custom_tags'], [{ tag: 'a', literal: { value: '1' } }], 'mesh tags inherited');
    assert.ok(((inb['provider'] as ProtoObject)['typed_config'] as ProtoObject)['http_service'] !== undefined, 'workload SERVER provider');
    assert.equal(tracing(m, API, 'OUTBOUND'), undefined, 'CLIENT span reporting disabled');
    // Another workload of the namespace: no workload rule.
    const other = mesh(
      tel('default', 'istio-system', '  tracing: [{providers: [{name: otel}]}]\n'),
      tel('ns', 'shop', '  tracing: [{randomSamplingPercentage: 50}]\n'),
    );
    assert.deepEqual(tracing(other, API, 'OUTBOUND')!['random_sampling'], { value: 50 });
    assert.deepEqual(tracing(other, WEB, 'OUTBOUND')!['random_sampling'], { value: 1 }, "Istio's default sampling (1%)");
  });

  it('tracing without any provider (no default, none named) is off; defaultProviders.tracing turns it on', () => {
    const m = mesh(tel('default', 'istio-system', '  tracing: [{randomSamplingPercentage: 20}]\n'));
    assert.equal(tracing(m, API, 'INBOUND'), undefined);
    const d = loadMeshConfig(new Map([['mesh.yaml', BASE.replace('  extensionProviders:', '  defaultProviders: {tracing: [otel]}\n  extensionProviders:')]]));
    assert.ok(d.ok);
    assert.deepEqual(tracing(d.config, API, 'INBOUND')!['random_sampling'], { value: 1 });
  });

  it('the root namespace is the one given (--root-namespace)', () => {
    const m = mesh(tel('default', 'mesh-root', '  tracing: [{providers: [{name: otel}]}]\n'));
    assert.equal(tracing(m, API, 'INBOUND'), undefined, 'not the root with the default istio-system');
    assert.ok(telemetry(m, API, 'INBOUND', 'mesh-root').hcmFields['tracing'] !== undefined);
  });

  it('access logs: providers, CEL filter, JSON options, modes and disabling', () => {
    const m = mesh(
      tel('default', 'istio-system', '  accessLogging: [{providers: [{name: json}], filter: {expression: "response.code >= 400"}}]\n'),
      tel('wl', 'shop', '  selector: {matchLabels: {app: api}}\n  accessLogging: [{match: {mode: CLIENT}, disabled: true}]\n'),
    );
    assert.deepEqual(logs(m, API, 'INBOUND'), [{
      name: 'remora.access_loggers.json',
      typed_config: {
        '@type': JSON_ACCESS_LOG_TYPE_URL, path: '/tmp/json.log', success_sample_percent: { value: 5 }, request_headers: ['x-user'],
        mask: { headers: ['x-secret'], replace_defaults: true },
      },
      filter: { extension_filter: { name: 'envoy.access_loggers.extension_filters.cel', typed_config: { '@type': CEL_FILTER_TYPE_URL, expression: 'response.code >= 400' } } },
    }]);
    assert.deepEqual(logs(m, API, 'OUTBOUND'), [], 'disabled for CLIENT by the workload Telemetry');
    assert.equal(logs(m, WEB, 'OUTBOUND').length, 1, 'other workloads keep the mesh-wide log');
  });

  it('access logs: a namespace naming other providers replaces the mesh-wide ones; a later rule re-enables', () => {
    const m = mesh(
      tel('default', 'istio-system', '  accessLogging: [{providers: [{name: json}]}]\n'),
      tel('ns', 'shop', '  accessLogging: [{providers: [{name: file}]}, {providers: [{name: file}], disabled: true}, {providers: [{name: file}], filter: {expression: "true"}}]\n'),
    );
    const l = logs(m, API, 'INBOUND');
    assert.equal(l.length, 1);
    assert.deepEqual(l[0]!['typed_config'], { '@type': FILE_ACCESS_LOG_TYPE_URL, path: '/tmp/file.log' });
    assert.ok(l[0]!['filter'] !== undefined);
    const both = mesh(tel('default', 'istio-system', '  accessLogging: [{providers: [{name: json}, {name: file}]}]\n'));
    assert.deepEqual(logs(both, API, 'INBOUND').map((e) => e['name']), ['envoy.access_loggers.file', 'remora.access_loggers.json'], 'sorted by provider name');
  });

  it('metrics: ALL_METRICS disabled drops istio.stats for the matching mode; a workload may re-enable', () => {
    const m = mesh(
      tel('default', 'istio-system', '  metrics: [{overrides: [{match: {metric: ALL_METRICS, mode: CLIENT}, disabled: true}]}]\n'),
    );
    assert.deepEqual(telemetry(m, API, 'OUTBOUND').filters, []);
    assert.deepEqual(telemetry(m, API, 'INBOUND').filters, [ISTIO_STATS_FILTER]);
    const all = mesh(
      tel('default', 'istio-system', '  metrics: [{overrides: [{disabled: true}]}]\n'),
      tel('wl', 'shop', '  selector: {matchLabels: {app: api}}\n  metrics: [{overrides: [{disabled: false}]}]\n'),
    );
    assert.deepEqual(telemetry(all, WEB, 'INBOUND').filters, []);
    assert.deepEqual(telemetry(all, API, 'INBOUND').filters, [ISTIO_STATS_FILTER]);
    const none = loadMeshConfig(new Map([['mesh.yaml', BASE.replace('  extensionProviders:', '  defaultProviders: {metrics: []}\n  extensionProviders:')]]));
    assert.ok(none.ok);
    assert.deepEqual(telemetry(none.config, API, 'INBOUND').filters, [], 'defaultProviders.metrics: [] turns metrics off');
  });

  it('translated listeners carry the telemetry and round-trip through the Envoy protos', () => {
    const m = mesh(tel('default', 'istio-system', `  tracing: [{providers: [{name: otel}], randomSamplingPercentage: 12.5, customTags: {a: {header: {name: x-a}}}}]
  accessLogging:
  - providers: [{name: json}, {name: file}]
    filter: {expression: "response.code >= 400"}
`));
    for (const name of ['inbound', 'outbound'] as const) {
      const hcm = hcmOf(m, API, name);
      assert.equal((hcm['http_filters'] as ProtoObject[])[0]!['name'], 'istio.stats');
      assert.ok(hcm['tracing'] !== undefined && hcm['access_log'] !== undefined);
    }
    for (const [url, resources] of translateForNode(m, API).byType) {
      if (url !== TYPE_URL.LISTENER) continue;
      for (const [name, obj] of resources) {
        const any = packAny(root, url, obj);
        const back = decodeProtoBinary(root, 'envoy.config.listener.v3.Listener', any.value);
        assert.deepEqual(plain(back), plain(obj), `listener ${name} does not round-trip`);
      }
    }
  });
});

describe("the sidecar's tracing compiler accepts the translated tracing", () => {
  for (const provider of ['otel', 'otel-http']) {
    it(provider, () => {
      const m = mesh(tel('default', 'istio-system', `  tracing: [{providers: [{name: ${provider}}], randomSamplingPercentage: 0.5, customTags: {a: {header: {name: x-a, defaultValue: d}}, b: {literal: {value: v}}}}]\n`));
      const hcm = hcmOf(m, API, 'outbound');
      const decoded = decodeProtoBinary(root, 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', packAny(root, String(hcm['@type']), hcm).value);
      const issues = new Issues();
      const model = compileTracing(issues, decoded, 'hcm');
      assert.deepEqual(issues.list, []);
      assert.equal(model!.randomSamplingPercent, 0.5);
    });
  }
});

function plain(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}
