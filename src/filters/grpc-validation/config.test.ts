/**
 * Unit tests of the grpc_validation config compiler: descriptor sources (inline bytes, a file, a
 * missing file), required fields, listener vs per-route `disabled`, max_message_bytes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileGrpcValidation, compileGrpcValidationPerRoute, DEFAULT_MAX_MESSAGE_BYTES } from './config';
import { SAMPLE_SERVICE, sampleDescriptorSet } from '../../codec/validate/validation-fixtures';

const SET = Buffer.from(sampleDescriptorSet());

/** Reads no file (the cases that name one pass their own reader). */
const NO_FILES = { readFile: (f: string): Buffer => { throw new Error(`unexpected read of ${f}`); } };

describe('compileGrpcValidation', () => {
  it('compiles inline bytes with defaults', () => {
    const r = compileGrpcValidation({ proto_descriptor_bin: SET, services: [SAMPLE_SERVICE] }, 'f', NO_FILES);
    assert.ok(r.ok);
    assert.equal(r.value.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES);
    assert.equal(r.value.table.size, 4);
  });

  it('reads proto_descriptor through deps.readFile and reports a missing file with its path', () => {
    const files: Record<string, Buffer> = { '/d.pb': SET };
    const readFile = (p: string): Buffer => {
      const b = files[p];
      if (b === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return b;
    };
    const ok = compileGrpcValidation({ proto_descriptor: '/d.pb', methods: [`/${SAMPLE_SERVICE}/Create`], max_message_bytes: { value: 1024 } }, 'f', { readFile });
    assert.ok(ok.ok);
    assert.equal(ok.value.maxMessageBytes, 1024);
    const missing = compileGrpcValidation({ proto_descriptor: '/x.pb', services: [SAMPLE_SERVICE] }, 'f', { readFile });
    assert.deepEqual(!missing.ok && missing.errors, [{ path: 'f.proto_descriptor', message: "cannot read file '/x.pb': ENOENT" }]);
  });

  it('requires a descriptor set and a service or method, and refuses disabled on the filter', () => {
    const r = compileGrpcValidation({ disabled: true }, 'f', NO_FILES);
    assert.deepEqual(!r.ok && r.errors.map((e) => e.path), ['f.disabled', 'f', 'f']);
  });

  it('per route accepts only disabled', () => {
    const r = compileGrpcValidationPerRoute({ disabled: true }, 'p');
    assert.ok(r.ok && r.value.disabled);
    const bad = compileGrpcValidationPerRoute({ services: ['x'] }, 'p');
    assert.deepEqual(!bad.ok && bad.errors.map((e) => e.path), ['p.services']);
  });
});
