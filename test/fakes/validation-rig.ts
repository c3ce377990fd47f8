/**
 * Shared setup of the schema-validation e2e tests (test/grpc-validation*.test.ts): the recording
 * grpc-js `Accounts` upstream for the sample schema (src/codec/validate/validation-fixtures.ts)
 * that keeps every request message it receives as raw bytes, request/response encoding, reading
 * google.rpc.Status / google.rpc.BadRequest (googleapis protos from @grpc/grpc-js-xds), gRPC framing
 * of a request body, and a listener spec with the validation filter after optional codec filters.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ROUTER_TYPE, routeTo, type ListenerSpec } from './bootstrap';
import { GRPC_VALIDATION_NAME, GRPC_VALIDATION_TYPE_URL } from '../../src/filters/grpc-validation/config';
import { SAMPLE_SERVICE, sampleSchemas, validRequestInit } from '../../src/codec/validate/validation-fixtures';
import { BAD_REQUEST_TYPE_URL } from '../../src/codec/validate/bad-request';

export const { request: RequestSchema, response: AccountSchema } = sampleSchemas();
/** `/remora.test.validation.v1.Accounts` */
export const SVC = `/${SAMPLE_SERVICE}`;

// ------------------------------------------------------------------ recording upstream

export interface Recorded {
  /** Raw request message bytes by method name, in arrival order. */
  readonly messages: Map<string, Buffer[]>;
  /** Handler invocations by method name. */
  readonly calls: Map<string, number>;
  /** Calls the upstream saw cancelled. */
  cancelled: number;
}

const raw = (b: Buffer): Buffer => b;
function methodDef(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return { path: `${SVC}/${name}`, requestStream, responseStream, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw };
}
/** The Accounts service with raw-bytes (de)serializers. */
export const SERVICE: grpc.ServiceDefinition = {
  Create: methodDef('Create', false, false),
  Import: methodDef('Import', true, false),
  Watch: methodDef('Watch', false, true),
  Sync: methodDef('Sync', true, true),
};

/** An encoded Account {id, name}. */
export function account(id: string, name: string): Buffer {
  return Buffer.from(toBinary(AccountSchema, create(AccountSchema, { id, name } as never)));
}
/** The `name` of an encoded CreateAccountRequest. */
export function nameOf(msg: Buffer): string {
  return (fromBinary(RequestSchema, msg) as unknown as { name: string }).name;
}

export interface RecordingUpstream {
  readonly server: grpc.Server;
  readonly port: number;
  readonly rec: Recorded;
}

/**
 * Starts the recording upstream on 127.0.0.1:0. Create answers Account{a1, request.name}; Import
 * counts messages (Account{n, "imported"}); Watch streams three Accounts; Sync echoes each name.
 * Close with `server.forceShutdown()`.
 */
export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const rec: Recorded = { messages: new Map(), calls: new Map(), cancelled: 0 };
  const record = (m: string, msg: Buffer): void => { const l = rec.messages.get(m) ?? []; l.push(msg); rec.messages.set(m, l); };
  const called = (m: string): void => { rec.calls.set(m, (rec.calls.get(m) ?? 0) + 1); };
  const server = new grpc.Server();
  server.addService(SERVICE, {
    Create(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) {
      called('Create');
      record('Create', call.request);
      cb(null, account('a1', nameOf(call.request)));
    },
    Import(call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) {
      called('Import');
      let n = 0;
      call.on('data', (m: Buffer) => { n++; record('Import', m); });
      call.on('cancelled', () => { rec.cancelled++; });
      call.on('end', () => cb(null, account(String(n), 'imported')));
    },
    Watch(call: grpc.ServerWritableStream<Buffer, Buffer>) {
      called('Watch');
      record('Watch', call.request);
      for (let i = 0; i < 3; i++) call.write(account(`w${i}`, nameOf(call.request)));
      call.end();
    },
    Sync(call: grpc.ServerDuplexStream<Buffer, Buffer>) {
      called('Sync');
      call.on('data', (m: Buffer) => { record('Sync', m); call.write(account('s', nameOf(m))); });
      call.on('cancelled', () => { rec.cancelled++; });
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { server, port, rec };
}

// ------------------------------------------------------------------ messages and statuses

/** A CreateAccountRequest from `validRequestInit()` with `overrides`, encoded. */
export function encodeRequest(overrides: Record<string, unknown> = {}): Buffer {
  return Buffer.from(toBinary(RequestSchema, create(RequestSchema, { ...validRequestInit(), ...overrides } as never)));
}

/** A gRPC length-prefixed frame of `msg`. */
export function frame(msg: Buffer, flags = 0): Buffer {
  const h = Buffer.alloc(5);
  h[0] = flags;
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

/** google.rpc.Status / BadRequest from googleapis (in @grpc/grpc-js-xds deps). */
function loadRpcTypes(): { status: protobuf.Type; badRequest: protobuf.Type } {
  const googleapis = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps', 'googleapis');
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(googleapis, target));
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  return { status: root.lookupType('google.rpc.Status'), badRequest: root.lookupType('google.rpc.BadRequest') };
}
export const RPC = loadRpcTypes();

export interface Violation { field: string; description: string }

/**
 * The BadRequest field violations of an encoded google.rpc.Status (grpc-status-details-bin);
 * asserts code INVALID_ARGUMENT, `message` when given, and a BadRequest as the first detail.
 */
export function statusViolations(bin: Buffer, message: string | null = null): Violation[] {
  const status = RPC.status.toObject(RPC.status.decode(bin)) as { code: number; message: string; details?: { type_url: string; value: Buffer }[] };
  assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
  if (message !== null) assert.equal(status.message, message);
  const any = status.details?.[0];
  assert.ok(any !== undefined && any.type_url === BAD_REQUEST_TYPE_URL, 'details hold a google.rpc.BadRequest');
  const br = RPC.badRequest.toObject(RPC.badRequest.decode(any.value), { defaults: true }) as { field_violations: Violation[] };
  return br.field_violations;
}

/** The BadRequest field violations from a grpc-js error's grpc-status-details-bin. */
export function violationsOf(err: grpc.ServiceError): Violation[] {
  const bin = err.metadata.get('grpc-status-details-bin')[0];
  assert.ok(Buffer.isBuffer(bin), 'grpc-status-details-bin is present');
  return statusViolations(bin, err.details);
}

// ------------------------------------------------------------------ the sidecar

/** A listener with `codecFilters`, then the validation filter (`validation` fields), then the router. */
export function validationListener(name: string, validation: Record<string, unknown>, routes: Record<string, unknown>[] = [routeTo('accounts')], codecFilters: Record<string, unknown>[] = []): ListenerSpec {
  return {
    name,
    routes,
    hcm: {
      http_filters: [
        ...codecFilters,
        { name: GRPC_VALIDATION_NAME, typed_config: { '@type': GRPC_VALIDATION_TYPE_URL, ...validation } },
        { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
      ],
    },
  };
}
