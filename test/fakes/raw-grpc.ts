/**
 * A raw HTTP/2 gRPC request (node:http2, no grpc-js) for asserting wire-level details grpc-js hides:
 * whether a response is trailers-only (one HEADERS frame with END_STREAM carrying grpc-status), and
 * the exact grpc-status / grpc-message header values.
 */
import * as http2 from 'node:http2';
import { withTimeout } from './wait';

export interface RawGrpcResponse {
  readonly headers: http2.IncomingHttpHeaders;
  /** True when the first HEADERS frame ended the stream (a trailers-only response). */
  readonly trailersOnly: boolean;
  /** Trailers, or null for a trailers-only response. */
  readonly trailers: http2.IncomingHttpHeaders | null;
  readonly body: Buffer;
}

/** Sends one unary gRPC request with an empty message to `path` on 127.0.0.1:port. */
export async function rawGrpcCall(port: number, path: string, extraHeaders: http2.OutgoingHttpHeaders = {}): Promise<RawGrpcResponse> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => { /* surfaced through the stream */ });
  try {
    return await withTimeout(new Promise<RawGrpcResponse>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extraHeaders,
      });
      let headers: http2.IncomingHttpHeaders | null = null;
      let trailersOnly = false;
      let trailers: http2.IncomingHttpHeaders | null = null;
      const chunks: Buffer[] = [];
      req.on('response', (h, flags) => { headers = h; trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0; });
      req.on('trailers', (t) => { trailers = t; });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', reject);
      req.on('close', () => {
        if (headers === null) reject(new Error(`stream closed without a response (rst ${req.rstCode})`));
        else resolve({ headers, trailersOnly, trailers, body: Buffer.concat(chunks) });
      });
      // One empty, uncompressed gRPC message.
      req.end(Buffer.from([0, 0, 0, 0, 0]));
    }), 10_000, `raw gRPC call to ${path}`);
  } finally {
    session.close();
  }
}
