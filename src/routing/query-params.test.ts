import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledQueryParameterMatcher, QueryParams, percentDecode } from './query-params';
import { pathEndIndex } from './route-request';

const parse = (path: string) => QueryParams.parse(path, pathEndIndex(path));

test('percentDecode follows Envoy: %XX decoded, + kept, malformed kept, UTF-8', () => {
  assert.equal(percentDecode('a%20b'), 'a b');
  assert.equal(percentDecode('a+b'), 'a+b');
  assert.equal(percentDecode('%zz%4'), '%zz%4');
  assert.equal(percentDecode('%41%6a'), 'Aj');
  assert.equal(percentDecode('caf%C3%A9'), 'café');
  assert.equal(percentDecode('%'), '%');
  const plain = 'no-escapes';
  assert.equal(percentDecode(plain), plain);
});

test('parse: names and values decoded, repeated names keep the first, fragment ignored', () => {
  const q = parse('/p?a=1&b=x%3Dy&a=2&flag&%6E%61me=v#frag=1');
  assert.equal(q.getFirst('a'), '1');
  assert.equal(q.getFirst('b'), 'x=y');
  assert.equal(q.getFirst('flag'), '');
  assert.equal(q.getFirst('name'), 'v');
  assert.equal(q.getFirst('frag'), undefined);
  assert.equal(parse('/p').size, 0);
  assert.equal(parse('/p#x?a=1').getFirst('a'), undefined);
  assert.equal(parse('/p?a=b=c').getFirst('a'), 'b=c');
});

test('query parameter matcher: present, string match on first value, absent fails', () => {
  const present = new CompiledQueryParameterMatcher({ name: 'debug', match: null });
  const exact = new CompiledQueryParameterMatcher({ name: 'v', match: { kind: 'exact', value: 'a b', ignoreCase: false } });
  assert.equal(present.matches(parse('/?debug')), true);
  assert.equal(present.matches(parse('/?x=1')), false);
  assert.equal(exact.matches(parse('/?v=a%20b')), true);
  assert.equal(exact.matches(parse('/?v=a+b')), false);
  assert.equal(exact.matches(parse('/?v=zz&v=a%20b')), false, 'only the first value counts');
});
