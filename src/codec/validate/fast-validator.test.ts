/**
 * Differential tests of the compiled fast path (fast-validator.ts, cel-subset.ts; string patterns through config/re2-regex.ts)
 * against the reference (`fromBinary` + @bufbuild/protovalidate): on fixtures and on fast-check
 * generated messages the fast verdict must equal the reference's (valid iff protovalidate says
 * valid), on corrupted bytes "fast says valid" must imply the reference does too, and
 * `MethodValidator.check` must return the same rejection with and without the fast path. Also: what
 * the compiler refuses (returns null) and that the table falls back for such types.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { create, fromBinary, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { createValidator } from '@bufbuild/protovalidate';
import { compileProtoSources } from '../../config/compile/compile-proto';
import { compileFastValidator } from './fast-validator';
import { compileValidatorTable, createValidationRegistry, MethodValidator } from './message-validator';
import { SAMPLE_SERVICE, sampleDescriptorSet, sampleRegistry, sampleSchemas, validRequestInit } from './validation-fixtures';

const WIDE_PROTO = String.raw`
syntax = "proto3";
package remora.test.fast.v1;
import "buf/validate/validate.proto";

enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; COLOR_GREEN = 2; COLOR_BLUE = 3; }

message Node {
  string label = 1 [(buf.validate.field).string.max_len = 4];
  repeated Node children = 2 [(buf.validate.field).repeated.max_items = 2];
  Color color = 3 [(buf.validate.field).enum = {not_in: [3]}];
}

message Wide {
  option (buf.validate.message).oneof = {fields: ["alpha", "beta"]};
  option (buf.validate.message).cel = {id: "wide.sum", message: "sum too big", expression: "this.i32 + this.s32 < 50"};
  option (buf.validate.message).cel = {id: "wide.name", expression: "this.s == '' || this.s.startsWith('a') ? '' : 'must start with a'"};
  int32 i32 = 1 [(buf.validate.field).int32 = {gt: -5, lt: 5}];
  int64 i64 = 2 [(buf.validate.field).int64 = {lt: -10, gt: 10}, (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
  uint32 u32 = 3 [(buf.validate.field).uint32 = {in: [0, 1, 2, 3, 7]}];
  uint64 u64 = 4 [(buf.validate.field).uint64 = {not_in: [5, 6]}];
  sint32 s32 = 5 [(buf.validate.field).sint32 = {gte: -100, lte: 100}];
  sint64 s64 = 6 [(buf.validate.field).sint64 = {gte: -3}];
  fixed32 f32 = 7 [(buf.validate.field).fixed32.lte = 1000];
  fixed64 f64 = 8 [(buf.validate.field).fixed64.gt = 0, (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
  sfixed32 sf32 = 9 [(buf.validate.field).sfixed32 = {not_in: [1, 2]}];
  sfixed64 sf64 = 10 [(buf.validate.field).sfixed64 = {gte: -1}];
  float fl = 11 [(buf.validate.field).float = {finite: true, gt: -1.5}];
  double db = 12 [(buf.validate.field).double = {lt: 0, gt: 1}, (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
  bool flag = 13 [(buf.validate.field).bool.const = false];
  string s = 14 [(buf.validate.field).string = {max_bytes: 8, not_contains: "x"}];
  string code = 15 [(buf.validate.field).string = {len: 3, pattern: "^[A-Z]\\d.$", not_in: ["Z9z"]}, (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
  string tid = 16 [(buf.validate.field).string.tuuid = true, (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
  optional string opt = 17 [(buf.validate.field).string = {min_len: 3, contains: "b", suffix: "c", prefix: "a"}];
  Color color = 18 [(buf.validate.field).enum = {defined_only: true, not_in: [2]}];
  repeated int32 nums = 19 [(buf.validate.field).repeated = {max_items: 4, unique: true, items: {int32: {gte: 0}}}];
  repeated string words = 20 [(buf.validate.field).repeated = {items: {string: {max_len: 3}, ignore: IGNORE_IF_ZERO_VALUE}}];
  repeated Color colors = 21 [(buf.validate.field).repeated.items.enum.defined_only = true];
  map<string, int64> counts = 22 [(buf.validate.field).map = {max_pairs: 2, keys: {string: {min_len: 1}}, values: {int64: {gte: 0}}}];
  map<int64, Node> nodes = 23 [(buf.validate.field).map.keys.int64.lt = 100];
  Node root = 24;
  repeated Node forest = 25;
  oneof choice {
    string alpha_text = 26 [(buf.validate.field).string.min_len = 2];
    int32 alpha_num = 30;
  }
  string alpha = 27;
  string beta = 28;
  repeated double ratios = 29 [(buf.validate.field).repeated.unique = true];
  int32 quota = 31 [(buf.validate.field).cel = {id: "quota.even", message: "even", expression: "this % 2 == 0"}];
  string mail = 32 [(buf.validate.field).string.email = true, (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
}

message Pick {
  oneof kind {
    option (buf.validate.oneof).required = true;
    string name = 1 [(buf.validate.field).string.min_len = 1];
    int32 number = 2;
    Node node = 3;
  }
}

message Exprs {
  option (buf.validate.message).cel = {id: "e1", expression: "this.a / this.b >= -1"};
  option (buf.validate.message).cel = {id: "e2", expression: "this.a % 3 != 1"};
  option (buf.validate.message).cel = {id: "e3", expression: "-this.a < 5 && this.d * 2.0 <= 3.5"};
  option (buf.validate.message).cel = {id: "e4", expression: "size(this.s) <= 3 || this.s.endsWith('z')"};
  option (buf.validate.message).cel = {id: "e5", expression: "this.s + 'x' != 'ax'"};
  option (buf.validate.message).cel = {id: "e6", expression: "this.u - 1u < 5u"};
  option (buf.validate.message).cel = {id: "e7", expression: "!(this.flag) || this.big > 3"};
  option (buf.validate.message).cel = {id: "e8", expression: "this.a * 3 != 7 ? true : false"};
  int32 a = 1;
  int32 b = 2;
  double d = 3;
  string s = 4;
  uint32 u = 5;
  bool flag = 6;
  int64 big = 7;
}

message Patterns {
  string p1 = 1 [(buf.validate.field).string.pattern = "^a.c$", (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
  string p2 = 2 [(buf.validate.field).string.pattern = "^[^a-c]+\\s?[\\w-]{1,3}$", (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
  string p3 = 3 [(buf.validate.field).string.pattern = "(x|yz)+\\.?$", (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
  string p4 = 4 [(buf.validate.field).string.pattern = "^\\S*$", (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
  string p5 = 5 [(buf.validate.field).string.pattern = "b{2,}", (buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE];
}

message Refused {
  string host = 1 [(buf.validate.field).string.hostname = true];
}

message RefusedCel {
  option (buf.validate.message).cel = {id: "has", expression: "has(this.host)"};
  string host = 1;
}
`;

const PKG = 'remora.test.fast.v1';
const wideRegistry = createValidationRegistry(compileProtoSources([{ name: 'remora/test/fast/v1/wide.proto', content: WIDE_PROTO }]));
const msg = (name: string): DescMessage => wideRegistry.getMessage(`${PKG}.${name}`)!;

type Verdict = 'valid' | 'invalid' | 'error' | 'decode';

/** The reference: fromBinary + protovalidate. */
function reference(schema: DescMessage, registry = wideRegistry): (bytes: Uint8Array) => Verdict {
  const validator = createValidator({ registry });
  return (bytes) => {
    let m;
    try {
      m = fromBinary(schema, bytes);
    } catch {
      return 'decode';
    }
    return validator.validate(schema, m).kind;
  };
}

function fast(schema: DescMessage): (bytes: Uint8Array) => boolean {
  const f = compileFastValidator(schema);
  assert.ok(f !== null, `${schema.typeName} compiles`);
  return (bytes) => f.isValid(bytes);
}

const encode = (schema: DescMessage, init: Record<string, unknown>): Uint8Array => toBinary(schema, create(schema, init as never));

// ------------------------------------------------------------------ generators

const str = (units: readonly string[], maxLength = 5): fc.Arbitrary<string> => fc.array(fc.constantFrom(...units), { maxLength }).map((a) => a.join(''));

const nodeArb: fc.Arbitrary<Record<string, unknown>> = fc.letrec<{ node: Record<string, unknown> }>((tie) => ({
  node: fc.record({
    label: fc.constantFrom('', 'n', 'nnnnn', 'é😀', 'abcd'),
    color: fc.integer({ min: 0, max: 4 }),
    children: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constant([]), fc.array(tie('node'), { maxLength: 3 })),
  }),
})).node;

const WIDE_KEYS = ['i32', 'i64', 'u32', 'u64', 's32', 's64', 'f32', 'f64', 'sf32', 'sf64', 'fl', 'db', 'flag', 's', 'code', 'tid', 'opt', 'color',
  'nums', 'words', 'colors', 'counts', 'nodes', 'root', 'forest', 'choice', 'alpha', 'beta', 'ratios', 'quota', 'mail'];

const wideArb: fc.Arbitrary<Record<string, unknown>> = fc.record({
  i32: fc.integer({ min: -8, max: 8 }),
  i64: fc.oneof(fc.bigInt({ min: -15n, max: 15n }), fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n)),
  u32: fc.constantFrom(0, 1, 2, 3, 4, 7, 8, 2 ** 32 - 1),
  u64: fc.constantFrom(0n, 4n, 5n, 6n, 7n, 2n ** 64n - 1n),
  s32: fc.oneof(fc.integer({ min: -120, max: 120 }), fc.constantFrom(-(2 ** 31), 2 ** 31 - 1)),
  s64: fc.oneof(fc.bigInt({ min: -5n, max: 5n }), fc.constant(-(2n ** 63n))),
  f32: fc.constantFrom(0, 1000, 1001, 2 ** 32 - 1),
  f64: fc.constantFrom(0n, 1n, 2n ** 64n - 1n),
  sf32: fc.integer({ min: -3, max: 3 }),
  sf64: fc.bigInt({ min: -3n, max: 3n }),
  fl: fc.constantFrom(0, -1.5, -1.25, NaN, Infinity, -Infinity, 3.25),
  db: fc.constantFrom(0, -0, 0.5, 1, 1.5, -0.25, NaN, Infinity),
  flag: fc.boolean(),
  s: fc.oneof(fc.constant(''), fc.constant('abc'), str(['a', 'x', 'é', '😀', 'b', '\uFEFF'], 6)),
  code: fc.constantFrom('', 'A1a', 'Z9z', 'a1a', 'A1', 'A1é', 'A1😀', 'A\n1', 'B22', 'AAa', 'A1\n'),
  tid: fc.constantFrom('', '0123456789abcdef0123456789ABCDEF', 'xyz', '0123456789abcdef0123456789ABCDE'),
  opt: fc.option(fc.constantFrom('', 'abc', 'abbc', 'ac', 'xbc', 'ab'), { nil: undefined }),
  color: fc.integer({ min: 0, max: 5 }),
  nums: fc.array(fc.integer({ min: -2, max: 5 }), { maxLength: 6 }),
  words: fc.array(fc.constantFrom('', 'ab', 'abcd', 'é😀a'), { maxLength: 3 }),
  colors: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  counts: fc.dictionary(fc.constantFrom('', 'a', 'b', 'c'), fc.bigInt({ min: -2n, max: 2n }), { maxKeys: 4 }),
  nodes: fc.dictionary(fc.constantFrom('1', '99', '100', '-3'), nodeArb, { maxKeys: 2 }),
  root: fc.option(nodeArb, { nil: undefined }),
  forest: fc.array(nodeArb, { maxLength: 2 }),
  choice: fc.oneof(
    fc.constant({ case: undefined }),
    fc.record({ case: fc.constant('alphaText'), value: fc.constantFrom('', 'a', 'ab') }),
    fc.record({ case: fc.constant('alphaNum'), value: fc.integer({ min: -1, max: 1 }) }),
  ),
  alpha: fc.constantFrom('', 'q'),
  beta: fc.constantFrom('', 'q'),
  ratios: fc.array(fc.constantFrom(0, -0, 1.5, NaN), { maxLength: 4 }),
  quota: fc.integer({ min: -3, max: 3 }),
  mail: fc.constantFrom('', 'a@b.co', 'bad', 'a@-b.com', 'é@x.y', 'a.b+c@d-e.f'),
}, { requiredKeys: [] });

/** A Wide message with at most four fields away from their defaults (an empty Wide is valid). */
const fewFields: fc.Arbitrary<Record<string, unknown>> = fc.tuple(wideArb, fc.shuffledSubarray(WIDE_KEYS, { maxLength: 4 })).map(([all, keys]) => {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (all[k] !== undefined) out[k] = all[k];
  return out;
});

/** Bytes of `bytes` changed at one place: truncated, one byte replaced, or junk appended. */
const corrupt = (bytes: Uint8Array): fc.Arbitrary<Uint8Array> => fc.oneof(
  fc.nat({ max: Math.max(0, bytes.length - 1) }).map((n) => bytes.slice(0, n)),
  fc.tuple(fc.nat({ max: Math.max(0, bytes.length - 1) }), fc.integer({ min: 0, max: 255 })).map(([i, b]) => { const c = bytes.slice(); if (c.length > 0) c[i] = b; return c; }),
  fc.uint8Array({ minLength: 1, maxLength: 6 }).map((tail) => { const c = new Uint8Array(bytes.length + tail.length); c.set(bytes); c.set(tail, bytes.length); return c; }),
);

// ------------------------------------------------------------------ tests

describe('compileFastValidator: the sample CreateAccountRequest', () => {
  const { request } = sampleSchemas();
  const registry = sampleRegistry();
  const ref = reference(request, registry);
  const isValid = fast(request);

  it('agrees with protovalidate on fixtures, one broken rule at a time', () => {
    const cases: Record<string, unknown>[] = [
      {}, { name: 'x' }, { name: 'x'.repeat(21) }, { name: '😀😀😀' }, { name: '😀😀' }, { name: '\uFEFFab' }, { handle: '9ab' }, { handle: 'a-b' }, { handle: 'ab\n' },
      { email: 'not-an-email' }, { email: '' }, { id: 'nope' }, { id: '8F14E45F-CEEA-467F-A0E6-4F9F7D3C2C11' }, { age: -1 }, { age: 151 }, { age: 150 },
      { score: 100 }, { score: -0.0001 }, { score: NaN }, { score: 0 }, { address: undefined }, { address: { city: '' } }, { tags: [] },
      { tags: ['a', 'b', 'c', 'd', 'e', 'f'] }, { labels: { a: '1', b: '2', c: '3', d: '4' } }, { tier: 7 }, { tier: 2, age: 17 }, { tier: 1, age: 17 },
      { quota: 3n }, { quota: -4n }, { quota: 2n ** 52n }, { quota: 2n ** 62n + 1n },
    ];
    for (const c of cases) {
      const bytes = encode(request, { ...validRequestInit(), ...c });
      assert.equal(isValid(bytes), ref(bytes) === 'valid', JSON.stringify(c, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));
    }
    assert.equal(isValid(encode(request, validRequestInit())), true);
    // An int64 beyond 2^53 in a CEL rule is left to protovalidate (not decided, so not "valid").
    const big = encode(request, { ...validRequestInit(), quota: 2n ** 62n });
    assert.equal(ref(big), 'valid');
    assert.equal(isValid(big), false);
  });

  it('agrees with protovalidate on generated requests (fast-check)', () => {
    const reqArb = fc.record({
      name: fc.constantFrom('Ada Lovelace', 'Al', 'x'.repeat(21), '😀😀😀'),
      handle: fc.constantFrom('ada_l', '9x', '', 'a'),
      email: fc.constantFrom('ada@example.com', 'x', ''),
      id: fc.constantFrom('8f14e45f-ceea-467f-a0e6-4f9f7d3c2c11', ''),
      age: fc.integer({ min: -2, max: 152 }),
      score: fc.constantFrom(0, 99.5, 100, -1, NaN),
      address: fc.option(fc.record({ city: fc.constantFrom('', 'London') }), { nil: undefined }),
      tags: fc.array(fc.constantFrom('a', 'b'), { maxLength: 6 }),
      labels: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.constant('v'), { maxKeys: 4 }),
      tier: fc.integer({ min: 0, max: 3 }),
      quota: fc.bigInt({ min: -3n, max: 3n }),
    }, { requiredKeys: [] });
    fc.assert(fc.property(reqArb, (init) => {
      const bytes = encode(request, init);
      assert.equal(isValid(bytes), ref(bytes) === 'valid');
    }), { numRuns: 400 });
  });

  it('never calls corrupted bytes valid unless the reference does', () => {
    const valid = encode(request, validRequestInit());
    fc.assert(fc.property(corrupt(valid), (bytes) => {
      if (isValid(bytes)) assert.equal(ref(bytes), 'valid');
    }), { numRuns: 500 });
  });
});

describe('compileFastValidator: every compiled rule kind', () => {
  it('agrees with protovalidate on generated Wide messages (fast-check)', () => {
    const schema = msg('Wide');
    const ref = reference(schema);
    const isValid = fast(schema);
    let valid = 0;
    fc.assert(fc.property(fewFields, (init) => {
      const bytes = encode(schema, init);
      const r = ref(bytes);
      if (r === 'valid') valid++;
      assert.equal(isValid(bytes), r === 'valid');
    }), { numRuns: 600 });
    assert.ok(valid > 0, 'some generated messages are valid');
    assert.equal(isValid(encode(schema, {})), true);
  });

  it('decides corrupted Wide bytes only when the reference accepts them', () => {
    const schema = msg('Wide');
    const ref = reference(schema);
    const isValid = fast(schema);
    fc.assert(fc.property(fewFields.chain((init) => corrupt(encode(schema, init))), (bytes) => {
      if (isValid(bytes)) assert.equal(ref(bytes), 'valid');
    }), { numRuns: 400 });
  });

  it('checks required proto oneofs and recursive messages', () => {
    const schema = msg('Pick');
    const ref = reference(schema);
    const isValid = fast(schema);
    const cases = [{}, { kind: { case: 'name', value: '' } }, { kind: { case: 'name', value: 'n' } }, { kind: { case: 'number', value: 0 } },
      { kind: { case: 'node', value: {} } }, { kind: { case: 'node', value: { children: [{ children: [{}, {}, {}] }] } } }];
    for (const c of cases) {
      const bytes = encode(schema, c);
      assert.equal(isValid(bytes), ref(bytes) === 'valid', JSON.stringify(c));
    }
    assert.equal(isValid(new Uint8Array()), false);
  });

  it('evaluates the CEL subset like protovalidate (errors and overflow are never valid)', () => {
    const schema = msg('Exprs');
    const ref = reference(schema);
    const isValid = fast(schema);
    const arb = fc.record({
      a: fc.oneof(fc.integer({ min: -7, max: 7 }), fc.constantFrom(-(2 ** 31), 2 ** 31 - 1)),
      b: fc.integer({ min: -2, max: 2 }),
      d: fc.constantFrom(0, 1.75, 1.76, -3, NaN, Infinity),
      s: str(['a', 'z', '😀'], 5),
      u: fc.constantFrom(0, 1, 5, 6, 2 ** 32 - 1),
      flag: fc.boolean(),
      big: fc.oneof(fc.bigInt({ min: 0n, max: 6n }), fc.constantFrom(2n ** 53n - 1n, -(2n ** 53n) + 1n)),
    });
    let valid = 0;
    fc.assert(fc.property(arb, (init) => {
      const bytes = encode(schema, init);
      const r = ref(bytes);
      if (r === 'valid') valid++;
      assert.equal(isValid(bytes), r === 'valid', `${JSON.stringify(init, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))} -> ${r}`);
    }), { numRuns: 500 });
    assert.ok(valid > 0);
  });

  it('matches string.pattern exactly like protovalidate (RE2)', () => {
    const schema = msg('Patterns');
    const ref = reference(schema);
    const isValid = fast(schema);
    const fixtures = ['abc', 'a\rc', 'a\u2028c', 'a\nc', 'a😀c', 'ac', '', 'd \u00a0', 'd\u000b', 'dd\u2029', 'x.', 'yzyz', 'abb', 'a\u00a0b', 'q_-'];
    for (const v of fixtures) {
      for (const field of ['p1', 'p2', 'p3', 'p4', 'p5']) {
        const bytes = encode(schema, { [field]: v });
        assert.equal(isValid(bytes), ref(bytes) === 'valid', `${field}: ${JSON.stringify(v)}`);
      }
    }
    const s = str(['a', 'b', 'c', 'x', 'yz', '.', ' ', '\n', '\t', '\u00a0', '\u2028', '\r', '-', '_', '😀', 'é'], 6);
    fc.assert(fc.property(fc.record({ p1: s, p2: s, p3: s, p4: s, p5: s }), (init) => {
      const bytes = encode(schema, init);
      assert.equal(isValid(bytes), ref(bytes) === 'valid', JSON.stringify(init));
    }), { numRuns: 800 });
  });

  it('returns null for rules outside the subset', () => {
    assert.equal(compileFastValidator(msg('Refused')), null);
    assert.equal(compileFastValidator(msg('RefusedCel')), null);
  });
});

describe('MethodValidator with the fast path', () => {
  it('returns exactly the rejection of the reference path for invalid messages', () => {
    const { request } = sampleSchemas();
    const table = compileValidatorTable(sampleDescriptorSet(), { services: [SAMPLE_SERVICE], methods: [] }, {}, 'f');
    assert.ok(table.ok);
    const withFast = table.value.get(`/${SAMPLE_SERVICE}/Create`)!;
    const registry = table.value.registry;
    const method = registry.getService(SAMPLE_SERVICE)!.methods.find((m) => m.name === 'Create')!;
    const schema = registry.getMessage(request.typeName)!;
    const slow = new MethodValidator(method, schema, createValidator({ registry }), null);
    const inputs = [
      encode(request, validRequestInit()),
      encode(request, { ...validRequestInit(), name: 'x', age: 200, tier: 2, quota: 3n }),
      encode(request, { ...validRequestInit(), address: undefined }),
      new Uint8Array([0xff, 0xff, 0xff]),
    ];
    for (const bytes of inputs) assert.deepEqual(withFast.check(bytes), slow.check(bytes));
    assert.equal(withFast.check(inputs[0]!), null);
    assert.equal(withFast.check(inputs[1]!)!.violations.length, 3);
  });
});
