import { readFileSync } from 'node:fs';
import type { FileReader } from '../../config/compile/http-filter-compiler';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileProtoSources } from '../../config/compile/compile-proto';
import {
  compileGrpcJsonTranscoder, compileGrpcJsonTranscoderPerRoute, DEFAULT_MAX_BODY_BYTES, FILTER_CONFIG_TYPE_URL,
  GRPC_JSON_TRANSCODER_TYPE_URL, type GrpcJsonTranscoderConfig,
} from './config';
import { StreamFraming } from './stream-framing';

const PROTO = `
syntax = "proto3";
package cfg.v1;
import "google/api/annotations.proto";
message M { string name = 1; }
service Svc {
  rpc Get(M) returns (M) { option (google.api.http) = { get: "/v1/{name}" }; }
  rpc List(M) returns (stream M) { option (google.api.http) = { get: "/v1/items" }; }
}
`;
const DESCRIPTORS = Buffer.from(compileProtoSources([{ name: 'cfg/v1/svc.proto', content: PROTO }]));
const BASE = { '@type': GRPC_JSON_TRANSCODER_TYPE_URL, proto_descriptor_bin: DESCRIPTORS, services: ['cfg.v1.Svc'] };

/** Reads no file: tests that name one pass their own reader. */
const NO_FILES: FileReader = (f) => { throw Object.assign(new Error(`unexpected read of ${f}`), { code: 'EACCES' }); };

function errors(o: Record<string, unknown>, readFile: FileReader = NO_FILES): string[] {
  const r = compileGrpcJsonTranscoder(o, 'tc', readFile);
  assert.equal(r.ok, false, 'expected a compile error');
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

function ok(o: Record<string, unknown>, readFile: FileReader = NO_FILES): GrpcJsonTranscoderConfig {
  const r = compileGrpcJsonTranscoder(o, 'tc', readFile);
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.value;
}

describe('grpc_json_transcoder config', () => {
  it('compiles with Remora defaults', () => {
    const c = ok(BASE);
    assert.equal(c.matchIncomingRequestRoute, false);
    assert.equal(c.defaultFraming, StreamFraming.JsonArray);
    assert.equal(c.maxRequestBodyBytes, DEFAULT_MAX_BODY_BYTES);
    assert.equal(c.maxResponseBodyBytes, DEFAULT_MAX_BODY_BYTES);
    assert.equal(c.table.options.unescapeMode, 'ALL_CHARACTERS_EXCEPT_SLASH');
    assert.equal(c.table.options.ignoreUnknownQueryParameters, false);
    assert.equal(c.table.matcher.match('GET', '/v1/abc').kind, 'match');
  });

  it('maps the options', () => {
    const c = ok({
      ...BASE, print_options: { stream_newline_delimited: true, add_whitespace: true }, url_unescape_spec: 'ALL_CHARACTERS_EXCEPT_RESERVED',
      ignore_unknown_query_parameters: true, max_request_body_size: { value: 10 }, max_response_body_size: { value: 20 },
      match_incoming_request_route: true, convert_grpc_status: true, request_validation_options: { reject_unknown_method: true },
    });
    assert.equal(c.defaultFraming, StreamFraming.Ndjson);
    assert.equal(c.table.options.print.addWhitespace, true);
    assert.equal(c.table.options.unescapeMode, 'ALL_CHARACTERS_EXCEPT_RESERVED');
    assert.equal(c.table.options.ignoreUnknownQueryParameters, true);
    assert.equal(c.maxRequestBodyBytes, 10);
    assert.equal(c.maxResponseBodyBytes, 20);
    assert.equal(c.matchIncomingRequestRoute, true);
  });

  it('reads proto_descriptor from a file, reporting an unreadable one at its path', () => {
    ok({ '@type': GRPC_JSON_TRANSCODER_TYPE_URL, proto_descriptor: '/x/svc.pb', services: ['cfg.v1.Svc'] }, () => DESCRIPTORS);
    const e = errors({ '@type': GRPC_JSON_TRANSCODER_TYPE_URL, proto_descriptor: '/nonexistent/svc.pb', services: ['cfg.v1.Svc'] }, (f) => readFileSync(f));
    assert.match(e[0]!, /^tc\.proto_descriptor: cannot read file '\/nonexistent\/svc\.pb': ENOENT/);
  });

  it('reports every problem with its field path', () => {
    const e = errors({
      '@type': GRPC_JSON_TRANSCODER_TYPE_URL, services: [], capture_unknown_query_parameters: true, bogus: 1,
      match_unregistered_custom_verb: true, url_unescape_spec: 'SOMETHING', max_request_body_size: { value: 0 },
      print_options: { stream_newline_delimited: true, stream_sse_style_delimited: true },
    });
    const paths = e.map((x) => x.slice(0, x.indexOf(':')));
    for (const p of ['tc.bogus', 'tc.capture_unknown_query_parameters', 'tc', 'tc.services', 'tc.print_options', 'tc.match_unregistered_custom_verb', 'tc.url_unescape_spec', 'tc.max_request_body_size']) {
      assert.ok(paths.includes(p), `${p} in ${JSON.stringify(e)}`);
    }
  });

  it('rejects both descriptor fields, unknown services and undecodable descriptors', () => {
    assert.match(errors({ ...BASE, proto_descriptor: '/a.pb' }).join('\n'), /only one of proto_descriptor and proto_descriptor_bin/);
    assert.match(errors({ ...BASE, services: ['cfg.v1.Nope'] }).join('\n'), /^tc\.services: .*cfg\.v1\.Nope/m);
    assert.match(errors({ ...BASE, proto_descriptor_bin: Buffer.from([0xff, 0xff, 0xff]) }).join('\n'), /^tc\.proto_descriptor_bin: /m);
  });

  it('per route: FilterConfig{disabled: true} or a full override', () => {
    const d = compileGrpcJsonTranscoderPerRoute({ '@type': FILTER_CONFIG_TYPE_URL, disabled: true }, 'r', NO_FILES);
    assert.ok(d.ok && d.value.disabled);
    const notDisabled = compileGrpcJsonTranscoderPerRoute({ '@type': FILTER_CONFIG_TYPE_URL, is_optional: true }, 'r', NO_FILES);
    assert.ok(!notDisabled.ok && notDisabled.errors[0]!.path === 'r.disabled');
    const full = compileGrpcJsonTranscoderPerRoute({ ...BASE, max_request_body_size: { value: 99 } }, 'r', NO_FILES);
    assert.ok(full.ok && !full.value.disabled && full.value.config.maxRequestBodyBytes === 99);
    const other = compileGrpcJsonTranscoderPerRoute({ '@type': 'type.googleapis.com/x.Y' }, 'r', NO_FILES);
    assert.ok(!other.ok && other.errors[0]!.path === 'r.@type');
  });
});
