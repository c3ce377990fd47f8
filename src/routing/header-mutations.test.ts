import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderAppendAction, HeaderValueOptionModel } from '../config/model';
import { applyHeaderMutationLevels, applyHeaderMutations, compileMutationLevels, type MutableHeaders } from './header-mutations';

const add = (key: string, value: string, action: HeaderAppendAction = 'APPEND_IF_EXISTS_OR_ADD', keepEmptyValue = false): HeaderValueOptionModel =>
  ({ key, value, action, keepEmptyValue });

test('APPEND_IF_EXISTS_OR_ADD adds or appends another value', () => {
  const h: MutableHeaders = { a: '1', b: ['x', 'y'] };
  applyHeaderMutations(h, [add('a', '2'), add('b', 'z'), add('c', '3')], []);
  assert.deepEqual(h, { a: ['1', '2'], b: ['x', 'y', 'z'], c: '3' });
});

test('ADD_IF_ABSENT only adds missing headers', () => {
  const h: MutableHeaders = { a: '1' };
  applyHeaderMutations(h, [add('a', '2', 'ADD_IF_ABSENT'), add('c', '3', 'ADD_IF_ABSENT')], []);
  assert.deepEqual(h, { a: '1', c: '3' });
});

test('OVERWRITE_IF_EXISTS_OR_ADD replaces every value or adds', () => {
  const h: MutableHeaders = { a: ['1', '2'] };
  applyHeaderMutations(h, [add('a', '9', 'OVERWRITE_IF_EXISTS_OR_ADD'), add('c', '3', 'OVERWRITE_IF_EXISTS_OR_ADD')], []);
  assert.deepEqual(h, { a: '9', c: '3' });
});

test('OVERWRITE_IF_EXISTS does nothing when absent', () => {
  const h: MutableHeaders = { a: '1' };
  applyHeaderMutations(h, [add('a', '9', 'OVERWRITE_IF_EXISTS'), add('c', '3', 'OVERWRITE_IF_EXISTS')], []);
  assert.deepEqual(h, { a: '9' });
});

test('empty values are skipped unless keep_empty_value', () => {
  const h: MutableHeaders = { a: '1' };
  applyHeaderMutations(h, [add('a', '', 'OVERWRITE_IF_EXISTS_OR_ADD'), add('b', ''), add('c', '', 'APPEND_IF_EXISTS_OR_ADD', true)], []);
  assert.deepEqual(h, { a: '1', c: '' });
});

test('removals happen before additions', () => {
  const h: MutableHeaders = { a: '1', r: 'gone' };
  applyHeaderMutations(h, [add('a', '2', 'ADD_IF_ABSENT')], ['a', 'r', 'missing']);
  assert.deepEqual(h, { a: '2' });
});

test('same header twice in one level: decided on the pre-state, overwrites before appends', () => {
  const h: MutableHeaders = {};
  // Envoy: both see "absent"; the overwrite is set first, then the add-if-absent appends.
  applyHeaderMutations(h, [add('x', 'a', 'ADD_IF_ABSENT'), add('x', 'b', 'OVERWRITE_IF_EXISTS_OR_ADD')], []);
  assert.deepEqual(h, { x: ['b', 'a'] });
  const h2: MutableHeaders = {};
  applyHeaderMutations(h2, [add('y', '1'), add('y', '2', 'OVERWRITE_IF_EXISTS')], []);
  assert.deepEqual(h2, { y: '1' }, 'OVERWRITE_IF_EXISTS saw the header absent');
});

test('works on a null-prototype object with a Symbol key, and on inherited names of plain objects', () => {
  const sym = Symbol('sensitiveHeaders');
  const h = Object.create(null) as MutableHeaders & { [k: symbol]: unknown };
  h[':path'] = '/';
  h.a = '1';
  h[sym] = ['a'];
  applyHeaderMutations(h, [add('a', '2'), add('b', '3', 'ADD_IF_ABSENT')], ['x']);
  assert.deepEqual(h.a, ['1', '2']);
  assert.equal(h.b, '3');
  assert.deepEqual(h[sym], ['a']);
  assert.equal(Object.getPrototypeOf(h), null);

  const plain: MutableHeaders = {};
  applyHeaderMutations(plain, [add('constructor', 'c', 'ADD_IF_ABSENT'), add('__proto__', 'p', 'ADD_IF_ABSENT')], ['tostring']);
  assert.equal(Object.prototype.hasOwnProperty.call(plain, 'constructor'), true);
  assert.equal(plain.constructor as unknown, 'c');
  assert.equal(Object.getOwnPropertyDescriptor(plain, '__proto__')?.value, 'p');
  assert.equal(Object.getPrototypeOf(plain), Object.prototype);
});

test('compileMutationLevels merges independent levels and keeps dependent ones apart', () => {
  const merged = compileMutationLevels([
    { adds: [add('a', '1')], removes: [] },
    { adds: [], removes: [] },
    { adds: [add('b', '2')], removes: ['c'] },
  ]);
  assert.equal(merged.length, 1);
  assert.deepEqual(merged[0].adds.map((a) => a.key), ['a', 'b']);
  assert.deepEqual(merged[0].removes, ['c']);

  // Route adds x; the virtual host removes x: Envoy removes the route's x, so levels must stay apart.
  const levels = compileMutationLevels([
    { adds: [add('x', 'route')], removes: [] },
    { adds: [], removes: ['x'] },
  ]);
  assert.equal(levels.length, 2);
  const h: MutableHeaders = {};
  applyHeaderMutationLevels(h, levels);
  assert.deepEqual(h, {});

  // Both levels overwrite x: the outer level (applied last) wins.
  const both = compileMutationLevels([
    { adds: [add('x', 'route', 'OVERWRITE_IF_EXISTS_OR_ADD')], removes: [] },
    { adds: [add('x', 'vhost', 'OVERWRITE_IF_EXISTS_OR_ADD')], removes: [] },
  ]);
  assert.equal(both.length, 2);
  const h2: MutableHeaders = {};
  applyHeaderMutationLevels(h2, both);
  assert.equal(h2.x, 'vhost');
  assert.equal(compileMutationLevels([{ adds: [], removes: [] }]).length, 0);
});
