import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromBinary, fromJson, getExtension, type DescExtension } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { createValidator } from '@bufbuild/protovalidate';
import { compileProtoFiles } from '../../config/compile/compile-proto';
import { DescriptorSources } from './descriptor-sources';

/** The repository root (the folder with package.json), from src/ (tsx) or dist/src/ alike. */
const REPO = ((): string => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();

const SAMPLE = `syntax = "proto3";
package t.v1;
import "buf/validate/validate.proto";
import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";
service S {
  rpc Get(Req) returns (Req) {
    option (google.api.http) = { get: "/a" additional_bindings { get: "/b/{name}" } additional_bindings { post: "/c" body: "*" } };
  }
}
enum Color { COLOR_UNSPECIFIED = 0; RED = 1; }
message Req {
  string name = 1 [(buf.validate.field).string.min_len = 3];
  optional int32 age = 2 [(buf.validate.field).int32 = {gte: 0, lte: 150}];
  map<string, int64> labels = 3;
  Color color = 4 [(buf.validate.field).enum.defined_only = true];
  google.protobuf.Timestamp at = 5;
  oneof o { string a = 6; int32 b = 7; }
  string display_name = 8;
  option (buf.validate.message).cel = { id: "no_bad", message: "bad name", expression: "this.name != 'badname'" };
}
`;

function tmpProto(t: { after(fn: () => void): void }, text: string, name = 'sample.proto'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-proto-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

test('compiles greeter.proto with its google.api.http rules and dependencies', () => {
  const r = compileProtoFiles({ protoFiles: [path.join(REPO, 'proto/greeter.proto')], importPaths: [] });
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  const set = fromBinary(FileDescriptorSetSchema, r.descriptorSet);
  const names = set.file.map((f) => f.name);
  assert.deepEqual(names.slice(-1), ['greeter.proto']);
  assert.ok(names.indexOf('google/api/http.proto') < names.indexOf('google/api/annotations.proto'));
  assert.deepEqual(set.file.at(-1)!.dependency, ['google/api/annotations.proto']);
  const http = r.registry.getExtension('google.api.http')!;
  const say = r.registry.getService('remora.examples.greeter.v1.Greeter')!.methods.find((m) => m.name === 'SayHello')!;
  const rule = getExtension(say.proto.options!, http as DescExtension) as { pattern: { case: string; value: string }; additionalBindings: unknown[] };
  assert.deepEqual(rule.pattern, { case: 'post', value: '/v1/greeter/hello' });
  assert.ok(rule.additionalBindings.length >= 1);
  assert.ok(r.sources.some((s) => s.endsWith('google/api/http.proto')));
});

test('keeps buf.validate rules, repeated option blocks, maps, oneofs and json names', (t) => {
  const r = compileProtoFiles({ protoFiles: [tmpProto(t, SAMPLE)], importPaths: [] });
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  const http = r.registry.getExtension('google.api.http')!;
  const rule = getExtension(r.registry.getService('t.v1.S')!.methods[0]!.proto.options!, http as DescExtension) as { additionalBindings: { pattern: { value: string } }[] };
  assert.deepEqual(rule.additionalBindings.map((b) => b.pattern.value), ['/b/{name}', '/c']);
  const req = r.registry.getMessage('t.v1.Req')!;
  assert.equal(req.fields.find((f) => f.name === 'display_name')!.jsonName, 'displayName');
  assert.equal(req.fields.find((f) => f.name === 'labels')!.fieldKind, 'map');
  assert.deepEqual(req.oneofs.map((o) => o.name), ['o']);
  const v = createValidator({ registry: r.registry });
  assert.equal(v.validate(req, fromJson(req, { name: 'abcd', age: 3 })).kind, 'valid');
  const bad = v.validate(req, fromJson(req, { name: 'ab', age: 200, color: 5 }));
  assert.equal(bad.kind, 'invalid');
  const ids = bad.kind === 'invalid' ? bad.violations.map((x) => String(x)) : [];
  assert.equal(ids.length, 3, ids.join('; '));
  const cel = v.validate(req, fromJson(req, { name: 'badname' }));
  assert.equal(cel.kind, 'invalid');
});

test('a syntax error names the file and line; a missing import names the importer', (t) => {
  const f = tmpProto(t, 'syntax = "proto3";\npackage x;\nmessage A {\n  string name = 1\n}\n');
  const r = compileProtoFiles({ protoFiles: [f], importPaths: [] });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.error.file, f);
    assert.equal(r.error.line, 5);
  }
  const g = tmpProto(t, 'syntax = "proto3";\nimport "nope/missing.proto";\n', 'g.proto');
  const m = compileProtoFiles({ protoFiles: [g], importPaths: [] });
  assert.equal(m.ok, false);
  if (!m.ok) {
    assert.equal(m.error.file, g);
    assert.match(m.error.message, /import "nope\/missing.proto" not found/);
  }
});

test('DescriptorSources caches while files are unchanged and reports edits', (t) => {
  const f = tmpProto(t, 'syntax = "proto3";\npackage x;\nmessage A { string a = 1; }\nservice S { rpc M(A) returns (A); }\n');
  const sources = new DescriptorSources({ pollIntervalMs: 1_000_000 });
  t.after(() => sources.close());
  const spec = { kind: 'protoFiles', protoFiles: [f], importPaths: [] } as const;
  const a = sources.resolve(spec);
  sources.sweep();
  assert.ok(a.ok);
  assert.equal(sources.resolve(spec), a, 'unchanged files reuse the result');
  sources.sweep();
  assert.ok(sources.watchedFiles().includes(f));
  let changes = 0;
  sources.startWatching(() => changes++);
  sources.poll();
  assert.equal(changes, 0);
  fs.writeFileSync(f, 'syntax = "proto3";\npackage x;\nmessage A { string a = 1; string b = 2; }\nservice S { rpc M(A) returns (A); rpc N(A) returns (A); }\n');
  fs.utimesSync(f, new Date(), new Date(Date.now() + 5000));
  sources.poll();
  assert.equal(changes, 1);
  const b = sources.resolve(spec);
  assert.ok(b.ok && a.ok && !b.descriptorSet.equals(a.descriptorSet));
  assert.equal(b.ok && b.registry.getService('x.S')!.methods.length, 2);
});
