/**
 * Unit tests of the RE2 → RegExp translation: the RE2 meaning of `.`, `\s` and `$` is kept, and
 * constructs outside the subset are refused. Differential tests against RE2 itself (through
 * protovalidate) are in fast-validator.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { re2ToRegExp } from './re2-subset';

describe('re2ToRegExp', () => {
  it('keeps RE2 semantics for ., \\s and anchors', () => {
    const dot = re2ToRegExp('^a.c$')!;
    assert.equal(dot.test('a\rc'), true);
    assert.equal(dot.test('a\u2028c'), true);
    assert.equal(dot.test('a\nc'), false);
    assert.equal(dot.test('a😀c'), true);
    const space = re2ToRegExp('^\\s$')!;
    assert.equal(space.test(' '), true);
    assert.equal(space.test('\u00a0'), false);
    assert.equal(space.test('\u000b'), false);
    assert.equal(re2ToRegExp('^[a-z][a-z0-9_]*$')!.test('ada_l'), true);
    assert.equal(re2ToRegExp('b$')!.test('ab\n'), false);
    assert.equal(re2ToRegExp('^[\\w.-]{2,4}\\}?$')!.test('a.-}'), true);
  });

  it('refuses what it does not translate', () => {
    for (const p of ['(?i)abc', '(?P<n>a)', '\\pL', '\\x{41}', '\\Qa\\E', '\\Aa', 'a\\z', '[[:alpha:]]', 'a{1001}', 'a{', '*a', 'a**', '(a', 'a)', '[a', '[]']) {
      assert.equal(re2ToRegExp(p), null, p);
    }
  });
});
