import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as protobuf from 'protobufjs';
import { encodeVarint32, varint32Size, writeVarint32 } from './varint';

test('varint32 helpers write what protobufjs writes, at the size they announce', () => {
  fc.assert(fc.property(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.nat({ max: 0xffffffff })), (v) => {
    const want = Buffer.from(protobuf.Writer.create().uint32(v).finish());
    assert.ok(encodeVarint32(v).equals(want));
    assert.equal(varint32Size(v), want.length);
    const buf = Buffer.alloc(want.length + 2);
    assert.equal(writeVarint32(buf, 1, v), 1 + want.length);
    assert.ok(buf.subarray(1, 1 + want.length).equals(want));
  }), { numRuns: 500 });
  for (const v of [0, 0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff, 0x200000, 0xfffffff, 0x10000000, 0xffffffff]) {
    assert.equal(varint32Size(v), protobuf.Writer.create().uint32(v).finish().length, String(v));
  }
});
