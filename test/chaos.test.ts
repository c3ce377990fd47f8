/**
 * Issue 5's chaos suite, flaky-upstream part: one cluster of three real HTTP/2 gRPC upstreams — one
 * answering UNAVAILABLE on half its calls, one that never answers, one that drops the connection
 * after its response headers — behind a sidecar with a route retry policy (per-try timeout, short
 * backoff) and outlier detection. At least 99.9% of 2,000 client calls succeed, the two broken
 * endpoints are ejected, and the metrics show the retries and the ejections. Configured with
 * Envoy's route `retry_policy` and cluster `outlier_detection`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { routeTo } from './fakes/bootstrap';
import { ChaosUpstream } from './fakes/chaos-upstream';
import { closeClient, createEchoClient, unary, type EchoClient } from './fakes/echo-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { waitFor } from './fakes/wait';

const CALLS = 2000;
/** Client calls in flight at once (the default retry budget admits 3 concurrent retries). */
const CONCURRENCY = 3;

describe('chaos: flaky, hanging and connection-dropping endpoints', { timeout: 120_000 }, () => {
  let flaky: ChaosUpstream;
  let hang: ChaosUpstream;
  let drop: ChaosUpstream;
  let sidecar: SidecarHarness;
  let client: EchoClient;

  before(async () => {
    [flaky, hang, drop] = await Promise.all([ChaosUpstream.start('flaky', 0.5), ChaosUpstream.start('hang'), ChaosUpstream.start('close')]);
    sidecar = await SidecarHarness.start({
      listeners: [{
        name: 'grpc',
        routes: [routeTo('chaos', { prefix: '/' }, {
          timeout: '10s',
          retry_policy: {
            retry_on: 'unavailable,reset,connect-failure,refused-stream',
            // Until the hanging and dropping endpoints are ejected a call may bounce between all three.
            num_retries: 20,
            per_try_timeout: '0.2s',
            retry_back_off: { base_interval: '0.001s', max_interval: '0.01s' },
          },
        })],
      }],
      clusters: [{
        name: 'chaos',
        http2: true,
        endpoints: [flaky, hang, drop].map((u) => ({ host: '127.0.0.1', port: u.port })),
        extra: {
          outlier_detection: {
            consecutive_5xx: 3,
            consecutive_gateway_failure: 3,
            enforcing_consecutive_gateway_failure: 100,
            interval: '1s',
            base_ejection_time: '60s',
            max_ejection_percent: 67,
          },
          // Two of three endpoints are meant to stay ejected: do not panic-route to them.
          common_lb_config: { healthy_panic_threshold: { value: 0 } },
        },
      }],
    });
    client = createEchoClient(sidecar.target('grpc'));
  });

  after(async () => {
    if (client !== undefined) closeClient(client);
    await sidecar?.close();
    await Promise.all([flaky?.close(), hang?.close(), drop?.close()]);
  });

  it(`>= 99.9% of ${CALLS} calls succeed; retries and ejections show in the metrics`, async () => {
    let next = 0;
    let ok = 0;
    const failures: string[] = [];
    const worker = async (): Promise<void> => {
      while (next < CALLS) {
        next++;
        const r = await unary(client, { message: 'x' }, { deadlineMs: 15_000 });
        if (r.status.code === grpc.status.OK) ok++;
        else failures.push(`${r.status.code} ${r.status.details}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const m = await sidecar.metrics();
    const why = ['retries', 'retry_overflow', 'retry_limit_exceeded', 'per_try_timeouts', 'outlier_ejections']
      .map((k) => `${k}=${m.sum(`remora_upstream_${k}_total`, { cluster: 'chaos' })}`).join(' ');
    assert.ok(ok >= CALLS * 0.999, `${ok}/${CALLS} succeeded; failures: ${failures.slice(0, 5).join('; ')}; ${why}; attempts flaky/hang/drop ${flaky.attempts}/${hang.attempts}/${drop.attempts}`);

    assert.ok(m.sum('remora_upstream_retries_total', { cluster: 'chaos' }) > 0, 'retries were counted');
    assert.equal(m.sum('remora_upstream_outlier_ejections_total', { cluster: 'chaos' }), 2, 'the hanging and the dropping endpoints were ejected');
    // Once ejected, the broken endpoints saw (almost) nothing: the flaky one carried the load.
    assert.ok(flaky.succeeded >= ok - 1, `flaky served ${flaky.succeeded} of ${ok}`);
    assert.ok(hang.attempts < 20, `hang saw ${hang.attempts} attempts`);
    assert.ok(drop.attempts < 20, `drop saw ${drop.attempts} attempts`);
  });
});

describe('chaos: active gRPC health checks', { timeout: 60_000 }, () => {
  let a: ChaosUpstream;
  let b: ChaosUpstream;
  let sidecar: SidecarHarness;
  let client: EchoClient;

  before(async () => {
    [a, b] = await Promise.all([ChaosUpstream.start('ok'), ChaosUpstream.start('ok')]);
    sidecar = await SidecarHarness.start({
      listeners: [{ name: 'grpc', routes: [routeTo('checked')] }],
      clusters: [{
        name: 'checked',
        http2: true,
        endpoints: [a, b].map((u) => ({ host: '127.0.0.1', port: u.port })),
        extra: {
          health_checks: [{
            timeout: '1s', interval: '0.05s', unhealthy_threshold: 2, healthy_threshold: 2,
            grpc_health_check: { service_name: 'remora.test.v1.Echo' },
          }],
          common_lb_config: { healthy_panic_threshold: { value: 0 } },
        },
      }],
    });
    client = createEchoClient(sidecar.target('grpc'));
  });

  after(async () => {
    if (client !== undefined) closeClient(client);
    await sidecar?.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  /** Sends `n` calls; all must succeed. */
  async function calls(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const r = await unary(client, { message: 'x' });
      assert.equal(r.status.code, grpc.status.OK, r.status.details);
    }
  }

  it('an endpoint reporting NOT_SERVING leaves rotation and returns when it recovers', async () => {
    await calls(10);
    assert.ok(a.succeeded > 0 && b.succeeded > 0, 'both endpoints serve while healthy');
    a.healthStatus = 'NOT_SERVING';
    const checksAtFlip = a.healthChecks;
    await waitFor(async () => (await sidecar.metrics()).sum('remora_upstream_health_check_failures_total', { cluster: 'checked' }) >= 2);
    assert.ok(a.healthChecks >= checksAtFlip + 2);
    const aBefore = a.succeeded;
    await calls(20);
    assert.equal(a.succeeded, aBefore, 'no call reached the NOT_SERVING endpoint');
    a.healthStatus = 'SERVING';
    await waitFor(async () => {
      await calls(2);
      return a.succeeded > aBefore;
    });
  });
});
