/** Unit tests for the gRPC-framed request bodies: they must decode as remora.bench.v1.EchoRequest. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as protobuf from 'protobufjs';
import { benchProtoPath, echoReplyFrameBytes, grpcFramedEchoRequest } from './proto';

const EchoRequest = protobuf.loadSync(benchProtoPath()).lookupType('remora.bench.v1.EchoRequest');

for (const size of [0, 1, 127, 128, 1024, 70000]) {
  test(`grpcFramedEchoRequest(${size}) is one uncompressed frame holding a ${size}-byte payload`, () => {
    const frame = grpcFramedEchoRequest(size);
    assert.equal(frame[0], 0);
    assert.equal(frame.readUInt32BE(1), frame.length - 5);
    const msg = EchoRequest.decode(frame.subarray(5)) as unknown as { payload: Uint8Array };
    assert.equal(msg.payload.length, size);
  });
}

test('the empty message is exactly 5 bytes', () => {
  assert.deepEqual([...grpcFramedEchoRequest(0)], [0, 0, 0, 0, 0]);
});

test('echoReplyFrameBytes: 5-byte header plus a serialized EchoReply', () => {
  assert.ok(echoReplyFrameBytes(0) >= 5 && echoReplyFrameBytes(0) <= 7);
  assert.equal(echoReplyFrameBytes(1024), 5 + 3); // tag 0x08 + varint(1024) = 0x80 0x08
});
