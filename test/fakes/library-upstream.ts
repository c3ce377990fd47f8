/**
 * The Library upstream of the transcoding conformance suite: a real @grpc/grpc-js server on
 * 127.0.0.1:0 implementing every method of proto/library/v1/library.proto generically, recording
 * the exact request messages each call received (decoded by @grpc/proto-loader with keepCase,
 * 64-bit integers as decimal strings, enums as names, bytes as Buffers and NO defaults, so a
 * recorded message holds exactly the fields that were on the wire), its metadata and its deadline.
 * Replies are configurable per method (response messages, then an optional error status with
 * `grpc-status-details-bin`); without a configured reply each method answers with a small
 * deterministic default (echoes for ImportBook, ReplaceBook, RawEcho and the streaming methods). Also exports
 * `statusDetailsBin`, which encodes a google.rpc.Status with typed details the way servers put it
 * into `grpc-status-details-bin`.
 */
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import { repoPath } from './paths';

export const LIBRARY_PACKAGE = 'remora.examples.library.v1';
export const LIBRARY_SERVICE = `${LIBRARY_PACKAGE}.LibraryService`;
export const LIBRARY_PROTO = 'library/v1/library.proto';
/** Include dirs for library.proto: the repo's proto/ and googleapis from @grpc/grpc-js-xds. */
export const LIBRARY_INCLUDE_DIRS: readonly string[] = [
  repoPath('proto'),
  repoPath('node_modules', '@grpc', 'grpc-js-xds', 'deps', 'googleapis'),
];

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: false,
  arrays: false,
  objects: false,
  oneofs: false,
  includeDirs: [...LIBRARY_INCLUDE_DIRS],
};

let cachedDefinition: protoLoader.PackageDefinition | null = null;

/** The proto-loader package definition of library.proto (loaded once per process). */
export function libraryPackageDefinition(): protoLoader.PackageDefinition {
  if (cachedDefinition === null) cachedDefinition = protoLoader.loadSync(LIBRARY_PROTO, LOADER_OPTIONS);
  return cachedDefinition;
}

/** `/remora.examples.library.v1.LibraryService/<rpc>`. */
export function grpcPath(rpc: string): string {
  return `/${LIBRARY_SERVICE}/${rpc}`;
}

/** One call as the upstream saw it. */
export interface RecordedCall {
  /** The method name, e.g. `GetBook`. */
  readonly rpc: string;
  /**
   * Request messages in arrival order (one for unary and server-streaming calls). Note: protobufjs
   * ships struct.proto pre-parsed with camelCase names, so google.protobuf.Value kinds appear as
   * `stringValue`, `numberValue`, `nullValue`, `structValue`, `listValue`, `boolValue` despite keepCase.
   */
  readonly messages: Record<string, unknown>[];
  /** Request metadata (proto-loader style: lowercase keys; `-bin` values are Buffers). */
  readonly metadata: Record<string, grpc.MetadataValue>;
  /** Milliseconds left until the call's deadline when it arrived; null without a deadline. */
  readonly deadlineRemainingMs: number | null;
  /** Set once the request stream ended (client/bidi streams), or at once for unary calls. */
  requestEnded: boolean;
}

/** An error status the upstream ends a call with. */
export interface UpstreamStatus {
  readonly code: grpc.status;
  readonly message: string;
  /** Raw `grpc-status-details-bin` (an encoded google.rpc.Status); null/absent for none. */
  readonly details?: Buffer | null;
}

/** What a method answers. */
export interface UpstreamReply {
  /** Response messages (proto-loader object form); unary methods send the first. Default: the method's default reply. */
  readonly messages?: readonly Record<string, unknown>[];
  /** Ends the call with this status after `messages` (streams) or instead of a reply (unary). */
  readonly error?: UpstreamStatus;
  /** Extra response initial metadata. */
  readonly headers?: Readonly<Record<string, string>>;
}

type AnyCall = grpc.ServerUnaryCall<any, any> | grpc.ServerReadableStream<any, any> | grpc.ServerWritableStream<any, any> | grpc.ServerDuplexStream<any, any>;

export class LibraryUpstream {
  /** Every call received, in arrival order. */
  readonly calls: RecordedCall[] = [];
  private readonly replies = new Map<string, UpstreamReply>();

  private constructor(private readonly server: grpc.Server, readonly port: number) {}

  /** Starts the server on 127.0.0.1:0. */
  static async start(): Promise<LibraryUpstream> {
    const server = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    const upstream = new LibraryUpstream(server, port);
    const service = libraryPackageDefinition()[LIBRARY_SERVICE] as unknown as grpc.ServiceDefinition;
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [rpc, def] of Object.entries(service)) impl[rpc] = upstream.handlerFor(rpc, def);
    server.addService(service, impl);
    return upstream;
  }

  /** Sets the reply of `rpc` for the following calls (until `reset`). */
  setReply(rpc: string, reply: UpstreamReply): void {
    this.replies.set(rpc, reply);
  }

  /** Forgets recorded calls and configured replies. */
  reset(): void {
    this.calls.length = 0;
    this.replies.clear();
  }

  /** Calls received by `rpc`. */
  callsTo(rpc: string): RecordedCall[] {
    return this.calls.filter((c) => c.rpc === rpc);
  }

  /** The last call received (any method), or null. */
  lastCall(): RecordedCall | null {
    return this.calls.length === 0 ? null : this.calls[this.calls.length - 1]!;
  }

  /** Stops the server at once (in-flight calls are cancelled). */
  close(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }

  private handlerFor(rpc: string, def: grpc.MethodDefinition<any, any>): grpc.UntypedHandleCall {
    if (!def.requestStream && !def.responseStream) {
      return (call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) => {
        const rec = this.record(rpc, call, [call.request]);
        rec.requestEnded = true;
        const reply = this.replyFor(rpc, rec);
        this.sendHeaders(call, reply);
        if (reply.error !== undefined) callback(toServiceError(reply.error));
        else callback(null, reply.messages![0] ?? {});
      };
    }
    if (!def.requestStream && def.responseStream) {
      return (call: grpc.ServerWritableStream<any, any>) => {
        const rec = this.record(rpc, call, [call.request]);
        rec.requestEnded = true;
        this.finishStream(call, this.replyFor(rpc, rec));
      };
    }
    if (def.requestStream && !def.responseStream) {
      return (call: grpc.ServerReadableStream<any, any>, callback: grpc.sendUnaryData<any>) => {
        const rec = this.record(rpc, call, []);
        call.on('data', (m: Record<string, unknown>) => rec.messages.push(m));
        call.on('error', () => { /* cancelled by the client */ });
        call.on('end', () => {
          rec.requestEnded = true;
          const reply = this.replyFor(rpc, rec);
          this.sendHeaders(call, reply);
          if (reply.error !== undefined) callback(toServiceError(reply.error));
          else callback(null, reply.messages![0] ?? {});
        });
      };
    }
    return (call: grpc.ServerDuplexStream<any, any>) => {
      const rec = this.record(rpc, call, []);
      const configured = this.replies.get(rpc);
      call.on('error', () => { /* cancelled by the client */ });
      if (configured !== undefined) {
        // A configured reply is sent once the whole request stream has been read.
        call.on('data', (m: Record<string, unknown>) => rec.messages.push(m));
        call.on('end', () => { rec.requestEnded = true; this.finishStream(call, configured); });
        return;
      }
      // Default: echo each message as it arrives (full duplex), with seq = its index.
      call.on('data', (m: Record<string, unknown>) => {
        rec.messages.push(m);
        call.write({ ...m, seq: String(rec.messages.length) });
      });
      call.on('end', () => { rec.requestEnded = true; call.end(); });
    };
  }

  private record(rpc: string, call: AnyCall, messages: Record<string, unknown>[]): RecordedCall {
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    const rec: RecordedCall = {
      rpc,
      messages,
      metadata: call.metadata.getMap(),
      deadlineRemainingMs: Number.isFinite(deadlineMs) ? deadlineMs - Date.now() : null,
      requestEnded: false,
    };
    this.calls.push(rec);
    return rec;
  }

  private replyFor(rpc: string, rec: RecordedCall): UpstreamReply {
    const configured = this.replies.get(rpc);
    if (configured !== undefined) return { ...configured, messages: configured.messages ?? [{}] };
    return { messages: defaultReply(rpc, rec.messages) };
  }

  private sendHeaders(call: AnyCall, reply: UpstreamReply): void {
    if (reply.headers === undefined) return;
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(reply.headers)) md.set(k, v);
    call.sendMetadata(md);
  }

  private finishStream(call: grpc.ServerWritableStream<any, any> | grpc.ServerDuplexStream<any, any>, reply: UpstreamReply): void {
    this.sendHeaders(call, reply);
    for (const m of reply.messages ?? []) call.write(m);
    if (reply.error !== undefined) call.emit('error', toServiceError(reply.error));
    else call.end();
  }
}

/** The default answer of each method when the test configured none. */
function defaultReply(rpc: string, requests: Record<string, unknown>[]): Record<string, unknown>[] {
  const first = requests[0] ?? {};
  switch (rpc) {
    case 'StreamBooks': {
      const count = typeof first['count'] === 'number' ? first['count'] : 0;
      const out: Record<string, unknown>[] = [];
      for (let i = 1; i <= count; i++) out.push({ name: `${String(first['parent'] ?? '')}/books/b${i}`, page_count: String(i * 100) });
      return out;
    }
    case 'BatchCreateBooks':
      return [{ count: requests.length, names: requests.map((b) => String(b['name'] ?? '')) }];
    case 'RawEcho':
    case 'ImportBook':
    case 'ReplaceBook':
      return [first];
    case 'UploadCover': {
      const cover = (first['cover'] ?? {}) as { content_type?: string; data?: Buffer };
      return [{ name: first['name'] ?? '', size: String(cover.data?.length ?? 0), content_type: cover.content_type ?? '' }];
    }
    case 'Ping':
      return [{ note: first['note'] ?? 'pong' }];
    default:
      return [{}];
  }
}

function toServiceError(s: UpstreamStatus): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (s.details !== undefined && s.details !== null) metadata.set('grpc-status-details-bin', s.details);
  return { code: s.code, details: s.message, metadata };
}

let rpcRoot: protobuf.Root | null = null;

/** protobufjs Root with google/rpc/status.proto and error_details.proto (for encoding details in tests). */
export function rpcTypes(): protobuf.Root {
  if (rpcRoot === null) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => {
      for (const dir of LIBRARY_INCLUDE_DIRS) {
        const candidate = `${dir}/${target}`;
        if (fs.existsSync(candidate)) return candidate;
      }
      return target;
    };
    root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto', LIBRARY_PROTO], { keepCase: true });
    root.resolveAll();
    rpcRoot = root;
  }
  return rpcRoot;
}

/** One typed detail: a fully-qualified message type (e.g. `google.rpc.BadRequest`) and its fields (proto names). */
export interface StatusDetail {
  readonly type: string;
  readonly value: Record<string, unknown>;
}

/** Encodes google.rpc.Status{code, message, details: Any[]} as servers send it in `grpc-status-details-bin`. */
export function statusDetailsBin(code: number, message: string, details: readonly StatusDetail[]): Buffer {
  const root = rpcTypes();
  const Status = root.lookupType('google.rpc.Status');
  const anys = details.map((d) => {
    const T = root.lookupType(d.type);
    const err = T.verify(d.value);
    if (err !== null) throw new Error(`statusDetailsBin: ${d.type}: ${err}`);
    return { type_url: `type.googleapis.com/${d.type}`, value: T.encode(T.fromObject(d.value)).finish() };
  });
  return Buffer.from(Status.encode(Status.fromObject({ code, message, details: anys })).finish());
}

/** Encodes one message of library.proto (or google.rpc) by fully-qualified name, from proto-name fields. */
export function encodeMessage(type: string, value: Record<string, unknown>): Buffer {
  const T = rpcTypes().lookupType(type);
  return Buffer.from(T.encode(T.fromObject(value)).finish());
}
