import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { create, createFileRegistry, fromBinary, toBinary, toJson, type DescMessage, type JsonValue } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema, anyPack } from '@bufbuild/protobuf/wkt';
import * as fc from 'fast-check';
import { InvalidArgumentError } from '../../core/errors';
import { extractVariables } from './path-matcher';
import { parseStreamMessageJson } from './method-binding';
import { TranscoderConfigError, TranscoderTable, type MethodBinding } from './transcoder-table';
import { compileGoogleapis, compileProtoSources } from '../../config/compile/compile-proto';
import { fixtureDescriptorSet, fixtureOptions, fixtureTable } from './transcode-fixture.test-util';

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, fixtureDescriptorSet()));
const REQ = registry.getMessage('test.v1.Req')!;
const RESP = registry.getMessage('test.v1.Resp')!;
const enc = new TextEncoder();
const table = fixtureTable();

/** Matches `method path?query` and builds the request; returns it as ProtoJSON (proto names). */
/** The message of one uncompressed gRPC frame (checks the prefix). */
function unframe(frame: Buffer): Uint8Array {
  assert.equal(frame[0], 0, 'uncompressed frame');
  assert.equal(frame.readUInt32BE(1), frame.length - 5, 'frame length prefix');
  return frame.subarray(5);
}

function call(t: TranscoderTable, method: string, url: string, body?: unknown, contentType = 'application/json'): { binding: MethodBinding; json: Record<string, JsonValue> } {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const m = t.matcher.match(method, path);
  assert.equal(m.kind, 'match', `${method} ${url} should match`);
  if (m.kind !== 'match') throw new Error('unreachable');
  const vars = extractVariables(m.binding.template, m.segments, t.options.unescapeMode);
  assert.ok(Array.isArray(vars));
  const b = m.binding.target;
  const raw = body === undefined ? null : typeof body === 'string' ? enc.encode(body) : body instanceof Uint8Array ? body : enc.encode(JSON.stringify(body));
  const bytes = unframe(b.buildRequestFrame(vars, q < 0 ? null : url.slice(q + 1), raw, contentType));
  const schema = registry.getMessage(b.method.inputType)!;
  return { binding: b, json: toJson(schema, fromBinary(schema, bytes), { useProtoFieldName: true, registry }) as Record<string, JsonValue> };
}

function rejects(t: TranscoderTable, method: string, url: string, body: unknown, pattern: RegExp): void {
  assert.throws(() => call(t, method, url, body), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

function respBytes(schema: DescMessage, init: Record<string, unknown>): Uint8Array {
  return toBinary(schema, create(schema, init as never));
}

describe('TranscoderTable.compile', () => {
  test('every method of the listed services is known by gRPC path, bound or not', () => {
    const m = table.method('/test.v1.Library/Unbound');
    assert.ok(m);
    assert.equal(m.service, 'test.v1.Library');
    assert.equal(m.requestStreaming, false);
    assert.equal(table.method('/test.v1.Library/Watch')?.responseStreaming, true);
    assert.equal(table.method('/test.v1.Library/Bulk')?.requestStreaming, true);
    assert.equal(table.method('/nope.S/M'), undefined);
    assert.equal(table.matcher.match('POST', '/test.v1.Library/Unbound').kind, 'no_match');
  });

  test('auto_mapping binds unannotated methods to POST /pkg.Svc/Method with body *', () => {
    const t = fixtureTable({ autoMapping: true });
    const r = call(t, 'POST', '/test.v1.Library/Unbound', { shelf: 's', id: '5' });
    assert.deepEqual(r.json, { shelf: 's', id: '5' });
    assert.equal(r.binding.body, '*');
  });

  test('405 data: wrong method on a bound path lists Allow', () => {
    const m = table.matcher.match('DELETE', '/v1/shelves/s/books/1');
    assert.deepEqual(m, { kind: 'method_not_allowed', allow: ['GET', 'PATCH'] });
  });

  test('collects every config problem', () => {
    const proto = `syntax = "proto3"; package bad; import "google/api/annotations.proto";
      message R { string a = 1; repeated string list = 2; R nested = 3; }
      service S {
        rpc A(R) returns (R) { option (google.api.http) = { get: "/v1/{missing}" }; }
        rpc B(R) returns (R) { option (google.api.http) = { get: "/v1/{list}" }; }
        rpc C(R) returns (R) { option (google.api.http) = { get: "/v1/{nested}" response_body: "nope" }; }
        rpc D(R) returns (R) { option (google.api.http) = { get: "/v1/x/{a" }; }
        rpc E(R) returns (R) { option (google.api.http) = { get: "/v1/dup" }; }
        rpc F(R) returns (R) { option (google.api.http) = { get: "/v1/dup" }; }
        rpc G(R) returns (R) { option (google.api.http) = { post: "/v1/g/{a}" body: "a" }; }
      }`;
    const set = compileProtoSources([{ name: 'bad.proto', content: proto }]);
    assert.throws(() => TranscoderTable.compile(set, fixtureOptions({ services: ['bad.S', 'bad.Missing'] })), (e: unknown) => {
      assert.ok(e instanceof TranscoderConfigError);
      const all = e.problems.join('\n');
      assert.match(all, /service "bad\.Missing" is not in the descriptor set/);
      assert.match(all, /\/bad\.S\/A: GET \/v1\/\{missing\}: path variable "missing": no field "missing"/);
      assert.match(all, /\/bad\.S\/B: .*"list" must name a singular primitive field/);
      assert.match(all, /\/bad\.S\/C: .*"nested" must name a singular primitive field/);
      assert.match(all, /\/bad\.S\/C: .*response_body "nope": no field/);
      assert.match(all, /\/bad\.S\/D: /);
      assert.match(all, /duplicate HTTP rule GET \/v1\/dup/);
      assert.match(all, /\/bad\.S\/G: .*bound by both the path and the body/);
      assert.equal(e.problems.length, 8);
      return true;
    });
  });

  test('a descriptor set that does not decode is a config error', () => {
    assert.throws(() => TranscoderTable.compile(new Uint8Array([0xff, 0xff, 0xff]), fixtureOptions()), TranscoderConfigError);
  });
});

describe('request building: path', () => {
  test('path variables fill fields, typed (int64 from the path)', () => {
    const r = call(table, 'GET', '/v1/shelves/s%201/books/42');
    assert.deepEqual(r.json, { shelf: 's 1', id: '42' });
  });

  test('multi-segment variable keeps %2F encoded (the Spec)', () => {
    const r = call(table, 'GET', '/v1/shelves/a%2Fb/books/x/y%20z');
    assert.deepEqual(r.json, { resource_name: 'shelves/a%2Fb/books/x/y z' });
  });

  test('a path value of the wrong type is 400 naming the field', () => {
    rejects(table, 'GET', '/v1/shelves/s/books/abc', undefined, /id/);
  });

  test('dotted path variable into a nested message', () => {
    const r = call(table, 'PATCH', '/v1/shelves/s/books/n1', { inner: { count: 3 }, genre: 'FICTION' });
    assert.deepEqual(r.json, { shelf: 's', inner: { name: 'n1', count: 3 }, genre: 'FICTION' });
  });
});

describe('request building: body', () => {
  test('body "*": every non-path field from the body; empty body = {}', () => {
    assert.deepEqual(call(table, 'POST', '/v1/shelves/s:get', { id: 7, tags: ['a'] }).json, { shelf: 's', id: '7', tags: ['a'] });
    assert.deepEqual(call(table, 'POST', '/v1/shelves/s:get', '').json, { shelf: 's' });
  });

  test('body "*": a query parameter is 400 (the Spec: no query with body *), unless ignored', () => {
    rejects(table, 'POST', '/v1/shelves/s:get?id=1', {}, /not allowed.*body: "\*"/);
    const t = fixtureTable({ ignoredQueryParameters: ['key'] });
    assert.deepEqual(call(t, 'POST', '/v1/shelves/s:get?key=abc', {}).json, { shelf: 's' });
  });

  test('body "*" naming a path-bound field: the path wins, or 400 with rejectBindingBodyFieldCollisions', () => {
    assert.deepEqual(call(table, 'POST', '/v1/shelves/s:get', { shelf: 'evil' }).json, { shelf: 's' });
    assert.deepEqual(call(table, 'PATCH', '/v1/shelves/s/books/n1', { inner: { name: 'evil' } }).json, { shelf: 's', inner: { name: 'n1' } });
    const strict = fixtureTable({ rejectBindingBodyFieldCollisions: true });
    rejects(strict, 'POST', '/v1/shelves/s:get', { shelf: 'evil' }, /"shelf" is bound by the URL path/);
    rejects(strict, 'PATCH', '/v1/shelves/s/books/n1', { inner: { name: 'x' } }, /"inner\.name" is bound by the URL path/);
  });

  test('body "field": the JSON value of that field; other fields from the query', () => {
    const r = call(table, 'POST', '/v1/shelves/s/books?id=9&tags=x', { name: 'n', genre: 2 });
    assert.deepEqual(r.json, { shelf: 's', id: '9', tags: ['x'], inner: { name: 'n', genre: 'SCIENCE' } });
  });

  test('body "field" for a repeated field takes a bare JSON array', () => {
    assert.deepEqual(call(table, 'PUT', '/v1/tags', ['a', 'b']).json, { tags: ['a', 'b'] });
    rejects(table, 'PUT', '/v1/tags', { tags: ['a'] }, /tags/);
  });

  test('a query parameter naming a body-bound field is 400', () => {
    rejects(table, 'POST', '/v1/shelves/s/books?inner.count=1', { name: 'n' }, /bound by the request body/);
  });

  test('no body in the rule: a request body is ignored (the Spec: there is no request body)', () => {
    assert.deepEqual(call(table, 'GET', '/v1/shelves/s/books/1', { id: 99, small: 5 }).json, { shelf: 's', id: '1' });
  });

  test('invalid JSON, non-object, wrong types, unknown fields and overflow are 400 naming the field', () => {
    rejects(table, 'POST', '/v1/shelves/s:get', '{"id":', /not valid JSON/);
    rejects(table, 'POST', '/v1/shelves/s:get', '[1]', /must be a JSON object/);
    rejects(table, 'POST', '/v1/shelves/s:get', { flag: 'yes' }, /flag/);
    rejects(table, 'POST', '/v1/shelves/s:get', { small: 2147483648 }, /small/);
    rejects(table, 'POST', '/v1/shelves/s:get', { big: '-1' }, /big/);
    rejects(table, 'POST', '/v1/shelves/s:get', { nope: 1 }, /nope/);
    rejects(table, 'POST', '/v1/shelves/s:get', { genre: 'NOPE' }, /genre/);
    rejects(table, 'POST', '/v1/shelves/s:get', new Uint8Array([0x7b, 0xff, 0x7d]), /UTF-8/);
  });

  test('ignoreUnknownJsonFields drops unknown fields', () => {
    assert.deepEqual(call(fixtureTable({ ignoreUnknownJsonFields: true }), 'POST', '/v1/shelves/s:get', { nope: 1, id: 2 }).json, { shelf: 's', id: '2' });
  });

  test('ProtoJSON input: json_name or proto names, int64 as string or number, bytes std or URL-safe base64, WKTs', () => {
    const r = call(table, 'POST', '/v1/shelves/s:get', {
      resourceName: 'r', customJ: 'c', big: 18446744073709551615n.toString(), id: 12, blob: '-_8', ratio: 'NaN',
      ts: '2024-01-02T03:04:05.5Z', dur: '1.5s', mask: 'a.bC,d', wrapped: 'w', meta: { k: [1, 'x', null] },
      any: { '@type': 'type.googleapis.com/test.v1.Inner', name: 'in' }, wint: 5,
    });
    assert.deepEqual(r.json, {
      shelf: 's', resource_name: 'r', custom_json: 'c', big: '18446744073709551615', id: '12', blob: '+/8=', ratio: 'NaN',
      ts: '2024-01-02T03:04:05.500Z', dur: '1.500s', mask: 'a.bC,d', wrapped: 'w', meta: { k: [1, 'x', null] },
      any: { '@type': 'type.googleapis.com/test.v1.Inner', name: 'in' }, wint: 5,
    });
  });

  test('caseInsensitiveEnumParsing applies to body, path and query', () => {
    rejects(table, 'POST', '/v1/shelves/s:get', { genre: 'fiction' }, /genre/);
    const t = fixtureTable({ caseInsensitiveEnumParsing: true });
    assert.deepEqual(call(t, 'POST', '/v1/shelves/s:get', { genre: 'fiction', inner: { genre: 'Science' }, genres: ['science'] }).json,
      { shelf: 's', genre: 'FICTION', inner: { genre: 'SCIENCE' }, genres: ['SCIENCE'] });
    assert.deepEqual(call(t, 'GET', '/v1/shelves/s/books/1?genre=science').json, { shelf: 's', id: '1', genre: 'SCIENCE' });
  });

  test('HttpBody request: raw bytes + content type, whole message or the body field (path still bound)', () => {
    const bin = new Uint8Array([0, 1, 2, 255]);
    const r = call(table, 'POST', '/v1/raw', bin, 'application/octet-stream');
    assert.equal(r.binding.httpBodyRequest, true);
    assert.deepEqual(r.json, { content_type: 'application/octet-stream', data: 'AAEC/w==' });
    const u = call(table, 'POST', '/v1/shelves/s/upload', enc.encode('<h1/>'), 'text/html');
    assert.equal(u.binding.httpBodyRequest, true);
    assert.deepEqual(u.json, { shelf: 's', file: { content_type: 'text/html', data: Buffer.from('<h1/>').toString('base64') } });
  });

  test('custom kind "*" matches any method', () => {
    assert.equal(call(table, 'OPTIONS', '/v1/any').binding.httpMethod, '*');
  });
});

describe('request building: query', () => {
  const get = (q: string, t = table) => call(t, 'GET', `/v1/shelves/s/books/1?${q}`).json;

  test('scalars, dotted names (proto or json), repeated, enums by name or number', () => {
    assert.deepEqual(get('flag=true&inner.name=n&inner.count=3&small=-4&ratio=1.5&resourceName=r&customJ=c'),
      { shelf: 's', id: '1', flag: true, inner: { name: 'n', count: 3 }, small: -4, ratio: 1.5, resource_name: 'r', custom_json: 'c' });
    assert.deepEqual(get('tags=a&tags=b&genres=FICTION&genres=2&genre=1'), { shelf: 's', id: '1', tags: ['a', 'b'], genres: ['FICTION', 'SCIENCE'], genre: 'FICTION' });
  });

  test('int64/uint64 and bytes (URL-safe base64) in the query', () => {
    assert.deepEqual(get('big=18446744073709551615&blob=-_8'), { shelf: 's', id: '1', big: '18446744073709551615', blob: '+/8=' });
  });

  test('well-known types in their ProtoJSON string forms', () => {
    assert.deepEqual(get('ts=2024-01-02T03:04:05Z&dur=1.5s&mask=a.bC,d&wrapped=w&wint=7'),
      { shelf: 's', id: '1', ts: '2024-01-02T03:04:05Z', dur: '1.500s', mask: 'a.bC,d', wrapped: 'w', wint: 7 });
    assert.deepEqual(get('ts=2024-01-02T03:04:05%2B01:00'), { shelf: 's', id: '1', ts: '2024-01-02T02:04:05Z' });
    assert.throws(() => get('ts=yesterday'), /ts/);
    assert.throws(() => get('dur=90m'), /dur/);
  });

  test('percent-decoding of names and values; + literal unless queryParamUnescapePlus', () => {
    assert.deepEqual(get('inner%2Ename=a%20b+c'), { shelf: 's', id: '1', inner: { name: 'a b+c' } });
    assert.deepEqual(get('inner.name=a+b', fixtureTable({ queryParamUnescapePlus: true })), { shelf: 's', id: '1', inner: { name: 'a b' } });
  });

  test('forbidden targets: maps, repeated messages, messages, path-bound fields → 400', () => {
    assert.throws(() => get('labels=x'), /map field "labels"/);
    assert.throws(() => get('labels.k=x'), /map field "labels"/);
    assert.throws(() => get('inners.name=x'), /repeated message field "inners"/);
    assert.throws(() => get('inner=x'), /message field "inner" cannot be set/);
    assert.throws(() => get('meta=x'), /message field "meta"/);
    assert.throws(() => get('shelf=x'), /"shelf" is bound by the URL path/);
    assert.throws(() => get('flag.x=1'), /has no sub-fields/);
  });

  test('unknown → 400 (or ignored with the option); duplicate singular → 400; bad values → 400', () => {
    assert.throws(() => get('nope=1'), /no field "nope" in test\.v1\.Req/);
    assert.deepEqual(get('nope=1&small=2', fixtureTable({ ignoreUnknownQueryParameters: true })), { shelf: 's', id: '1', small: 2 });
    assert.throws(() => get('small=1&small=2'), /more than one value/);
    assert.throws(() => get('flag=maybe'), /invalid value "maybe" for field "flag"/);
    assert.throws(() => get('genre=NOPE'), /genre/);
    assert.throws(() => get('small=99999999999'), /small/);
    assert.throws(() => get('inner.name=%FF'), /UTF-8/);
  });

  test('property: never throws anything but InvalidArgumentError', () => {
    const names = ['small', 'flag', 'tags', 'genre', 'inner.name', 'inner.count', 'big', 'blob', 'ts', 'dur', 'mask', 'x', 'labels', '', 'inner', 'shelf'];
    const part = fc.tuple(fc.oneof(fc.constantFrom(...names), fc.string()), fc.oneof(fc.string(), fc.fullUnicodeString(), fc.constantFrom('%', '%zz', '%FF', '+', '=', '&'))).map(([k, v]) => `${k}=${v}`);
    fc.assert(fc.property(fc.array(part, { maxLength: 6 }), fc.boolean(), (parts, raw) => {
      const q = parts.join('&');
      const m = table.matcher.match('GET', '/v1/shelves/s/books/1');
      if (m.kind !== 'match') return false;
      try {
        m.binding.target.buildRequestFrame([{ fieldPath: ['shelf'], value: 's' }, { fieldPath: ['id'], value: '1' }], raw ? q : encodeURI(q), null, null);
      } catch (e) {
        if (!(e instanceof InvalidArgumentError)) throw e;
      }
      return true;
    }), { numRuns: 400 });
  });

  test('property: encodeURIComponent round-trips string values and repeated order', () => {
    fc.assert(fc.property(fc.fullUnicodeString(), fc.array(fc.fullUnicodeString(), { maxLength: 4 }), (name, tags) => {
      const q = `inner.name=${encodeURIComponent(name)}${tags.map((t) => `&tags=${encodeURIComponent(t)}`).join('')}`;
      const j = get(q);
      assert.equal((j['inner'] as Record<string, JsonValue> | undefined)?.['name'] ?? '', name);
      assert.deepEqual(j['tags'] ?? [], tags);
    }), { numRuns: 300 });
  });
});

describe('streaming requests', () => {
  test('buildStreamFrame applies path bindings to every message', () => {
    const m = table.matcher.match('POST', '/v1/bulk/s9');
    assert.equal(m.kind, 'match');
    if (m.kind !== 'match') return;
    const vars = extractVariables(m.binding.template, m.segments, 'ALL_CHARACTERS_EXCEPT_SLASH') as never;
    const b1 = unframe(m.binding.target.buildStreamFrame(vars, null, { id: 1 }));
    assert.deepEqual(toJson(REQ, fromBinary(REQ, b1)), { shelf: 's9', id: '1' });
    assert.throws(() => m.binding.target.buildStreamFrame(vars, null, [1]), InvalidArgumentError);
    assert.throws(() => m.binding.target.buildStreamFrame(vars, null, { nope: 1 }), InvalidArgumentError);
  });
});

describe('response printing', () => {
  const info = table.method('/test.v1.Library/Get')!;
  const full = { text: 'hi', count: 5n, genre: 2, nums: [1, 2], inner: create(registry.getMessage('test.v1.Inner')!, { name: 'in' }) };

  test('defaults: lowerCamel, int64 as string, enum names, defaults omitted', () => {
    const r = info.responseBody(respBytes(RESP, full), null);
    assert.deepEqual(r, { json: '{"text":"hi","count":"5","inner":{"name":"in"},"genre":"SCIENCE","nums":[1,2]}' });
  });

  test('print options: whitespace, primitive fields, enums as ints, proto names', () => {
    const t = fixtureTable({ print: { addWhitespace: true, alwaysPrintPrimitiveFields: true, alwaysPrintEnumsAsInts: true, preserveProtoFieldNames: true } });
    const r = t.method('/test.v1.Library/Get')!.responseBody(respBytes(RESP, { text: 'x', ts: { seconds: 1n, nanos: 0 } }), null);
    assert.ok('json' in r);
    assert.equal(r.json, JSON.stringify({ text: 'x', count: '0', genre: 0, nums: [], zero: 0, ts: '1970-01-01T00:00:01Z', counts: {} }, null, 2));
  });

  test('response_body: a scalar, a message, a repeated field, HttpBody', () => {
    const bind = (path: string) => {
      const m = table.matcher.match('GET', path);
      assert.equal(m.kind, 'match');
      return m.kind === 'match' ? m.binding.target : null;
    };
    const bytes = respBytes(RESP, full);
    assert.deepEqual(table.method('/test.v1.Library/Text')!.responseBody(bytes, bind('/v1/text/s')), { json: '"hi"' });
    assert.deepEqual(table.method('/test.v1.Library/Text')!.responseBody(respBytes(RESP, {}), bind('/v1/text/s')), { json: '""' });
    assert.deepEqual(table.method('/test.v1.Library/InnerOut')!.responseBody(bytes, bind('/v1/inner/s')), { json: '{"name":"in"}' });
    assert.deepEqual(table.method('/test.v1.Library/InnerOut')!.responseBody(respBytes(RESP, {}), bind('/v1/inner/s')), { json: '{}' });
    assert.deepEqual(table.method('/test.v1.Library/Nums')!.responseBody(bytes, bind('/v1/nums')), { json: '[1,2]' });
    assert.deepEqual(table.method('/test.v1.Library/Nums')!.responseBody(respBytes(RESP, {}), bind('/v1/nums')), { json: '[]' });
    const page = create(registry.getMessage('google.api.HttpBody')!, { contentType: 'text/html', data: enc.encode('<h1>Hello!</h1>') } as never);
    const r = table.method('/test.v1.Library/Page')!.responseBody(respBytes(RESP, { page }), bind('/v1/page'));
    assert.deepEqual(r, { contentType: 'text/html', data: enc.encode('<h1>Hello!</h1>') });
  });

  test('an HttpBody response is raw data + content type', () => {
    const hb = registry.getMessage('google.api.HttpBody')!;
    const r = table.method('/test.v1.Library/Raw')!.responseBody(respBytes(hb, { contentType: 'image/png', data: new Uint8Array([9]) }), null);
    assert.deepEqual(r, { contentType: 'image/png', data: new Uint8Array([9]) });
  });

  test('undecodable response bytes throw', () => {
    assert.throws(() => info.responseBody(new Uint8Array([0x0a, 0x05, 0x61]), null));
  });
});

describe('statusJson', () => {
  test('without details', () => {
    assert.equal(table.statusJson(5, 'not found', null), '{"code":5,"message":"not found","details":[]}');
  });

  test('decodes google.rpc.BadRequest (from error_details.proto, not in the user set) and keeps unknown Any as base64', () => {
    const base = createFileRegistry(fromBinary(FileDescriptorSetSchema, compileGoogleapis(['google/rpc/status.proto', 'google/rpc/error_details.proto'])));
    const badReq = base.getMessage('google.rpc.BadRequest')!;
    const status = base.getMessage('google.rpc.Status')!;
    const br = create(badReq, { fieldViolations: [{ field: 'book.title', description: 'must not be empty' }] } as never);
    const unknown = { $typeName: 'google.protobuf.Any', typeUrl: 'type.googleapis.com/x.Unknown', value: new Uint8Array([1, 2]) };
    const st = create(status, { code: 3, message: 'bad', details: [anyPack(badReq, br), unknown] } as never);
    const json = JSON.parse(table.statusJson(3, 'bad', toBinary(status, st)));
    assert.deepEqual(json, {
      code: 3, message: 'bad', details: [
        { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'book.title', description: 'must not be empty' }] },
        { '@type': 'type.googleapis.com/x.Unknown', value: 'AQI=' },
      ],
    });
  });

  test('details from the user descriptor set; garbage bytes ignored', () => {
    const inner = registry.getMessage('test.v1.Inner')!;
    const base = createFileRegistry(fromBinary(FileDescriptorSetSchema, compileGoogleapis(['google/rpc/status.proto'])));
    const status = base.getMessage('google.rpc.Status')!;
    const st = create(status, { code: 9, details: [anyPack(inner, create(inner, { name: 'q' }))] } as never);
    assert.deepEqual(JSON.parse(table.statusJson(9, 'm', toBinary(status, st))).details, [{ '@type': 'type.googleapis.com/test.v1.Inner', name: 'q' }]);
    assert.equal(table.statusJson(13, 'x', new Uint8Array([0xff, 0xff])), '{"code":13,"message":"x","details":[]}');
  });
});

describe('JSON object key "__proto__"', () => {
  test('a stream message with it is refused; other texts parse as JSON.parse does', () => {
    assert.throws(() => parseStreamMessageJson('{"labels":{"__proto__":"x"}}'), (e: unknown) => e instanceof InvalidArgumentError && /__proto__/.test(e.message));
    assert.throws(() => parseStreamMessageJson('[{"a":{"\\u005f_proto__":1}}]'), InvalidArgumentError);
    assert.deepEqual(parseStreamMessageJson('{"note":"__proto__","t":"\\u00e9"}'), { note: '__proto__', t: 'é' });
    assert.throws(() => parseStreamMessageJson('{"a":'), SyntaxError);
  });

  test('a unary body with it is refused with the key named', () => {
    rejects(table, 'POST', '/v1/shelves/s:get', '{"__proto__":{}}', /__proto__/);
  });
});
