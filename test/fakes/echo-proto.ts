/**
 * Loads proto/echo.proto (and greeter.proto) once per process with @grpc/proto-loader and exposes
 * the Echo service definition, its message type and the control-metadata keys that drive the fake
 * server's behaviour. Shared by echo-server.ts and echo-client.ts.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { repoPath } from './paths';

/** The one message of remora.test.v1.Echo (proto-loader: keepCase, bytes as Buffer, defaults filled). */
export interface EchoMsg {
  message: string;
  payload: Buffer;
  count: number;
}

/** Request metadata keys the fake server obeys. */
export const ECHO_CONTROL = {
  /** Respond with this gRPC status code (decimal) instead of OK. */
  status: 'x-echo-status',
  /** UTF-8 bytes of the status message to return (binary so any text round-trips exactly). */
  messageBin: 'x-echo-message-bin',
  /** Wait this many ms before the (first) response. */
  delayMs: 'x-echo-delay-ms',
  /** Server streaming: wait this many ms between messages. */
  intervalMs: 'x-echo-interval-ms',
} as const;

/** Initial-metadata key carrying the serving server's id. */
export const SERVED_BY = 'x-served-by';

export const ECHO_SERVICE = 'remora.test.v1.Echo';

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  includeDirs: [repoPath('proto'), repoPath('node_modules', '@grpc', 'grpc-js-xds', 'deps', 'googleapis')],
};

let cached: protoLoader.PackageDefinition | null = null;

/** The package definition of echo.proto and greeter.proto. */
export function packageDefinition(): protoLoader.PackageDefinition {
  if (cached === null) cached = protoLoader.loadSync(['echo.proto', 'greeter.proto'], LOADER_OPTIONS);
  return cached;
}

/** The Echo service definition (method name → path, serializers). */
export function echoServiceDefinition(): grpc.ServiceDefinition {
  return packageDefinition()[ECHO_SERVICE] as unknown as grpc.ServiceDefinition;
}

/** Typed view of the generated Echo client. */
export interface EchoClient extends grpc.Client {
  Unary(req: Partial<EchoMsg>, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<EchoMsg>): grpc.ClientUnaryCall;
  ClientStream(md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<EchoMsg>): grpc.ClientWritableStream<Partial<EchoMsg>>;
  ServerStream(req: Partial<EchoMsg>, md: grpc.Metadata, opts: grpc.CallOptions): grpc.ClientReadableStream<EchoMsg>;
  BidiStream(md: grpc.Metadata, opts: grpc.CallOptions): grpc.ClientDuplexStream<Partial<EchoMsg>, EchoMsg>;
}

/** Constructor of the Echo client. */
export function echoClientConstructor(): new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => EchoClient {
  return grpc.makeGenericClientConstructor(echoServiceDefinition(), 'Echo') as unknown as new (
    address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => EchoClient;
}
