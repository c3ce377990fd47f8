import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Re2Regex } from '../config/re2-regex';
import { StringMatcher, asciiLowerCase, indexOfIgnoreCase } from './string-matcher';

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

const re2 = (pattern: string): StringMatcher => StringMatcher.compile({ kind: 'regex', regex: Re2Regex.compile(pattern) });

test('regex is a full match, not a search', () => {
  const r = re2('\\d{3}');
  assert.equal(r.match('123'), true);
  assert.equal(r.match('1234'), false);
  assert.equal(r.match('a123'), false);
  // Alternation must be anchored as a whole.
  const alt = re2('a|ab');
  assert.equal(alt.match('ab'), true);
  assert.equal(alt.match('abc'), false);
  // Repeated matches give the same answer (no state between calls).
  const x = re2('x+');
  assert.equal(x.match('xx'), true);
  assert.equal(x.match('xx'), true);
});

test('regex has RE2 semantics, not JavaScript\'s', () => {
  // \s is ASCII whitespace in RE2 (JS also matches U+00A0); . excludes only \n (JS also \r, U+2028).
  assert.equal(re2('a\\sb').match('a\u00a0b'), false);
  assert.equal(re2('a\\sb').match('a\tb'), true);
  assert.equal(re2('a.b').match('a\rb'), true);
  assert.equal(re2('a.b').match('a\nb'), false);
  // . is one code point (JS without the u flag sees two UTF-16 units).
  assert.equal(re2('x.y').match('x\u{1F600}y'), true);
  // RE2-only syntax: POSIX classes, Unicode classes, \z, named groups, inline flags.
  assert.equal(re2('[[:alpha:]]+').match('abc'), true);
  assert.equal(re2('\\p{Greek}+').match('\u03b1\u03b2'), true);
  assert.equal(re2('(?P<v>v\\d)\\z').match('v2'), true);
  assert.equal(re2('(?i)ab(?-i)c').match('ABc'), true);
  assert.equal(re2('(?i)ab(?-i)c').match('ABC'), false);
});

test('regex matching is linear: a pattern that backtracks exponentially in JS answers at once', () => {
  // As a JS RegExp, ^(?:(a+)+$)$ on 'a' × 40 + 'b' takes minutes; RE2 has no backtracking.
  const evil = re2('(a+)+$');
  assert.equal(evil.match('a'.repeat(40) + 'b'), false);
  assert.equal(evil.match('a'.repeat(100_000)), true);
  const nested = re2('/(\\w+/?)+');
  assert.equal(nested.match('/' + 'seg/'.repeat(10_000) + '!'), false);
});

test('helpers', () => {
  const s = 'already-lower';
  assert.equal(asciiLowerCase(s), s);
  assert.equal(asciiLowerCase('MiXeD-123'), 'mixed-123');
  assert.equal(indexOfIgnoreCase('xxAbCxx', 'abc'), 2);
  assert.equal(indexOfIgnoreCase('ab', 'abc'), -1);
});
