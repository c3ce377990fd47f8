/**
 * Unit tests of the validator compilation (config errors with paths, buf/validate completion, CEL
 * compile errors at config time, fail_fast) and of message checks (decode vs constraint, the
 * encoded google.rpc.Status with its BadRequest).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create, setExtension, toBinary } from '@bufbuild/protobuf';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { field as fieldRulesExt, FieldRulesSchema } from '@bufbuild/protovalidate/gen/buf/validate/validate_pb.js';
import { compileValidatorTable } from './message-validator';
import { bufValidateDescriptorSet, bufValidateFileProtos } from './buf-validate-descriptors';
import { SAMPLE_SERVICE, sampleDescriptorSet, sampleFileProto, sampleSchemas, validRequestInit } from './validation-fixtures';
import { BAD_REQUEST_TYPE_URL } from './bad-request';

const { request } = sampleSchemas();
const encode = (o: Record<string, unknown> = {}): Uint8Array => toBinary(request, create(request, { ...validRequestInit(), ...o } as never));

function table(set: Uint8Array = sampleDescriptorSet(), failFast = false) {
  const r = compileValidatorTable(set, { services: [SAMPLE_SERVICE], methods: [] }, { failFast }, 'f');
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.value;
}

/** Reads google.rpc.Status {code, message, details[{type_url, value}]} from the wire. */
function readStatus(bytes: Uint8Array): { code: number; message: string; details: { typeUrl: string; value: Uint8Array }[] } {
  const r = new BinaryReader(bytes);
  const out = { code: 0, message: '', details: [] as { typeUrl: string; value: Uint8Array }[] };
  while (r.pos < r.len) {
    const [no] = r.tag();
    if (no === 1) out.code = r.int32();
    else if (no === 2) out.message = r.string();
    else if (no === 3) {
      const a = new BinaryReader(r.bytes());
      const d: { typeUrl: string; value: Uint8Array } = { typeUrl: '', value: new Uint8Array() };
      while (a.pos < a.len) {
        const [n] = a.tag();
        if (n === 1) d.typeUrl = a.string(); else d.value = a.bytes();
      }
      out.details.push(d);
    }
  }
  return out;
}

describe('compileValidatorTable', () => {
  it('indexes every method of a listed service by :path and knows the streaming kinds', () => {
    const t = table();
    assert.deepEqual(t.paths().sort(), ['Create', 'Import', 'Sync', 'Watch'].map((m) => `/${SAMPLE_SERVICE}/${m}`).sort());
    assert.equal(t.get(`/${SAMPLE_SERVICE}/Create`)!.clientStreaming, false);
    assert.equal(t.get(`/${SAMPLE_SERVICE}/Import`)!.clientStreaming, true);
    assert.equal(t.get(`/${SAMPLE_SERVICE}/Watch`)!.serverStreaming, true);
    assert.equal(t.get('/other.Svc/Create'), null);
  });

  it('adds buf/validate/validate.proto when the set lacks it', () => {
    assert.equal(table(sampleDescriptorSet(false)).size, 4);
  });

  it('reports unknown services and methods and malformed method names with their paths', () => {
    const r = compileValidatorTable(sampleDescriptorSet(), { services: ['nope.Svc'], methods: [`${SAMPLE_SERVICE}/Nope`, 'bad'] }, {}, 'cfg');
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.errors.map((e) => e.path), ['cfg.services[0]', 'cfg.methods[0]', 'cfg.methods[1]']);
  });

  it('fails the config when the bytes are not a descriptor set, or a rule does not compile', () => {
    const junk = compileValidatorTable(new Uint8Array([0xff, 0xff]), { services: [SAMPLE_SERVICE], methods: [] }, {}, 'cfg');
    assert.equal(junk.ok, false);
    const file = sampleFileProto();
    const quota = file.messageType[1]!.field.find((f) => f.name === 'quota')!;
    setExtension(quota.options!, fieldRulesExt, create(FieldRulesSchema, { cel: [{ id: 'bad', expression: 'this +' }] }));
    const set = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [...bufValidateFileProtos(), file] }));
    const r = compileValidatorTable(set, { services: [], methods: [`${SAMPLE_SERVICE}/Create`] }, {}, 'cfg');
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.errors[0]!.message : '', /rules of remora\.test\.validation\.v1\.CreateAccountRequest do not compile/);
  });

  it('bufValidateDescriptorSet holds validate.proto and its imports', () => {
    assert.ok(bufValidateDescriptorSet().length > 1000);
    assert.deepEqual(bufValidateFileProtos().map((f) => f.name).slice(-1), ['buf/validate/validate.proto']);
  });
});

describe('MethodValidator.check', () => {
  const v = table().get(`/${SAMPLE_SERVICE}/Create`)!;

  it('returns null for a valid message', () => {
    assert.equal(v.check(encode()), null);
  });

  it('rejects undecodable bytes as decode with an INVALID_ARGUMENT Status and no details', () => {
    const r = v.check(new Uint8Array([0xff, 0xff, 0xff]))!;
    assert.equal(r.reason, 'decode');
    const s = readStatus(r.details);
    assert.equal(s.code, 3);
    assert.equal(s.message, r.message);
    assert.equal(s.details.length, 0);
  });

  it('lists every violation in one BadRequest; fail_fast keeps only the first', () => {
    const bad = encode({ name: 'x', age: 200, tier: 1 });
    const r = v.check(bad)!;
    assert.equal(r.reason, 'constraint');
    assert.deepEqual(r.violations.map((x) => x.field), ['name', 'age']);
    const s = readStatus(r.details);
    assert.equal(s.details.length, 1);
    assert.equal(s.details[0]!.typeUrl, BAD_REQUEST_TYPE_URL);
    assert.ok(Buffer.from(s.details[0]!.value).includes('[int32.gte_lte]'));
    const fast = table(sampleDescriptorSet(), true).get(`/${SAMPLE_SERVICE}/Create`)!;
    assert.equal(fast.check(bad)!.violations.length, 1);
  });
});
