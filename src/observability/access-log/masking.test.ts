import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_MASKING } from '../../config/compile/access-log';
import { ResponseFlag, ResponseFlagFormatter } from '../../core/response-flags';
import type { StreamInfo } from '../stream-info';
import { AccessLogFormatter } from './access-log-line';
import { Masker, REDACTED } from './masking';

const m = new Masker(DEFAULT_MASKING);

describe('access-log masking', () => {
  it('redacts masked query parameters only, keeping the rest of the path byte for byte', () => {
    assert.equal(m.maskPath('/a/b'), '/a/b');
    assert.equal(m.maskPath('/a?x=1&token=abc&y=2'), `/a?x=1&token=${REDACTED}&y=2`);
    assert.equal(m.maskPath('/a?TOKEN=abc'), `/a?TOKEN=${REDACTED}`);
    assert.equal(m.maskPath('/a?to%6Ben=abc&password'), `/a?to%6Ben=${REDACTED}&password=${REDACTED}`);
    assert.equal(m.maskPath('/a?tokens=abc&x=token'), '/a?tokens=abc&x=token');
    assert.equal(m.maskPath('/a?%E0%A4%A=1'), '/a?%E0%A4%A=1', 'malformed escapes are left alone');
  });

  it('redacts masked headers and masked JSON fields at any depth of a JSON-valued header', () => {
    assert.equal(m.maskHeader('authorization', 'Bearer x'), REDACTED);
    assert.equal(m.maskHeader('x-plain', 'hello'), 'hello');
    assert.equal(m.maskHeader('x-plain', '{not json'), '{not json');
    assert.equal(
      m.maskHeader('x-ctx', '{"user":"u","Password":"p","nested":[{"token":"t","ok":1}],"__proto__":{"secret":"s"}}'),
      `{"user":"u","Password":"${REDACTED}","nested":[{"token":"${REDACTED}","ok":1}],"__proto__":{"secret":"${REDACTED}"}}`,
    );
  });

  it('property: a masked value never appears in the masked path', () => {
    fc.assert(fc.property(fc.stringMatching(/^[A-Za-z0-9]{6,20}$/), fc.constantFrom('token', 'password', 'api_key'), fc.string({ maxLength: 10 }), (secret, name, other) => {
      const path = `/p?${encodeURIComponent(other)}=1&${name}=${secret}&z=${encodeURIComponent(other)}`;
      assert.ok(!m.maskPath(path).includes(`=${secret}`), m.maskPath(path));
    }), { numRuns: 500 });
  });
});

describe('access-log line', () => {
  const base: StreamInfo = {
    method: 'POST', path: '/pkg.Svc/Do', authority: 'svc:80', scheme: 'http', headers: { authorization: 'Bearer zzz', 'x-ctx': '{"token":"t"}' },
    isGrpc: true, protocol: 'h2', remoteAddress: '127.0.0.1:9', connection: { peer: { spiffeId: 'spiffe://td/ns/a/sa/b', principal: 'td/ns/a/sa/b', namespace: 'a', serviceAccount: 'b' }, remoteAddress: '127.0.0.1:9', mutualTls: true, telemetrySlot: null },
    startTime: 100, startTimeWall: Date.UTC(2025, 0, 2, 3, 4, 5, 6), endTime: 101.5, responseStatus: 200, grpcStatus: 14,
    responseFlags: ResponseFlag.UpstreamConnectionFailure, localReplyReason: 'upstream_connect_failure', localReplyMessage: 'upstream connect error',
    bytesReceived: 5, bytesSent: 0, routeName: '', upstreamCluster: 'c', upstreamHost: '127.0.0.1:1', upstreamMetadata: null,
    upstreamAttempts: 2, requestId: 'rid', traceId: null,
  };

  it('has the documented fields, in order, with masking applied', () => {
    const f = new AccessLogFormatter(m, ['authorization', 'x-ctx', 'x-none'], new ResponseFlagFormatter());
    const line = f.format(base);
    assert.ok(line.endsWith('\n'));
    const o = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual(Object.keys(o), [
      'start_time', 'duration_ms', 'method', 'authority', 'path', 'protocol', 'grpc_service', 'grpc_method', 'response_code',
      'grpc_status', 'response_flags', 'reason', 'bytes_received', 'bytes_sent', 'upstream_host', 'upstream_cluster',
      'upstream_attempts', 'request_id', 'trace_id', 'peer_principal', 'downstream_remote_address', 'route_name', 'request_headers',
    ]);
    assert.equal(o['start_time'], '2025-01-02T03:04:05.006Z');
    assert.equal(o['duration_ms'], 1.5);
    assert.equal(o['grpc_service'], 'pkg.Svc');
    assert.equal(o['grpc_method'], 'Do');
    assert.equal(o['protocol'], 'HTTP/2');
    assert.equal(o['response_flags'], 'UF');
    assert.equal(o['reason'], 'upstream connect error');
    assert.equal(o['peer_principal'], 'spiffe://td/ns/a/sa/b');
    assert.deepEqual(o['request_headers'], { authorization: REDACTED, 'x-ctx': `{"token":"${REDACTED}"}`, 'x-none': null });
    // The reused line object is refilled completely.
    const o2 = JSON.parse(f.format({ ...base, isGrpc: false, path: '/x?token=1', localReplyReason: null, localReplyMessage: null, responseFlags: 0, grpcStatus: -1, startTimeWall: Date.UTC(2025, 0, 2, 3, 4, 6, 120) })) as Record<string, unknown>;
    assert.equal(o2['grpc_service'], null);
    assert.equal(o2['reason'], null);
    assert.equal(o2['grpc_status'], null);
    assert.equal(o2['response_flags'], '-');
    assert.equal(o2['path'], `/x?token=${REDACTED}`);
    assert.equal(o2['start_time'], '2025-01-02T03:04:06.120Z');
  });

  it('omits request_headers when none are configured', () => {
    const o = JSON.parse(new AccessLogFormatter(m, [], new ResponseFlagFormatter()).format(base)) as Record<string, unknown>;
    assert.equal('request_headers' in o, false);
  });
});
