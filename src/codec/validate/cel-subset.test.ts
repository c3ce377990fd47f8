/**
 * Unit tests of the CEL subset compiler: what it accepts and refuses, typed evaluation (int, uint,
 * double, string, bool), and the run-time cases it leaves undecided (overflow, division by zero,
 * int64 beyond 2^53). Differential tests against protovalidate are in fast-validator.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CelUndecided, codePoints, compileCelSubset, type CelThisBinding } from './cel-subset';

const fields: Record<string, { type: 'int' | 'uint' | 'double' | 'bool' | 'string'; i: number }> = {
  age: { type: 'int', i: 0 }, tier: { type: 'int', i: 1 }, n: { type: 'uint', i: 2 }, d: { type: 'double', i: 3 }, s: { type: 'string', i: 4 }, ok: { type: 'bool', i: 5 },
};
const message: CelThisBinding = {
  kind: 'message',
  field: (name) => {
    const f = fields[name];
    return f === undefined ? null : { type: f.type, read: (self) => (self as unknown[])[f.i] };
  },
};
const scalar = (type: 'int' | 'string'): CelThisBinding => ({ kind: 'scalar', type, read: (v) => v });

describe('compileCelSubset', () => {
  it('compiles message rules over scalar fields and evaluates them', () => {
    const p = compileCelSubset('this.tier != 2 || this.age >= 18', message)!;
    assert.equal(p([17, 2, 0, 0, '', false]), false);
    assert.equal(p([18, 2, 0, 0, '', false]), true);
    assert.equal(p([1, 1, 0, 0, '', false]), true);
    const q = compileCelSubset("(this.d * 2.0 < 3.0) && size(this.s) == 2 && this.s.startsWith('😀') && !this.ok", message)!;
    assert.equal(q([0, 0, 0, 1.25, '😀x', false]), true);
    assert.equal(q([0, 0, 0, 1.5, '😀x', false]), false);
    assert.equal(q([0, 0, 0, 1.25, '😀xy', false]), false);
  });

  it('treats a string result as pass when empty, and supports the conditional operator', () => {
    const p = compileCelSubset("this.age > 3 ? '' : 'too small'", message)!;
    assert.equal(p([4]), true);
    assert.equal(p([3]), false);
  });

  it('follows CEL integer semantics: truncating / and %, and leaves errors undecided', () => {
    assert.equal(compileCelSubset('this % 2 == 0', scalar('int'))!(-4), true);
    assert.equal(compileCelSubset('this % 2 == -1', scalar('int'))!(-3), true);
    assert.equal(compileCelSubset('this / 2 == -1', scalar('int'))!(-3), true);
    assert.throws(() => compileCelSubset('10 / this == 1', scalar('int'))!(0), CelUndecided);
    assert.throws(() => compileCelSubset('this * 4000000000 * 4000000000 > 0', scalar('int'))!(1), CelUndecided);
    assert.throws(() => compileCelSubset('this.n - 1u == 0u', message)!([0, 0, 0]), CelUndecided);
  });

  it('returns null outside the subset (unknown fields, mixed types, macros, functions, lists, bytes)', () => {
    for (const e of ['this.nope > 1', 'this.age > 1.0', 'this.n > 1', 'has(this.age)', 'this.s.matches("a")', 'this.age in [1, 2]',
      "this.s < 'b'", "b'x' == b'x'", 'now > 1', 'this.age', 'this > 1', '9223372036854775807 > this.age', 'this.age +', '"""x""" == this.s']) {
      assert.equal(compileCelSubset(e, message), null, e);
    }
  });

  it('counts code points like CEL size()', () => {
    assert.equal(codePoints('a😀é'), 3);
    assert.equal(codePoints('\ud800x'), 2);
  });
});
