/**
 * The OTLP/gRPC collector of the telemetry bench paths: a grpc-js server answering
 * `opentelemetry.proto.collector.trace.v1.TraceService/Export` with an empty
 * ExportTraceServiceResponse, counting requests and bytes without decoding them (the bench measures
 * the sidecar's cost of exporting, not a collector's). Runs in the bench driver process, outside the
 * measured sidecar.
 */
import * as grpc from '@grpc/grpc-js';

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const EMPTY = Buffer.alloc(0);

export class OtlpSink {
  exports = 0;
  bytes = 0;

  private constructor(private readonly server: grpc.Server, readonly port: number) {}

  /** Starts the sink on 127.0.0.1:0. */
  static async start(): Promise<OtlpSink> {
    const server = new grpc.Server();
    let sink: OtlpSink | null = null;
    const definition: grpc.ServiceDefinition = {
      Export: {
        path: EXPORT_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: () => EMPTY,
        responseDeserialize: () => EMPTY,
      },
    };
    server.addService(definition, {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        if (sink !== null) {
          sink.exports++;
          sink.bytes += call.request.length;
        }
        cb(null, EMPTY);
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err !== null ? reject(err) : resolve(p)));
    });
    sink = new OtlpSink(server, port);
    return sink;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }
}
