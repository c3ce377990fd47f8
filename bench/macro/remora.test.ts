/**
 * Unit tests for the generated sidecar bootstraps (YAML shape, and both variants compiled by the real
 * bootstrap compiler into the model the sidecar runs) and CLI resolution.
 */
import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { loadBootstrap } from '../../src/config/compile/load-bootstrap';
import { RetryOn, type BootstrapModel } from '../../src/config/model';
import { defaultExtensionRegistry } from '../../src/filters/registry';
import { loadEnvoyProtos } from '../../src/xds/protos';
import { RESILIENCE, renderBootstrap, resolveRemoraCommand, TELEMETRY, type BootstrapVariant } from './remora';

test('bootstrap: listener → HCM → route / → STATIC h2 cluster upstream, admin on 127.0.0.1:0', () => {
  const b = parse(renderBootstrap(15001, 50051));
  assert.deepEqual(b.admin.address.socket_address, { address: '127.0.0.1', port_value: 0 });
  const l = b.static_resources.listeners[0];
  assert.equal(l.address.socket_address.port_value, 15001);
  const hcm = l.filter_chains[0].filters[0];
  assert.equal(hcm.name, 'envoy.filters.network.http_connection_manager');
  assert.equal(hcm.typed_config.codec_type, 'AUTO');
  const vh = hcm.typed_config.route_config.virtual_hosts[0];
  assert.deepEqual(vh.domains, ['*']);
  assert.deepEqual(vh.routes[0], { match: { prefix: '/' }, route: { cluster: 'upstream' } });
  assert.equal(hcm.typed_config.http_filters[0].name, 'envoy.filters.http.router');
  const c = b.static_resources.clusters[0];
  assert.equal(c.name, 'upstream');
  assert.equal(c.type, 'STATIC');
  const opts = c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.deepEqual(opts.explicit_http_config, { http2_protocol_options: {} });
  const ep = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  assert.deepEqual(ep, { address: '127.0.0.1', port_value: 50051 });
});

test('resolveRemoraCommand explains what is missing and accepts a tsc outDir', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-bench-cmd-test-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  assert.match(resolveRemoraCommand(tmp, null, tmp) as string, /src\/cli\/main\.ts does not exist/);
  fs.mkdirSync(path.join(tmp, 'src', 'cli'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'src', 'cli', 'main.ts'), '');
  assert.match(resolveRemoraCommand(tmp, null, tmp) as string, /npm run build/);
  assert.match(resolveRemoraCommand(tmp, path.join(tmp, 'nope'), tmp) as string, /does not exist/);
  const out = path.join(tmp, 'out');
  fs.mkdirSync(path.join(out, 'src', 'cli'), { recursive: true });
  fs.writeFileSync(path.join(out, 'src', 'cli', 'main.js'), '');
  const cmd = resolveRemoraCommand(tmp, out, tmp);
  assert.equal(typeof cmd, 'object');
  if (typeof cmd === 'object') assert.deepEqual(cmd.scriptArgs, [path.join(out, 'src', 'cli', 'main.js')]);
  // no repo proto/ → nothing linked; with one, the outDir gets a link to it
  assert.equal(fs.existsSync(path.join(out, 'proto')), false);
  fs.mkdirSync(path.join(tmp, 'proto', 'remora'), { recursive: true });
  resolveRemoraCommand(tmp, out, tmp);
  assert.equal(fs.realpathSync(path.join(out, 'proto')), fs.realpathSync(path.join(tmp, 'proto')));
  assert.ok(fs.existsSync(path.join(out, 'proto', 'remora')));
});

test('plain bootstrap has no resilience config at all (the variant defaults to plain)', () => {
  assert.equal(renderBootstrap(15001, 50051), renderBootstrap(15001, 50051, 'plain'));
  const b = parse(renderBootstrap(15001, 50051));
  const c = b.static_resources.clusters[0];
  assert.equal(c.circuit_breakers, undefined);
  assert.equal(c.outlier_detection, undefined);
  const hcm = b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  assert.equal(hcm.http_filters.length, 1);
  assert.equal(hcm.route_config.virtual_hosts[0].routes[0].route.retry_policy, undefined);
});

test('resilience bootstrap: retry policy, breakers with budget, outlier detection, local rate limit before the router', () => {
  const b = parse(renderBootstrap(15001, 50051, 'resilience'));
  const hcm = b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const route = hcm.route_config.virtual_hosts[0].routes[0];
  assert.deepEqual(route.match, { prefix: '/' });
  assert.deepEqual(route.route, {
    cluster: 'upstream',
    retry_policy: { retry_on: 'unavailable,reset,connect-failure', num_retries: 2, per_try_timeout: '5s' },
  });
  assert.deepEqual(hcm.http_filters.map((f: { name: string }) => f.name), ['envoy.filters.http.local_ratelimit', 'envoy.filters.http.router']);
  const rl = hcm.http_filters[0].typed_config;
  assert.equal(rl['@type'], 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit');
  assert.deepEqual(rl.token_bucket, { max_tokens: 1e9, tokens_per_fill: 1e9, fill_interval: '1s' });
  assert.equal(rl.enable_x_ratelimit_headers, 'OFF');
  const c = b.static_resources.clusters[0];
  assert.deepEqual(c.circuit_breakers.thresholds, [
    { priority: 'DEFAULT', max_connections: 100000, max_pending_requests: 100000, max_requests: 100000, max_retries: 100000, retry_budget: {} },
  ]);
  assert.deepEqual(c.outlier_detection, { consecutive_5xx: 5 });
  // everything else is the plain bootstrap
  const plain = parse(renderBootstrap(15001, 50051, 'plain'));
  assert.deepEqual(c.load_assignment, plain.static_resources.clusters[0].load_assignment);
  assert.deepEqual(c.typed_extension_protocol_options, plain.static_resources.clusters[0].typed_extension_protocol_options);
  assert.deepEqual(b.admin, plain.admin);
});

describe('every bootstrap variant compiles with the sidecar\'s own compiler', () => {
  const protos = loadEnvoyProtos();
  const compile = (t: { after: (fn: () => void) => void }, variant: BootstrapVariant): BootstrapModel => {
    const telemetry = { otlpPort: 4317, accessLogPath: '/tmp/remora-bench-access.log' };
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-bench-bootstrap-test-'));
    t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const file = path.join(tmp, 'bootstrap.yaml');
    fs.writeFileSync(file, renderBootstrap(15001, 50051, variant, variant.startsWith('telemetry') ? telemetry : null));
    const r = loadBootstrap(file, protos, defaultExtensionRegistry());
    if (!r.ok) assert.fail(`${variant} bootstrap rejected: ${JSON.stringify(r.errors)}`);
    return r.value;
  };

  it('plain: no retry policy, no outlier detection, only the router', (t) => {
    const m = compile(t, 'plain');
    const route = m.listeners[0].hcm.routeConfig!.virtualHosts[0].routes[0];
    assert.equal(route.action.type, 'route');
    if (route.action.type === 'route') assert.equal(route.action.retryPolicy, null);
    assert.deepEqual(m.listeners[0].hcm.httpFilters.map((f) => f.name), ['envoy.filters.http.router']);
    assert.equal(m.clusters[0].outlierDetection, null);
  });

  it('resilience: every feature is on, sized not to fire', (t) => {
    const m = compile(t, 'resilience');
    const route = m.listeners[0].hcm.routeConfig!.virtualHosts[0].routes[0];
    assert.equal(route.action.type, 'route');
    if (route.action.type !== 'route') return;
    const rp = route.action.retryPolicy;
    assert.notEqual(rp, null);
    assert.equal(rp!.retryOn, RetryOn.GRPC_UNAVAILABLE | RetryOn.RESET | RetryOn.CONNECT_FAILURE);
    assert.equal(rp!.numRetries, RESILIENCE.numRetries);
    assert.equal(rp!.perTryTimeoutMs, 5000);
    const c = m.clusters[0];
    assert.deepEqual(c.circuitBreakers, {
      maxConnections: 100000, maxPendingRequests: 100000, maxRequests: 100000, maxRetries: 100000,
      retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 },
    });
    assert.notEqual(c.outlierDetection, null);
    assert.equal(c.outlierDetection!.consecutive5xx, 5);
    assert.equal(c.outlierDetection!.enforcingConsecutive5xx, 100);
    const filters = m.listeners[0].hcm.httpFilters;
    assert.deepEqual(filters.map((f) => f.name), ['envoy.filters.http.local_ratelimit', 'envoy.filters.http.router']);
    const rl = filters[0].config as Record<string, unknown>;
    assert.deepEqual(rl['tokenBucket'], { maxTokens: 1e9, tokensPerFill: 1e9, fillIntervalMs: 1000 });
    assert.deepEqual(rl['enabled'], { numerator: 100, denominator: 100 }, 'every request is checked');
    assert.deepEqual(rl['enforced'], { numerator: 100, denominator: 100 });
    assert.equal(rl['xRateLimitHeaders'], false);
  });

  for (const variant of ['telemetry', 'telemetry-full'] as const) {
    it(`${variant}: inbound listener with istio.stats, OTLP tracing and the JSON access log`, (t) => {
      const m = compile(t, variant);
      const l = m.listeners[0];
      const full = variant === 'telemetry-full';
      assert.equal(l.trafficDirection, 'INBOUND');
      assert.notEqual(l.hcm.istioStats, null);
      assert.deepEqual(l.hcm.httpFilters.map((f) => f.name), ['envoy.filters.http.router'], 'istio.stats is not a per-request filter');
      assert.equal(l.hcm.tracing!.randomSamplingPercent, full ? TELEMETRY.fullPercent : TELEMETRY.sampledPercent);
      assert.equal(l.hcm.tracing!.exporter.protocol, 'grpc');
      assert.equal(l.hcm.accessLogs.length, 1);
      assert.equal(l.hcm.accessLogs[0]!.successSamplePercent, full ? 100 : 0);
      assert.equal(l.hcm.accessLogs[0]!.path, '/tmp/remora-bench-access.log');
    });
  }
});
