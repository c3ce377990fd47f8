/** gRPC framing: reassembly across arbitrary chunk boundaries, the size limit, encoding round trip. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeGrpcFrame, FLAG_TRAILERS, FrameTooLargeError, GrpcFrameDecoder } from './frame-decoder';

test('frames split at every byte boundary reassemble; the limit is checked on the header', () => {
  const a = encodeGrpcFrame(Buffer.from('hello'));
  const b = encodeGrpcFrame(Buffer.alloc(0), FLAG_TRAILERS);
  const all = Buffer.concat([a, b]);
  for (let cut = 0; cut <= all.length; cut++) {
    const d = new GrpcFrameDecoder(1024);
    const frames = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
    assert.deepEqual(frames.map((f) => [f.flags, f.message.toString()]), [[0, 'hello'], [FLAG_TRAILERS, '']]);
    assert.equal(d.pending, false);
  }
  const d = new GrpcFrameDecoder(4);
  assert.throws(() => d.push(encodeGrpcFrame(Buffer.from('hello')).subarray(0, 5)), FrameTooLargeError);
  const t = new GrpcFrameDecoder(10);
  t.push(encodeGrpcFrame(Buffer.from('abc')).subarray(0, 6));
  assert.equal(t.pending, true, 'a truncated frame stays pending');
});

test('property: any message sequence in any chunking decodes to the same messages', () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), fc.array(fc.nat(50), { maxLength: 10 }), (msgs, cuts) => {
    const wire = Buffer.concat(msgs.map((m) => encodeGrpcFrame(m)));
    const d = new GrpcFrameDecoder(1000);
    const got: Buffer[] = [];
    let off = 0;
    for (const c of cuts) {
      const end = Math.min(wire.length, off + c);
      for (const f of d.push(wire.subarray(off, end))) got.push(Buffer.from(f.message));
      off = end;
    }
    for (const f of d.push(wire.subarray(off))) got.push(Buffer.from(f.message));
    return got.length === msgs.length && got.every((g, i) => g.equals(Buffer.from(msgs[i]!))) && !d.pending;
  }), { numRuns: 500 });
});
