/**
 * Upstreams that fail on purpose, for the retry and circuit-breaker tests: `FlakyEchoServer`, a
 * grpc-js remora.test.v1.Echo server whose Unary fails with UNAVAILABLE (optionally with a
 * `grpc-retry-pushback-ms` trailer) on its first `failFirst` calls and counts every attempt; and
 * `StatusHttpServer`, a plain HTTP/1.1 server answering every request with one fixed status and
 * recording each request's method and body. Both bind 127.0.0.1:0; `close()` force-closes connections.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { echoServiceDefinition, type EchoMsg } from './echo-proto';

export interface FlakyEchoOptions {
  /** Unary calls failing with UNAVAILABLE before the server starts succeeding. */
  readonly failFirst: number;
  /** When set, failures carry this `grpc-retry-pushback-ms` trailer value. */
  readonly pushback?: string;
}

export class FlakyEchoServer {
  /** Unary calls that reached the handler (attempts as the upstream saw them). */
  attempts = 0;
  private constructor(private readonly server: grpc.Server, readonly port: number, private readonly options: FlakyEchoOptions) {}

  static async start(options: FlakyEchoOptions): Promise<FlakyEchoServer> {
    const server = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    const flaky = new FlakyEchoServer(server, port, options);
    const unimplemented = (call: { emit(e: string, v: unknown): void }): void => {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'not here' });
    };
    server.addService(echoServiceDefinition(), {
      Unary: (call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>) => flaky.unary(call, cb),
      ClientStream: (_c: unknown, cb: grpc.sendUnaryData<EchoMsg>) => cb({ code: grpc.status.UNIMPLEMENTED }),
      ServerStream: unimplemented,
      BidiStream: unimplemented,
    });
    return flaky;
  }

  private unary(call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>): void {
    this.attempts++;
    if (this.attempts <= this.options.failFirst) {
      const md = new grpc.Metadata();
      if (this.options.pushback !== undefined) md.set('grpc-retry-pushback-ms', this.options.pushback);
      cb({ code: grpc.status.UNAVAILABLE, details: `failing attempt ${this.attempts}`, metadata: md });
      return;
    }
    cb(null, { message: call.request.message, payload: call.request.payload, count: this.attempts });
  }

  async close(): Promise<void> {
    this.server.forceShutdown();
  }
}

export class StatusHttpServer {
  /** Method of every request received, in order. */
  readonly methods: string[] = [];
  /** Body of every request received (UTF-8), in order. */
  readonly bodies: string[] = [];
  private constructor(private readonly server: http.Server, readonly port: number) {}

  static async start(status: number): Promise<StatusHttpServer> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const s = new StatusHttpServer(server, (server.address() as AddressInfo).port);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      s.methods.push(req.method ?? '');
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        s.bodies.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(`status ${status}\n`);
      });
    });
    return s;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
