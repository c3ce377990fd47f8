/**
 * A `Downstream` (src/filters/stream-context.ts) that records the response a filter sends instead of
 * writing it to a socket, for unit tests of single filters (fault, rate limits, authorization). The
 * integration tests drive the same filters through a real sidecar.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Downstream } from '../../src/filters/stream-context';

export class RecordingDownstream implements Downstream {
  readonly protocol = 'h2' as const;
  readonly body = null;
  readonly sink = new PassThrough();
  responseStarted = false;
  bytesSent = 0;
  closed = false;
  /** The response status, 0 until `respond`. */
  status = 0;
  headers: OutgoingHttpHeaders = {};

  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean): void {
    this.responseStarted = true;
    this.status = status;
    this.headers = headers;
    if (endStream) this.closed = true;
  }
  write(): boolean { return true; }
  end(): void { this.closed = true; }
  reset(): void { this.closed = true; }
}
