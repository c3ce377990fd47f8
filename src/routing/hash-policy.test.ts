/**
 * Unit tests of the compiled route `hash_policy`: each policy kind (header, cookie, source_ip,
 * query_parameter), multi-valued headers, Envoy's combination and `terminal` rules, null when no
 * policy yields a value, and property tests (fast-check) that `hash()` never throws and is
 * deterministic on arbitrary header, cookie and path strings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { HashPolicyModel } from '../config/model';
import { CompiledHashPolicy, hashString } from './hash-policy';

function compile(...models: HashPolicyModel[]): CompiledHashPolicy {
  const p = CompiledHashPolicy.compile(models);
  assert.ok(p !== null);
  return p;
}

const header = (name: string, terminal = false): HashPolicyModel => ({ kind: 'header', name, terminal });
const cookie = (name: string, terminal = false): HashPolicyModel => ({ kind: 'cookie', name, terminal });
const sourceIp = (terminal = false): HashPolicyModel => ({ kind: 'source_ip', terminal });
const query = (name: string, terminal = false): HashPolicyModel => ({ kind: 'query_parameter', name, terminal });
const rotl1 = (h: number): number => ((h << 1) | (h >>> 31)) >>> 0;

test('an empty policy list compiles to null', () => {
  assert.equal(CompiledHashPolicy.compile([]), null);
});

test('header: the value is hashed; same value, same hash; absent → null', () => {
  const p = compile(header('X-User'));
  const a = p.hash({ 'x-user': 'alice' }, '10.0.0.1', '/');
  assert.equal(a, hashString('alice'));
  assert.equal(p.hash({ 'x-user': 'alice', other: 'x' }, '10.0.0.9', '/other'), a);
  assert.notEqual(p.hash({ 'x-user': 'bob' }, '10.0.0.1', '/'), a);
  assert.equal(p.hash({ 'x-other': 'alice' }, '10.0.0.1', '/'), null);
  // A present empty header still hashes (Envoy hashes the present value).
  assert.equal(p.hash({ 'x-user': '' }, '', '/'), hashString(''));
  // Prototype members are not headers.
  assert.equal(compile(header('constructor')).hash({}, '', '/'), null);
});

test('header with several values: order-independent, and different from each single value', () => {
  const p = compile(header('x-k'));
  const ab = p.hash({ 'x-k': ['a', 'b'] }, '', '/');
  assert.equal(p.hash({ 'x-k': ['b', 'a'] }, '', '/'), ab);
  assert.notEqual(ab, p.hash({ 'x-k': 'a' }, '', '/'));
  assert.notEqual(ab, p.hash({ 'x-k': 'b' }, '', '/'));
  assert.equal(p.hash({ 'x-k': ['a'] }, '', '/'), p.hash({ 'x-k': 'a' }, '', '/'));
  assert.equal(p.hash({ 'x-k': [] }, '', '/'), null);
});

test('cookie: the named cookie value from the cookie header(s), quotes stripped', () => {
  const p = compile(cookie('session'));
  const want = hashString('abc');
  assert.equal(p.hash({ cookie: 'session=abc' }, '', '/'), want);
  assert.equal(p.hash({ cookie: 'a=1; session=abc; b=2' }, '', '/'), want);
  assert.equal(p.hash({ cookie: 'a=1;session="abc"' }, '', '/'), want);
  assert.equal(p.hash({ cookie: ['a=1', 'b=2; session=abc'] }, '', '/'), want);
  // First match wins; names must match exactly.
  assert.equal(p.hash({ cookie: 'session=abc; session=zzz' }, '', '/'), want);
  assert.equal(p.hash({ cookie: 'xsession=zzz; sessionx=zzz; session=abc' }, '', '/'), want);
  // Absent, malformed or empty → no value.
  assert.equal(p.hash({ cookie: 'other=1' }, '', '/'), null);
  assert.equal(p.hash({ cookie: 'session; x=1' }, '', '/'), null);
  assert.equal(p.hash({ cookie: 'session=' }, '', '/'), null);
  assert.equal(p.hash({}, '', '/'), null);
});

test('source_ip: the remote address; empty → null', () => {
  const p = compile(sourceIp());
  assert.equal(p.hash({}, '192.168.1.7', '/'), hashString('192.168.1.7'));
  assert.notEqual(p.hash({}, '192.168.1.8', '/'), p.hash({}, '192.168.1.7', '/'));
  assert.equal(p.hash({}, '', '/'), null);
});

test('query_parameter: the first raw value of the parameter', () => {
  const p = compile(query('user'));
  const want = hashString('alice');
  assert.equal(p.hash({}, '', '/svc?user=alice'), want);
  assert.equal(p.hash({}, '', '/svc?a=1&user=alice&user=bob'), want);
  assert.equal(p.hash({}, '', '/svc?a=1&user=alice#frag'), want);
  assert.equal(p.hash({}, '', '/svc?xuser=bob&userx=bob&user=alice'), want);
  // Not percent-decoded (Envoy's parseQueryString).
  assert.equal(p.hash({}, '', '/svc?user=al%69ce'), hashString('al%69ce'));
  // A name without '=' has an empty value.
  assert.equal(p.hash({}, '', '/svc?user&b=1'), hashString(''));
  assert.equal(p.hash({}, '', '/svc?other=1'), null);
  assert.equal(p.hash({}, '', '/svc'), null);
  assert.equal(p.hash({}, '', '/svc#user=alice'), null);
});

test('several policies combine as rotl(hash, 1) ^ value; missing ones are skipped', () => {
  const p = compile(header('x-a'), cookie('c'), sourceIp());
  const ha = hashString('1');
  const hc = hashString('2');
  const hip = hashString('10.0.0.1');
  assert.equal(p.hash({ 'x-a': '1', cookie: 'c=2' }, '10.0.0.1', '/'), (rotl1((rotl1(ha) ^ hc) >>> 0) ^ hip) >>> 0);
  assert.equal(p.hash({ cookie: 'c=2' }, '10.0.0.1', '/'), (rotl1(hc) ^ hip) >>> 0);
  assert.equal(p.hash({}, '10.0.0.1', '/'), hip);
  assert.equal(p.hash({}, '', '/'), null);
  // Duplicate policies do not cancel out.
  assert.notEqual(compile(header('x-a'), header('x-a')).hash({ 'x-a': '1' }, '', '/'), 0);
});

test('terminal: stops once a hash exists, otherwise evaluation continues', () => {
  const p = compile(header('x-user', true), sourceIp());
  assert.equal(p.hash({ 'x-user': 'alice' }, '10.0.0.1', '/'), hashString('alice'));
  assert.equal(p.hash({}, '10.0.0.1', '/'), hashString('10.0.0.1'));
  // A terminal policy later in the list stops after the hash built so far.
  const q = compile(header('x-a'), query('k', true), sourceIp());
  assert.equal(q.hash({ 'x-a': '1' }, '10.0.0.1', '/?k=v'), (rotl1(hashString('1')) ^ hashString('v')) >>> 0);
  // Envoy checks `terminal && hash` after each policy, even one that yielded nothing itself.
  assert.equal(q.hash({ 'x-a': '1' }, '10.0.0.1', '/'), hashString('1'));
  assert.equal(q.hash({}, '10.0.0.1', '/'), hashString('10.0.0.1'));
});

test('hashString: ranges, seeds and non-latin1 text', () => {
  assert.equal(hashString('xxabcxx', 2, 5), hashString('abc'));
  assert.notEqual(hashString('abc', 0, 3, 1), hashString('abc'));
  assert.notEqual(hashString('\u0161'), hashString('a'));
  assert.notEqual(hashString('\u0161'), hashString('\u0061'));
  const h = hashString('some-key');
  assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32);
});

test('property: hash() never throws, is deterministic and returns null or a uint32 on arbitrary input', () => {
  const p = compile(header('x-h'), cookie('sid'), query('q'), sourceIp());
  const onlyCookie = compile(cookie('sid'));
  const value = fc.oneof(fc.string(), fc.fullUnicodeString(), fc.array(fc.string(), { maxLength: 4 }));
  fc.assert(fc.property(
    value, fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 })), fc.string(), fc.fullUnicodeString(),
    (h, c, addr, path) => {
      const headers = { 'x-h': h, cookie: c };
      const a = p.hash(headers, addr, path);
      assert.equal(p.hash(headers, addr, path), a);
      assert.ok(a === null || (Number.isInteger(a) && a >= 0 && a < 2 ** 32));
      const b = onlyCookie.hash(headers, addr, path);
      assert.ok(b === null || (Number.isInteger(b) && b >= 0 && b < 2 ** 32));
    },
  ), { numRuns: 2000 });
});

test('property: a cookie planted among arbitrary cookies is found', () => {
  const p = compile(cookie('sid'));
  const pair = fc.tuple(fc.stringMatching(/^[a-rt-z]{1,6}$/), fc.stringMatching(/^[^;"]*$/)).map(([k, v]) => `${k}=${v}`);
  fc.assert(fc.property(fc.array(pair, { maxLength: 5 }), fc.array(pair, { maxLength: 5 }), fc.stringMatching(/^[^;"\s]+$/),
    (before, after, v) => {
      const header = [...before, `sid=${v}`, ...after].join('; ');
      assert.equal(p.hash({ cookie: header }, '', '/'), hashString(v));
    }));
});
