/**
 * Schema validation behind the codec filters, end to end: a real sidecar whose listeners run
 * `envoy.filters.http.grpc_json_transcoder` (listener `json`) or `envoy.filters.http.grpc_web`
 * (listener `web`) BEFORE `remora.filters.http.grpc_validation`, in front of the recording grpc-js
 * Accounts upstream (test/fakes/validation-rig.ts). The sample schema carries buf.validate rules and
 * google.api.http bindings (`post /v1/accounts`, `post /v1/accounts:import`, `post /v1/accounts:watch`,
 * body "*"). Covers: a valid JSON call reaches the upstream as the exact message; JSON calls breaking
 * rules get HTTP 400 with a google.rpc.Status JSON body whose google.rpc.BadRequest names the field
 * paths, the upstream is never called; a JSON client stream (array) with one bad element in the
 * middle forwards the elements before it and ends 400/INVALID_ARGUMENT; a server-streaming JSON
 * call with an invalid request is refused before the upstream; gRPC-Web binary (HTTP/1.1 and
 * HTTP/2) and text: a valid call passes, a violation ends in a trailer frame with grpc-status 3 and a
 * grpc-status-details-bin carrying the BadRequest, bytes that do not decode are INVALID_ARGUMENT,
 * and the upstream is never reached; the validation filter's metrics count all of it per listener.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toJson } from '@bufbuild/protobuf';
import { SidecarHarness } from './fakes/sidecar-harness';
import { httpRequest } from './fakes/http-client';
import { waitFor, withTimeout } from './fakes/wait';
import { parseGrpcWebBody, type GrpcWebReply } from './fakes/grpc-web-rig';
import {
  AccountSchema, RequestSchema, SVC, encodeRequest, frame, nameOf, startRecordingUpstream, statusViolations, validationListener,
  type RecordingUpstream, type Violation,
} from './fakes/validation-rig';
import { SAMPLE_HTTP_PATHS, SAMPLE_SERVICE, sampleDescriptorSet, validRequestInit } from '../src/codec/validate/validation-fixtures';
import { BAD_REQUEST_TYPE_URL } from '../src/codec/validate/bad-request';
import { GRPC_JSON_TRANSCODER_NAME, GRPC_JSON_TRANSCODER_TYPE_URL } from '../src/filters/grpc-json-transcoder/config';
import { Base64StreamDecoder } from '../src/filters/grpc-web/base64-stream';

const GRPC_WEB_NAME = 'envoy.filters.http.grpc_web';
const GRPC_WEB_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb';

/** The ProtoJSON of a CreateAccountRequest from `validRequestInit()` with `overrides`. */
function requestJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const msg = create(RequestSchema, { ...validRequestInit(), ...overrides } as never);
  return toJson(RequestSchema, msg) as Record<string, unknown>;
}

/** A BadRequest.FieldViolation in ProtoJSON: `field` is omitted when empty (a message-level rule). */
interface JsonViolation { field?: string; description: string }
interface JsonStatus { code: number; message: string; details: { '@type': string; fieldViolations?: JsonViolation[] }[] }

/** Asserts a google.rpc.Status JSON body with INVALID_ARGUMENT and a BadRequest; returns its violations. */
function jsonViolations(status: number, contentType: unknown, body: Buffer): JsonViolation[] {
  assert.equal(status, 400, body.toString());
  assert.match(String(contentType), /^application\/json/);
  const s = JSON.parse(body.toString('utf8')) as JsonStatus;
  assert.equal(s.code, grpc.status.INVALID_ARGUMENT);
  assert.match(s.message, /^invalid request: /);
  const br = s.details[0];
  assert.ok(br !== undefined && br['@type'] === BAD_REQUEST_TYPE_URL, `details hold a google.rpc.BadRequest: ${body.toString()}`);
  return br.fieldViolations ?? [];
}

/** The violations of a gRPC-Web reply's trailer frame (grpc-status 3 + grpc-status-details-bin). */
function webViolations(reply: GrpcWebReply): Violation[] {
  assert.equal(reply.trailers['grpc-status'], String(grpc.status.INVALID_ARGUMENT), JSON.stringify(reply.trailers));
  assert.ok(reply.trailersLast, 'the trailer frame ends the body');
  const bin = reply.trailers['grpc-status-details-bin'];
  assert.ok(bin !== undefined, `grpc-status-details-bin is in the trailer frame: ${JSON.stringify(reply.trailers)}`);
  return statusViolations(Buffer.from(bin, 'base64'), decodeURIComponent(reply.trailers['grpc-message'] ?? ''));
}

function fromText(body: Buffer): Buffer {
  const out = new Base64StreamDecoder().push(body);
  assert.ok(out !== null, `not base64: ${body.toString('latin1')}`);
  return out;
}

describe('schema validation behind the JSON transcoder and gRPC-Web', { timeout: 60_000 }, () => {
  let upstream: RecordingUpstream;
  let sidecar: SidecarHarness;
  let session: http2.ClientHttp2Session;
  const descriptor = Buffer.from(sampleDescriptorSet(true, { httpRules: true })).toString('base64');
  const validation = { proto_descriptor_bin: descriptor, services: [SAMPLE_SERVICE] };

  before(async () => {
    upstream = await startRecordingUpstream();
    sidecar = await SidecarHarness.start({
      listeners: [
        validationListener('json', validation, undefined, [{
          name: GRPC_JSON_TRANSCODER_NAME,
          typed_config: { '@type': GRPC_JSON_TRANSCODER_TYPE_URL, proto_descriptor_bin: descriptor, services: [SAMPLE_SERVICE] },
        }]),
        validationListener('web', validation, undefined, [{ name: GRPC_WEB_NAME, typed_config: { '@type': GRPC_WEB_TYPE } }]),
      ],
      clusters: [{ name: 'accounts', endpoints: [{ host: '127.0.0.1', port: upstream.port }], http2: true }],
    });
    session = http2.connect(`http://127.0.0.1:${sidecar.port('json')}`);
    session.on('error', () => {});
  });

  after(async () => {
    await new Promise<void>((resolve) => (session === undefined ? resolve() : session.close(() => resolve())));
    await sidecar?.close();
    upstream?.server.forceShutdown();
  });

  const received = (m: string): Buffer[] => upstream.rec.messages.get(m) ?? [];
  const calls = (m: string): number => upstream.rec.calls.get(m) ?? 0;

  /** POSTs `body` (JSON-encoded unless a string) to the json listener over HTTP/1.1. */
  const postJson = (path: string, body: unknown) => httpRequest(sidecar.port('json'), {
    method: 'POST', path, headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });

  // ---------------------------------------------------------------- JSON

  describe('JSON through grpc_json_transcoder', () => {
    it('a valid JSON call reaches the upstream as the exact message and answers JSON', async () => {
      const res = await postJson(SAMPLE_HTTP_PATHS.Create, requestJson({ name: 'json-valid' }));
      assert.equal(res.status, 200, res.text());
      assert.deepEqual(res.json(), { id: 'a1', name: 'json-valid' });
      const got = received('Create');
      assert.deepEqual(got[got.length - 1], encodeRequest({ name: 'json-valid' }));
    });

    const cases: { rule: string; overrides: Record<string, unknown>; fields: string[]; ruleId: string }[] = [
      { rule: 'string min_len', overrides: { name: 'Al' }, fields: ['name'], ruleId: 'string.min_len' },
      { rule: 'nested message rule', overrides: { address: { city: '' } }, fields: ['address.city'], ruleId: 'string.min_len' },
      { rule: 'required message', overrides: { address: undefined }, fields: ['address'], ruleId: 'required' },
      { rule: 'enum defined_only', overrides: { tier: 9 }, fields: ['tier'], ruleId: 'enum.defined_only' },
      { rule: 'field CEL on an int64', overrides: { quota: 3n }, fields: ['quota'], ruleId: 'quota.even' },
      { rule: 'message CEL', overrides: { age: 17 }, fields: [''], ruleId: 'age.adult_pro' },
      { rule: 'several rules at once', overrides: { name: 'x', email: 'nope', age: -1, tags: [] }, fields: ['name', 'email', 'age', 'tags', ''], ruleId: 'age.adult_pro' },
    ];
    for (const c of cases) {
      it(`refuses a ${c.rule} violation with 400 + Status JSON naming ${JSON.stringify(c.fields)}; the upstream is never called`, async () => {
        const before = calls('Create');
        const res = await postJson(SAMPLE_HTTP_PATHS.Create, requestJson(c.overrides));
        const v = jsonViolations(res.status, res.headers['content-type'], res.body);
        assert.deepEqual(v.map((x) => x.field ?? ''), c.fields);
        assert.match(v[v.length - 1]!.description, new RegExp(`\\[${c.ruleId.replace('.', '\\.')}\\]$`));
        assert.equal(calls('Create'), before, 'the upstream handler was not called');
      });
    }

    it('a server-streaming JSON call with an invalid request is refused before the upstream', async () => {
      const before = calls('Watch');
      const res = await postJson(SAMPLE_HTTP_PATHS.Watch, requestJson({ tags: [] }));
      assert.deepEqual(jsonViolations(res.status, res.headers['content-type'], res.body).map((x) => x.field), ['tags']);
      assert.equal(calls('Watch'), before);
      const ok = await postJson(SAMPLE_HTTP_PATHS.Watch, requestJson({ name: 'watcher' }));
      assert.equal(ok.status, 200, ok.text());
      assert.equal(calls('Watch'), before + 1);
    });

    it('a JSON client stream forwards the elements before a bad one, then ends 400/INVALID_ARGUMENT and forwards nothing after', async () => {
      const before = received('Import').length;
      const cancelledBefore = upstream.rec.cancelled;
      const stream = session.request({ ':method': 'POST', ':path': SAMPLE_HTTP_PATHS.Import, 'content-type': 'application/json' });
      const result = withTimeout(new Promise<{ status: number; contentType: unknown; body: Buffer }>((resolve, reject) => {
        let status = 0;
        let contentType: unknown;
        const chunks: Buffer[] = [];
        stream.on('response', (h) => { status = Number(h[':status']); contentType = h['content-type']; });
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', reject);
        stream.on('close', () => resolve({ status, contentType, body: Buffer.concat(chunks) }));
      }), 10_000, 'JSON client stream');
      stream.write(`[${JSON.stringify(requestJson({ name: 'first' }))},${JSON.stringify(requestJson({ name: 'second' }))},`);
      await waitFor(() => received('Import').length === before + 2, { what: 'the upstream received the two valid elements' });
      stream.end(`${JSON.stringify(requestJson({ name: 'third', email: 'bad' }))},${JSON.stringify(requestJson({ name: 'fourth' }))}]`);
      const res = await result;
      const v = jsonViolations(res.status, res.contentType, res.body);
      assert.deepEqual(v.map((x) => x.field), ['email']);
      await waitFor(() => upstream.rec.cancelled > cancelledBefore, { what: 'the upstream call was cancelled' });
      assert.deepEqual(received('Import').slice(before).map(nameOf), ['first', 'second']);
    });

    it('a valid JSON client stream completes', async () => {
      const res = await postJson(SAMPLE_HTTP_PATHS.Import, [0, 1, 2].map((i) => requestJson({ name: `bulk-${i}` })));
      assert.equal(res.status, 200, res.text());
      assert.deepEqual(res.json(), { id: '3', name: 'imported' });
    });
  });

  // ---------------------------------------------------------------- gRPC-Web

  describe('gRPC-Web through grpc_web', () => {
    const createPath = `${SVC}/Create`;
    const web = (body: Buffer, text: boolean) => httpRequest(sidecar.port('web'), {
      method: 'POST', path: createPath,
      headers: { 'content-type': text ? 'application/grpc-web-text' : 'application/grpc-web+proto', 'x-grpc-web': '1' },
      body: text ? Buffer.from(body.toString('base64')) : body,
    });
    const reply = (res: { status: number; body: Buffer }, text: boolean): GrpcWebReply => {
      assert.equal(res.status, 200);
      return parseGrpcWebBody(text ? fromText(res.body) : res.body);
    };

    for (const text of [false, true]) {
      const kind = text ? 'text' : 'binary';
      it(`${kind}: a valid call passes; the upstream receives the exact message`, async () => {
        const req = encodeRequest({ name: `web-${kind}` });
        const r = reply(await web(frame(req), text), text);
        assert.equal(r.trailers['grpc-status'], '0', JSON.stringify(r.trailers));
        assert.equal(r.messages.length, 1);
        assert.equal((fromBinary(AccountSchema, r.messages[0]!) as unknown as { name: string }).name, `web-${kind}`);
        const got = received('Create');
        assert.deepEqual(got[got.length - 1], req);
      });

      it(`${kind}: a violation ends in a trailer frame with grpc-status 3 and the BadRequest; the upstream is never reached`, async () => {
        const before = calls('Create');
        const r = reply(await web(frame(encodeRequest({ handle: '9lives', address: { city: '' } })), text), text);
        assert.equal(r.messages.length, 0);
        const v = webViolations(r);
        assert.deepEqual(v.map((x) => x.field), ['handle', 'address.city']);
        assert.match(v[0]!.description, /\[string\.pattern\]$/);
        assert.equal(calls('Create'), before);
      });

      it(`${kind}: bytes that do not decode are INVALID_ARGUMENT; the upstream is never reached`, async () => {
        const before = calls('Create');
        const r = reply(await web(frame(Buffer.from([0xff, 0xff, 0xff, 0xff])), text), text);
        assert.equal(r.trailers['grpc-status'], String(grpc.status.INVALID_ARGUMENT), JSON.stringify(r.trailers));
        assert.match(decodeURIComponent(r.trailers['grpc-message'] ?? ''), /does not decode as remora\.test\.validation\.v1\.CreateAccountRequest/);
        assert.equal(calls('Create'), before);
      });
    }

    it('binary over HTTP/2: a violation is a trailer frame too', async () => {
      const before = calls('Create');
      const s = http2.connect(`http://127.0.0.1:${sidecar.port('web')}`);
      s.on('error', () => {});
      try {
        const body = await withTimeout(new Promise<Buffer>((resolve, reject) => {
          const req = s.request({ ':method': 'POST', ':path': createPath, 'content-type': 'application/grpc-web', 'x-grpc-web': '1' });
          const chunks: Buffer[] = [];
          req.on('response', (h) => { if (h[':status'] !== 200) reject(new Error(`status ${String(h[':status'])}`)); });
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('error', reject);
          req.on('close', () => resolve(Buffer.concat(chunks)));
          req.end(frame(encodeRequest({ id: 'not-a-uuid' })));
        }), 5000, 'gRPC-Web over HTTP/2');
        assert.deepEqual(webViolations(parseGrpcWebBody(body)).map((x) => x.field), ['id']);
      } finally {
        s.close();
      }
      assert.equal(calls('Create'), before);
    });
  });

  // ---------------------------------------------------------------- metrics

  it('the validation filter counts the messages and refusals of each codec listener', async () => {
    const m = await sidecar.metrics();
    const json = { listener: 'json' };
    // constraint: 7 unary cases + server stream + client stream element
    assert.equal(m.sum('remora_grpc_validation_failures_total', { ...json, reason: 'constraint' }), 9);
    // valid: unary 1 + watch 1 + client stream 2 + valid client stream 3
    assert.equal(m.sum('remora_grpc_validation_messages_total', json), 7);
    const web = { listener: 'web' };
    // constraint: binary + text + HTTP/2; decode: binary + text
    assert.equal(m.sum('remora_grpc_validation_failures_total', { ...web, reason: 'constraint' }), 3);
    assert.equal(m.sum('remora_grpc_validation_failures_total', { ...web, reason: 'decode' }), 2);
    assert.equal(m.sum('remora_grpc_validation_messages_total', web), 2);
  });
});
