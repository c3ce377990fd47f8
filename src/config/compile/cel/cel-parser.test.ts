import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CelCompileError, parseCel } from './cel-parser';
import { compileCelPredicate, envoyResponseFlags } from '../../../observability/access-log/cel-evaluator';
import { ResponseFlag } from '../../../core/response-flags';
import type { StreamInfo } from '../../../observability/stream-info';

function info(over: Partial<StreamInfo> = {}): StreamInfo {
  return {
    method: 'GET', path: '/v1beta3/items?token=abc', authority: 'api.local', scheme: 'http',
    headers: { 'x-log': 'true', 'user-agent': 'curl/8' }, isGrpc: false, protocol: 'h2', remoteAddress: '127.0.0.1:5000',
    connection: { peer: null, remoteAddress: '127.0.0.1:5000', mutualTls: false, telemetrySlot: null },
    startTime: 0, startTimeWall: 0, endTime: 5, responseStatus: 200, grpcStatus: -1, responseFlags: 0,
    localReplyReason: null, localReplyMessage: null, bytesReceived: 0, bytesSent: 10, routeName: 'r', upstreamCluster: 'c',
    upstreamHost: '10.0.0.1:80', upstreamMetadata: null, upstreamAttempts: 1, requestId: 'id-1', traceId: null,
    ...over,
  };
}

function evalCel(src: string, i: StreamInfo): boolean {
  return compileCelPredicate(parseCel(src))(i);
}

function compileError(src: string): CelCompileError {
  try {
    parseCel(src);
  } catch (e) {
    assert.ok(e instanceof CelCompileError, `expected CelCompileError, got ${String(e)}`);
    return e;
  }
  assert.fail(`'${src}' compiled`);
}

describe('CEL subset', () => {
  it('compares response.code', () => {
    assert.equal(evalCel('response.code >= 400', info({ responseStatus: 503 })), true);
    assert.equal(evalCel('response.code >= 400', info()), false);
    assert.equal(evalCel('response.code == 200 && request.method == "GET"', info()), true);
    assert.equal(evalCel('response.code != 200 || request.method in ["POST", "PUT"]', info()), false);
    assert.equal(evalCel("request.method in ['GET']", info()), true);
    assert.equal(evalCel('!(response.code < 300)', info()), false);
    assert.equal(evalCel('response.code > 199.5', info()), true);
    assert.equal(evalCel('response.code == 0xC8', info()), true);
  });

  it('reads headers, paths and connection attributes; a missing header is an error (false) unless || decides', () => {
    assert.equal(evalCel("request.headers['X-Log'] == 'true'", info()), true);
    assert.equal(evalCel("request.headers['x-missing'] == 'true'", info()), false);
    assert.equal(evalCel("!(request.headers['x-missing'] == 'true')", info()), false, 'error stays an error under !');
    assert.equal(evalCel("request.headers['x-missing'] == 'x' || response.code == 200", info()), true);
    assert.equal(evalCel("response.code == 200 && request.headers['x-missing'] == 'x'", info()), false);
    assert.equal(evalCel("'x-log' in request.headers && !('x-nope' in request.headers)", info()), true);
    assert.equal(evalCel("(connection.mtls && request.headers['x-log-mtls'] == 'true') || request.url_path.contains('v1beta3')", info()), true);
    assert.equal(evalCel("request.url_path == '/v1beta3/items' && request.path.endsWith('abc') && request.host.startsWith('api')", info()), true);
    assert.equal(evalCel("request.protocol == 'HTTP/2' && upstream.address == '10.0.0.1:80' && xds.route_name == 'r'", info()), true);
    assert.equal(evalCel('connection.mtls', info({ connection: { peer: null, remoteAddress: '', mutualTls: true, telemetrySlot: null } })), true);
  });

  it('response.grpc_status is an error for non-gRPC responses; response.flags is Envoy\'s bitmask or its codes', () => {
    assert.equal(evalCel('response.grpc_status != 0', info()), false);
    assert.equal(evalCel('response.grpc_status != 0', info({ grpcStatus: 14 })), true);
    const uf = info({ responseFlags: ResponseFlag.UpstreamConnectionFailure | ResponseFlag.UpstreamRetryLimitExceeded });
    assert.equal(envoyResponseFlags(uf.responseFlags), 0x20 | 0x8000);
    assert.equal(evalCel('response.flags != 0', uf), true);
    assert.equal(evalCel('response.flags == 0', info()), true);
    assert.equal(evalCel("response.flags == 'UF,URX'", uf), true);
    assert.equal(evalCel("response.flags != '-'", info()), false);
    assert.equal(evalCel("response.flags in ['NR', 'UF,URX']", uf), true);
  });

  it('rejects what is outside the subset with the position', () => {
    const cases: [string, RegExp, number][] = [
      ['response.cod >= 400', /unsupported attribute 'response.cod'/, 1],
      ['response.code >= ', /unexpected end/, 18],
      ["response.code == 'x'", /cannot compare int with string/, 15],
      ['response.code', /must be a bool/, 1],
      ['size(request.path) > 3', /function 'size\(\)' is not supported/, 5],
      ['request.path.matches("a")', /unsupported function 'matches\(\)'/, 14],
      ['response.code >= 400 ? true : false', /conditional operator/, 22],
      ['1 < 2 < 3', /chained comparisons/, 7],
      ['request.headers == 1', /cannot compare map/, 17],
      ['request.headers[1] == "a"', /string literal header name/, 17],
      ['response.code @ 3', /unexpected character '@'/, 15],
      ["'abc", /unterminated string/, 1],
      ["response.flags < 'UF'", /only using '==' or '!='/, 16],
    ];
    for (const [src, re, col] of cases) {
      const e = compileError(src);
      assert.match(e.message, re, src);
      assert.equal(e.position + 1, col, `${src}: ${e.message}`);
      assert.match(e.message, new RegExp(`at column ${col} of CEL expression`));
      assert.equal(e.expression, src);
    }
  });

  it('bounds nesting', () => {
    assert.match(compileError('('.repeat(500) + 'true' + ')'.repeat(500)).message, /nesting deeper/);
    assert.match(compileError('!'.repeat(500) + 'true').message, /nesting deeper/);
  });

  it('property: parseCel throws nothing but CelCompileError on random input', () => {
    const alphabet = fc.constantFrom(...'response.code request.headers[\'x\'] "a" 1 2.5 0x1f true false null in [ ] ( ) ! && || == != < <= > >= , . - ? : @ \\ \' " r u e'.split(' '), ' ', 'x', '.', '[', ']', '(', ')', "'", '"', '\\');
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.array(alphabet, { maxLength: 30 }).map((a) => a.join(''))), (src) => {
      try {
        const expr = parseCel(src);
        // Whatever compiles must evaluate to a boolean without throwing.
        assert.equal(typeof compileCelPredicate(expr)(info()), 'boolean');
      } catch (e) {
        if (!(e instanceof CelCompileError)) throw e;
      }
    }), { numRuns: 3000 });
  });
});
