/** The native base64 path for bytes fields: same messages as fromJson alone, nested, fallbacks intact. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFileRegistry, fromBinary, fromJson, type JsonObject } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { compileProtoSources } from '../../config/compile/compile-proto';
import { bytesPlan, putBytes, takeBytes } from './bytes-fast-path';

const reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, compileProtoSources([{ name: 'b.proto', content: `syntax = "proto3"; package b;
  message Inner { bytes blob = 1; string s = 2; }
  message M { bytes data = 1; bytes raw_bytes = 2; Inner inner = 3; repeated bytes many = 4; oneof o { bytes choice = 5; } M self = 6; }` }])));
const M = reg.getMessage('b.M')!;

function viaFastPath(json: JsonObject) {
  const copy = JSON.parse(JSON.stringify(json)) as JsonObject;
  const taken = takeBytes(bytesPlan(M)!, copy);
  const msg = fromJson(M, copy);
  if (taken !== null) putBytes(msg as unknown as Record<string, unknown>, taken);
  return msg;
}

test('decodes standard and URL-safe base64, json and proto names, nested messages; leaves the rest to fromJson', () => {
  const bytes = Buffer.from([0xfb, 0xff, 0x00, 0x10]);
  const json: JsonObject = {
    data: bytes.toString('base64'), raw_bytes: bytes.toString('base64url'), inner: { blob: bytes.toString('base64'), s: 'x' },
    many: [bytes.toString('base64')], choice: bytes.toString('base64'), self: { data: 'AQI' },
  };
  assert.deepEqual(viaFastPath(json), fromJson(M, json));
  const plan = bytesPlan(M)!;
  assert.deepEqual(plan.bytes.map((b) => b.protoName), ['data', 'raw_bytes'], 'repeated and oneof bytes stay with fromJson');
});

test('values that are not plain base64 strings keep fromJson semantics (accept or reject the same way)', () => {
  assert.deepEqual(viaFastPath({ data: 'AQ I=' }), fromJson(M, { data: 'AQ I=' }), 'whitespace');
  assert.deepEqual(viaFastPath({ data: null }), fromJson(M, { data: null }));
  assert.throws(() => viaFastPath({ data: 'not*base64' }));
  assert.throws(() => viaFastPath({ data: 12 }));
});

test('property: any string is either decoded exactly as fromJson decodes it, or left to fromJson', async () => {
  const fc = (await import('fast-check')).default;
  const alphabet = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_= *\n.'.split(''));
  fc.assert(fc.property(fc.array(alphabet, { maxLength: 24 }), (chars) => {
    const s = chars.join('');
    let expected: unknown;
    try { expected = fromJson(M, { data: s }); } catch { expected = 'error'; }
    let actual: unknown;
    try { actual = viaFastPath({ data: s }); } catch { actual = 'error'; }
    assert.deepEqual(actual, expected, JSON.stringify(s));
  }), { numRuns: 5000 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.boolean(), (bytes, urlSafe) => {
    const s = Buffer.from(bytes).toString(urlSafe ? 'base64url' : 'base64');
    assert.deepEqual(viaFastPath({ data: s }), fromJson(M, { data: s }));
  }), { numRuns: 2000 });
});
