/**
 * The compiled request encoder: whenever it answers, its frame is byte-identical to the reflective
 * path (`fromJson` → `toBinary` → gRPC frame); it answers for the common shapes and gives up
 * (null) on everything the reflective path has to judge, including every tree `fromJson` rejects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFileRegistry, fromBinary, fromJson, toBinary, type DescMessage, type JsonObject } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { compileProtoSources } from '../../config/compile/compile-proto';
import { encodeGrpcFrame } from '../grpc/frame-decoder';
import { FastRequestEncoder } from './fast-request-encoder';

const reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, compileProtoSources([{ name: 'f.proto', content: `syntax = "proto3"; package f;
  import "google/protobuf/timestamp.proto";
  enum Color { COLOR_UNSPECIFIED = 0; RED = 1; GREEN = 2; NEG = -3; }
  message Inner { string name = 1; int32 count = 2; Color color = 3; Inner next = 4; repeated sint64 zs = 5; }
  message M {
    double d = 1; float f = 2; int64 i64 = 3; uint64 u64 = 4; int32 i32 = 5; fixed64 fx64 = 6; fixed32 fx32 = 7;
    bool b = 8; string s = 9; Inner inner = 10; bytes by = 12; uint32 u32 = 13; Color color = 14;
    sfixed32 sfx32 = 15; sfixed64 sfx64 = 16; sint32 si32 = 17; sint64 si64 = 18;
    repeated int32 packed_i32 = 20; repeated double packed_d = 21; repeated string names = 22; repeated bytes blobs = 23;
    repeated Inner inners = 24; repeated Color colors = 25; repeated int64 unpacked = 26 [packed = false];
    optional int32 opt_i32 = 30; optional string opt_s = 31; optional Color opt_color = 32;
    map<string, int32> counts = 40; oneof pick { string a = 41; int32 n = 42; }
    google.protobuf.Timestamp ts = 43;
    int32 field_with_long_number = 100000;
  }
  message Recursive { Recursive r = 1; int32 v = 2; }` }])));
const M = reg.getMessage('f.M')!;

function reflective(schema: DescMessage, json: JsonObject): Buffer | Error {
  try {
    return encodeGrpcFrame(toBinary(schema, fromJson(schema, structuredClone(json))));
  } catch (e) {
    return e as Error;
  }
}

function check(schema: DescMessage, json: JsonObject): Buffer | null {
  const enc = FastRequestEncoder.compile(schema)!;
  const before = JSON.stringify(json);
  const fast = enc.encodeFrame(json);
  assert.equal(JSON.stringify(json), before, 'the tree is not modified');
  const ref = reflective(schema, json);
  if (fast !== null) {
    assert.ok(!(ref instanceof Error), `fast path answered for a tree fromJson rejects: ${ref instanceof Error ? ref.message : ''} ${before}`);
    assert.equal(fast.toString('hex'), ref.toString('hex'), before);
  }
  return fast;
}

test('every scalar kind, enums, nested and repeated messages, packed and unpacked lists: byte-identical and fast', () => {
  const cases: JsonObject[] = [
    {},
    { d: 1.5, f: -2.25, i64: 9007199254740991, u64: 4294967296, i32: -1, fx64: 1234567890123, fx32: 4294967295, b: true, s: 'héllo ✓ 😀' },
    { sfx32: -5, sfx64: -9007199254740991, si32: -2147483648, si64: -4503599627370496, u32: 4294967295, color: 'GREEN', by: Buffer.from([0xfb, 0xff, 0]).toString('base64') },
    { i64: -1, u64: 0, i32: 0, s: '', b: false, by: '', color: 'COLOR_UNSPECIFIED', d: -0 },
    { inner: {}, inners: [{}, { name: 'x', next: { count: 3, zs: [-1, 0, 1, 4503599627370496] } }] },
    { packedI32: [1, -1, 300, 0], packed_d: [0.1, -0], names: ['a', '', 'ü'], blobs: ['AAEC', '', '-_8'], colors: ['RED', 2, -3], unpacked: [5, -5] },
    { optI32: 0, opt_s: '', optColor: 'COLOR_UNSPECIFIED' },
    { fieldWithLongNumber: 7, by: Buffer.alloc(10240, 7).toString('base64') },
    { color: 1, inner: { color: -3 } },
  ];
  for (const c of cases) assert.notEqual(check(M, c), null, `fast path expected for ${JSON.stringify(c)}`);
});

test('gives up on what the reflective path must judge (and never answers for a rejected tree)', () => {
  const cases: JsonObject[] = [
    { nope: 1 }, { s: null }, { i32: '5' }, { i32: 1.5 }, { i32: 2147483648 }, { u32: -1 }, { u64: -1 }, { i64: 2 ** 60 }, { si64: 2 ** 52 + 2 },
    { d: 'NaN' }, { f: 1e39 }, { b: 'true' }, { s: 5 }, { s: '\ud800' }, { by: 'a b' }, { by: 'A' }, { by: '====' }, { by: 'A*==' },
    { color: 'BLUE' }, { color: 7 }, { color: null }, { inner: [] }, { inner: 'x' }, { inners: [null] }, { names: 'a' },
    { counts: { a: 1 } }, { a: 'x' }, { n: 1 }, { ts: '2020-01-01T00:00:00Z' }, { i32: 1, i_32: 2 }, { optI32: 1, opt_i32: 2 },
    { inner: { nope: true } }, { ['__proto__']: {} } as JsonObject, { constructor: 1 },
  ];
  for (const c of cases) assert.equal(check(M, c), null, `no fast path for ${JSON.stringify(c)}`);
});

test('recursive types are planned once; deep trees beyond the bound go reflective', () => {
  const R = reg.getMessage('f.Recursive')!;
  let deep: JsonObject = { v: 1 };
  for (let i = 0; i < 10; i++) deep = { r: deep, v: i };
  assert.notEqual(check(R, deep), null);
  for (let i = 0; i < 40; i++) deep = { r: deep };
  assert.equal(check(R, deep), null);
});

test('property: random trees are either encoded identically or left to the reflective path', () => {
  const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
  const sint64 = fc.integer({ min: -(2 ** 52), max: 2 ** 52 });
  const junk = fc.oneof(fc.integer(), fc.double(), fc.string(), fc.boolean(), fc.constant(null), fc.maxSafeInteger(), fc.constant('NaN'), fc.constant([]), fc.constant({}));
  const double = fc.double({ noNaN: true, noDefaultInfinity: true });
  const base64 = fc.oneof(fc.uint8Array().map((u) => Buffer.from(u).toString('base64')), fc.uint8Array().map((u) => Buffer.from(u).toString('base64url')));
  const color = fc.constantFrom('RED', 'GREEN', 'NEG', 'COLOR_UNSPECIFIED', 0, 1, 2, -3);
  const str = fc.oneof({ arbitrary: fc.string({ unit: 'grapheme' }), weight: 4 }, { arbitrary: fc.string({ unit: 'binary' }), weight: 1 });
  const fields = (noisy: boolean) => {
    const n = <T,>(a: fc.Arbitrary<T>): fc.Arbitrary<unknown> => (noisy ? fc.oneof(a, junk) : a);
    const leaf = fc.record({ name: n(str), count: n(int32), color: n(color), zs: n(fc.array(sint64)) }, { requiredKeys: [] });
    const inner = fc.record({ name: n(str), count: n(int32), color: n(color), zs: n(fc.array(sint64)), next: n(leaf) }, { requiredKeys: [] });
    return fc.record({
      d: n(double), f: n(fc.float({ noNaN: true, noDefaultInfinity: true })), i64: n(fc.maxSafeInteger()), u64: n(fc.maxSafeNat()), i32: n(int32),
      fx64: n(fc.maxSafeNat()), fx32: n(fc.nat()), b: n(fc.boolean()), s: n(str), inner: n(inner), by: n(base64), u32: n(fc.nat()), color: n(color),
      sfx32: n(int32), sfx64: n(fc.maxSafeInteger()), si32: n(int32), si64: n(sint64), packedI32: n(fc.array(int32)), packed_d: n(fc.array(double)),
      names: n(fc.array(str)), blobs: n(fc.array(base64)), inners: n(fc.array(inner, { maxLength: 3 })), colors: n(fc.array(color)),
      unpacked: n(fc.array(fc.maxSafeInteger())), optI32: n(int32), opt_s: n(str), optColor: n(color),
      ...(noisy ? { a: str, counts: fc.dictionary(fc.string(), int32), extra: junk } : {}),
    }, { requiredKeys: [] });
  };
  let answered = 0;
  fc.assert(fc.property(fc.oneof(fields(false), fields(true)), (t) => {
    if (check(M, t as JsonObject) !== null) answered++;
  }), { numRuns: 500 });
  assert.ok(answered > 150, `the fast path answered only ${answered} of 500 random trees`);
});

test('frames cut from the shared slab stay intact while later frames are encoded (and large ones get their own memory)', () => {
  const enc = FastRequestEncoder.compile(M)!;
  const trees: JsonObject[] = [];
  for (let i = 0; i < 400; i++) trees.push({ s: `m${i}`, i32: i, by: Buffer.alloc(i * 40, i).toString('base64') });
  trees.push({ by: Buffer.alloc(100_000, 1).toString('base64') });
  const frames = trees.map((t) => enc.encodeFrame(t)!);
  for (let i = 0; i < trees.length; i++) assert.equal(frames[i]!.toString('hex'), (reflective(M, trees[i]!) as Buffer).toString('hex'), `frame ${i}`);
});
