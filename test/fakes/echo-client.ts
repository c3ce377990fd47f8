/**
 * Echo client helpers: build a grpc-js Echo client (insecure or TLS) and run calls as promises that
 * capture everything a test asserts on: the response, the initial metadata, the trailers and the
 * final status. Errors are returned, not thrown, so tests assert on codes directly.
 */
import * as grpc from '@grpc/grpc-js';
import { echoClientConstructor, type EchoClient, type EchoMsg } from './echo-proto';

export type { EchoClient, EchoMsg };

/** Creates an Echo client for `target` (`127.0.0.1:port`); insecure unless `creds` is given. */
export function createEchoClient(target: string, options: grpc.ChannelOptions = {}, creds?: grpc.ChannelCredentials): EchoClient {
  const Ctor = echoClientConstructor();
  return new Ctor(target, creds ?? grpc.credentials.createInsecure(), options);
}

export interface CallOptions {
  readonly metadata?: grpc.Metadata;
  /** Relative deadline in ms (default 10000, so nothing hangs). */
  readonly deadlineMs?: number;
}

export interface UnaryResult {
  readonly error: grpc.ServiceError | null;
  readonly response: EchoMsg | null;
  /** Initial (response header) metadata, or null if none arrived (e.g. trailers-only). */
  readonly headers: grpc.Metadata | null;
  readonly status: grpc.StatusObject;
}

function callOpts(o: CallOptions): grpc.CallOptions {
  return { deadline: Date.now() + (o.deadlineMs ?? 10000) };
}

/** Runs one Unary call. */
export function unary(client: EchoClient, req: Partial<EchoMsg>, o: CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | null = null;
    let result: { error: grpc.ServiceError | null; response: EchoMsg | null } | null = null;
    let status: grpc.StatusObject | null = null;
    const done = (): void => {
      if (result !== null && status !== null) resolve({ ...result, headers, status });
    };
    const call = client.Unary(req, o.metadata ?? new grpc.Metadata(), callOpts(o), (error, response) => {
      result = { error: error ?? null, response: response ?? null };
      done();
    });
    call.on('metadata', (md) => { headers = md; });
    call.on('status', (s) => { status = s; done(); });
  });
}

/** Runs a Unary-shaped call on an arbitrary method path (e.g. one the server does not implement). */
export function unaryOnPath(client: grpc.Client, path: string, req: Partial<EchoMsg>, o: CallOptions = {}): Promise<UnaryResult> {
  const ser = (m: Partial<EchoMsg>): Buffer => Buffer.from(JSON.stringify(m));
  const de = (b: Buffer): EchoMsg => ({ message: b.toString('utf8'), payload: Buffer.alloc(0), count: 0 });
  return new Promise((resolve) => {
    let headers: grpc.Metadata | null = null;
    let result: { error: grpc.ServiceError | null; response: EchoMsg | null } | null = null;
    let status: grpc.StatusObject | null = null;
    const done = (): void => {
      if (result !== null && status !== null) resolve({ ...result, headers, status });
    };
    const call = client.makeUnaryRequest(path, ser, de, req, o.metadata ?? new grpc.Metadata(), callOpts(o), (error, response) => {
      result = { error: error ?? null, response: response ?? null };
      done();
    });
    call.on('metadata', (md) => { headers = md; });
    call.on('status', (s) => { status = s; done(); });
  });
}

export interface StreamResult {
  readonly messages: EchoMsg[];
  readonly headers: grpc.Metadata | null;
  readonly status: grpc.StatusObject;
  readonly error: grpc.ServiceError | null;
}

/** Runs a ServerStream call to completion, collecting every message. */
export function serverStream(client: EchoClient, req: Partial<EchoMsg>, o: CallOptions = {}): Promise<StreamResult> {
  return new Promise((resolve) => {
    const call = client.ServerStream(req, o.metadata ?? new grpc.Metadata(), callOpts(o));
    collect(call, resolve);
  });
}

/** Runs a ClientStream call with the given requests. */
export function clientStream(client: EchoClient, reqs: Partial<EchoMsg>[], o: CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | null = null;
    let result: { error: grpc.ServiceError | null; response: EchoMsg | null } | null = null;
    let status: grpc.StatusObject | null = null;
    const done = (): void => {
      if (result !== null && status !== null) resolve({ ...result, headers, status });
    };
    const call = client.ClientStream(o.metadata ?? new grpc.Metadata(), callOpts(o), (error, response) => {
      result = { error: error ?? null, response: response ?? null };
      done();
    });
    call.on('metadata', (md) => { headers = md; });
    call.on('status', (s) => { status = s; done(); });
    for (const r of reqs) call.write(r);
    call.end();
  });
}

function collect(call: grpc.ClientReadableStream<EchoMsg> | grpc.ClientDuplexStream<Partial<EchoMsg>, EchoMsg>,
  resolve: (r: StreamResult) => void): void {
  const messages: EchoMsg[] = [];
  let headers: grpc.Metadata | null = null;
  let error: grpc.ServiceError | null = null;
  let status: grpc.StatusObject | null = null;
  let ended = false;
  const done = (): void => {
    if (status !== null && (ended || error !== null)) resolve({ messages, headers, status, error });
  };
  call.on('metadata', (md: grpc.Metadata) => { headers = md; });
  call.on('data', (m: EchoMsg) => messages.push(m));
  call.on('error', (e: grpc.ServiceError) => { error = e; done(); });
  call.on('end', () => { ended = true; done(); });
  call.on('status', (s: grpc.StatusObject) => { status = s; done(); });
}

/** Closes a client (its channel and connections). */
export function closeClient(client: grpc.Client): void {
  client.close();
}

/** Metadata builder: plain string values and Buffer values (keys must end in `-bin`). */
export function md(entries: Record<string, string | Buffer | (string | Buffer)[]>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) {
    const values = Array.isArray(v) ? v : [v];
    for (const x of values) m.add(k, x);
  }
  return m;
}
