import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { CircuitBreakersModel } from '../config/model';
import { ResourceManager } from './resource-manager';

const LIMITS: CircuitBreakersModel = {
  maxConnections: 2, maxPendingRequests: 1, maxRequests: 3, maxRetries: 1, retryBudget: null,
};

describe('ResourceManager', () => {
  it('admits up to each limit, refuses and counts beyond, and admits again after a release', () => {
    const rm = new ResourceManager(LIMITS, 'c', null);
    assert.ok(rm.tryAcquireRequest() && rm.tryAcquireRequest() && rm.tryAcquireRequest());
    assert.equal(rm.tryAcquireRequest(), false);
    assert.equal(rm.requestOverflows, 1);
    rm.releaseRequest();
    assert.ok(rm.tryAcquireRequest());
    assert.equal(rm.activeRequests, 3);

    assert.ok(rm.tryAcquirePending());
    assert.equal(rm.tryAcquirePending(), false);
    assert.equal(rm.pendingOverflows, 1);
    rm.releasePending();
    assert.equal(rm.pendingRequests, 0);

    assert.ok(rm.tryAcquireConnection() && rm.tryAcquireConnection());
    assert.equal(rm.tryAcquireConnection(), false);
    assert.equal(rm.connectionOverflows, 1);
  });

  it('without a budget, max_retries bounds concurrent retries', () => {
    const rm = new ResourceManager(LIMITS, 'c', null);
    assert.equal(rm.retryLimit(), 1);
    assert.ok(rm.tryAcquireRetry());
    assert.equal(rm.tryAcquireRetry(), false);
    assert.equal(rm.retryOverflows, 1);
    rm.releaseRetry();
    assert.ok(rm.tryAcquireRetry());
  });

  it('with a budget: max(min concurrency, percent of active requests)', () => {
    const rm = new ResourceManager({ ...LIMITS, maxRequests: 1000, retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 } }, 'c', null);
    assert.equal(rm.retryLimit(), 3); // no active requests: the minimum
    for (let i = 0; i < 50; i++) rm.tryAcquireRequest();
    assert.equal(rm.retryLimit(), 10);
    let admitted = 0;
    for (let i = 0; i < 50; i++) if (rm.tryAcquireRetry()) admitted++;
    assert.equal(admitted, 10);
    assert.equal(rm.retryOverflows, 40);
    for (let i = 0; i < 40; i++) rm.releaseRequest();
    assert.equal(rm.retryLimit(), 3);
    assert.equal(rm.tryAcquireRetry(), false);
  });

  it('counts overflows and refused retries in Prometheus, shared across clusters of one registry', async () => {
    const registry = new Registry();
    const a = new ResourceManager({ ...LIMITS, maxRequests: 0 }, 'a', registry);
    const b = new ResourceManager({ ...LIMITS, maxRetries: 0 }, 'b', registry);
    assert.equal(a.tryAcquireRequest(), false);
    assert.equal(b.tryAcquireRetry(), false);
    const text = await registry.metrics();
    assert.match(text, /remora_upstream_overflow_total\{cluster="a",resource="requests"\} 1/);
    assert.match(text, /remora_upstream_retry_overflow_total\{cluster="b"\} 1/);
    assert.match(text, /remora_upstream_overflow_total\{cluster="b",resource="retries"\} 1/);
  });
});
