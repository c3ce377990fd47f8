/**
 * A real grpc-js server implementing remora.test.v1.Echo on 127.0.0.1:0, used as the upstream in
 * integration tests. Its behaviour is driven by request metadata (see ECHO_CONTROL): it echoes all
 * `x-*` request metadata (including `-bin`) back as initial metadata and as trailers, can return any
 * status code with a byte-exact message, can delay, and records what it observed (calls started,
 * server-side cancellations, peers, max concurrency) so tests can assert the sidecar's effect on the
 * upstream. Options cover grpc-js server channel args such as max connection age (GOAWAY).
 */
import * as grpc from '@grpc/grpc-js';
import { ECHO_CONTROL, SERVED_BY, echoServiceDefinition, type EchoMsg } from './echo-proto';
import { waitFor } from './wait';

export interface EchoServerOptions {
  /** Id reported in the `x-served-by` initial metadata (default 'echo'). */
  readonly id?: string;
  /** `grpc.max_connection_age_ms`: the server sends GOAWAY after this long per connection. */
  readonly maxConnectionAgeMs?: number;
  /** `grpc.max_connection_age_grace_ms`: how long in-flight calls may finish after that GOAWAY. */
  readonly maxConnectionAgeGraceMs?: number;
  /** `grpc.max_receive_message_length` / `grpc.max_send_message_length` (default grpc-js 4 MiB / unlimited). */
  readonly maxMessageBytes?: number;
  /** `grpc.max_concurrent_streams` advertised in SETTINGS. */
  readonly maxConcurrentStreams?: number;
}

type AnyCall =
  | grpc.ServerUnaryCall<EchoMsg, EchoMsg>
  | grpc.ServerReadableStream<EchoMsg, EchoMsg>
  | grpc.ServerWritableStream<EchoMsg, EchoMsg>
  | grpc.ServerDuplexStream<EchoMsg, EchoMsg>;

/** A running fake Echo server; `close()` force-shuts it down and clears its timers. */
export class EchoServer {
  readonly id: string;
  readonly port: number;
  /** Calls that reached a handler. */
  started = 0;
  /** Calls whose handler finished sending a response or status. */
  completed = 0;
  /** Calls the server observed as cancelled (`call.on('cancelled')`). */
  cancellations = 0;
  /** Calls currently in a handler, and the maximum seen at once. */
  inflight = 0;
  maxInflight = 0;
  /** Distinct peer addresses seen (one per upstream connection). */
  readonly peers = new Set<string>();
  /** Metadata of the most recent call. */
  lastMetadata: grpc.Metadata | null = null;
  /** Method paths of every call, in arrival order (bounded by tests, not here). */
  readonly methods: string[] = [];

  private readonly server: grpc.Server;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly enders = new WeakMap<AnyCall, () => void>();

  private constructor(server: grpc.Server, port: number, id: string) {
    this.server = server;
    this.port = port;
    this.id = id;
  }

  /** Starts a server on 127.0.0.1:0. */
  static async start(options: EchoServerOptions = {}): Promise<EchoServer> {
    const channelOptions: grpc.ServerOptions = {};
    if (options.maxConnectionAgeMs !== undefined) channelOptions['grpc.max_connection_age_ms'] = options.maxConnectionAgeMs;
    if (options.maxConnectionAgeGraceMs !== undefined) channelOptions['grpc.max_connection_age_grace_ms'] = options.maxConnectionAgeGraceMs;
    if (options.maxMessageBytes !== undefined) {
      channelOptions['grpc.max_receive_message_length'] = options.maxMessageBytes;
      channelOptions['grpc.max_send_message_length'] = options.maxMessageBytes;
    }
    if (options.maxConcurrentStreams !== undefined) channelOptions['grpc.max_concurrent_streams'] = options.maxConcurrentStreams;
    const server = new grpc.Server(channelOptions);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    const echo = new EchoServer(server, port, options.id ?? 'echo');
    server.addService(echoServiceDefinition(), {
      Unary: (call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>) => echo.unary(call, cb),
      ClientStream: (call: grpc.ServerReadableStream<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>) => echo.clientStream(call, cb),
      ServerStream: (call: grpc.ServerWritableStream<EchoMsg, EchoMsg>) => echo.serverStream(call),
      BidiStream: (call: grpc.ServerDuplexStream<EchoMsg, EchoMsg>) => echo.bidi(call),
    });
    return echo;
  }

  /** `127.0.0.1:<port>`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Resolves once at least `n` cancellations were observed (bounded wait). */
  async waitForCancellations(n: number, timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.cancellations >= n, { timeoutMs, what: `${n} server-observed cancellation(s) (saw ${this.cancellations})` });
  }

  /** Resolves once at least `n` calls reached a handler. */
  async waitForStarted(n: number, timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.started >= n, { timeoutMs, what: `${n} call(s) started on the echo server (saw ${this.started})` });
  }

  /** Stops the server immediately, failing in-flight calls, and clears pending timers. */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.server.forceShutdown();
  }

  // ------------------------------------------------------------------ handlers

  private begin(call: AnyCall, path: string): void {
    this.started++;
    this.inflight++;
    if (this.inflight > this.maxInflight) this.maxInflight = this.inflight;
    this.lastMetadata = call.metadata;
    this.methods.push(path);
    this.peers.add(call.getPeer());
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.inflight--;
    };
    (call as unknown as NodeJS.EventEmitter).on('cancelled', () => { this.cancellations++; end(); });
    this.enders.set(call, end);
  }

  private finish(call: AnyCall): void {
    this.completed++;
    const end = this.enders.get(call);
    if (end !== undefined) end();
  }

  private after(ms: number, fn: () => void): void {
    if (ms <= 0) { fn(); return; }
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
  }

  private unary(call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>): void {
    this.begin(call, 'Unary');
    const ctl = readControl(call.metadata);
    this.after(ctl.delayMs, () => {
      if (call.cancelled) return;
      call.sendMetadata(this.initialMetadata(call.metadata));
      this.finish(call);
      if (ctl.status !== 0) cb(statusError(ctl, call.metadata));
      else cb(null, { message: call.request.message, payload: call.request.payload, count: call.request.count }, echoed(call.metadata));
    });
  }

  private clientStream(call: grpc.ServerReadableStream<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>): void {
    this.begin(call, 'ClientStream');
    const ctl = readControl(call.metadata);
    const parts: string[] = [];
    const payloads: Buffer[] = [];
    call.on('data', (m: EchoMsg) => { parts.push(m.message); payloads.push(m.payload); });
    call.on('end', () => {
      this.after(ctl.delayMs, () => {
        if (call.cancelled) return;
        call.sendMetadata(this.initialMetadata(call.metadata));
        this.finish(call);
        if (ctl.status !== 0) cb(statusError(ctl, call.metadata));
        else cb(null, { message: parts.join(','), payload: Buffer.concat(payloads), count: parts.length }, echoed(call.metadata));
      });
    });
  }

  private serverStream(call: grpc.ServerWritableStream<EchoMsg, EchoMsg>): void {
    this.begin(call, 'ServerStream');
    const ctl = readControl(call.metadata);
    const total = call.request.count > 0 ? call.request.count : 1;
    let sent = 0;
    const next = (): void => {
      if (call.cancelled) return;
      if (sent === 0) call.sendMetadata(this.initialMetadata(call.metadata));
      if (sent < total) {
        call.write({ message: call.request.message, payload: call.request.payload, count: sent });
        sent++;
        this.after(sent < total ? ctl.intervalMs : 0, next);
        return;
      }
      this.finish(call);
      if (ctl.status !== 0) call.emit('error', statusError(ctl, call.metadata));
      else call.end(echoed(call.metadata));
    };
    this.after(ctl.delayMs, next);
  }

  private bidi(call: grpc.ServerDuplexStream<EchoMsg, EchoMsg>): void {
    this.begin(call, 'BidiStream');
    const ctl = readControl(call.metadata);
    call.sendMetadata(this.initialMetadata(call.metadata));
    call.on('data', (m: EchoMsg) => {
      if (!call.cancelled) call.write({ message: m.message, payload: m.payload, count: m.count });
    });
    call.on('end', () => {
      if (call.cancelled) return;
      this.finish(call);
      if (ctl.status !== 0) call.emit('error', statusError(ctl, call.metadata));
      else call.end(echoed(call.metadata));
    });
  }

  private initialMetadata(request: grpc.Metadata): grpc.Metadata {
    const md = echoed(request);
    md.set(SERVED_BY, this.id);
    return md;
  }
}

interface Control {
  status: number;
  message: string;
  delayMs: number;
  intervalMs: number;
}

function readControl(md: grpc.Metadata): Control {
  const num = (key: string): number => {
    const v = md.get(key)[0];
    return v === undefined ? 0 : Number(v.toString());
  };
  const msg = md.get(ECHO_CONTROL.messageBin)[0];
  return {
    status: num(ECHO_CONTROL.status),
    message: msg === undefined ? '' : Buffer.isBuffer(msg) ? msg.toString('utf8') : String(msg),
    delayMs: num(ECHO_CONTROL.delayMs),
    intervalMs: num(ECHO_CONTROL.intervalMs),
  };
}

/** Copy of the request's `x-*` metadata entries (every value, `-bin` included), control keys excluded. */
function echoed(request: grpc.Metadata): grpc.Metadata {
  const out = new grpc.Metadata();
  const map = request.getMap();
  for (const key of Object.keys(map)) {
    if (!key.startsWith('x-') || key.startsWith('x-echo-')) continue;
    for (const v of request.get(key)) out.add(key, v);
  }
  return out;
}

function statusError(ctl: Control, request: grpc.Metadata): Partial<grpc.StatusObject> & { code: number; details: string } {
  return { code: ctl.status, details: ctl.message, metadata: echoed(request) };
}
