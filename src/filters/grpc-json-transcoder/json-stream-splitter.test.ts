import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidArgumentError, PayloadTooLargeError } from '../../core/errors';
import { JsonStreamSplitter } from './json-stream-splitter';
import {
  framingClose, framingContentType, framingForAccept, framingMessage, framingOpen, StreamFraming,
} from './stream-framing';

/** Feeds `body` cut at `cuts` and returns the parsed elements. */
function split(body: Buffer, cuts: readonly number[], max = 1 << 20): unknown[] {
  const s = new JsonStreamSplitter(max);
  const out: unknown[] = [];
  let prev = 0;
  const points = [...new Set(cuts.map((c) => Math.min(c, body.length)))].sort((a, b) => a - b);
  for (const p of [...points, body.length]) {
    for (const e of s.push(body.subarray(prev, p))) out.push(JSON.parse(e));
    prev = p;
  }
  for (const e of s.end()) out.push(JSON.parse(e));
  return out;
}

const ws = fc.constantFrom('', ' ', '\n', '\r\n', '\t', '  \n ');
const jsonValue = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);
// Messages of a stream are usually objects; NDJSON also carries strings and scalars.
const element = fc.oneof(fc.dictionary(fc.string(), jsonValue), fc.string({ unit: 'binary' }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(jsonValue));

describe('JsonStreamSplitter', () => {
  it('splits a JSON array into its elements, whatever the chunking (property)', () => {
    fc.assert(fc.property(fc.array(element, { maxLength: 8 }), ws, fc.array(fc.nat(400), { maxLength: 12 }), (elements, space, cuts) => {
      const body = Buffer.from(space + '[' + space + elements.map((e) => JSON.stringify(e)).join(space + ',' + space) + space + ']' + space);
      assert.deepEqual(split(body, cuts), elements);
    }), { numRuns: 300 });
  });

  it('splits NDJSON (and whitespace-separated values) the same way (property)', () => {
    const nonArray = element.filter((e) => !Array.isArray(e));
    fc.assert(fc.property(fc.array(nonArray, { maxLength: 8 }), fc.array(fc.nat(400), { maxLength: 12 }), (elements, cuts) => {
      const body = Buffer.from(elements.map((e) => JSON.stringify(e) + '\n').join(''));
      assert.deepEqual(split(body, cuts), elements);
    }), { numRuns: 300 });
  });

  it('keeps multi-byte UTF-8 intact across chunk boundaries', () => {
    const body = Buffer.from('[{"t":"żółw 🐢 \\"q\\" ]},"}, "x"]');
    for (let cut = 0; cut <= body.length; cut++) {
      assert.deepEqual(split(body, [cut]), [{ t: 'żółw 🐢 "q" ]},' }, 'x']);
    }
  });

  it('accepts an empty body and an empty array', () => {
    assert.deepEqual(split(Buffer.from(''), []), []);
    assert.deepEqual(split(Buffer.from(' [ ] '), []), []);
  });

  it('rejects malformed streams with InvalidArgumentError', () => {
    for (const bad of ['[{"a":1},]', '[{"a":1}', '[{"a":1}] {"b":2}', '{"a":1', '[{"a":1} {"b":2}]', '{"a":1},{"b":2}', ']', '[x]']) {
      assert.throws(() => split(Buffer.from(bad), []), InvalidArgumentError, bad);
    }
  });

  it('bounds the buffered element: a larger one is PayloadTooLargeError', () => {
    const s = new JsonStreamSplitter(16);
    assert.deepEqual([...s.push(Buffer.from('[{"a":"0123456"},'))], ['{"a":"0123456"}']);
    assert.throws(() => s.push(Buffer.from('{"a":"0123456789abcdef"}')), PayloadTooLargeError);
    const t = new JsonStreamSplitter(16);
    t.push(Buffer.from('[{"a":"012345'));
    assert.throws(() => t.push(Buffer.from('6789abcdef')), PayloadTooLargeError);
  });
});

describe('stream framing', () => {
  const msgs = ['{"a":1}', '{\n  "b": "x\\ny"\n}'];
  function render(f: StreamFraming, error: string | null): string {
    let out = framingOpen(f);
    msgs.forEach((m, i) => { out += framingMessage(f, m, i === 0); });
    return out + framingClose(f, error);
  }

  it('JSON array: one document, error only in trailers', () => {
    assert.deepEqual(JSON.parse(render(StreamFraming.JsonArray, null)), [{ a: 1 }, { b: 'x\ny' }]);
    assert.equal(render(StreamFraming.JsonArray, '{"code":13}'), render(StreamFraming.JsonArray, null));
    assert.equal(framingOpen(StreamFraming.JsonArray) + framingClose(StreamFraming.JsonArray, null), '[]');
  });

  it('NDJSON: one message per line (whitespace folded), final error line', () => {
    const lines = render(StreamFraming.Ndjson, '{\n "code": 13\n}').split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(lines.map((l) => JSON.parse(l)), [{ a: 1 }, { b: 'x\ny' }, { error: { code: 13 } }]);
  });

  it('SSE: data events (every line prefixed), error event at the end', () => {
    const text = render(StreamFraming.Sse, '{"code":5}');
    const events = text.split('\n\n').filter((e) => e.length > 0).map((e) => {
      const lines = e.split('\n');
      const type = lines[0]!.startsWith('event: ') ? lines.shift()!.slice(7) : 'message';
      assert.ok(lines.every((l) => l.startsWith('data: ')), e);
      return { type, data: JSON.parse(lines.map((l) => l.slice(6)).join('\n')) as unknown };
    });
    assert.deepEqual(events, [
      { type: 'message', data: { a: 1 } }, { type: 'message', data: { b: 'x\ny' } }, { type: 'error', data: { code: 5 } },
    ]);
  });

  it('Accept chooses the framing, else the configured default', () => {
    assert.equal(framingForAccept(undefined, StreamFraming.Ndjson), StreamFraming.Ndjson);
    assert.equal(framingForAccept('application/json', StreamFraming.JsonArray), StreamFraming.JsonArray);
    assert.equal(framingForAccept('application/x-ndjson', StreamFraming.JsonArray), StreamFraming.Ndjson);
    assert.equal(framingForAccept(['text/event-stream'], StreamFraming.JsonArray), StreamFraming.Sse);
    assert.equal(framingContentType(StreamFraming.Sse), 'text/event-stream');
  });
});
