import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as protobuf from 'protobufjs';
import { decodeHealthCheckResponse, encodeHealthCheckRequest, ServingStatus } from './grpc-health-codec';

const root = protobuf.Root.fromJSON({
  nested: {
    Req: { fields: { service: { type: 'string', id: 1 } } },
    Res: { fields: { status: { type: 'int32', id: 1 }, extra: { type: 'string', id: 7 } } },
  },
});
const Req = root.lookupType('Req');
const Res = root.lookupType('Res');

function frame(msg: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + msg.length);
  out.writeUInt32BE(msg.length, 1);
  Buffer.from(msg).copy(out, 5);
  return out;
}

test('the request frame decodes with protobufjs, for empty, short and long service names', () => {
  for (const service of ['', 'grpc.health.v1.Health', 'x'.repeat(300), 'ünïcode']) {
    const f = encodeHealthCheckRequest(service);
    assert.equal(f[0], 0);
    assert.equal(f.readUInt32BE(1), f.length - 5);
    const decoded = Req.toObject(Req.decode(f.subarray(5)), { defaults: true }) as { service: string };
    assert.equal(decoded.service, service);
  }
});

test('the response status is decoded, unknown fields skipped, malformed frames rejected', () => {
  assert.equal(decodeHealthCheckResponse(frame(Res.encode({ status: 1 }).finish())), ServingStatus.SERVING);
  assert.equal(decodeHealthCheckResponse(frame(Res.encode({ status: 2, extra: 'hi' }).finish())), ServingStatus.NOT_SERVING);
  assert.equal(decodeHealthCheckResponse(frame(Res.encode({ extra: 'only' }).finish())), ServingStatus.UNKNOWN);
  assert.equal(decodeHealthCheckResponse(frame(new Uint8Array(0))), ServingStatus.UNKNOWN);
  assert.equal(decodeHealthCheckResponse(frame(Res.encode({ status: -1 }).finish())), -1);
  const ok = frame(Res.encode({ status: 1 }).finish());
  assert.equal(decodeHealthCheckResponse(ok.subarray(0, ok.length - 1)), -1); // truncated
  const compressed = Buffer.from(ok);
  compressed[0] = 1;
  assert.equal(decodeHealthCheckResponse(compressed), -1);
  assert.equal(decodeHealthCheckResponse(Buffer.alloc(0)), -1);
  assert.equal(decodeHealthCheckResponse(frame(Buffer.from([0x0a, 0x05, 0x01]))), -1); // length past end
});
