/**
 * A raw HTTP/2 gRPC upstream with a scripted failure mode, for the resilience (chaos) tests. It
 * answers any unary method with one empty message and grpc-status 0, except as its mode says:
 * - `ok`: always succeeds;
 * - `flaky`: answers UNAVAILABLE (trailers-only) on a fraction of calls (deterministic: every
 *   `1/failureRatio`-th call when the ratio is 0.5, otherwise by a seeded sequence);
 * - `hang`: never answers (the call stays open until the client or the proxy gives up);
 * - `close`: sends response headers, then destroys the connection before any message (a
 *   connection lost mid-stream, before the response is committed).
 * It also answers `grpc.health.v1.Health/Check` with `healthStatus` (not counted as an attempt).
 * It counts attempts and cancellations so tests can bound the attempts the sidecar made.
 */
import * as http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';

export type ChaosMode = 'ok' | 'flaky' | 'hang' | 'close';

const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);
const HEALTH_PATH = '/grpc.health.v1.Health/Check';
/** A gRPC-framed HealthCheckResponse{status} (field 1, varint). */
const healthReply = (status: number): Buffer => Buffer.from([0, 0, 0, 0, 2, 0x08, status]);

export class ChaosUpstream {
  /** Requests that reached the server. */
  attempts = 0;
  /** Requests answered with grpc-status 0. */
  succeeded = 0;
  /** Requests the client reset before an answer (hang mode, per-try timeouts, cancellations). */
  cancelled = 0;
  /** Health checks received, and the status they get (SERVING by default). */
  healthChecks = 0;
  healthStatus: 'SERVING' | 'NOT_SERVING' = 'SERVING';
  private readonly sockets = new Set<Socket>();
  private seq = 0;

  private constructor(private readonly server: http2.Http2Server, readonly port: number, public mode: ChaosMode, private readonly failureRatio: number) {}

  static async start(mode: ChaosMode, failureRatio = 0.5): Promise<ChaosUpstream> {
    const server = http2.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const up = new ChaosUpstream(server, (server.address() as AddressInfo).port, mode, failureRatio);
    server.on('connection', (s: Socket) => {
      up.sockets.add(s);
      s.on('close', () => up.sockets.delete(s));
    });
    server.on('stream', (stream, headers) => up.onStream(stream, headers[':path']));
    return up;
  }

  private onStream(stream: http2.ServerHttp2Stream, path: string | undefined): void {
    stream.on('error', () => {});
    if (path === HEALTH_PATH) {
      this.healthChecks++;
      stream.resume();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(healthReply(this.healthStatus === 'SERVING' ? 1 : 2));
      return;
    }
    this.attempts++;
    stream.on('close', () => {
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !stream.headersSent) this.cancelled++;
    });
    stream.resume(); // read and drop the request
    switch (this.mode) {
      case 'hang':
        return;
      case 'close':
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
        // Let the headers reach the wire, then drop the connection without GOAWAY.
        setImmediate(() => stream.session?.destroy());
        return;
      case 'flaky':
        if (this.nextFails()) {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'flaky' }, { endStream: true });
          return;
        }
        break;
      case 'ok':
        break;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(EMPTY_MESSAGE);
    this.succeeded++;
  }

  /** Deterministic failure sequence with the configured ratio (a Weyl sequence: evenly spread). */
  private nextFails(): boolean {
    this.seq++;
    const x = (this.seq * 0.6180339887498949) % 1;
    return x < this.failureRatio;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
