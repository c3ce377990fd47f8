/**
 * `remora.filters.http.grpc_validation` end to end: a real sidecar (static bootstrap: the
 * validation filter + router) in front of a real grpc-js upstream that records every request
 * message it receives. Covers: a valid unary call passes byte for byte; each rule kind (string
 * length, pattern, email, uuid, int/double ranges, required, repeated items, map pairs, enum
 * defined_only, field CEL, message CEL) is refused with INVALID_ARGUMENT and a google.rpc.BadRequest
 * naming the field and rule, and the upstream never sees the message; a client stream with an
 * invalid message in the middle (earlier messages reach the upstream, nothing after); server
 * streaming and bidi; bytes that do not decode; a truncated frame; gzip-compressed messages; a
 * route that disables the filter; the metrics. The same checks behind the JSON transcoder and
 * gRPC-Web are in grpc-validation-codecs.test.ts; the shared rig is test/fakes/validation-rig.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { fromBinary } from '@bufbuild/protobuf';
import { SidecarHarness } from './fakes/sidecar-harness';
import { routeTo } from './fakes/bootstrap';
import { waitFor, withTimeout } from './fakes/wait';
import {
  AccountSchema, SERVICE, SVC, encodeRequest, frame, nameOf, startRecordingUpstream, validationListener, violationsOf,
  type RecordingUpstream,
} from './fakes/validation-rig';
import { GRPC_VALIDATION_NAME, GRPC_VALIDATION_TYPE_URL } from '../src/filters/grpc-validation/config';
import { SAMPLE_SERVICE, sampleDescriptorSet } from '../src/codec/validate/validation-fixtures';

// ------------------------------------------------------------------ client side

const AccountsClient = grpc.makeGenericClientConstructor(SERVICE, 'Accounts');
type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function unaryCall(client: Client, req: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client['Create']!(req, (err: grpc.ServiceError | null, res: Buffer) => (err ? reject(err) : resolve(res)));
  });
}

async function expectGrpcError(p: Promise<unknown>, code: grpc.status): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    assert.equal(e.code, code, `expected gRPC status ${code}, got ${e.code}: ${e.details}`);
    return e;
  }
  assert.fail(`expected gRPC status ${code}, the call succeeded`);
}

/** One raw gRPC request over node:http2 with `body` as the request body; resolves grpc-status/-message. */
async function rawCall(port: number, method: string, body: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<{ status: string; message: string }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  try {
    return await withTimeout(new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': `${SVC}/${method}`, 'content-type': 'application/grpc', te: 'trailers', ...headers });
      let status = '';
      let message = '';
      const take = (h: http2.IncomingHttpHeaders): void => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
        if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
      };
      req.on('response', take);
      req.on('trailers', take);
      req.on('data', () => {});
      req.on('error', reject);
      req.on('close', () => resolve({ status, message }));
      req.end(body);
    }), 5000, 'raw gRPC call');
  } finally {
    session.close();
  }
}

// ------------------------------------------------------------------ the sidecar

const VALIDATION_TYPE = GRPC_VALIDATION_TYPE_URL;

describe('gRPC schema validation filter', { timeout: 60_000 }, () => {
  let upstream: RecordingUpstream;
  let sidecar: SidecarHarness;
  let client: Client;
  const descriptor = Buffer.from(sampleDescriptorSet()).toString('base64');

  before(async () => {
    upstream = await startRecordingUpstream();
    sidecar = await SidecarHarness.start({
      listeners: [
        validationListener('validated', { proto_descriptor_bin: descriptor, services: [SAMPLE_SERVICE] }),
        // Only Create is validated; Sync of the same service passes unchecked; /open routes disable the filter.
        validationListener('partial', { proto_descriptor_bin: descriptor, methods: [`${SAMPLE_SERVICE}/Create`] }, [
          routeTo('accounts', { prefix: '/', headers: [{ name: 'x-open', present_match: true }] }, {}, {
            typed_per_filter_config: { [GRPC_VALIDATION_NAME]: { '@type': VALIDATION_TYPE, disabled: true } },
          }),
          routeTo('accounts'),
        ]),
      ],
      clusters: [{ name: 'accounts', endpoints: [{ host: '127.0.0.1', port: upstream.port }], http2: true }],
    });
    client = new AccountsClient(sidecar.target('validated'), grpc.credentials.createInsecure()) as unknown as Client;
  });

  after(async () => {
    client?.close();
    await sidecar?.close();
    upstream?.server.forceShutdown();
  });

  const received = (m: string): Buffer[] => upstream.rec.messages.get(m) ?? [];

  it('a valid unary request reaches the upstream byte for byte', async () => {
    const req = encodeRequest({ name: 'valid-unary' });
    const res = await unaryCall(client, req);
    assert.equal((fromBinary(AccountSchema, res) as unknown as { name: string }).name, 'valid-unary');
    const got = received('Create');
    assert.deepEqual(got[got.length - 1], req);
  });

  const cases: { rule: string; overrides: Record<string, unknown>; field: string; ruleId: string }[] = [
    { rule: 'string min_len', overrides: { name: 'Al' }, field: 'name', ruleId: 'string.min_len' },
    { rule: 'string max_len', overrides: { name: 'x'.repeat(21) }, field: 'name', ruleId: 'string.max_len' },
    { rule: 'string pattern', overrides: { handle: '9lives' }, field: 'handle', ruleId: 'string.pattern' },
    { rule: 'string email', overrides: { email: 'not-an-email' }, field: 'email', ruleId: 'string.email' },
    { rule: 'string uuid', overrides: { id: 'not-a-uuid' }, field: 'id', ruleId: 'string.uuid' },
    { rule: 'int32 range', overrides: { age: 151 }, field: 'age', ruleId: 'int32.gte_lte' },
    { rule: 'double range', overrides: { score: 100 }, field: 'score', ruleId: 'double.gte_lt' },
    { rule: 'required message', overrides: { address: undefined }, field: 'address', ruleId: 'required' },
    { rule: 'nested message rule', overrides: { address: { city: '' } }, field: 'address.city', ruleId: 'string.min_len' },
    { rule: 'repeated min_items', overrides: { tags: [] }, field: 'tags', ruleId: 'repeated.min_items' },
    { rule: 'repeated max_items', overrides: { tags: ['a', 'b', 'c', 'd', 'e', 'f'] }, field: 'tags', ruleId: 'repeated.max_items' },
    { rule: 'map max_pairs', overrides: { labels: { a: '1', b: '2', c: '3', d: '4' } }, field: 'labels', ruleId: 'map.max_pairs' },
    { rule: 'enum defined_only', overrides: { tier: 9 }, field: 'tier', ruleId: 'enum.defined_only' },
    { rule: 'field CEL', overrides: { quota: 3n }, field: 'quota', ruleId: 'quota.even' },
    { rule: 'message CEL', overrides: { age: 17 }, field: '', ruleId: 'age.adult_pro' },
  ];
  for (const c of cases) {
    it(`refuses a ${c.rule} violation with INVALID_ARGUMENT naming '${c.field}' [${c.ruleId}]; the upstream never sees it`, async () => {
      const before = received('Create').length;
      const calls = upstream.rec.calls.get('Create') ?? 0;
      const err = await expectGrpcError(unaryCall(client, encodeRequest(c.overrides)), grpc.status.INVALID_ARGUMENT);
      const v = violationsOf(err);
      assert.equal(v.length, 1, JSON.stringify(v));
      assert.equal(v[0]!.field, c.field);
      assert.match(v[0]!.description, new RegExp(`\\[${c.ruleId.replace('.', '\\.')}\\]$`));
      assert.equal(received('Create').length, before);
      assert.equal(upstream.rec.calls.get('Create') ?? 0, calls, 'the upstream handler was not called');
    });
  }

  it('lists every violation of one message in the BadRequest', async () => {
    const err = await expectGrpcError(unaryCall(client, encodeRequest({ name: 'x', email: 'nope', age: -1, tags: [], tier: 1 })), grpc.status.INVALID_ARGUMENT);
    assert.deepEqual(violationsOf(err).map((v) => v.field), ['name', 'email', 'age', 'tags']);
    assert.match(err.details, /^invalid request: name: .* \[string\.min_len\], and 3 more violations$/);
  });

  it('a client stream forwards the valid messages before an invalid one, then ends with INVALID_ARGUMENT and forwards nothing after', async () => {
    const before = received('Import').length;
    const cancelledBefore = upstream.rec.cancelled;
    let done!: (e: grpc.ServiceError | null) => void;
    const result = new Promise<grpc.ServiceError | null>((r) => { done = r; });
    const call = client['Import']!((err: grpc.ServiceError | null) => done(err)) as grpc.ClientWritableStream<Buffer>;
    call.write(encodeRequest({ name: 'first' }));
    call.write(encodeRequest({ name: 'second' }));
    await waitFor(() => received('Import').length === before + 2, { what: 'the upstream received the two valid messages' });
    call.write(encodeRequest({ name: 'third', email: 'bad' }));
    call.write(encodeRequest({ name: 'fourth' }));
    call.end();
    const err = await withTimeout(result, 5000, 'client stream result');
    assert.ok(err !== null, 'the stream failed');
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(violationsOf(err)[0]!.field, 'email');
    await waitFor(() => upstream.rec.cancelled > cancelledBefore, { what: 'the upstream call was cancelled' });
    assert.deepEqual(received('Import').slice(before).map(nameOf), ['first', 'second']);
  });

  it('a valid client stream completes', async () => {
    const res = await new Promise<Buffer>((resolve, reject) => {
      const call = client['Import']!((err: grpc.ServiceError | null, r: Buffer) => (err ? reject(err) : resolve(r))) as grpc.ClientWritableStream<Buffer>;
      for (let i = 0; i < 5; i++) call.write(encodeRequest({ name: `bulk-${i}` }));
      call.end();
    });
    assert.equal((fromBinary(AccountSchema, res) as unknown as { id: string }).id, '5');
  });

  it('server streaming: a valid request streams, an invalid one is refused before the upstream is called', async () => {
    const stream = (req: Buffer): Promise<Buffer[]> => new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const call = client['Watch']!(req) as grpc.ClientReadableStream<Buffer>;
      call.on('data', (b: Buffer) => out.push(b));
      call.on('error', reject);
      call.on('end', () => resolve(out));
    });
    assert.equal((await stream(encodeRequest({ name: 'watcher' }))).length, 3);
    const calls = upstream.rec.calls.get('Watch') ?? 0;
    const err = await expectGrpcError(stream(encodeRequest({ tags: [] })), grpc.status.INVALID_ARGUMENT);
    assert.equal(violationsOf(err)[0]!.field, 'tags');
    assert.equal(upstream.rec.calls.get('Watch') ?? 0, calls);
  });

  it('bidi: valid messages are answered, the first invalid one ends the stream', async () => {
    const before = received('Sync').length;
    const call = client['Sync']!() as grpc.ClientDuplexStream<Buffer, Buffer>;
    const replies: string[] = [];
    const ended = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    call.on('data', (b: Buffer) => replies.push((fromBinary(AccountSchema, b) as unknown as { name: string }).name));
    call.write(encodeRequest({ name: 'ping-1' }));
    await waitFor(() => replies.length === 1, { what: 'first reply' });
    call.write(encodeRequest({ name: 'ping-2', id: 'nope' }));
    call.write(encodeRequest({ name: 'ping-3' }));
    const err = await withTimeout(ended, 5000, 'bidi error');
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    // The response had started, so the status (and grpc-status-details-bin) travel in trailers.
    assert.match(err.details, /^invalid request: id: .*\[string\.uuid\]$/);
    assert.deepEqual(violationsOf(err).map((v) => v.field), ['id']);
    assert.deepEqual(replies, ['ping-1']);
    assert.deepEqual(received('Sync').slice(before).map(nameOf), ['ping-1']);
  });

  it('bytes that do not decode and a truncated frame are INVALID_ARGUMENT; the upstream is not called', async () => {
    const calls = upstream.rec.calls.get('Create') ?? 0;
    const port = sidecar.port('validated');
    const garbage = await rawCall(port, 'Create', frame(Buffer.from([0xff, 0xff, 0xff, 0xff])));
    assert.equal(garbage.status, String(grpc.status.INVALID_ARGUMENT));
    assert.match(garbage.message, /does not decode as remora\.test\.validation\.v1\.CreateAccountRequest/);
    const truncated = await rawCall(port, 'Create', frame(encodeRequest()).subarray(0, 20));
    assert.equal(truncated.status, String(grpc.status.INVALID_ARGUMENT));
    const compressedWithoutEncoding = await rawCall(port, 'Create', frame(encodeRequest(), 1));
    assert.equal(compressedWithoutEncoding.status, String(grpc.status.INVALID_ARGUMENT));
    assert.equal(upstream.rec.calls.get('Create') ?? 0, calls);
  });

  it('gzip-compressed messages are validated and forwarded compressed', async () => {
    const gz = new AccountsClient(sidecar.target('validated'), grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip }) as unknown as Client;
    try {
      const res = await unaryCall(gz, encodeRequest({ name: 'zipped' }));
      assert.equal((fromBinary(AccountSchema, res) as unknown as { name: string }).name, 'zipped');
      const err = await expectGrpcError(unaryCall(gz, encodeRequest({ name: 'z' })), grpc.status.INVALID_ARGUMENT);
      assert.equal(violationsOf(err)[0]!.field, 'name');
    } finally {
      gz.close();
    }
  });

  it('only listed methods are validated, and a route can disable the filter', async () => {
    const partial = new AccountsClient(sidecar.target('partial'), grpc.credentials.createInsecure()) as unknown as Client;
    try {
      await expectGrpcError(unaryCall(partial, encodeRequest({ name: 'x' })), grpc.status.INVALID_ARGUMENT);
      const open = await new Promise<Buffer>((resolve, reject) => {
        const md = new grpc.Metadata();
        md.set('x-open', '1');
        partial['Create']!(encodeRequest({ name: 'x' }), md, (err: grpc.ServiceError | null, r: Buffer) => (err ? reject(err) : resolve(r)));
      });
      assert.equal((fromBinary(AccountSchema, open) as unknown as { name: string }).name, 'x');
      // Sync is not listed on this listener: an invalid message passes.
      const before = received('Sync').length;
      const call = partial['Sync']!() as grpc.ClientDuplexStream<Buffer, Buffer>;
      const replies = new Promise<number>((resolve, reject) => { let n = 0; call.on('data', () => n++); call.on('error', reject); call.on('end', () => resolve(n)); });
      call.write(encodeRequest({ name: 'x' }));
      call.end();
      assert.equal(await replies, 1);
      assert.deepEqual(received('Sync').slice(before).map(nameOf), ['x']);
    } finally {
      partial.close();
    }
  });

  it('counts validated messages and failures by reason', async () => {
    const m = await sidecar.metrics();
    const l = { listener: 'validated' };
    // constraint: 15 rule cases + all-violations + client stream + server stream + bidi + gzip
    assert.equal(m.sum('remora_grpc_validation_failures_total', { ...l, reason: 'constraint' }), cases.length + 5);
    // decode: garbage, truncated, compressed without grpc-encoding
    assert.equal(m.sum('remora_grpc_validation_failures_total', { ...l, reason: 'decode' }), 3);
    // valid: unary 1 + client stream 2 + valid stream 5 + server stream 1 + bidi 1 + gzip 1
    assert.equal(m.sum('remora_grpc_validation_messages_total', l), 11);
    assert.equal(m.sum('remora_grpc_validation_failures_total', { listener: 'partial' }), 1);
  });
});
