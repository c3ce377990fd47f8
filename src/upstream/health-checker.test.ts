import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HealthCheckModel } from '../config/model';
import { endpointModel, testRuntime } from '../../test/fakes/upstream-fakes';
import { GrpcHealthServer, HttpHealthServer } from '../../test/fakes/health-server';
import { freePort } from '../../test/fakes/ports';
import { waitFor } from '../../test/fakes/wait';
import { Endpoint, HealthFlag, type HealthFlagBit } from './endpoint';
import { HealthChecker, type HealthCheckTarget } from './health-checker';

/**
 * A cluster stand-in. `log` interleaves check results ('P' / 'F', from onCheckComplete) with flag
 * transitions ('SET' / 'CLR'); the checker sets a flag before reporting the check that caused it.
 */
class FakeTarget implements HealthCheckTarget {
  readonly name = 'svc-cluster';
  eps: readonly Endpoint[];
  readonly log: string[] = [];
  constructor(ports: number[]) {
    this.eps = Object.freeze(ports.map((p) => new Endpoint(endpointModel('127.0.0.1', p))));
  }
  endpoints(): readonly Endpoint[] { return this.eps; }
  setHealthFlag(ep: Endpoint, flag: HealthFlagBit, failed: boolean): void {
    if (!this.eps.includes(ep)) return;
    ep.setFlag(flag, failed);
    this.log.push(failed ? 'SET' : 'CLR');
  }
}

function hcModel(check: HealthCheckModel['check'], over: Partial<HealthCheckModel> = {}): HealthCheckModel {
  return {
    timeoutMs: 500,
    intervalMs: 15,
    initialJitterMs: 0,
    intervalJitterMs: 5,
    intervalJitterPercent: 10,
    unhealthyThreshold: 3,
    healthyThreshold: 2,
    unhealthyIntervalMs: null,
    check,
    ...over,
  };
}

const failed = (ep: Endpoint): boolean => (ep.healthFlags & HealthFlag.FAILED_ACTIVE_HC) !== 0;

function start(model: HealthCheckModel, target: FakeTarget, startUnhealthy = false): HealthChecker {
  return new HealthChecker(model, target, testRuntime(), {
    startUnhealthy,
    onCheckComplete: (_ep, passed) => target.log.push(passed ? 'P' : 'F'),
  });
}

/** Asserts that the `transition` entry came right after `n` results of `kind` (the n-th reported just after it). */
function assertTransitionAfter(log: string[], transition: 'SET' | 'CLR', kind: 'P' | 'F', n: number, from = 0): number {
  const idx = log.indexOf(transition, from);
  assert.ok(idx > 0, `${transition} in ${log.join(',')}`);
  let run = 0;
  for (let i = idx - 1; i >= 0 && log[i] === kind; i--) run++;
  assert.equal(run, n - 1, `${n - 1} × ${kind} before ${transition}: ${log.join(',')}`);
  assert.equal(log[idx + 1], kind);
  return idx;
}

test('gRPC: NOT_SERVING takes the endpoint out after unhealthy_threshold checks, SERVING brings it back after healthy_threshold', async (t) => {
  const server = await GrpcHealthServer.start();
  t.after(() => server.close());
  server.setStatus('echo.Echo', 'SERVING');
  server.setStatus('', 'NOT_SERVING'); // the checker must ask for the configured service, not the server
  const target = new FakeTarget([server.port]);
  const checker = start(hcModel({ type: 'grpc', serviceName: 'echo.Echo', authority: null }), target);
  t.after(() => checker.close());
  const ep = target.eps[0];

  await waitFor(() => checker.successesTotal >= 3, { what: 'three passing checks' });
  assert.equal(failed(ep), false);
  assert.equal(server.checksFor(''), 0);

  server.setStatus('echo.Echo', 'NOT_SERVING');
  await waitFor(() => failed(ep), { what: 'FAILED_ACTIVE_HC set' });
  const setIdx = assertTransitionAfter(target.log, 'SET', 'F', 3);

  server.setStatus('echo.Echo', 'SERVING');
  await waitFor(() => !failed(ep), { what: 'FAILED_ACTIVE_HC cleared' });
  assertTransitionAfter(target.log, 'CLR', 'P', 2, setIdx);
  assert.ok(checker.failuresTotal >= 3);
  assert.equal(checker.networkFailuresTotal, 0);
  assert.equal(checker.checksTotal >= checker.successesTotal + checker.failuresTotal, true);
});

test('gRPC: an unknown service (NOT_FOUND status) and a refused connection are failures', async (t) => {
  const server = await GrpcHealthServer.start();
  t.after(() => server.close());
  const closedPort = await freePort();
  const target = new FakeTarget([server.port, closedPort]);
  const checker = start(hcModel({ type: 'grpc', serviceName: 'nope', authority: 'auth.example' }, { unhealthyThreshold: 2 }), target);
  t.after(() => checker.close());
  await waitFor(() => failed(target.eps[0]) && failed(target.eps[1]), { what: 'both endpoints flagged' });
  assert.ok(server.checksFor('nope') >= 2);
  assert.ok(checker.networkFailuresTotal >= 2, 'connection refused counts as a network failure');
});

test('HTTP: 503 makes the endpoint unhealthy and 200 healthy again; Host defaults to the cluster name', async (t) => {
  const server = await HttpHealthServer.start();
  t.after(() => server.close());
  const target = new FakeTarget([server.port]);
  const checker = start(hcModel({ type: 'http', path: '/healthz', host: null, expectedStatuses: [[200, 201]] }), target);
  t.after(() => checker.close());
  const ep = target.eps[0];

  await waitFor(() => checker.successesTotal >= 2, { what: 'passing checks' });
  assert.equal(server.lastPath, '/healthz');
  assert.equal(server.lastHost, 'svc-cluster');
  server.status = 503;
  await waitFor(() => failed(ep), { what: 'flag set on 503' });
  const setIdx = assertTransitionAfter(target.log, 'SET', 'F', 3);
  server.status = 200;
  await waitFor(() => !failed(ep), { what: 'flag cleared on 200' });
  assertTransitionAfter(target.log, 'CLR', 'P', 2, setIdx);
});

test('HTTP: expected_statuses ranges and the host override are honoured', async (t) => {
  const server = await HttpHealthServer.start();
  t.after(() => server.close());
  server.status = 204;
  const target = new FakeTarget([server.port]);
  const checker = start(hcModel({ type: 'http', path: '/h', host: 'health.local', expectedStatuses: [[200, 201]] }, { unhealthyThreshold: 1 }), target);
  t.after(() => checker.close());
  await waitFor(() => failed(target.eps[0]), { what: '204 outside [200,201) fails' });
  assert.equal(server.lastHost, 'health.local');
  checker.close();

  const target2 = new FakeTarget([server.port]);
  const checker2 = start(hcModel({ type: 'http', path: '/h', host: null, expectedStatuses: [[200, 201], [204, 205]] }, { unhealthyThreshold: 1 }), target2);
  t.after(() => checker2.close());
  await waitFor(() => checker2.successesTotal >= 3, { what: '204 inside [204,205) passes' });
  assert.equal(checker2.failuresTotal, 0);
});

test('a hanging server: the check timeout counts as a failure (HTTP and gRPC)', async (t) => {
  const http = await HttpHealthServer.start();
  t.after(() => http.close());
  const grpc = await GrpcHealthServer.start();
  t.after(() => grpc.close());
  http.hang = true;
  grpc.hang = true;
  const model = { timeoutMs: 40, unhealthyThreshold: 2 };
  const tHttp = new FakeTarget([http.port]);
  const cHttp = start(hcModel({ type: 'http', path: '/', host: null, expectedStatuses: [[200, 201]] }, model), tHttp);
  t.after(() => cHttp.close());
  const tGrpc = new FakeTarget([grpc.port]);
  const cGrpc = start(hcModel({ type: 'grpc', serviceName: 's', authority: null }, model), tGrpc);
  t.after(() => cGrpc.close());

  await waitFor(() => failed(tHttp.eps[0]) && failed(tGrpc.eps[0]), { what: 'both flagged after timeouts' });
  assert.ok(cHttp.timeoutsTotal >= 2);
  assert.ok(cGrpc.timeoutsTotal >= 2);

  // Recovery after the peer answers again (new connections replace the timed-out ones).
  http.hang = false;
  grpc.hang = false;
  grpc.setStatus('s', 'SERVING');
  await waitFor(() => !failed(tHttp.eps[0]) && !failed(tGrpc.eps[0]), { what: 'both recovered' });
});

test('startUnhealthy: a new endpoint is flagged until its first passing check, which clears it at once', async (t) => {
  const server = await GrpcHealthServer.start();
  t.after(() => server.close());
  server.setStatus('s', 'SERVING');
  const target = new FakeTarget([server.port]);
  const checker = start(hcModel({ type: 'grpc', serviceName: 's', authority: null }, { healthyThreshold: 5, initialJitterMs: 20 }), target, true);
  t.after(() => checker.close());
  assert.equal(failed(target.eps[0]), true);
  await waitFor(() => !failed(target.eps[0]), { what: 'cleared by the first check' });
  assert.deepEqual(target.log.slice(0, 3), ['SET', 'CLR', 'P']);
});

test('endpoint-set changes start and stop sessions', async (t) => {
  const a = await HttpHealthServer.start();
  t.after(() => a.close());
  const b = await HttpHealthServer.start();
  t.after(() => b.close());
  b.status = 500;
  const target = new FakeTarget([a.port]);
  const checker = start(hcModel({ type: 'http', path: '/', host: null, expectedStatuses: [[200, 201]] }, { unhealthyThreshold: 1 }), target);
  t.after(() => checker.close());
  await waitFor(() => a.requests >= 2, { what: 'checks of a' });
  const epA = target.eps[0];
  checker.onEndpointsChanged(); // same array: nothing happens
  target.eps = Object.freeze([new Endpoint(endpointModel('127.0.0.1', b.port))]);
  checker.onEndpointsChanged();
  await waitFor(() => failed(target.eps[0]), { what: 'new endpoint b checked and flagged' });
  const before = a.requests;
  await waitFor(() => b.requests >= 3, { what: 'more checks of b' });
  assert.ok(a.requests <= before + 1, 'a is no longer checked (at most one in flight at removal)');
  assert.equal(failed(epA), false);
});
