import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../core/clock';
import { RetryOn, type RetryPolicyModel } from '../../config/model';
import {
  fullJitterBackoffMs, parseGrpcPushback, parseRetryAfter,
  PUSHBACK_NONE, PUSHBACK_STOP, RetryState,
} from './retry-state';
import { CompiledRetryPolicy, ResetKind } from '../../routing/retry-policy';

function policy(over: Partial<RetryPolicyModel> = {}): RetryPolicyModel {
  return {
    retryOn: RetryOn.HTTP_5XX, numRetries: 2, perTryTimeoutMs: null, retriableStatusCodes: [],
    backoffBaseMs: 25, backoffMaxMs: 250, retriableRequestHeaders: [], ...over,
  };
}

describe('full-jitter backoff', () => {
  it('stays within [0, min(max, base * 2^n)) and uses the whole range', () => {
    const random = seededRandom(42);
    for (let n = 0; n < 8; n++) {
      const ceiling = Math.min(250, 25 * 2 ** n);
      let max = 0;
      for (let i = 0; i < 500; i++) {
        const d = fullJitterBackoffMs(n, 25, 250, random);
        assert.ok(d >= 0 && d < ceiling, `retry ${n}: ${d} not in [0, ${ceiling})`);
        if (d > max) max = d;
      }
      assert.ok(max > ceiling * 0.9, `retry ${n}: jitter never came near the ceiling (${max})`);
    }
  });

  it('RetryState grows the exponent with retriesDone', () => {
    const st = new RetryState(new CompiledRetryPolicy(policy()), { next: () => 0.999999 });
    assert.ok(st.nextBackoffMs() < 25);
    st.retriesDone = 3;
    assert.ok(st.nextBackoffMs() > 190 && st.nextBackoffMs() < 200);
    st.retriesDone = 40;
    assert.ok(st.nextBackoffMs() < 250 && st.nextBackoffMs() > 249);
    assert.equal(st.retriesLeft, 2);
  });
});

describe('pushback', () => {
  it('grpc-retry-pushback-ms: non-negative integer → delay; negative or malformed → stop; absent → none', () => {
    assert.equal(parseGrpcPushback(undefined), PUSHBACK_NONE);
    assert.equal(parseGrpcPushback('0'), 0);
    assert.equal(parseGrpcPushback('150'), 150);
    assert.equal(parseGrpcPushback('-1'), PUSHBACK_STOP);
    assert.equal(parseGrpcPushback('abc'), PUSHBACK_STOP);
    assert.equal(parseGrpcPushback('1.5'), PUSHBACK_STOP);
    assert.equal(parseGrpcPushback(''), PUSHBACK_STOP);
    assert.equal(parseGrpcPushback(['1', '2']), PUSHBACK_STOP);
  });

  it('Retry-After: seconds or an HTTP date; garbage → none', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('2', now), 2000);
    assert.equal(parseRetryAfter('Mon, 01 Jan 2024 00:00:03 GMT', now), 3000);
    assert.equal(parseRetryAfter('Sun, 31 Dec 2023 00:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), PUSHBACK_NONE);
    assert.equal(parseRetryAfter(undefined, now), PUSHBACK_NONE);
  });
});

describe('retry_on classification', () => {
  it('5xx, gateway-error and retriable-status-codes on HTTP statuses', () => {
    const p5 = new CompiledRetryPolicy(policy({ retryOn: RetryOn.HTTP_5XX }));
    assert.ok(p5.retriableHttpStatus(500) && p5.retriableHttpStatus(503));
    assert.ok(!p5.retriableHttpStatus(429) && !p5.retriableHttpStatus(200));
    const gw = new CompiledRetryPolicy(policy({ retryOn: RetryOn.GATEWAY_ERROR }));
    assert.ok(gw.retriableHttpStatus(502) && gw.retriableHttpStatus(504));
    assert.ok(!gw.retriableHttpStatus(500));
    const codes = new CompiledRetryPolicy(policy({ retryOn: RetryOn.RETRIABLE_STATUS_CODES, retriableStatusCodes: [409] }));
    assert.ok(codes.retriableHttpStatus(409));
    assert.ok(!codes.retriableHttpStatus(503));
  });

  it('gRPC statuses by their own bits only', () => {
    const p = new CompiledRetryPolicy(policy({ retryOn: RetryOn.GRPC_UNAVAILABLE | RetryOn.GRPC_CANCELLED }));
    assert.ok(p.hasGrpcConditions);
    assert.ok(p.retriableGrpcStatus(14) && p.retriableGrpcStatus(1));
    assert.ok(!p.retriableGrpcStatus(4) && !p.retriableGrpcStatus(13) && !p.retriableGrpcStatus(0) && !p.retriableGrpcStatus(8));
    const all = new CompiledRetryPolicy(policy({
      retryOn: RetryOn.GRPC_DEADLINE_EXCEEDED | RetryOn.GRPC_INTERNAL | RetryOn.GRPC_RESOURCE_EXHAUSTED,
    }));
    assert.ok(all.retriableGrpcStatus(4) && all.retriableGrpcStatus(13) && all.retriableGrpcStatus(8) && !all.retriableGrpcStatus(14));
    assert.ok(!new CompiledRetryPolicy(policy()).hasGrpcConditions);
  });

  it('resets: reset/5xx/gateway-error cover all kinds; connect-failure and refused-stream only their own', () => {
    for (const bit of [RetryOn.RESET, RetryOn.HTTP_5XX, RetryOn.GATEWAY_ERROR]) {
      const p = new CompiledRetryPolicy(policy({ retryOn: bit }));
      for (const k of [ResetKind.ConnectFailure, ResetKind.Reset, ResetKind.Refused, ResetKind.PerTryTimeout]) assert.ok(p.retriableReset(k));
    }
    const cf = new CompiledRetryPolicy(policy({ retryOn: RetryOn.CONNECT_FAILURE }));
    assert.ok(cf.retriableReset(ResetKind.ConnectFailure));
    assert.ok(!cf.retriableReset(ResetKind.Reset) && !cf.retriableReset(ResetKind.PerTryTimeout));
    const rs = new CompiledRetryPolicy(policy({ retryOn: RetryOn.REFUSED_STREAM }));
    assert.ok(rs.retriableReset(ResetKind.Refused) && !rs.retriableReset(ResetKind.ConnectFailure));
    const grpcOnly = new CompiledRetryPolicy(policy({ retryOn: RetryOn.GRPC_UNAVAILABLE }));
    assert.ok(!grpcOnly.retriableReset(ResetKind.PerTryTimeout));
  });
});

describe('replay safety', () => {
  it('without retriable_request_headers: idempotent methods and gRPC only', () => {
    const p = new CompiledRetryPolicy(policy());
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']) assert.ok(p.allowsRequest(m, { ':method': m }, false), m);
    for (const m of ['POST', 'PATCH', 'CONNECT']) assert.ok(!p.allowsRequest(m, { ':method': m }, false), m);
    assert.ok(p.allowsRequest('POST', { ':method': 'POST' }, true));
  });

  it('with retriable_request_headers: only matching requests, POST included', () => {
    const p = new CompiledRetryPolicy(policy({
      retriableRequestHeaders: [{
        name: ':method', match: { kind: 'exact', value: 'POST', ignoreCase: false }, presentMatch: true, invertMatch: false, treatMissingAsEmpty: false,
      }],
    }));
    assert.ok(p.allowsRequest('POST', { ':method': 'POST' }, false));
    assert.ok(!p.allowsRequest('GET', { ':method': 'GET' }, false));
  });
});
