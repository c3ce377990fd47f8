/**
 * Micro benchmark behind the transcoder's ProtoJSON library choice: one unary call's JSON work,
 * request JSON text → binary protobuf (what goes upstream) and response binary → JSON text, with
 * @bufbuild/protobuf v2 (dynamic messages from the FileDescriptorSet: fromJson/toBinary,
 * fromBinary/toJsonString) versus protobufjs 7 (Type.fromObject/encode, decode/toObject+stringify),
 * plus Remora's full path (`MethodBinding.buildRequest` + `MethodInfo.responseBody`, bufbuild
 * underneath, with path/query binding). Two sizes: a small message (3 fields) and a ~10 KiB one
 * (a repeated message field). It also prints a correctness table of ProtoJSON cases where the two
 * libraries differ. Plain `process.hrtime.bigint()` loop, no dependencies.
 * Run: `node --import tsx bench/micro/transcode/protojson.bench.ts`.
 */
import * as protobuf from 'protobufjs';
import { createFileRegistry, fromBinary, fromJson, toBinary, toJsonString, type JsonValue } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { compileProtoSources } from '../../../src/config/compile/compile-proto';
import { DEFAULT_TRANSCODER_OPTIONS, TranscoderTable } from '../../../src/codec/transcode/transcoder-table';
import { extractVariables } from '../../../src/codec/transcode/path-matcher';

const PROTO = `
syntax = "proto3";
package bench.v1;
import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";
enum Kind { KIND_UNSPECIFIED = 0; SMALL = 1; LARGE = 2; }
message Item { string name = 1; int64 id = 2; Kind kind = 3; double score = 4; repeated string tags = 5; bool active = 6; }
message Msg { string title = 1; int32 count = 2; Kind kind = 3; repeated Item items = 4; google.protobuf.Timestamp at = 5; string display_name = 6 [json_name = "label"]; }
service Bench { rpc Echo(Msg) returns (Msg) { option (google.api.http) = { post: "/v1/echo" body: "*" }; } }
`;

const set = compileProtoSources([{ name: 'bench/v1/bench.proto', content: PROTO }]);
const reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, set));
const MSG = reg.getMessage('bench.v1.Msg')!;
const pbRoot = new protobuf.Root();
pbRoot.addJSON((protobuf.common.get('google/protobuf/timestamp.proto') as { nested: Record<string, protobuf.AnyNestedObject> }).nested);
const root = protobuf.parse(PROTO.replace(/import "google\/api\/annotations.proto";|option \(google.api.http\)[^;]*;/g, ''), pbRoot, { keepCase: false }).root;
root.resolveAll();
const PMSG = root.lookupType('bench.v1.Msg');
const table = TranscoderTable.compile(set, { ...DEFAULT_TRANSCODER_OPTIONS, services: ['bench.v1.Bench'] });
const match = table.matcher.match('POST', '/v1/echo');
if (match.kind !== 'match') throw new Error('no binding');
const binding = match.binding.target;
const vars = extractVariables(binding.template, match.segments, 'ALL_CHARACTERS_EXCEPT_SLASH');
if (!Array.isArray(vars)) throw new Error('vars');

const small = JSON.stringify({ title: 'hello', count: 3, kind: 'SMALL' });
const items: JsonValue[] = [];
for (let i = 0; JSON.stringify(items).length < 10 * 1024; i++) items.push({ name: `item-${i}`, id: String(1000000 + i), kind: 'LARGE', score: i / 7, tags: ['a', 'bb'], active: i % 2 === 0 });
const large = JSON.stringify({ title: 'big', count: items.length, kind: 'LARGE', items });
const enc = new TextEncoder();

type Fn = (json: string) => number;
const bufbuild: Fn = (json) => {
  const bin = toBinary(MSG, fromJson(MSG, JSON.parse(json) as JsonValue));
  return toJsonString(MSG, fromBinary(MSG, bin)).length;
};
const pbjs: Fn = (json) => {
  const bin = PMSG.encode(PMSG.fromObject(JSON.parse(json) as Record<string, unknown>)).finish();
  return JSON.stringify(PMSG.toObject(PMSG.decode(bin), { longs: String, enums: String, bytes: String, json: true })).length;
};
const remora: Fn = (json) => {
  const frame = binding.buildRequestFrame(vars, null, enc.encode(json), 'application/json');
  const r = binding.method.responseBody(frame.subarray(5), binding);
  return 'json' in r ? r.json.length : r.data.length;
};

function run(name: string, fn: Fn, json: string): void {
  let sink = 0;
  for (let i = 0; i < 2000; i++) sink += fn(json);
  const budgetNs = 1_500_000_000n;
  const start = process.hrtime.bigint();
  let n = 0;
  while (process.hrtime.bigint() - start < budgetNs) { for (let i = 0; i < 100; i++) sink += fn(json); n += 100; }
  const ns = Number(process.hrtime.bigint() - start) / n;
  console.log(`${name.padEnd(34)} ${(ns / 1000).toFixed(2).padStart(9)} µs/op ${Math.round(1e9 / ns).toString().padStart(9)} ops/s  (sink ${sink % 7})`);
}

console.log(`small request ${small.length} B, large request ${large.length} B`);
for (const [label, json] of [['small', small], ['10KiB', large]] as const) {
  run(`bufbuild   JSON→bin→JSON ${label}`, bufbuild, json);
  run(`protobufjs JSON→bin→JSON ${label}`, pbjs, json);
  run(`remora buildRequest+respond ${label}`, remora, json);
}

// Correctness: ProtoJSON cases (https://protobuf.dev/programming-guides/json/).
const cases: [string, string][] = [
  ['json_name key "label"', '{"label":"x"}'],
  ['Timestamp RFC 3339 string', '{"at":"2024-01-02T03:04:05Z"}'],
  ['unknown field rejected', '{"nope":1}'],
  ['int32 overflow rejected', '{"count":2147483648}'],
  ['unknown enum name rejected', '{"kind":"HUGE"}'],
  ['int32 from string "7"', '{"count":"7"}'],
];
console.log('\ncase                              bufbuild                        protobufjs');
for (const [name, json] of cases) {
  const a = attempt(() => toJsonString(MSG, fromJson(MSG, JSON.parse(json) as JsonValue)));
  const b = attempt(() => JSON.stringify(PMSG.toObject(PMSG.decode(PMSG.encode(PMSG.fromObject(JSON.parse(json) as Record<string, unknown>)).finish()), { longs: String, enums: String, json: true })));
  console.log(`${name.padEnd(34)}${a.padEnd(32)}${b}`);
}
function attempt(f: () => string): string {
  try { return f().slice(0, 30); } catch (e) { return `error: ${(e as Error).message}`.slice(0, 30); }
}
