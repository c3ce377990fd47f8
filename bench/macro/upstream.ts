/**
 * The benchmark's upstream: a grpc-js server for `remora.bench.v1.Bench/Echo` running in its own
 * child process, so its CPU is not charged to the harness or the proxy. Started by run.ts through
 * `child_process.fork`; it binds 127.0.0.1 on a free port, reports `{type:'listening', port, pid}`
 * over IPC, and exits when the parent disconnects (the parent died or finished) or on SIGTERM.
 */
import * as grpc from '@grpc/grpc-js';
import { loadBenchService } from './proto';

interface EchoRequest {
  payload: Buffer;
}
interface EchoReply {
  payload_size: number;
}

function echo(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>): void {
  callback(null, { payload_size: call.request.payload.length });
}

function main(): void {
  const server = new grpc.Server();
  server.addService(loadBenchService().service, { Echo: echo });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err !== null) {
      process.stderr.write(`upstream: bind failed: ${err.message}\n`);
      process.exit(1);
    }
    if (process.send !== undefined) process.send({ type: 'listening', port, pid: process.pid });
    else process.stdout.write(`listening 127.0.0.1:${port}\n`);
  });
  const stop = (): void => {
    server.forceShutdown();
    process.exit(0);
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
