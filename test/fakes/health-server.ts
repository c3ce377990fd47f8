/**
 * Health-check peers for tests, on 127.0.0.1:0: `GrpcHealthServer`, a real grpc-js server
 * implementing `grpc.health.v1.Health/Check` with a settable serving status per service (messages
 * coded by protobufjs, independently of Remora's hand-written codec), and `HttpHealthServer`, a
 * node:http server answering a settable status. Both can be told to hang (accept the request and
 * never answer) and count the checks they receive.
 */
import * as grpc from '@grpc/grpc-js';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as protobuf from 'protobufjs';

const root = protobuf.Root.fromJSON({
  nested: {
    grpc: { nested: { health: { nested: { v1: { nested: {
      HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
      HealthCheckResponse: {
        fields: { status: { type: 'ServingStatus', id: 1 } },
        nested: { ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } },
      },
    } } } } } },
  },
});
const RequestType = root.lookupType('grpc.health.v1.HealthCheckRequest');
const ResponseType = root.lookupType('grpc.health.v1.HealthCheckResponse');

export type ServingStatusName = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
const STATUS_NUM: Record<ServingStatusName, number> = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 };

interface HealthReq { service: string }
interface HealthRes { status: number }

const healthService: grpc.ServiceDefinition = {
  Check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: HealthReq) => Buffer.from(RequestType.encode(RequestType.fromObject(v)).finish()),
    requestDeserialize: (b: Buffer) => RequestType.toObject(RequestType.decode(b), { defaults: true }) as HealthReq,
    responseSerialize: (v: HealthRes) => Buffer.from(ResponseType.encode(ResponseType.fromObject(v)).finish()),
    responseDeserialize: (b: Buffer) => ResponseType.toObject(ResponseType.decode(b), { defaults: true }) as HealthRes,
  },
};

export class GrpcHealthServer {
  /** Checks received, by service name. */
  readonly checks = new Map<string, number>();
  /** When true, calls are accepted and never answered. */
  hang = false;
  private readonly statuses = new Map<string, ServingStatusName>();
  private readonly hung = new Set<grpc.ServerUnaryCall<HealthReq, HealthRes>>();

  private constructor(private readonly server: grpc.Server, readonly port: number) {}

  static async start(): Promise<GrpcHealthServer> {
    const server = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    const fake = new GrpcHealthServer(server, port);
    server.addService(healthService, {
      Check: (call: grpc.ServerUnaryCall<HealthReq, HealthRes>, cb: grpc.sendUnaryData<HealthRes>) => fake.check(call, cb),
    });
    return fake;
  }

  /** Sets a service's status; a service never set answers NOT_FOUND, as the reference implementation. */
  setStatus(service: string, status: ServingStatusName): void {
    this.statuses.set(service, status);
  }

  checksFor(service: string): number {
    return this.checks.get(service) ?? 0;
  }

  close(): void {
    this.server.forceShutdown();
    this.hung.clear();
  }

  private check(call: grpc.ServerUnaryCall<HealthReq, HealthRes>, cb: grpc.sendUnaryData<HealthRes>): void {
    const service = call.request.service;
    this.checks.set(service, this.checksFor(service) + 1);
    if (this.hang) {
      this.hung.add(call);
      call.on('cancelled', () => this.hung.delete(call));
      return;
    }
    const status = this.statuses.get(service);
    if (status === undefined) {
      cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
      return;
    }
    cb(null, { status: STATUS_NUM[status] });
  }
}

export class HttpHealthServer {
  /** Status answered to every request. */
  status = 200;
  /** When true, requests are accepted and never answered. */
  hang = false;
  /** Requests received, and the last one's path and Host header. */
  requests = 0;
  lastPath = '';
  lastHost = '';
  private readonly pending = new Set<http.ServerResponse>();

  private constructor(private readonly server: http.Server, readonly port: number) {}

  static async start(): Promise<HttpHealthServer> {
    let fake: HttpHealthServer | null = null;
    const server = http.createServer((req, res) => fake!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new HttpHealthServer(server, (server.address() as AddressInfo).port);
    return fake;
  }

  /** Stops listening and destroys every connection, hung ones included. */
  close(): Promise<void> {
    for (const res of this.pending) res.destroy();
    this.pending.clear();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests++;
    this.lastPath = req.url ?? '';
    this.lastHost = req.headers.host ?? '';
    req.resume();
    if (this.hang) {
      this.pending.add(res);
      res.on('close', () => this.pending.delete(res));
      return;
    }
    res.statusCode = this.status;
    res.end('ok');
  }
}
