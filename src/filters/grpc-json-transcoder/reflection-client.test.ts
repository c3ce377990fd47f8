/** FileDescriptorSet assembly from reflected files, the v1alpha fallback, and ReflectionTranscoder compilation. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { create, createFileRegistry, fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { compileProtoSources } from '../../config/compile/compile-proto';
import { TranscoderTable } from '../../codec/transcode/transcoder-table';
import { addReflectionKeepingOptions } from '../../../test/fakes/reflection-app';
import { assembleFileDescriptorSet, fetchServiceFiles, reflectedFile, ReflectionFetchError, ReflectionProtocol } from './reflection-client';
import { compileReflectionTranscoder, DEFAULT_REFRESH_INTERVAL_MS } from './reflection-transcoder';

function file(name: string, dependency: string[] = [], extra: Record<string, unknown> = {}): Uint8Array {
  return toBinary(FileDescriptorProtoSchema, create(FileDescriptorProtoSchema, { name, dependency, syntax: 'proto3', ...extra }));
}

const PROTO = `syntax = "proto3"; package t.v1; import "google/api/annotations.proto"; import "google/protobuf/timestamp.proto";
  message Req { string name = 1; google.protobuf.Timestamp at = 2; }
  service Svc { rpc Get(Req) returns (Req) { option (google.api.http) = { get: "/v1/{name}" }; } }`;

describe('assembleFileDescriptorSet', () => {
  it('orders every file after its imports and keeps the bytes as sent', () => {
    const c = file('c.proto', ['b.proto', 'a.proto']);
    const b = file('b.proto', ['a.proto']);
    const a = file('a.proto');
    const set = fromBinary(FileDescriptorSetSchema, assembleFileDescriptorSet([c, b, a, b].map((b) => reflectedFile(b))));
    assert.deepEqual(set.file.map((f) => f.name), ['a.proto', 'b.proto', 'c.proto']);
    assert.deepEqual(toBinary(FileDescriptorProtoSchema, set.file[2]!), c);
  });

  it('keeps custom options (google.api.http) so the transcoder table sees the rules', () => {
    const compiled = fromBinary(FileDescriptorSetSchema, compileProtoSources([{ name: 't/v1/t.proto', content: PROTO }]));
    // Reversed (the file before its imports), as a server may send them.
    const reflected = compiled.file.map((f) => reflectedFile(toBinary(FileDescriptorProtoSchema, f))).reverse();
    const set = assembleFileDescriptorSet(reflected);
    createFileRegistry(fromBinary(FileDescriptorSetSchema, set));
    const table = TranscoderTable.compile(set, defaultOptions(['t.v1.Svc']));
    const m = table.matcher.match('GET', '/v1/ada');
    assert.equal(m.kind, 'match');
  });

  it('a missing import and an import cycle are errors naming the files', () => {
    assert.throws(() => assembleFileDescriptorSet([reflectedFile(file('x.proto', ['gone.proto']))]), (e: Error) => e instanceof ReflectionFetchError && /'x.proto' imports 'gone.proto'/.test(e.message));
    assert.throws(() => assembleFileDescriptorSet([file('p.proto', ['q.proto']), file('q.proto', ['p.proto'])].map((b) => reflectedFile(b))), /import cycle/);
  });

  it('a file without a name is refused', () => {
    assert.throws(() => reflectedFile(file('')), ReflectionFetchError);
  });
});

function defaultOptions(services: string[]) {
  const r = compileReflectionTranscoder({ config: { services }, reflection_target: '127.0.0.1:1' }, 't');
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.value.base.table.options;
}

describe('fetchServiceFiles against @grpc/reflection', () => {
  const servers: grpc.Server[] = [];
  const clients: grpc.Client[] = [];
  after(() => {
    for (const c of clients) c.close();
    for (const s of servers) s.forceShutdown();
  });

  async function serve(register: (server: grpc.Server) => void): Promise<grpc.Client> {
    const server = new grpc.Server();
    register(server);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    servers.push(server);
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    clients.push(client);
    return client;
  }

  const protocol = new ReflectionProtocol();
  const descriptorSet = compileProtoSources([{ name: 't/v1/t.proto', content: PROTO }]);
  const def = protoLoader.loadFileDescriptorSetFromBuffer(descriptorSet);

  it('falls back to v1alpha and fetches the service file with its imports', async () => {
    const client = await serve((s) => addReflectionKeepingOptions(s, def, descriptorSet, ['v1alpha']));
    const files = await fetchServiceFiles(client, protocol, ['t.v1.Svc'], Date.now() + 5000);
    const set = fromBinary(FileDescriptorSetSchema, assembleFileDescriptorSet(files));
    const reg = createFileRegistry(set);
    assert.ok(reg.getService('t.v1.Svc'));
    assert.ok(reg.getMessage('google.protobuf.Timestamp'));
    // The google.api.http rule arrived with the method.
    assert.equal(TranscoderTable.compile(assembleFileDescriptorSet(files), defaultOptions(['t.v1.Svc'])).matcher.match('GET', '/v1/x').kind, 'match');
  });

  it('an unknown service and a server without reflection are ReflectionFetchErrors', async () => {
    const client = await serve((s) => addReflectionKeepingOptions(s, def, descriptorSet));
    await assert.rejects(fetchServiceFiles(client, protocol, ['t.v1.Nope'], Date.now() + 5000), (e: Error) => e instanceof ReflectionFetchError && /t\.v1\.Nope/.test(e.message));
    const bare = await serve(() => { /* no services */ });
    await assert.rejects(fetchServiceFiles(bare, protocol, ['t.v1.Svc'], Date.now() + 5000), /does not implement gRPC server reflection/);
  });
});

describe('compileReflectionTranscoder', () => {
  it('compiles options, target and interval; equal configs share a key', () => {
    const o = { config: { services: ['a.b.Svc', 'a.b.Other', 'c.Svc'], auto_mapping: true, print_options: { add_whitespace: true } }, reflection_target: 'localhost:8080' };
    const r = compileReflectionTranscoder(o, 'f');
    if (!r.ok) assert.fail(JSON.stringify(r.errors));
    assert.equal(r.value.target, 'localhost:8080');
    assert.equal(r.value.refreshIntervalMs, DEFAULT_REFRESH_INTERVAL_MS);
    assert.deepEqual(r.value.services, ['a.b.Svc', 'a.b.Other', 'c.Svc']);
    assert.equal(r.value.base.table.options.autoMapping, true);
    assert.equal(r.value.base.table.options.print.addWhitespace, true);
    const again = compileReflectionTranscoder(structuredClone(o), 'f');
    assert.ok(again.ok && again.value.key === r.value.key);
  });

  it('reports every problem with its path', () => {
    const r = compileReflectionTranscoder({
      config: { services: [], proto_descriptor: '/x.pb', url_unescape_spec: 'NOPE' },
      reflection_target: 'no-port',
      refresh_interval: { seconds: 0, nanos: 1_000_000 },
      extra: 1,
    }, 'f');
    assert.equal(r.ok, false);
    const paths = r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
    for (const want of [/^f\.reflection_target: expected host:port/, /^f\.refresh_interval: must be at least/, /^f\.config\.proto_descriptor: must be empty/, /^f\.config\.services: /, /^f\.config\.url_unescape_spec: /, /^f\.extra/]) {
      assert.ok(paths.some((p) => want.test(p)), `${want} in ${JSON.stringify(paths)}`);
    }
  });

  it('requires config and reflection_target', () => {
    const r = compileReflectionTranscoder({}, 'f');
    assert.equal(r.ok, false);
    const paths = r.ok ? [] : r.errors.map((e) => e.path);
    assert.ok(paths.includes('f.config') && paths.includes('f.reflection_target'), JSON.stringify(paths));
  });
});
