/**
 * How the transcoding wrapper writes a complete (unary / Status JSON) response on the client's
 * downstream: JSON headers without trailers, the body, a plain end (the gRPC trailers are consumed,
 * never forwarded), whatever the client's HTTP version.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import { encodeGrpcFrame } from '../../codec/grpc/frame-decoder';
import { fixtureTable } from '../../codec/transcode/transcode-fixture.test-util';
import type { Downstream, StreamContext } from '../stream-context';
import { StreamFraming } from './stream-framing';
import { TranscodingDownstream } from './transcoding-downstream';

class RecordingDownstream implements Downstream {
  readonly body = null;
  readonly sink = new PassThrough();
  responseStarted = false;
  readonly closed = false;
  bytesSent = 0;
  readonly calls: unknown[][] = [];
  constructor(readonly protocol: 'h1' | 'h2') {}
  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean, wantTrailers: boolean): void {
    this.responseStarted = true;
    this.calls.push(['respond', status, headers['content-type'], headers['content-length'], endStream, wantTrailers]);
  }
  write(chunk: Buffer): boolean {
    this.bytesSent += chunk.length;
    this.calls.push(['write', chunk.toString('utf8')]);
    return true;
  }
  end(trailers: OutgoingHttpHeaders | null): void {
    this.calls.push(['end', trailers === null ? null : { ...trailers }]);
  }
  reset(): void {
    this.calls.push(['reset']);
  }
}

function wrapper(protocol: 'h1' | 'h2'): { ds: TranscodingDownstream; inner: RecordingDownstream; ctx: StreamContext } {
  const table = fixtureTable();
  const m = table.matcher.match('GET', '/v1/shelves/s/books/1');
  assert.equal(m.kind, 'match');
  const inner = new RecordingDownstream(protocol);
  const ctx = { responseHeadersToAdd: null, responseStatus: 0, grpcStatus: null, call: null } as unknown as StreamContext;
  const ds = new TranscodingDownstream(ctx, inner, table, m.kind === 'match' ? m.binding.target : null, 1 << 20, StreamFraming.JsonArray);
  return { ds, inner, ctx };
}

for (const protocol of ['h2', 'h1'] as const) {
  test(`unary response over ${protocol}: headers, JSON body, then a plain end`, () => {
    const { ds, inner, ctx } = wrapper(protocol);
    ds.respond(200, { 'content-type': 'application/grpc' }, false, true);
    ds.write(encodeGrpcFrame(new Uint8Array(0)));
    ds.end({ 'grpc-status': '0' });
    assert.deepEqual(inner.calls, [
      ['respond', 200, 'application/json', 2, false, false],
      ['write', '{}'],
      ['end', null],
    ]);
    assert.equal(ctx.responseStatus, 200);
  });

  test(`Status JSON reply over ${protocol} ends the same way`, () => {
    const { ds, inner } = wrapper(protocol);
    ds.respond(200, { 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'gone' }, true, false);
    assert.equal(inner.calls.length, 3);
    assert.deepEqual(inner.calls[0]!.slice(0, 3), ['respond', 404, 'application/json']);
    assert.equal(inner.calls[0]![5], false);
    assert.deepEqual(JSON.parse(inner.calls[1]![1] as string), { code: 5, message: 'gone', details: [] });
    assert.deepEqual(inner.calls[2], ['end', null]);
  });
}
