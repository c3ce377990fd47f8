import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as protobuf from 'protobufjs';
import { parseProtoJson, type ProtoObject } from '../../config/compile/proto-json';
import { loadEnvoyProtos } from '../../xds/protos';
import { compileGlobalRateLimit, compileGlobalRateLimitPerRoute, KEY_SEPARATOR, type GlobalRateLimitConfig } from './config';
import { descriptorKey } from './descriptor-key';

const TYPE = 'remora.filters.http.global_ratelimit.v1alpha1.GlobalRateLimit';
let root: protobuf.Root;
before(() => { root = loadEnvoyProtos(); });

function parse(json: unknown): ProtoObject {
  const r = parseProtoJson(root, TYPE, json, 'f');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.value;
}
function compileOk(json: unknown): GlobalRateLimitConfig {
  const r = compileGlobalRateLimit(parse(json), 'f');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.value;
}
function errorPaths(json: unknown, perRoute = false): string[] {
  const r = (perRoute ? compileGlobalRateLimitPerRoute : compileGlobalRateLimit)(parse(json), 'f');
  assert.equal(r.ok, false);
  return (r as { errors: readonly { path: string }[] }).errors.map((e) => e.path);
}

const GOOD = {
  domain: 'api',
  redis: { address: '127.0.0.1:6379' },
  descriptors: [{ entries: [{ request_headers: { header_name: 'X-User', descriptor_key: 'user' } }], limit: { requests_per_unit: 5, unit: 'MINUTE' } }],
};

describe('global rate limit config', () => {
  it('compiles with defaults: 25 ms timeout, remora:rl: prefix, sliding window, fail-open', () => {
    const c = compileOk(GOOD);
    assert.deepEqual(c.redis, { host: '127.0.0.1', port: 6379, timeoutMs: 25, keyPrefix: 'remora:rl:' });
    assert.equal(c.sliding, true);
    assert.equal(c.failureModeDeny, false);
    assert.equal(c.enableRateLimitHeaders, false);
    assert.deepEqual(c.descriptors[0]!.entries, [{ kind: 'request_headers', header: 'x-user', key: 'user', skipIfAbsent: false }]);
    assert.equal(c.descriptors[0]!.windowMs, 60_000);
    assert.ok(Object.isFrozen(c));
  });

  it('reads every field (json names too)', () => {
    const c = compileOk({
      domain: 'd', redis: { address: '[::1]:7000', timeout: '0.1s', keyPrefix: 'p:' }, failureModeDeny: true, algorithm: 'FIXED_WINDOW',
      enableXRatelimitHeaders: true,
      descriptors: [{
        entries: [
          { remote_address: {} },
          { generic_key: { descriptor_value: 'g' } },
          { header_value_match: { descriptor_value: 'post', headers: [{ name: ':method', exact_match: 'POST' }, { name: 'x-a', prefix_match: 'b' }, { name: 'x-c', present_match: false }] } },
        ],
        limit: { requests_per_unit: 1, unit: 'HOUR' },
      }],
    });
    assert.deepEqual(c.redis, { host: '::1', port: 7000, timeoutMs: 100, keyPrefix: 'p:' });
    assert.equal(c.sliding, false);
    assert.equal(c.failureModeDeny, true);
    assert.equal(c.enableRateLimitHeaders, true);
    assert.deepEqual(c.descriptors[0]!.entries.map((e) => e.kind), ['remote_address', 'generic_key', 'header_value_match']);
    const hvm = c.descriptors[0]!.entries[2] as { headers: unknown };
    assert.deepEqual(hvm.headers, [
      { kind: 'exact', name: ':method', value: 'POST' },
      { kind: 'prefix', name: 'x-a', value: 'b' },
      { kind: 'present', name: 'x-c', present: false },
    ]);
  });

  it('rejects bad values with field paths', () => {
    assert.deepEqual(errorPaths({
      redis: { address: 'nope', timeout: '20s' },
      descriptors: [
        { entries: [{ request_headers: { header_name: 'x' } }], limit: { requests_per_unit: 0, unit: 'SECOND' } },
        { entries: [], limit: { requests_per_unit: 3 } },
        { entries: [{ generic_key: { descriptor_value: 'v', descriptor_key: 'a=b' } }] },
        { entries: [{ header_value_match: { descriptor_value: 'v', headers: [{ name: 'x' }] } }], limit: { requests_per_unit: 1, unit: 'SECOND' } },
      ],
    }), [
      'f.domain',
      'f.redis.address',
      'f.redis.timeout',
      'f.descriptors[0].entries[0].request_headers.descriptor_key',
      'f.descriptors[0].limit.requests_per_unit',
      'f.descriptors[1].entries',
      'f.descriptors[1].limit.unit',
      'f.descriptors[2].entries[0].generic_key.descriptor_key',
      'f.descriptors[2].limit',
      'f.descriptors[3].entries[0].header_value_match.headers[0]',
    ]);
    assert.deepEqual(errorPaths({ ...GOOD, redis: undefined }), ['f.redis']);
    assert.deepEqual(errorPaths({ ...GOOD, redis: { address: '10.0.0.1:0' } }), ['f.redis.address']);
    assert.deepEqual(errorPaths({ ...GOOD, disabled: true }), ['f.disabled']);
    assert.deepEqual(errorPaths({ ...GOOD, descriptors: [{ entries: [{}], limit: { requests_per_unit: 1, unit: 'SECOND' } }] }), ['f.descriptors[0].entries[0]']);
  });

  it('rejects an unknown unit name at parse time with its path', () => {
    const r = parseProtoJson(root, TYPE, { ...GOOD, descriptors: [{ entries: [{ remote_address: {} }], limit: { requests_per_unit: 1, unit: 'DAY' } }] }, 'f');
    assert.equal(r.ok, false);
    assert.deepEqual((r as { errors: readonly { path: string }[] }).errors.map((e) => e.path), ['f.descriptors[0].limit.unit']);
  });

  it('per route: redis is refused, descriptors or disabled required, domain inherited', () => {
    assert.deepEqual(errorPaths({ redis: { address: '127.0.0.1:1' }, descriptors: GOOD.descriptors }, true), ['f.redis']);
    assert.deepEqual(errorPaths({}, true), ['f.descriptors']);
    assert.deepEqual(errorPaths({ disabled: true, domain: 'x' }, true), ['f.domain']);
    const r = compileGlobalRateLimitPerRoute(parse({ descriptors: GOOD.descriptors }), 'f');
    assert.ok(r.ok);
    assert.equal(r.value.domain, null);
    assert.equal(r.value.redis, null);
    const d = compileGlobalRateLimitPerRoute(parse({ disabled: true }), 'f');
    assert.ok(d.ok && d.value.disabled);
  });
});

describe('descriptorKey', () => {
  const S = KEY_SEPARATOR;
  it('builds prefix+domain, entries and the unit; missing header drops the descriptor unless skip_if_absent', () => {
    const c = compileOk({
      domain: 'api', redis: { address: 'redis.local:6379' },
      descriptors: [
        { entries: [{ request_headers: { header_name: 'x-user', descriptor_key: 'user' } }, { remote_address: {} }], limit: { requests_per_unit: 1, unit: 'SECOND' } },
        { entries: [{ request_headers: { header_name: 'x-user', descriptor_key: 'user', skip_if_absent: true } }, { generic_key: { descriptor_value: 'all' } }], limit: { requests_per_unit: 1, unit: 'MINUTE' } },
        { entries: [{ header_value_match: { descriptor_value: 'posts', headers: [{ name: ':method', exact_match: 'POST' }] } }], limit: { requests_per_unit: 1, unit: 'HOUR' } },
        { entries: [{ request_headers: { header_name: 'x-none', descriptor_key: 'n', skip_if_absent: true } }], limit: { requests_per_unit: 1, unit: 'HOUR' } },
      ],
    });
    const [d0, d1, d2, d3] = c.descriptors;
    const withUser = { headers: { 'x-user': 'alice', ':method': 'GET' }, remoteAddress: '10.1.2.3' };
    const anon = { headers: { ':method': 'POST' }, remoteAddress: '10.1.2.3' };
    assert.equal(descriptorKey(d0!, withUser, 'remora:rl:api'), `remora:rl:api${S}user=alice${S}remote_address=10.1.2.3${S}s`);
    assert.equal(descriptorKey(d0!, anon, 'remora:rl:api'), null);
    assert.equal(descriptorKey(d1!, anon, 'b'), `b${S}generic_key=all${S}m`);
    assert.equal(descriptorKey(d2!, withUser, 'b'), null);
    assert.equal(descriptorKey(d2!, anon, 'b'), `b${S}header_match=posts${S}h`);
    assert.equal(descriptorKey(d3!, anon, 'b'), null, 'a descriptor whose entries were all skipped is not generated');
  });
});
