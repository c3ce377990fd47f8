import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshDocumentCache } from './document-cache';

const A = 'kind: A\nspec: {x: 1}';
const B = 'kind: B\nspec: {y: 2}';

test('unchanged documents are parsed once and reused; edited ones are re-parsed', () => {
  const cache = new MeshDocumentCache();
  const first = cache.documents(`${A}\n---\n${B}\n`);
  cache.sweep();
  const second = cache.documents(`${A}\n---\n${B.replace('2', '3')}\n`);
  cache.sweep();
  assert.equal(first.length, 2);
  assert.equal(second[0]!.doc, first[0]!.doc, 'document A reused');
  assert.notEqual(second[1]!.doc, first[1]!.doc, 'document B re-parsed');
  assert.deepEqual(second[1]!.doc!.toJS(), { kind: 'B', spec: { y: 3 } });
});

test('positions are in file coordinates and empty documents keep their index', () => {
  const cache = new MeshDocumentCache();
  const docs = cache.documents(`# header\n${A}\n---\n---\n${B}\n`);
  assert.equal(docs.length, 3);
  assert.equal(docs[1]!.doc, null, 'the empty document between two markers');
  const pos = docs[2]!.lineCounter.linePos(0);
  assert.equal(pos.line, 6, 'B starts on line 6 of the file');
});

test('files with directives or document end markers are parsed whole', () => {
  const cache = new MeshDocumentCache();
  const docs = cache.documents(`%YAML 1.2\n---\n${A}\n...\n`);
  assert.equal(docs.length, 1);
  assert.deepEqual(docs[0]!.doc!.toJS(), { kind: 'A', spec: { x: 1 } });
});
