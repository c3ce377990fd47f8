/**
 * One listener composed the way the sidecar composes it — an Envoy v3 bootstrap (JSON shape)
 * compiled by the real compiler with an ExtensionRegistry, its clusters in a ClusterManager, an
 * HttpConnectionManager with the listener's filter factories, a Listener on 127.0.0.1:0 — for
 * tests that need the registry or the runtime in hand (e.g. a filter registration's internals).
 * Tests that need neither start the real `Sidecar` (`Sidecar.start({ bootstrapJson })`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compileBootstrap } from '../../src/config/compile/bootstrap';
import { BOOTSTRAP_TYPE } from '../../src/config/compile/load-bootstrap';
import { parseProtoJson } from '../../src/config/compile/proto-json';
import { createRuntime, type Runtime } from '../../src/core/runtime';
import type { HttpFilterFactory } from '../../src/filters/filter';
import { defaultExtensionRegistry, type ExtensionRegistry } from '../../src/filters/registry';
import { DEFAULT_REPLAY_BUFFER_BYTES, type RouterDeps } from '../../src/filters/router/router-call';
import { HttpConnectionManager } from '../../src/listeners/connection-manager';
import { Listener } from '../../src/listeners/listener';
import { SidecarMetrics } from '../../src/observability/metrics';
import { RouteTable } from '../../src/routing/route-table';
import { ClusterManager } from '../../src/upstream/cluster-manager';
import { loadEnvoyProtos } from '../../src/xds/protos';

export interface RiggedListener {
  readonly port: number;
  readonly runtime: Runtime;
  readonly metrics: SidecarMetrics;
  close(): Promise<void>;
}

/** Compiles `bootstrap` (its first listener, inline routes) with `registry` and starts it. */
export async function startListener(bootstrap: Record<string, unknown>, registry: ExtensionRegistry = defaultExtensionRegistry()): Promise<RiggedListener> {
  const runtime = createRuntime({ logLevel: 'silent' });
  const proto = parseProtoJson(loadEnvoyProtos(), BOOTSTRAP_TYPE, bootstrap, '');
  if (!proto.ok) assert.fail(JSON.stringify(proto.errors));
  const compiled = compileBootstrap(proto.value, { filters: registry, readFile: (p) => readFileSync(p) });
  if (!compiled.ok) assert.fail(JSON.stringify(compiled.errors));
  const metrics = new SidecarMetrics(runtime.metrics, true);
  const clusters = new ClusterManager(runtime, {});
  clusters.update(compiled.value.clusters);
  const lm = compiled.value.listeners[0]!;
  const factories: HttpFilterFactory[] = [];
  for (const f of lm.hcm.httpFilters) {
    const factory = registry.get(f.typeUrl)?.createFactory(f.config, { runtime, listenerName: lm.name, filterName: f.name }) ?? null;
    if (factory !== null) factories.push(factory);
  }
  const deps: RouterDeps = { runtime, clusters, clusterStats: (n) => metrics.forCluster(n), replayBufferBytes: DEFAULT_REPLAY_BUFFER_BYTES };
  const table = RouteTable.compile(lm.hcm.routeConfig!, { stripAnyHostPort: lm.hcm.stripAnyHostPort });
  const hcm = new HttpConnectionManager(lm.hcm, table, factories, deps, metrics.forListener(lm.name), runtime);
  const listener = new Listener(lm, hcm, hcm.stats, { h2MaxSessionMemoryMb: 10, logger: runtime.logger });
  const addr = await listener.listen();
  return {
    port: addr.port,
    runtime,
    metrics,
    async close() {
      listener.destroy();
      await clusters.close();
    },
  };
}
