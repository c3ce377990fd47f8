/**
 * The compiled response printer: for flat types, whenever it answers, its text equals the
 * reflective `toJsonString(fromBinary(bytes))` under every print option; it declines non-flat types
 * and bytes it does not read the same way (including every message `fromBinary` rejects).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { create, createFileRegistry, fromBinary, toBinary, toJsonString, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { compileProtoSources } from '../../config/compile/compile-proto';
import { FastResponsePrinter, type PrintOptions } from './fast-response-printer';

const reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, compileProtoSources([{ name: 'p.proto', content: `syntax = "proto3"; package p;
  enum Color { COLOR_UNSPECIFIED = 0; RED = 1; NEG = -3; }
  enum Aliased { option allow_alias = true; A_UNSPECIFIED = 0; A = 1; B = 1; }
  message Flat {
    double d = 1; float f = 2; int64 i64 = 3; uint64 u64 = 4; int32 i32 = 5; fixed64 fx64 = 6; fixed32 fx32 = 7; bool b = 8;
    string s = 9; bytes by = 12; uint32 u32 = 13; Color color = 14; sfixed32 sfx32 = 15; sfixed64 sfx64 = 16; sint32 si32 = 17;
    sint64 si64 = 18; optional int32 opt_i32 = 30; optional string opt_s = 31; optional Color opt_color = 32; uint32 payload_size = 40;
  }
  message Nested { Flat f = 1; }
  message WithList { repeated int32 xs = 1; }
  message WithOneof { oneof o { int32 a = 1; } }
  message WithAlias { Aliased a = 1; }` }])));
const Flat = reg.getMessage('p.Flat')!;

const OPTIONS: PrintOptions[] = [];
for (const alwaysEmitImplicit of [false, true]) for (const enumAsInteger of [false, true]) for (const useProtoFieldName of [false, true]) OPTIONS.push({ alwaysEmitImplicit, enumAsInteger, useProtoFieldName });

function reflective(schema: DescMessage, bytes: Uint8Array, o: PrintOptions): string | Error {
  try {
    return toJsonString(schema, fromBinary(schema, bytes), o);
  } catch (e) {
    return e as Error;
  }
}

function check(bytes: Uint8Array, o: PrintOptions): string | null {
  const printer = FastResponsePrinter.compile(Flat, o)!;
  const fast = printer.print(bytes);
  if (fast !== null) {
    const ref = reflective(Flat, bytes, o);
    assert.ok(!(ref instanceof Error), `printed bytes the reflective path rejects: ${Buffer.from(bytes).toString('hex')}`);
    assert.equal(fast, ref, `${Buffer.from(bytes).toString('hex')} ${JSON.stringify(o)}`);
  }
  return fast;
}

test('flat messages print exactly as the reflective printer, under every option', () => {
  const msgs = [
    {},
    { payloadSize: 10240 },
    { d: 1.5, f: 0.1, i64: 123n, u64: 2n ** 52n, i32: -1, fx64: 7n, fx32: 4294967295, b: true, s: 'héllo "q" \n 😀', by: new Uint8Array([0xfb, 0xff]) },
    { u32: 4294967295, color: 1, sfx32: -5, sfx64: 9n, si32: -2147483648, si64: -(2n ** 51n), optI32: 0, optS: '', optColor: 0 },
    { d: Number.NaN, f: Number.POSITIVE_INFINITY, color: 7 },
    { d: Number.NEGATIVE_INFINITY, color: -3, s: '\u2028' },
  ];
  for (const o of OPTIONS) {
    for (const m of msgs) assert.notEqual(check(toBinary(Flat, create(Flat, m as never)), o), null, JSON.stringify(m, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  }
  // Zero values written explicitly on the wire still count as unset for implicit fields.
  assert.equal(FastResponsePrinter.compile(Flat, OPTIONS[0]!)!.print(new Uint8Array([0x28, 0x00, 0x4a, 0x00])), '{}');
});

test('declines non-flat types, unknown fields, 64-bit values beyond 2^53 and malformed bytes', () => {
  for (const name of ['p.Nested', 'p.WithList', 'p.WithOneof', 'p.WithAlias']) assert.equal(FastResponsePrinter.compile(reg.getMessage(name)!, OPTIONS[0]!), null, name);
  const o = OPTIONS[0]!;
  const cases = [
    [0xf8, 0x07, 0x01], // unknown field 127
    [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // int64 -1
    [0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10], // uint64 2^53
    [0x28], // truncated
    [0x4a, 0x05, 0x61], // string past the end
    [0x2d, 0x01, 0x02, 0x03, 0x04], // wire type mismatch (fixed32 for int32)
    [0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // over-long varint
  ];
  for (const c of cases) assert.equal(check(new Uint8Array(c), o), null, Buffer.from(c).toString('hex'));
});

test('property: random flat messages and random bytes print identically or go reflective', () => {
  // Mostly values the printer reads (below 2^53, non-negative for the signed fixed/varint kinds), some beyond.
  const i64 = fc.oneof({ arbitrary: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }), weight: 6 }, { arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), weight: 1 });
  const u64 = fc.oneof({ arbitrary: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }), weight: 6 }, { arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), weight: 1 });
  const msg = fc.record({
    d: fc.double(), f: fc.float().map((x) => Math.fround(x)), i64, u64, i32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fx64: u64,
    fx32: fc.nat(), b: fc.boolean(), s: fc.string({ unit: 'binary' }), by: fc.uint8Array(), u32: fc.nat(), color: fc.constantFrom(0, 1, -3, 5),
    sfx32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), sfx64: i64, si32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), si64: i64,
    optI32: fc.integer({ min: -5, max: 5 }), optS: fc.string(), optColor: fc.constantFrom(0, 1),
  }, { requiredKeys: [] });
  const si64 = fc.oneof({ arbitrary: fc.bigInt({ min: -(2n ** 52n), max: 2n ** 52n - 1n }), weight: 6 }, { arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), weight: 1 });
  let answered = 0;
  fc.assert(fc.property(msg, fc.option(si64, { nil: undefined }), fc.constantFrom(...OPTIONS), (m, z, o) => {
    if (check(toBinary(Flat, create(Flat, (z === undefined ? m : { ...m, si64: z }) as never)), o) !== null) answered++;
  }), { numRuns: 400 });
  assert.ok(answered > 100, `answered only ${answered}`);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(...OPTIONS), (b, o) => { check(b, o); }), { numRuns: 400 });
});
