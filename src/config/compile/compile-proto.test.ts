/** `.proto` text → FileDescriptorSet: options kept, protoc-compatible shapes, errors with file:line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFileRegistry, fromBinary, getExtension, hasExtension } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { compileGoogleapis, compileProtoSources, ProtoCompileFailure } from './compile-proto';

test('keeps google.api.http options and includes imports, dependencies first', () => {
  const bytes = compileProtoSources([{ name: 'lib/v1/lib.proto', content: `syntax = "proto3"; package lib.v1; import "google/api/annotations.proto"; import "google/protobuf/timestamp.proto";
    message Book { string name = 1; google.protobuf.Timestamp at = 2; }
    service Lib { rpc Get(Book) returns (Book) { option (google.api.http) = { get: "/v1/{name=shelves/*/books/*}" additional_bindings { get: "/v1/books/{name}" } }; } }` }]);
  const set = fromBinary(FileDescriptorSetSchema, bytes);
  const names = set.file.map((f) => f.name);
  assert.equal(names[names.length - 1], 'lib/v1/lib.proto');
  assert.ok(names.indexOf('google/api/http.proto') < names.indexOf('google/api/annotations.proto'));
  assert.ok(names.includes('google/protobuf/timestamp.proto'));
  const reg = createFileRegistry(set);
  const method = reg.getService('lib.v1.Lib')!.methods[0]!;
  const http = reg.getExtension('google.api.http')!;
  assert.ok(hasExtension(method.proto.options!, http));
  const rule = getExtension(method.proto.options!, http) as unknown as { pattern: { case: string; value: string }; additionalBindings: unknown[] };
  assert.deepEqual(rule.pattern, { case: 'get', value: '/v1/{name=shelves/*/books/*}' });
  assert.equal(rule.additionalBindings.length, 1);
});

test('json_name, map entries and proto3 optional match protoc', () => {
  const bytes = compileProtoSources([{ name: 'o.proto', content: 'syntax = "proto3"; package o; message M { optional int32 a_b = 1; map<string, M> sub_m = 2; string x = 3 [json_name = "why"]; }' }]);
  const m = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes)).getMessage('o.M')!;
  assert.equal(m.field['aB']?.jsonName, 'aB');
  assert.equal(m.field['aB']?.presence, 1 /* EXPLICIT */);
  assert.equal(m.field['subM']?.fieldKind, 'map');
  assert.equal(m.field['x']?.jsonName, 'why');
});

test('a custom option declared in the set is encoded as an extension', () => {
  const bytes = compileProtoSources([{ name: 'opt.proto', content: `syntax = "proto3"; package opt; import "google/protobuf/descriptor.proto";
    message Rule { int32 min = 1; repeated string tags = 2; }
    extend google.protobuf.FieldOptions { Rule rule = 50001; }
    message M { string a = 1 [(opt.rule) = { min: 3 tags: "x" tags: "y" }, deprecated = true]; }` }]);
  const reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  const opts = reg.getMessage('opt.M')!.field['a']!.proto.options!;
  assert.equal(opts.deprecated, true);
  const v = getExtension(opts, reg.getExtension('opt.rule')!) as unknown as { min: number; tags: string[] };
  assert.equal(v.min, 3);
  assert.deepEqual(v.tags, ['x', 'y']);
});

test('errors name the file and line; googleapis by import name', () => {
  assert.throws(() => compileProtoSources([{ name: 'bad.proto', content: 'syntax = "proto3";\nmessage A {\n  int32 x = 1\n}' }]),
    (e: unknown) => e instanceof ProtoCompileFailure && /^bad\.proto:4: /.test(e.message));
  assert.throws(() => compileProtoSources([{ name: 'b.proto', content: 'syntax = "proto3";\nimport "nope.proto";' }]), /nope\.proto/);
  assert.throws(() => compileProtoSources([{ name: 'c.proto', content: 'syntax = "proto3";\nmessage A { Foo x = 1; }' }]), /Foo/);
  const reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, compileGoogleapis(['google/rpc/error_details.proto'])));
  assert.ok(reg.getMessage('google.rpc.BadRequest'));
});
