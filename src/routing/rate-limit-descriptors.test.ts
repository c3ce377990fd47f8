/**
 * The descriptor producer: Envoy's per-action rules (a missing header drops the descriptor unless
 * `skip_if_absent`, a header_value_match that does not come out as `expect_match` drops it, an empty
 * descriptor is not produced), the key form shared with the local rate limit filter, the
 * source-principal hook, and a property test that arbitrary header values never make it throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { HeaderMatcherModel, RateLimitActionModel, RateLimitModel } from '../config/model';
import { CompiledRateLimits, descriptorKey } from './rate-limit-descriptors';

const method = (value: string): HeaderMatcherModel => ({
  name: ':method', match: { kind: 'exact', value, ignoreCase: false }, presentMatch: true, invertMatch: false, treatMissingAsEmpty: false,
});
const hdr = (headerName: string, key: string, skipIfAbsent = false): RateLimitActionModel => ({ kind: 'request_headers', headerName, descriptorKey: key, skipIfAbsent });
const generic = (value: string, key = 'generic_key'): RateLimitActionModel => ({ kind: 'generic_key', descriptorKey: key, descriptorValue: value });

function run(models: RateLimitModel[], headers: Record<string, string | string[]>, remote = '10.0.0.1', principal: string | null = null): string[] {
  const c = CompiledRateLimits.compile(models);
  assert.ok(c !== null);
  const out: string[] = [];
  c.populate(headers, remote, principal, out);
  return out;
}

const K = (...pairs: [string, string][]): string => descriptorKey(pairs.map(([key, value]) => ({ key, value })));

test('no rate limits compile to null', () => {
  assert.equal(CompiledRateLimits.compile([]), null);
});

test('each RateLimit yields one descriptor of its action entries, in order', () => {
  const models: RateLimitModel[] = [
    { actions: [hdr('x-user', 'user'), { kind: 'remote_address' }] },
    { actions: [generic('all')] },
    { actions: [generic('gold', 'tier'), hdr('x-user', 'user')] },
  ];
  assert.deepEqual(run(models, { 'x-user': 'alice' }), [
    K(['user', 'alice'], ['remote_address', '10.0.0.1']),
    K(['generic_key', 'all']),
    K(['tier', 'gold'], ['user', 'alice']),
  ]);
  // x-user missing: the descriptors that need it are dropped whole.
  assert.deepEqual(run(models, {}), [K(['generic_key', 'all'])]);
  // Several values: the first; an IPv4-mapped peer is reported as IPv4.
  assert.deepEqual(run([{ actions: [hdr('x-user', 'user'), { kind: 'remote_address' }] }], { 'x-user': ['bob', 'eve'] }, '::ffff:192.0.2.7'), [K(['user', 'bob'], ['remote_address', '192.0.2.7'])]);
  assert.deepEqual(run([{ actions: [{ kind: 'remote_address' }] }], {}, '2001:db8::1'), [K(['remote_address', '2001:db8::1'])]);
  assert.deepEqual(run([{ actions: [{ kind: 'remote_address' }] }], {}, ''), [], 'no peer address, no descriptor');
});

test('skip_if_absent drops only the entry; a descriptor without entries is not produced', () => {
  const models: RateLimitModel[] = [
    { actions: [hdr('x-tenant', 'tenant', true), hdr('x-user', 'user')] },
    { actions: [hdr('x-tenant', 'tenant', true)] },
  ];
  assert.deepEqual(run(models, { 'x-user': 'u' }), [K(['user', 'u'])]);
  assert.deepEqual(run(models, { 'x-user': 'u', 'x-tenant': 't' }), [K(['tenant', 't'], ['user', 'u']), K(['tenant', 't'])]);
  // A present but empty header is a value (Envoy checks presence).
  assert.deepEqual(run(models, { 'x-user': '' }), [K(['user', ''])]);
});

test('header_value_match produces its entry when the match equals expect_match', () => {
  const posts: RateLimitModel = { actions: [{ kind: 'header_value_match', descriptorKey: 'header_match', descriptorValue: 'post', expectMatch: true, headers: [method('POST')] }] };
  const notPosts: RateLimitModel = { actions: [{ kind: 'header_value_match', descriptorKey: 'm', descriptorValue: 'other', expectMatch: false, headers: [method('POST')] }] };
  assert.deepEqual(run([posts, notPosts], { ':method': 'POST' }), [K(['header_match', 'post'])]);
  assert.deepEqual(run([posts, notPosts], { ':method': 'GET' }), [K(['m', 'other'])]);
});

test('source_principal uses the peer principal; without one (today) the descriptor is dropped', () => {
  const models: RateLimitModel[] = [{ actions: [{ kind: 'source_principal', descriptorKey: 'principal' }, generic('x')] }];
  assert.deepEqual(run(models, {}, '10.0.0.1', null), []);
  assert.deepEqual(run(models, {}, '10.0.0.1', 'spiffe://td/ns/a/sa/b'), [K(['principal', 'spiffe://td/ns/a/sa/b'], ['generic_key', 'x'])]);
});

test('property: arbitrary header values never throw, and a present header is always reported verbatim', () => {
  const c = CompiledRateLimits.compile([
    { actions: [hdr('x-a', 'a')] },
    { actions: [hdr('x-b', 'b', true), { kind: 'remote_address' }] },
    { actions: [{ kind: 'header_value_match', descriptorKey: 'h', descriptorValue: 'v', expectMatch: true, headers: [{ ...method('GET'), name: 'x-a' }] }] },
  ])!;
  const value = fc.oneof(fc.string(), fc.fullUnicodeString(), fc.array(fc.string(), { maxLength: 3 }));
  fc.assert(fc.property(
    fc.dictionary(fc.constantFrom('x-a', 'x-b', 'x-c', 'constructor', '__proto__', ':method'), value),
    fc.string(),
    fc.option(fc.string(), { nil: null }),
    (headers, remote, principal) => {
      const out: string[] = [];
      c.populate(headers, remote, principal, out);
      assert.ok(out.length <= 3);
      const a = Object.prototype.hasOwnProperty.call(headers, 'x-a') ? headers['x-a'] : undefined;
      const first = typeof a === 'string' ? a : Array.isArray(a) && a.length > 0 ? a[0] : undefined;
      if (first !== undefined) assert.equal(out[0], K(['a', first]));
      else assert.ok(!out.some((k) => k.startsWith('a\u0001')));
    },
  ), { numRuns: 500 });
});
