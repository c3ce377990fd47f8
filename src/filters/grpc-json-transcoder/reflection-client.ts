/**
 * Fetches a `google.protobuf.FileDescriptorSet` from a gRPC server through server reflection
 * (https://github.com/grpc/grpc/blob/master/doc/server-reflection.md): one
 * `ServerReflectionInfo` bidi stream per fetch, `file_containing_symbol` for each wanted service,
 * then `file_by_filename` for every declared dependency still missing, until the set is closed.
 * `grpc.reflection.v1` is asked first and `v1alpha` when the server answers UNIMPLEMENTED (older
 * grpc-go/grpc-java servers). The files' bytes are kept exactly as the server sent them (custom
 * options such as `google.api.http` survive as encoded extensions) and `assembleFileDescriptorSet`
 * orders them dependencies first. The reflection messages are encoded with protobufjs from the
 * `.proto` files shipped in @grpc/reflection (loaded once per `ReflectionProtocol`, never copied
 * into the repository). Config-time code only: nothing here runs per request.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { encodeVarint32 } from '../../core/varint';

/** A failed fetch: the server is unreachable, lacks reflection, or a symbol/file is missing. */
export class ReflectionFetchError extends Error {
  constructor(message: string, readonly grpcCode: number | null = null) {
    super(message);
    this.name = 'ReflectionFetchError';
  }
}

/** One descriptor file as the server sent it. */
export interface ReflectedFile {
  readonly name: string;
  readonly dependencies: readonly string[];
  readonly bytes: Uint8Array;
}

/** The reflection request/response codecs, loaded once (per ReflectionProtocol instance). */
export class ReflectionProtocol {
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;

  constructor() {
    const root = new protobuf.Root();
    root.loadSync(path.join(path.dirname(require.resolve('@grpc/reflection')), '..', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto'), { keepCase: true });
    root.resolveAll();
    this.request = root.lookupType('grpc.reflection.v1.ServerReflectionRequest');
    this.response = root.lookupType('grpc.reflection.v1.ServerReflectionResponse');
  }
}

/** The two wire-compatible versions of the service (same messages, different package). */
const METHOD_PATHS = [
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
] as const;

/** Decodes a FileDescriptorProto's name and dependency list (the bytes are kept as they are). */
export function reflectedFile(bytes: Uint8Array): ReflectedFile {
  const f = fromBinary(FileDescriptorProtoSchema, bytes);
  if (f.name === '') throw new ReflectionFetchError('the server sent a FileDescriptorProto without a name');
  return { name: f.name, dependencies: f.dependency, bytes };
}

/**
 * Encodes `files` as a FileDescriptorSet, every file after the files it imports (the order
 * `protoc --include_imports` writes and descriptor registries need). Files keep their bytes. A
 * declared dependency that is not in `files` is an error; so is an import cycle.
 */
export function assembleFileDescriptorSet(files: readonly ReflectedFile[]): Buffer {
  const byName = new Map<string, ReflectedFile>();
  for (const f of files) if (!byName.has(f.name)) byName.set(f.name, f);
  const ordered: ReflectedFile[] = [];
  const state = new Map<string, 1 | 2>(); // 1 visiting, 2 done
  const visit = (f: ReflectedFile, from: string | null): void => {
    const s = state.get(f.name);
    if (s === 2) return;
    if (s === 1) throw new ReflectionFetchError(`import cycle through '${f.name}'${from === null ? '' : ` (imported by '${from}')`}`);
    state.set(f.name, 1);
    for (const d of f.dependencies) {
      const dep = byName.get(d);
      if (dep === undefined) throw new ReflectionFetchError(`'${f.name}' imports '${d}', which the server did not provide`);
      visit(dep, f.name);
    }
    state.set(f.name, 2);
    ordered.push(f);
  };
  for (const f of byName.values()) visit(f, null);
  // FileDescriptorSet { repeated FileDescriptorProto file = 1; }: tag 0x0a, varint length, bytes.
  const parts: Buffer[] = [];
  for (const f of ordered) {
    parts.push(Buffer.from([0x0a]), encodeVarint32(f.bytes.length), Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength));
  }
  return Buffer.concat(parts);
}

interface ReflectionResponse {
  file_descriptor_response?: { file_descriptor_proto?: Uint8Array[] };
  error_response?: { error_code?: number; error_message?: string };
}

/**
 * A sequential request/response exchange over one ServerReflectionInfo stream: `ask` writes one
 * request and resolves with the next response (the protocol answers in order).
 */
class ReflectionExchange {
  private readonly waiting: Array<{ resolve(r: ReflectionResponse): void; reject(e: Error): void }> = [];
  private failure: Error | null = null;

  constructor(private readonly stream: grpc.ClientDuplexStream<Record<string, unknown>, ReflectionResponse>) {
    stream.on('data', (r: ReflectionResponse) => this.waiting.shift()?.resolve(r));
    stream.on('error', (e: grpc.ServiceError) => this.fail(new ReflectionFetchError(`reflection stream failed: ${e.details || e.message}`, e.code ?? null)));
    stream.on('end', () => this.fail(new ReflectionFetchError('the server ended the reflection stream early')));
  }

  ask(request: Record<string, unknown>): Promise<ReflectionResponse> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.stream.write(request);
    });
  }

  close(): void {
    this.stream.removeAllListeners('end');
    this.stream.on('error', () => { /* cancelled by us */ });
    this.stream.end();
    this.stream.cancel();
  }

  private fail(e: Error): void {
    if (this.failure === null) this.failure = e;
    const w = this.waiting.splice(0);
    for (const x of w) x.reject(this.failure);
  }
}

/**
 * The files (as sent) that `services` need, fetched over `client`'s channel. Rejects with a
 * ReflectionFetchError when the server is unreachable (before `deadline`, epoch milliseconds from
 * the Runtime's clock), has no reflection service, or does not know a service or file.
 */
export async function fetchServiceFiles(
  client: grpc.Client, protocol: ReflectionProtocol, services: readonly string[], deadline: number,
): Promise<ReflectedFile[]> {
  let lastError: ReflectionFetchError | null = null;
  for (const methodPath of METHOD_PATHS) {
    try {
      return await fetchWith(client, protocol, methodPath, services, deadline);
    } catch (e) {
      const err = e instanceof ReflectionFetchError ? e : new ReflectionFetchError((e as Error).message);
      if (err.grpcCode !== grpc.status.UNIMPLEMENTED) throw err;
      lastError = err;
    }
  }
  throw new ReflectionFetchError(`the server does not implement gRPC server reflection (v1 or v1alpha): ${lastError?.message ?? ''}`, grpc.status.UNIMPLEMENTED);
}

async function fetchWith(
  client: grpc.Client, protocol: ReflectionProtocol, methodPath: string, services: readonly string[], deadline: number,
): Promise<ReflectedFile[]> {
  const req = protocol.request;
  const res = protocol.response;
  const stream = client.makeBidiStreamRequest<Record<string, unknown>, ReflectionResponse>(
    methodPath,
    (m) => Buffer.from(req.encode(req.fromObject(m)).finish()),
    (b) => res.toObject(res.decode(b), { defaults: false }) as ReflectionResponse,
    new grpc.Metadata(),
    { deadline },
  );
  const exchange = new ReflectionExchange(stream);
  try {
    const files = new Map<string, ReflectedFile>();
    const take = (r: ReflectionResponse, what: string): void => {
      if (r.error_response !== undefined) {
        throw new ReflectionFetchError(`${what}: ${r.error_response.error_message ?? 'error'} (code ${r.error_response.error_code ?? 2})`, null);
      }
      const list = r.file_descriptor_response?.file_descriptor_proto ?? [];
      if (list.length === 0) throw new ReflectionFetchError(`${what}: the server returned no files`);
      for (const bytes of list) {
        const f = reflectedFile(bytes);
        if (!files.has(f.name)) files.set(f.name, f);
      }
    };
    for (const s of services) take(await exchange.ask({ file_containing_symbol: s }), `service '${s}'`);
    // Close over declared dependencies the server did not send along.
    for (;;) {
      let missing: string | null = null;
      for (const f of files.values()) {
        for (const d of f.dependencies) if (!files.has(d)) { missing = d; break; }
        if (missing !== null) break;
      }
      if (missing === null) break;
      take(await exchange.ask({ file_by_filename: missing }), `file '${missing}'`);
      if (!files.has(missing)) throw new ReflectionFetchError(`file '${missing}': the server answered with other files`);
    }
    return [...files.values()];
  } finally {
    exchange.close();
  }
}
