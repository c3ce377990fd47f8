/**
 * W3C traceparent and B3 (single and multi) parsing, including malformed input, and the outgoing
 * header writer.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { extractContext, Format, parseB3Multi, parseB3Single, parseTraceparent, presentFormats, writeContext, type HeaderMap } from './trace-context';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

describe('parseTraceparent', () => {
  it('reads version 00 with sampled and unsampled flags', () => {
    const c = parseTraceparent(`00-${T}-${S}-01`)!;
    assert.deepEqual([c.traceId, c.spanId, c.sampled, c.debug, c.format], [T, S, 1, false, Format.W3C]);
    assert.equal(parseTraceparent(`00-${T}-${S}-00`)!.sampled, 0);
    assert.equal(parseTraceparent(`00-${T}-${S}-03`)!.sampled, 1);
    assert.equal(parseTraceparent(` 00-${T}-${S}-01 `)!.traceId, T);
  });

  it('reads a future version with extra fields, as the spec asks', () => {
    assert.equal(parseTraceparent(`cc-${T}-${S}-01-what-the-future-holds`)!.spanId, S);
    assert.equal(parseTraceparent(`cc-${T}-${S}-01`)!.sampled, 1);
  });

  it('rejects malformed values', () => {
    const bad = [
      '', 'garbage', `00-${T}-${S}`, `00-${T}-${S}-1`, `00-${T}-${S}-01-extra`, `ff-${T}-${S}-01`,
      `00-${T.toUpperCase()}-${S}-01`, `00-${'0'.repeat(32)}-${S}-01`, `00-${T}-${'0'.repeat(16)}-01`,
      `00-${T.slice(1)}x-${S}-01`, `00_${T}-${S}-01`, `0g-${T}-${S}-01`, `00-${T}-${S}-zz`, `cc-${T}-${S}-01x`,
      `00-${T}-${S.slice(0, 15)}-01`,
    ];
    for (const v of bad) assert.equal(parseTraceparent(v), null, v);
  });
});

describe('parseB3Single', () => {
  it('reads trace-span, with sampling and parent, 64-bit ids padded and debug', () => {
    const c = parseB3Single(`${T}-${S}`)!;
    assert.deepEqual([c.traceId, c.spanId, c.sampled], [T, S, -1]);
    assert.equal(parseB3Single(`${T}-${S}-1`)!.sampled, 1);
    assert.equal(parseB3Single(`${T}-${S}-0-${S}`)!.sampled, 0);
    const d = parseB3Single(`a3ce929d0e0e4736-${S.toUpperCase()}-d`)!;
    assert.deepEqual([d.traceId, d.spanId, d.sampled, d.debug], [`0000000000000000a3ce929d0e0e4736`, S, 1, true]);
  });

  it('reads a lone sampling decision', () => {
    assert.deepEqual([parseB3Single('0')!.traceId, parseB3Single('0')!.sampled], [null, 0]);
    assert.equal(parseB3Single('1')!.sampled, 1);
    assert.equal(parseB3Single('d')!.debug, true);
  });

  it('rejects malformed values', () => {
    const bad = ['', 'x', '2', `${T}`, `${T}-`, `${T}-${S}-`, `${T}-${S}-2`, `${T}-${S}-11`, `${T}-${S}-1-`, `${T}-${S}-1-xyz`,
      `${T.slice(2)}-${S}`, `${T}-${S}0`, `${'0'.repeat(32)}-${S}-1`, `${T}-${'0'.repeat(16)}`, `${T}-${S}-1-${S}-extra`, '-'];
    for (const v of bad) assert.equal(parseB3Single(v), null, v);
  });
});

describe('parseB3Multi', () => {
  it('reads ids with sampled and flags', () => {
    const c = parseB3Multi({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': '1' })!;
    assert.deepEqual([c.traceId, c.spanId, c.sampled, c.format], [T, S, 1, Format.B3Multi]);
    assert.equal(parseB3Multi({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': 'false' })!.sampled, 0);
    assert.equal(parseB3Multi({ 'x-b3-traceid': T, 'x-b3-spanid': S })!.sampled, -1);
    assert.equal(parseB3Multi({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-flags': '1' })!.debug, true);
    assert.equal(parseB3Multi({ 'x-b3-sampled': '0' })!.traceId, null);
  });

  it('rejects malformed or partial headers', () => {
    const bad: HeaderMap[] = [
      {}, { 'x-b3-traceid': T }, { 'x-b3-spanid': S }, { 'x-b3-traceid': 'nothex', 'x-b3-spanid': S },
      { 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': 'maybe' }, { 'x-b3-traceid': [T, T], 'x-b3-spanid': S },
      { 'x-b3-traceid': T, 'x-b3-spanid': '123' },
    ];
    for (const h of bad) assert.equal(parseB3Multi(h), null, JSON.stringify(h));
  });
});

describe('extractContext', () => {
  it('prefers a valid traceparent, then b3, then x-b3-*; malformed formats fall through', () => {
    const h: HeaderMap = { traceparent: 'bad', b3: `${T}-${S}-1`, 'x-b3-traceid': 'bad' };
    assert.equal(presentFormats(h), Format.W3C | Format.B3Single | Format.B3Multi);
    assert.equal(extractContext(h, presentFormats(h))!.format, Format.B3Single);
    assert.equal(extractContext({ traceparent: [`00-${T}-${S}-01`, `00-${T}-${S}-01`] }, Format.W3C), null);
    assert.equal(extractContext({ traceparent: 'x', b3: 'y' }, Format.W3C | Format.B3Single), null);
    assert.equal(presentFormats({ 'x-request-id': 'r' }), 0);
  });
});

describe('writeContext', () => {
  it('writes W3C when the request had no context, keeping tracestate only from a valid traceparent', () => {
    const h: HeaderMap = { tracestate: 'a=b' };
    writeContext(h, 0, T, S, null, true, false, false);
    assert.equal(h['traceparent'], `00-${T}-${S}-01`);
    assert.equal(h['tracestate'], undefined);
    const k: HeaderMap = { tracestate: 'a=b' };
    writeContext(k, Format.W3C, T, S, 'aaaaaaaaaaaaaaaa', false, false, true);
    assert.equal(k['traceparent'], `00-${T}-${S}-00`);
    assert.equal(k['tracestate'], 'a=b');
  });

  it('writes B3 single and multi with the parent, debug and sampling', () => {
    const h: HeaderMap = { b3: 'x', 'x-b3-traceid': 'x', 'x-b3-flags': '1', 'x-b3-parentspanid': 'old' };
    writeContext(h, Format.B3Single | Format.B3Multi, T, S, 'aaaaaaaaaaaaaaaa', false, false, false);
    assert.equal(h['b3'], `${T}-${S}-0-aaaaaaaaaaaaaaaa`);
    assert.deepEqual([h['x-b3-traceid'], h['x-b3-spanid'], h['x-b3-parentspanid'], h['x-b3-sampled'], h['x-b3-flags']], [T, S, 'aaaaaaaaaaaaaaaa', '0', undefined]);
    assert.equal(h['traceparent'], undefined);
    const d: HeaderMap = {};
    writeContext(d, Format.B3Single | Format.B3Multi, T, S, null, true, true, false);
    assert.equal(d['b3'], `${T}-${S}-d`);
    assert.deepEqual([d['x-b3-flags'], d['x-b3-sampled'], d['x-b3-parentspanid']], ['1', undefined, undefined]);
  });
});
