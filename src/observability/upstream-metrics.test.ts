import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { UpstreamMetrics, type UpstreamLoadSource } from './upstream-metrics';

class FakeSource implements UpstreamLoadSource {
  connections = 0;
  active = 0;
  pending = 0;
  constructor(readonly name: string) {}
  activeConnections(): number { return this.connections; }
  activeRequests(): number { return this.active; }
  pendingRequests(): number { return this.pending; }
}

async function values(registry: Registry, name: string): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric(name)!.get();
  const out: Record<string, number> = {};
  for (const v of m.values) out[String(v.labels.cluster)] = v.value;
  return out;
}

describe('UpstreamMetrics', () => {
  it('reads the live sources at scrape time, summing versions of one cluster, and forgets untracked ones', async () => {
    const registry = new Registry();
    const a1 = new FakeSource('a');
    const a2 = new FakeSource('a');
    const b = new FakeSource('b');
    UpstreamMetrics.forRegistry(registry).track(a1);
    const again = UpstreamMetrics.forRegistry(registry); // found on the registry, same source set
    again.track(a2);
    again.track(b);
    a1.active = 2; a2.active = 3; b.active = 1;
    a1.pending = 1; b.connections = 4;
    assert.deepEqual(await values(registry, 'remora_upstream_requests_active'), { a: 5, b: 1 });
    assert.deepEqual(await values(registry, 'remora_upstream_requests_pending'), { a: 1, b: 0 });
    assert.deepEqual(await values(registry, 'remora_upstream_connections_active'), { a: 0, b: 4 });
    again.untrack(b);
    a2.active = 0;
    assert.deepEqual(await values(registry, 'remora_upstream_requests_active'), { a: 2 });
  });

  it('binds one connections_total child per cluster', async () => {
    const registry = new Registry();
    const m = UpstreamMetrics.forRegistry(registry);
    const c = m.connectionsOpened('a');
    c.inc();
    UpstreamMetrics.forRegistry(registry).connectionsOpened('a').inc();
    assert.deepEqual(await values(registry, 'remora_upstream_connections_total'), { a: 2 });
  });
});
