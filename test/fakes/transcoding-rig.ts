/**
 * The transcoding conformance rig: the Library upstream (library-upstream.ts, a recording grpc-js
 * server), a raw HTTP/2 "gRPC" upstream that answers without `grpc-status` (for the missing-status
 * case), and an in-process sidecar started from a static Envoy bootstrap whose HCM runs
 * `envoy.filters.http.grpc_json_transcoder` before the router. The filter reads a binary
 * FileDescriptorSet compiled at test time from proto/library/v1/library.proto with
 * `compileProtoFiles` (src/config/descriptors, no protoc). After the transcoder rewrites the request to
 * `/remora.examples.library.v1.LibraryService/<Method>` the route is matched again: requests with
 * `x-route-to: raw` go to the raw upstream, everything else to the Library upstream. `request()`
 * speaks HTTP/2 (so trailers are visible) or HTTP/1.1 and buffers the whole response.
 */
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileProtoFiles } from '../../src/config/compile/compile-proto';
import { ROUTER_TYPE, routeTo } from './bootstrap';
import { httpRequest } from './http-client';
import { LIBRARY_INCLUDE_DIRS, LIBRARY_PROTO, LIBRARY_SERVICE, LibraryUpstream } from './library-upstream';
import { SidecarHarness } from './sidecar-harness';
import { withTimeout } from './wait';

export const TRANSCODER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder';
export const TRANSCODER_NAME = 'envoy.filters.http.grpc_json_transcoder';
/** Request header that routes the (rewritten) gRPC request to the raw upstream. */
export const ROUTE_TO_RAW = 'x-route-to';
/** The rig's limits (max_request_body_size / max_response_body_size). */
export const RIG_MAX_REQUEST_BYTES = 64 * 1024;
export const RIG_MAX_RESPONSE_BYTES = 64 * 1024;
/** The route timeout the rig configures (the default grpc-timeout source). */
export const RIG_ROUTE_TIMEOUT_S = 30;

let cachedDescriptorSet: Uint8Array | null = null;

/** FileDescriptorSet bytes of library.proto with its imports (compiled once per process). */
export function libraryDescriptorSet(): Uint8Array {
  if (cachedDescriptorSet === null) {
    const r = compileProtoFiles({ protoFiles: [path.join(LIBRARY_INCLUDE_DIRS[0]!, LIBRARY_PROTO)], importPaths: [...LIBRARY_INCLUDE_DIRS] });
    if (!r.ok) throw new Error(`library.proto: ${r.error.file}:${r.error.line}: ${r.error.message}`);
    cachedDescriptorSet = r.descriptorSet;
  }
  return cachedDescriptorSet;
}

export interface RigOptions {
  /** Extra GrpcJsonTranscoder fields (Envoy proto JSON names), merged over the rig's defaults. */
  readonly transcoder?: Record<string, unknown>;
  /** Adds a route for this path prefix (to the Library upstream) with the transcoder disabled per route. */
  readonly disabledPrefix?: string;
}

/** Envoy's generic per-route FilterConfig (`disabled: true`). */
export const FILTER_CONFIG_TYPE = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';

export interface RigRequest {
  readonly method: string;
  /** Path with query. */
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** A string/Buffer is sent as is; anything else is JSON.stringify'd. Undefined: no body. */
  readonly body?: unknown;
  /** Use HTTP/1.1 instead of HTTP/2. */
  readonly h1?: boolean;
}

export interface RigResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** HTTP/2 trailers (empty for HTTP/1.1 or none). */
  readonly trailers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  text(): string;
  /** The body parsed as JSON; throws with the raw text when it is not JSON. */
  json(): any;
}

/** A raw h2 server answering every request with `:status 200`, `content-type: application/grpc` and no grpc-status. */
class RawUpstream {
  private constructor(private readonly server: http2.Http2Server, readonly port: number) {}
  static async start(): Promise<RawUpstream> {
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.on('error', () => { /* client went away */ });
      stream.resume();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { endStream: true });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new RawUpstream(server, (server.address() as { port: number }).port);
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export class TranscodingRig {
  private session: http2.ClientHttp2Session | null = null;

  private constructor(
    readonly upstream: LibraryUpstream,
    private readonly raw: RawUpstream,
    readonly sidecar: SidecarHarness,
    private readonly tmpDir: string,
  ) {}

  /** Starts both upstreams and the sidecar; close() with `after()`. */
  static async start(options: RigOptions = {}): Promise<TranscodingRig> {
    const upstream = await LibraryUpstream.start();
    const raw = await RawUpstream.start();
    const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-transcoding-'));
    const descriptorPath = path.join(tmpDir, 'library.pb');
    fs.writeFileSync(descriptorPath, libraryDescriptorSet());
    const transcoder: Record<string, unknown> = {
      '@type': TRANSCODER_TYPE,
      proto_descriptor: descriptorPath,
      services: [LIBRARY_SERVICE],
      max_request_body_size: RIG_MAX_REQUEST_BYTES,
      max_response_body_size: RIG_MAX_RESPONSE_BYTES,
      ...(options.transcoder ?? {}),
    };
    let sidecar: SidecarHarness;
    try {
      sidecar = await SidecarHarness.start({
        listeners: [{
          name: 'ingress',
          routes: [
            routeTo('raw', { prefix: '/', headers: [{ name: ROUTE_TO_RAW, string_match: { exact: 'raw' } }] }, { timeout: `${RIG_ROUTE_TIMEOUT_S}s` }),
            ...(options.disabledPrefix === undefined ? [] : [routeTo('library', { prefix: options.disabledPrefix }, { timeout: `${RIG_ROUTE_TIMEOUT_S}s` },
              { typed_per_filter_config: { [TRANSCODER_NAME]: { '@type': FILTER_CONFIG_TYPE, disabled: true } } })]),
            routeTo('library', { prefix: '/' }, { timeout: `${RIG_ROUTE_TIMEOUT_S}s` }),
          ],
          hcm: {
            http_filters: [
              { name: TRANSCODER_NAME, typed_config: transcoder },
              { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
            ],
          },
        }],
        clusters: [
          { name: 'library', endpoints: [{ host: '127.0.0.1', port: upstream.port }], http2: true },
          { name: 'raw', endpoints: [{ host: '127.0.0.1', port: raw.port }], http2: true },
        ],
      });
    } catch (err) {
      await upstream.close();
      await raw.close();
      fs.rmSync(tmpDir, { recursive: true, force: true });
      throw err;
    }
    return new TranscodingRig(upstream, raw, sidecar, tmpDir);
  }

  get port(): number {
    return this.sidecar.port('ingress');
  }

  /** Sends one request through the sidecar and buffers the response (10 s cap). */
  async request(req: RigRequest): Promise<RigResponse> {
    const body = req.body === undefined ? null
      : typeof req.body === 'string' || Buffer.isBuffer(req.body) ? req.body : JSON.stringify(req.body);
    if (req.h1 === true) {
      const r = await httpRequest(this.port, { method: req.method, path: req.path, headers: req.headers ?? {}, body, timeoutMs: 10_000 });
      return makeResponse(r.status, r.headers as Record<string, string | string[] | undefined>, {}, r.body);
    }
    const session = this.h2Session();
    return withTimeout(new Promise<RigResponse>((resolve, reject) => {
      const stream = session.request({ ':method': req.method, ':path': req.path, ...(req.headers ?? {}) }, { endStream: body === null });
      let status = 0;
      let headers: Record<string, string | string[] | undefined> = {};
      let trailers: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => { status = Number(h[':status']); headers = h as Record<string, string | string[] | undefined>; });
      stream.on('trailers', (t) => { trailers = t as Record<string, string | string[] | undefined>; });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', reject);
      stream.on('close', () => {
        if (status === 0) reject(new Error(`${req.method} ${req.path}: stream closed without a response (rst ${stream.rstCode})`));
        else resolve(makeResponse(status, headers, trailers, Buffer.concat(chunks)));
      });
      if (body !== null) stream.end(body);
    }), 10_000, `${req.method} ${req.path}`);
  }

  /**
   * Opens an HTTP/2 request and returns it for incremental writes (bidi / client streaming tests);
   * the caller writes and ends it, and reads events.
   */
  openStream(method: string, reqPath: string, headers: Record<string, string> = {}): http2.ClientHttp2Stream {
    return this.h2Session().request({ ':method': method, ':path': reqPath, ...headers });
  }

  async close(): Promise<void> {
    if (this.session !== null) {
      const s = this.session;
      this.session = null;
      await new Promise<void>((resolve) => { s.close(() => resolve()); });
    }
    await this.sidecar.close();
    await this.upstream.close();
    await this.raw.close();
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
  }

  private h2Session(): http2.ClientHttp2Session {
    if (this.session === null || this.session.destroyed || this.session.closed) {
      const s = http2.connect(`http://127.0.0.1:${this.port}`);
      s.on('error', () => { /* surfaced through the streams */ });
      this.session = s;
    }
    return this.session;
  }
}

function makeResponse(status: number, headers: Record<string, string | string[] | undefined>, trailers: Record<string, string | string[] | undefined>, body: Buffer): RigResponse {
  return {
    status,
    headers,
    trailers,
    body,
    text() { return body.toString('utf8'); },
    json() {
      const text = body.toString('utf8');
      try {
        return JSON.parse(text);
      } catch {
        throw new Error(`response body is not JSON (status ${status}, content-type ${String(headers['content-type'])}): ${JSON.stringify(text.slice(0, 300))}`);
      }
    },
  };
}
