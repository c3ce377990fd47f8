/**
 * Everything the macro benchmark knows about its wire payloads: where `bench.proto` lives (next to
 * the sources, also when running from the compiled `dist/bench/macro/`), how to load it for grpc-js,
 * and how to build the gRPC-framed request bodies that h2load posts verbatim with `-d`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Fully-qualified gRPC method path that every load targets. */
export const ECHO_PATH = '/remora.bench.v1.Bench/Echo';

/**
 * Returns the repository root: the nearest ancestor of this file, else of the working directory, holding
 * `bench/macro/bench.proto`. Works from `bench/macro/*.ts` (tsx), from `dist/bench/macro/*.js` (tsc
 * output) and from a tsc outDir outside the repo when run from the repo. Throws if not found.
 */
export function repoRoot(): string {
  for (const start of [__dirname, process.cwd()]) {
    let dir = start;
    for (let i = 0; i < 8; i++) {
      if (fs.existsSync(path.join(dir, 'bench', 'macro', 'bench.proto'))) return dir;
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new Error(`bench/macro/bench.proto not found above ${__dirname} or ${process.cwd()}`);
}

/** Absolute path of `bench.proto`. */
export function benchProtoPath(): string {
  return path.join(repoRoot(), 'bench', 'macro', 'bench.proto');
}

/** The service constructor for `remora.bench.v1.Bench`, loaded with field names kept as written. */
export function loadBenchService(): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(benchProtoPath(), { keepCase: true, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    remora: { bench: { v1: { Bench: grpc.ServiceClientConstructor } } };
  };
  return pkg.remora.bench.v1.Bench;
}

/**
 * Encodes `EchoRequest{payload}` (field 1, length-delimited) and wraps it in one uncompressed gRPC
 * length-prefixed frame. An empty payload yields the 5-byte frame `00 00000000` (proto3 omits it).
 */
export function grpcFramedEchoRequest(payloadBytes: number): Buffer {
  let message: Buffer;
  if (payloadBytes === 0) {
    message = Buffer.alloc(0);
  } else {
    const varint: number[] = [];
    let n = payloadBytes;
    while (n > 0x7f) {
      varint.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    varint.push(n);
    message = Buffer.concat([Buffer.from([0x0a, ...varint]), Buffer.alloc(payloadBytes, 0x61)]);
  }
  const frame = Buffer.alloc(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/**
 * DATA bytes of one successful Echo reply for a request payload of `payloadBytes`: the 5-byte frame
 * header plus the EchoReply serialized by the same grpc-js/proto-loader code the upstream uses.
 */
export function echoReplyFrameBytes(payloadBytes: number): number {
  const def = loadBenchService().service.Echo;
  return 5 + def.responseSerialize({ payload_size: payloadBytes }).length;
}
