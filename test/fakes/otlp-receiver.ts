/**
 * A real OTLP trace receiver for tests: a grpc-js server implementing
 * `opentelemetry.proto.collector.trace.v1.TraceService/Export` and an HTTP server accepting
 * OTLP/HTTP protobuf on `POST /v1/traces`, both on 127.0.0.1:0. Requests are decoded with the OTLP
 * proto subset in test/fixtures/otlp/ (the spec's field numbers) and every span is kept as a plain
 * `ReceivedSpan` (hex ids, attributes as a plain object), in arrival order. Tests await spans with
 * `waitForSpans` (event driven, bounded) and reset between cases with `clear()`.
 */
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { repoPath } from './paths';

export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [k: string]: AttributeValue };

export interface ReceivedEvent {
  readonly name: string;
  readonly timeUnixNano: string;
  readonly attributes: Record<string, AttributeValue>;
}

export interface ReceivedSpan {
  /** Lowercase hex (32 chars). */
  readonly traceId: string;
  /** Lowercase hex (16 chars). */
  readonly spanId: string;
  /** Lowercase hex, '' for a root span. */
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  /** OTLP enum name: SPAN_KIND_SERVER, SPAN_KIND_CLIENT, ... */
  readonly kind: string;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes: Record<string, AttributeValue>;
  readonly events: ReceivedEvent[];
  /** code: STATUS_CODE_UNSET | STATUS_CODE_OK | STATUS_CODE_ERROR. */
  readonly status: { readonly code: string; readonly message: string };
  /** The span's resource attributes (e.g. `service.name`). */
  readonly resource: Record<string, AttributeValue>;
  readonly scope: string;
  /** How the span arrived. */
  readonly via: 'grpc' | 'http';
}

export interface OtlpReceiverOptions {
  /**
   * gRPC status code to fail every Export with (e.g. 14 UNAVAILABLE); null (default) accepts.
   * Changeable later through `failWith`.
   */
  readonly grpcFailure?: number | null;
}

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

let cachedRoot: protobuf.Root | null = null;
function otlpRoot(): protobuf.Root {
  if (cachedRoot === null) cachedRoot = protobuf.loadSync(repoPath('test', 'fixtures', 'otlp', 'trace_service.proto'));
  return cachedRoot;
}

function requestType(): protobuf.Type {
  return otlpRoot().lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
}
function responseType(): protobuf.Type {
  return otlpRoot().lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');
}

type Obj = Record<string, unknown>;

function hex(v: unknown): string {
  if (v === undefined || v === null) return '';
  return Buffer.from(v as Uint8Array).toString('hex');
}

function anyValue(v: Obj | undefined): AttributeValue {
  if (v === undefined || v === null) return null;
  if (v['stringValue'] !== undefined) return v['stringValue'] as string;
  if (v['boolValue'] !== undefined) return v['boolValue'] as boolean;
  if (v['intValue'] !== undefined) return Number(v['intValue']);
  if (v['doubleValue'] !== undefined) return v['doubleValue'] as number;
  if (v['bytesValue'] !== undefined) return hex(v['bytesValue']);
  if (v['arrayValue'] !== undefined) return (((v['arrayValue'] as Obj)['values'] ?? []) as Obj[]).map(anyValue);
  if (v['kvlistValue'] !== undefined) return attributes(((v['kvlistValue'] as Obj)['values'] ?? []) as Obj[]);
  return null;
}

function attributes(kvs: Obj[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of kvs ?? []) out[kv['key'] as string] = anyValue(kv['value'] as Obj | undefined);
  return out;
}

/** Decodes one ExportTraceServiceRequest into plain spans. */
export function decodeExportRequest(body: Uint8Array, via: 'grpc' | 'http'): ReceivedSpan[] {
  const T = requestType();
  const msg = T.toObject(T.decode(body), { longs: String, enums: String, defaults: true }) as Obj;
  const out: ReceivedSpan[] = [];
  for (const rs of (msg['resourceSpans'] ?? []) as Obj[]) {
    const resource = attributes(((rs['resource'] as Obj | undefined)?.['attributes'] ?? []) as Obj[]);
    for (const ss of (rs['scopeSpans'] ?? []) as Obj[]) {
      const scope = ((ss['scope'] as Obj | undefined)?.['name'] ?? '') as string;
      for (const s of (ss['spans'] ?? []) as Obj[]) {
        const status = (s['status'] ?? {}) as Obj;
        out.push({
          traceId: hex(s['traceId']),
          spanId: hex(s['spanId']),
          parentSpanId: hex(s['parentSpanId']),
          traceState: (s['traceState'] ?? '') as string,
          name: s['name'] as string,
          kind: s['kind'] as string,
          startTimeUnixNano: String(s['startTimeUnixNano']),
          endTimeUnixNano: String(s['endTimeUnixNano']),
          attributes: attributes(s['attributes'] as Obj[]),
          events: ((s['events'] ?? []) as Obj[]).map((e) => ({
            name: e['name'] as string,
            timeUnixNano: String(e['timeUnixNano']),
            attributes: attributes(e['attributes'] as Obj[]),
          })),
          status: { code: (status['code'] ?? 'STATUS_CODE_UNSET') as string, message: (status['message'] ?? '') as string },
          resource,
          scope,
          via,
        });
      }
    }
  }
  return out;
}

/** A running receiver; `close()` stops both servers. */
export class OtlpReceiver {
  /** Every span received, in arrival order. */
  readonly spans: ReceivedSpan[] = [];
  /** Export requests received (gRPC + HTTP), including failed ones. */
  exportRequests = 0;
  readonly grpcPort: number;
  readonly httpPort: number;
  private grpcFailure: number | null;
  private readonly events = new EventEmitter();

  private constructor(private readonly grpcServer: grpc.Server, private readonly httpServer: http.Server, grpcPort: number, httpPort: number, options: OtlpReceiverOptions) {
    this.grpcPort = grpcPort;
    this.httpPort = httpPort;
    this.grpcFailure = options.grpcFailure ?? null;
    this.events.setMaxListeners(0);
  }

  /** Starts both servers on 127.0.0.1:0. */
  static async start(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
    const grpcServer = new grpc.Server();
    const grpcPort = await new Promise<number>((resolve, reject) => {
      grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    const httpServer = http.createServer();
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const httpPort = (httpServer.address() as { port: number }).port;
    const r = new OtlpReceiver(grpcServer, httpServer, grpcPort, httpPort, options);
    const service: grpc.ServiceDefinition = {
      Export: {
        path: EXPORT_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (o: Obj) => Buffer.from(responseType().encode(responseType().fromObject(o)).finish()),
        responseDeserialize: (b: Buffer) => b,
      },
    };
    grpcServer.addService(service, {
      Export: (call: grpc.ServerUnaryCall<Buffer, Obj>, cb: grpc.sendUnaryData<Obj>) => r.onGrpcExport(call.request, cb),
    });
    httpServer.on('request', (req, res) => r.onHttp(req, res));
    return r;
  }

  /** The gRPC target (`127.0.0.1:<port>`), as Envoy's `google_grpc.target_uri`. */
  get grpcTarget(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  /** The OTLP/HTTP traces URL. */
  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}/v1/traces`;
  }

  /** Fails every later gRPC Export with `code` (null: accept again). */
  failWith(code: number | null): void {
    this.grpcFailure = code;
  }

  /** Forgets the spans received so far. */
  clear(): void {
    this.spans.length = 0;
  }

  /** Spans of one trace (hex id). */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  /**
   * Resolves with the received spans once `predicate(spans)` holds (checked now and after every
   * export); rejects after `timeoutMs` with what was received.
   */
  waitForSpans(predicate: (spans: readonly ReceivedSpan[]) => boolean, timeoutMs = 5000): Promise<ReceivedSpan[]> {
    if (predicate(this.spans)) return Promise.resolve(this.spans.slice());
    return new Promise((resolve, reject) => {
      const onSpans = (): void => {
        if (!predicate(this.spans)) return;
        clearTimeout(timer);
        this.events.off('spans', onSpans);
        resolve(this.spans.slice());
      };
      const timer = setTimeout(() => {
        this.events.off('spans', onSpans);
        reject(new Error(`OTLP receiver: condition not met within ${timeoutMs} ms; got ${this.spans.length} span(s): ${this.spans.map((s) => `${s.kind} ${s.name}`).join(', ')}`));
      }, timeoutMs);
      this.events.on('spans', onSpans);
    });
  }

  /** Resolves once `count` more export requests arrived (accepted or failed). */
  waitForExports(count: number, timeoutMs = 5000): Promise<void> {
    const target = this.exportRequests + count;
    return new Promise((resolve, reject) => {
      const onExport = (): void => {
        if (this.exportRequests < target) return;
        clearTimeout(timer);
        this.events.off('export', onExport);
        resolve();
      };
      const timer = setTimeout(() => {
        this.events.off('export', onExport);
        reject(new Error(`OTLP receiver: ${target - this.exportRequests} export(s) missing after ${timeoutMs} ms`));
      }, timeoutMs);
      this.events.on('export', onExport);
    });
  }

  /** Stops both servers (force: open exporter connections are closed). */
  async close(): Promise<void> {
    this.grpcServer.forceShutdown();
    this.httpServer.closeAllConnections();
    await new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
  }

  private record(spans: ReceivedSpan[]): void {
    for (const s of spans) this.spans.push(s);
    this.events.emit('spans');
  }

  private onGrpcExport(body: Buffer, cb: grpc.sendUnaryData<Obj>): void {
    this.exportRequests++;
    this.events.emit('export');
    if (this.grpcFailure !== null) {
      cb({ code: this.grpcFailure, details: 'receiver told to fail' });
      return;
    }
    let spans: ReceivedSpan[];
    try {
      spans = decodeExportRequest(body, 'grpc');
    } catch (err) {
      cb({ code: grpc.status.INVALID_ARGUMENT, details: `undecodable request: ${(err as Error).message}` });
      return;
    }
    cb(null, {});
    this.record(spans);
  }

  private onHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      this.exportRequests++;
      this.events.emit('export');
      const type = req.headers['content-type'] ?? '';
      if (!type.startsWith('application/x-protobuf')) {
        res.writeHead(415).end();
        return;
      }
      let spans: ReceivedSpan[];
      try {
        spans = decodeExportRequest(Buffer.concat(chunks), 'http');
      } catch {
        res.writeHead(400).end();
        return;
      }
      const T = responseType();
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(T.encode(T.fromObject({})).finish()));
      this.record(spans);
    });
  }
}
