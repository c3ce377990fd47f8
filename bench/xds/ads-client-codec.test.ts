/**
 * The bench's lean ADS codec must read what proto-loader's response serializer writes and write
 * what its request deserializer reads back as the same ACK.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadAdsDefinition, type WireDiscoveryRequest } from '../../src/control-plane/server/ads-proto';
import { AckWriter, readResponse, writeRequest, writeRequestFrame } from './ads-client-codec';

const method = loadAdsDefinition().service['StreamAggregatedResources']!;
const serializeResponse = method.responseSerialize as (v: unknown) => Buffer;
const deserializeRequest = method.requestDeserialize as (b: Buffer) => WireDiscoveryRequest;
const text = fc.string({ unit: 'binary', maxLength: 200 });

test('readResponse gets version, type, nonce and every resource value, skipping other fields', () => {
  fc.assert(fc.property(text, text, text, fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 }), (version, typeUrl, nonce, values) => {
    const buf = serializeResponse({
      version_info: version, type_url: typeUrl, nonce, canary: true, control_plane: { identifier: 'remora' },
      resources: values.map((v) => ({ type_url: typeUrl, value: Buffer.from(v) })),
    });
    const r = readResponse(buf);
    assert.equal(r.version, version);
    assert.equal(r.typeUrl, typeUrl);
    assert.equal(r.nonce, nonce);
    assert.deepStrictEqual(r.resources.map((v) => Buffer.from(v)), values.map((v) => Buffer.from(v)));
  }), { numRuns: 300 });
});

test('writeRequest is the ACK proto-loader decodes', () => {
  fc.assert(fc.property(text, fc.array(text, { maxLength: 5 }), text, text, (version, names, typeUrl, nonce) => {
    const r = deserializeRequest(Buffer.from(writeRequest(version, names, typeUrl, nonce)));
    assert.deepStrictEqual(
      { version: r.version_info, names: r.resource_names, typeUrl: r.type_url, nonce: r.response_nonce, node: r.node ?? null, error: r.error_detail ?? null },
      { version, names, typeUrl, nonce, node: null, error: null },
    );
  }), { numRuns: 300 });
});

test('writeRequestFrame is writeRequest in an uncompressed gRPC frame', () => {
  fc.assert(fc.property(text, fc.array(text, { maxLength: 5 }), text, text, (version, names, typeUrl, nonce) => {
    const body = Buffer.from(writeRequest(version, names, typeUrl, nonce));
    const frame = writeRequestFrame(version, names, typeUrl, nonce);
    assert.equal(frame[0], 0);
    assert.equal(frame.readUInt32BE(1), body.length);
    assert.ok(frame.subarray(5).equals(body));
  }), { numRuns: 200 });
});

test('AckWriter frames equal writeRequestFrame, across name changes', () => {
  fc.assert(fc.property(text, fc.array(fc.tuple(fc.array(text, { maxLength: 4 }), text, text), { minLength: 1, maxLength: 4 }), (typeUrl, acks) => {
    const w = new AckWriter(typeUrl);
    for (const [names, version, nonce] of acks) {
      w.setNames(names);
      assert.ok(w.frame(version, nonce).equals(writeRequestFrame(version, names, typeUrl, nonce)));
    }
  }), { numRuns: 200 });
});

test('a truncated response throws instead of reading past the end', () => {
  const buf = serializeResponse({ version_info: 'v1', type_url: 't', nonce: '1', resources: [{ type_url: 't', value: Buffer.alloc(40, 1) }] });
  assert.throws(() => readResponse(buf.subarray(0, buf.length - 10)));
});
