import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StringMatcher, asciiLowerCase, fullMatchRegex, indexOfIgnoreCase } from './string-matcher';

const m = (kind: 'exact' | 'prefix' | 'suffix' | 'contains', value: string, ignoreCase = false) =>
  StringMatcher.compile({ kind, value, ignoreCase });

test('exact / prefix / suffix / contains, case-sensitive', () => {
  assert.equal(m('exact', 'abc').match('abc'), true);
  assert.equal(m('exact', 'abc').match('abcd'), false);
  assert.equal(m('exact', 'abc').match('ABC'), false);
  assert.equal(m('prefix', 'ab').match('abc'), true);
  assert.equal(m('prefix', 'ab').match('xab'), false);
  assert.equal(m('suffix', 'bc').match('abc'), true);
  assert.equal(m('suffix', 'bc').match('bca'), false);
  assert.equal(m('contains', 'b').match('abc'), true);
  assert.equal(m('contains', 'B').match('abc'), false);
  assert.equal(m('exact', '').match(''), true);
  assert.equal(m('exact', '').match('a'), false);
});

test('ignore_case folds ASCII only', () => {
  assert.equal(m('exact', 'AbC', true).match('aBc'), true);
  assert.equal(m('exact', 'AbC', true).match('aBcd'), false);
  assert.equal(m('prefix', 'Content-', true).match('content-type'), true);
  assert.equal(m('prefix', 'Content-', true).match('conten'), false);
  assert.equal(m('suffix', '.COM', true).match('example.com'), true);
  assert.equal(m('suffix', '.COM', true).match('example.net'), false);
  assert.equal(m('contains', 'GRPC', true).match('application/grpc+proto'), true);
  assert.equal(m('contains', 'GRPC', true).match('application/json'), false);
  // Kelvin sign lowercases to 'k' in Unicode, but not in ASCII folding (as Envoy).
  assert.equal(m('exact', 'k', true).match('\u212a'), false);
  assert.equal(m('exact', '123', true).match('123'), true);
});

test('regex is a full match, not a search', () => {
  const r = StringMatcher.compile({ kind: 'regex', regex: /\d{3}/ });
  assert.equal(r.match('123'), true);
  assert.equal(r.match('1234'), false);
  assert.equal(r.match('a123'), false);
  // Alternation must be anchored as a whole.
  const alt = StringMatcher.compile({ kind: 'regex', regex: /a|ab/ });
  assert.equal(alt.match('ab'), true);
  assert.equal(alt.match('abc'), false);
  // Stateful flags are dropped: repeated tests give the same answer.
  const g = StringMatcher.compile({ kind: 'regex', regex: /x+/g });
  assert.equal(g.match('xx'), true);
  assert.equal(g.match('xx'), true);
  assert.equal(fullMatchRegex(/a$/m).flags.includes('m'), false);
});

test('helpers', () => {
  const s = 'already-lower';
  assert.equal(asciiLowerCase(s), s);
  assert.equal(asciiLowerCase('MiXeD-123'), 'mixed-123');
  assert.equal(indexOfIgnoreCase('xxAbCxx', 'abc'), 2);
  assert.equal(indexOfIgnoreCase('ab', 'abc'), -1);
});
