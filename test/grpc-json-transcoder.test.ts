/**
 * `envoy.filters.http.grpc_json_transcoder` end to end: a sidecar listener compiled from an Envoy
 * bootstrap (with a registry that includes the transcoder) in front of a real grpc-js service built
 * from a small annotated proto (compiled in-process to a FileDescriptorSet, no protoc). Covers GET
 * with path + query, POST with body "*", 404 / 405 + Allow / 400 as google.rpc.Status JSON, an
 * upstream error with decoded details, server streaming in the three framings (incl. a mid-stream
 * error: trailers on HTTP/2, final error event for NDJSON/SSE), client streaming from a JSON array,
 * 413 and the response limit, a deadline from Request-Timeout, per-route disable, and a real gRPC
 * call passing through the same listener untouched.
 */
import { startListener, type RiggedListener } from './fakes/listener-rig';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import { compileProtoSources, googleapisDir } from '../src/config/compile/compile-proto';
import { GRPC_JSON_TRANSCODER_TYPE_URL, FILTER_CONFIG_TYPE_URL } from '../src/filters/grpc-json-transcoder/config';
import { HCM_TYPE, ROUTER_TYPE, clusterJson } from './fakes/bootstrap';
import { httpRequest } from './fakes/http-client';

const PROTO = `
syntax = "proto3";
package tt.v1;
import "google/api/annotations.proto";

message GetItemRequest { string shelf = 1; int64 id = 2; string view = 3; }
message Item { string shelf = 1; int64 id = 2; string title = 3; }
message ListRequest { string shelf = 1; int32 count = 2; int32 fail_after = 3; }
message Total { int32 count = 1; string titles = 2; }

service Shop {
  rpc GetItem(GetItemRequest) returns (Item) { option (google.api.http) = { get: "/v1/shelves/{shelf}/items/{id}" }; }
  rpc CreateItem(Item) returns (Item) { option (google.api.http) = { post: "/v1/shelves/{shelf}/items" body: "*" }; }
  rpc ListItems(ListRequest) returns (stream Item) { option (google.api.http) = { get: "/v1/shelves/{shelf}/items" }; }
  rpc AddItems(stream Item) returns (Total) { option (google.api.http) = { post: "/v1/items:batch" body: "*" }; }
  rpc Slow(GetItemRequest) returns (Item) { option (google.api.http) = { get: "/v1/slow/{shelf}" }; }
}
`;

const TRANSCODER = 'envoy.filters.http.grpc_json_transcoder';

interface Seen { method: string; request: unknown; metadata: grpc.Metadata; deadline: grpc.Deadline | null }

/** google.rpc.Status{code, message, details: [ErrorInfo]} bytes, for grpc-status-details-bin. */
function errorInfoStatus(code: number, message: string): Buffer {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    const p = path.join(googleapisDir(), target);
    return fs.existsSync(p) ? p : target;
  };
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
  const info = root.lookupType('google.rpc.ErrorInfo');
  const status = root.lookupType('google.rpc.Status');
  const detail = { type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value: info.encode({ reason: 'ITEM_MISSING', domain: 'shop.test' }).finish() };
  return Buffer.from(status.encode(status.fromObject({ code, message, details: [detail] })).finish());
}

class ShopServer {
  readonly seen: Seen[] = [];
  private constructor(readonly server: grpc.Server, readonly port: number) {}

  static async start(descriptors: Uint8Array): Promise<ShopServer> {
    const def = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(descriptors), { longs: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { tt: { v1: { Shop: grpc.ServiceClientConstructor } } };
    const server = new grpc.Server();
    let self: ShopServer | null = null;
    const record = (method: string, request: unknown, call: { metadata: grpc.Metadata; getDeadline?: () => grpc.Deadline }): void => {
      self!.seen.push({ method, request, metadata: call.metadata, deadline: call.getDeadline === undefined ? null : call.getDeadline() });
    };
    server.addService(pkg.tt.v1.Shop.service, {
      GetItem(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
        record('GetItem', call.request, call);
        const r = call.request as { shelf: string; id: string; view: string };
        if (r.id === '404') {
          const md = new grpc.Metadata();
          md.set('grpc-status-details-bin', errorInfoStatus(grpc.status.NOT_FOUND, `item ${r.id} not found`));
          md.set('x-shop', 'missing');
          cb({ code: grpc.status.NOT_FOUND, details: `item ${r.id} not found`, metadata: md });
          return;
        }
        const title = r.view === 'big' ? 'x'.repeat(10_000) : `item ${r.id} on ${r.shelf} (${r.view})`;
        cb(null, { shelf: r.shelf, id: r.id, title });
      },
      CreateItem(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
        record('CreateItem', call.request, call);
        cb(null, { ...call.request, id: '42' });
      },
      ListItems(call: grpc.ServerWritableStream<any, any>) {
        record('ListItems', call.request, call);
        const r = call.request as { shelf: string; count: number; fail_after: number };
        for (let i = 1; i <= r.count; i++) {
          if (r.fail_after > 0 && i > r.fail_after) {
            call.emit('error', { code: grpc.status.ABORTED, details: 'shelf collapsed' });
            return;
          }
          call.write({ shelf: r.shelf, id: String(i), title: `t${i}` });
        }
        call.end();
      },
      AddItems(call: grpc.ServerReadableStream<any, any>, cb: grpc.sendUnaryData<any>) {
        const titles: string[] = [];
        call.on('data', (m: { title: string }) => titles.push(m.title));
        call.on('end', () => {
          record('AddItems', titles, call);
          cb(null, { count: titles.length, titles: titles.join(',') });
        });
      },
      Slow(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
        record('Slow', call.request, call);
        const t = setTimeout(() => cb(null, { title: 'late' }), 5000);
        call.on('cancelled', () => clearTimeout(t));
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    self = new ShopServer(server, port);
    return self;
  }

  last(method: string): Seen {
    const s = [...this.seen].reverse().find((x) => x.method === method);
    assert.ok(s, `upstream saw no ${method} call`);
    return s;
  }

  close(): void {
    this.server.forceShutdown();
  }
}

/** One listener compiled from an Envoy bootstrap (the default registry holds the transcoder); real sockets on port 0. */
function startSidecar(bootstrap: Record<string, unknown>): Promise<RiggedListener> {
  return startListener(bootstrap);
}

function bootstrapFor(descriptorFile: string, grpcPort: number, webPort: number): Record<string, unknown> {
  const transcoder = {
    '@type': GRPC_JSON_TRANSCODER_TYPE_URL,
    proto_descriptor: descriptorFile,
    services: ['tt.v1.Shop'],
    max_request_body_size: 2048,
    max_response_body_size: 4096,
  };
  return {
    node: { id: 'transcoder-test', cluster: 'transcoder-test' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [{
        name: 'ingress',
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: [{
          filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM_TYPE,
              stat_prefix: 'ingress',
              codec_type: 'AUTO',
              route_config: {
                name: 'routes',
                virtual_hosts: [{
                  name: 'all',
                  domains: ['*'],
                  routes: [
                    {
                      match: { prefix: '/plain' },
                      route: { cluster: 'web' },
                      typed_per_filter_config: { [TRANSCODER]: { '@type': FILTER_CONFIG_TYPE_URL, disabled: true } },
                    },
                    { match: { prefix: '/' }, route: { cluster: 'shop', timeout: '10s' } },
                  ],
                }],
              },
              http_filters: [
                { name: TRANSCODER, typed_config: transcoder },
                { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
              ],
            },
          }],
        }],
      }],
      clusters: [
        clusterJson({ name: 'shop', endpoints: [{ host: '127.0.0.1', port: grpcPort }], http2: true }),
        clusterJson({ name: 'web', endpoints: [{ host: '127.0.0.1', port: webPort }] }),
      ],
    },
  };
}

interface H2Response { status: number; headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders | null; body: string }

function h2Request(port: number, headers: http2.OutgoingHttpHeaders, body: string | null = null): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request(headers, { endStream: body === null });
    let status = 0;
    let resHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    req.on('response', (h) => { status = Number(h[':status']); resHeaders = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      session.close();
      resolve({ status, headers: resHeaders, trailers, body: Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', (e) => { session.destroy(); reject(e); });
    if (body !== null) req.end(body);
  });
}

describe('grpc_json_transcoder through a sidecar', () => {
  let shop: ShopServer;
  let web: http.Server;
  let sidecar: { port: number; close(): Promise<void> };
  let dir: string;
  let descriptors: Uint8Array;

  before(async () => {
    descriptors = compileProtoSources([{ name: 'tt/v1/shop.proto', content: PROTO }]);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-transcoder-'));
    const file = path.join(dir, 'shop.pb');
    fs.writeFileSync(file, descriptors);
    shop = await ShopServer.start(descriptors);
    web = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`web saw ${req.method} ${req.url}`);
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    sidecar = await startSidecar(bootstrapFor(file, shop.port, (web.address() as { port: number }).port));
  });

  after(async () => {
    await sidecar?.close();
    shop?.close();
    web?.closeAllConnections();
    await new Promise<void>((resolve) => (web === undefined ? resolve() : web.close(() => resolve())));
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GET with path variables and query → unary call → JSON', async () => {
    const res = await httpRequest(sidecar.port, { path: '/v1/shelves/s%201/items/7?view=full', headers: { 'x-tenant': 'acme', connection: 'keep-alive' } });
    assert.equal(res.status, 200, res.text());
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.equal(Number(res.headers['content-length']), res.body.length);
    assert.deepEqual(res.json(), { shelf: 's 1', id: '7', title: 'item 7 on s 1 (full)' });
    const seen = shop.last('GetItem');
    assert.deepEqual(seen.request, { shelf: 's 1', id: '7', view: 'full' });
    assert.deepEqual(seen.metadata.get('x-tenant'), ['acme']);
    assert.deepEqual(seen.metadata.get('x-envoy-original-path'), ['/v1/shelves/s%201/items/7?view=full']);
    assert.deepEqual(seen.metadata.get('x-envoy-original-method'), ['GET']);
    assert.deepEqual(seen.metadata.get('connection'), []);
  });

  it('POST with body "*" (path wins for the path-bound field)', async () => {
    const res = await httpRequest(sidecar.port, {
      method: 'POST', path: '/v1/shelves/main/items', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Dune' }),
    });
    assert.equal(res.status, 200, res.text());
    assert.deepEqual(res.json(), { shelf: 'main', id: '42', title: 'Dune' });
    assert.deepEqual(shop.last('CreateItem').request, { shelf: 'main', id: '0', title: 'Dune' });
  });

  it('unknown path → 404, wrong method → 405 with Allow, both as google.rpc.Status JSON', async () => {
    const nf = await httpRequest(sidecar.port, { path: '/v1/nothing/here' });
    assert.equal(nf.status, 404);
    assert.match(String(nf.headers['content-type']), /^application\/json/);
    assert.equal(nf.json().code, 5);
    const na = await httpRequest(sidecar.port, { method: 'DELETE', path: '/v1/shelves/a/items/1' });
    assert.equal(na.status, 405);
    assert.equal(na.headers['allow'], 'GET');
    assert.equal(na.json().code, 12);
    assert.equal(na.headers['grpc-status'], '12');
  });

  it('bad JSON and unknown query parameters → 400 with Status JSON (code 3); the upstream never sees them', async () => {
    const before = shop.seen.length;
    const bad = await httpRequest(sidecar.port, { method: 'POST', path: '/v1/shelves/a/items', headers: { 'content-type': 'application/json' }, body: '{"title": ' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json().code, 3);
    assert.equal(bad.headers['grpc-status'], '3');
    const unknown = await httpRequest(sidecar.port, { path: '/v1/shelves/a/items/1?colour=red' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json().code, 3);
    assert.match(unknown.json().message, /colour/);
    // The Spec: query parameters bind only fields bound neither by the path nor by the body.
    const pathField = await httpRequest(sidecar.port, { path: '/v1/shelves/a/items/1?shelf=b' });
    assert.equal(pathField.status, 400);
    const withStarBody = await httpRequest(sidecar.port, {
      method: 'POST', path: '/v1/shelves/a/items?title=x', headers: { 'content-type': 'application/json' }, body: '{}',
    });
    assert.equal(withStarBody.status, 400);
    assert.equal(shop.seen.length, before);
  });

  it('an upstream error → mapped HTTP status, Status JSON with decoded details, grpc-status headers, metadata', async () => {
    const res = await httpRequest(sidecar.port, { path: '/v1/shelves/a/items/404' });
    assert.equal(res.status, 404);
    assert.equal(res.headers['grpc-status'], '5');
    assert.equal(res.headers['grpc-message'], 'item 404 not found');
    assert.equal(res.headers['x-shop'], 'missing');
    const body = res.json();
    assert.equal(body.code, 5);
    assert.equal(body.message, 'item 404 not found');
    assert.equal(body.details.length, 1);
    assert.equal(body.details[0]['@type'], 'type.googleapis.com/google.rpc.ErrorInfo');
    assert.equal(body.details[0].reason, 'ITEM_MISSING');
  });

  it('server streaming: JSON array by default', async () => {
    const res = await httpRequest(sidecar.port, { path: '/v1/shelves/s/items?count=3' });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(res.json(), [1, 2, 3].map((i) => ({ shelf: 's', id: String(i), title: `t${i}` })));
    const empty = await httpRequest(sidecar.port, { path: '/v1/shelves/s/items?count=0' });
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.json(), []);
  });

  it('server streaming: a mid-stream error closes the array and carries the status in HTTP/2 trailers', async () => {
    const res = await h2Request(sidecar.port, { ':method': 'GET', ':path': '/v1/shelves/s/items?count=4&failAfter=2' });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), [{ shelf: 's', id: '1', title: 't1' }, { shelf: 's', id: '2', title: 't2' }]);
    assert.equal(res.trailers?.['grpc-status'], '10');
    assert.equal(res.trailers?.['grpc-message'], 'shelf collapsed');
  });

  it('server streaming: NDJSON on Accept: application/x-ndjson, with a final error line', async () => {
    const res = await httpRequest(sidecar.port, { path: '/v1/shelves/s/items?count=4&failAfter=2', headers: { accept: 'application/x-ndjson' } });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/x-ndjson/);
    const lines = res.text().split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[1], { shelf: 's', id: '2', title: 't2' });
    assert.equal(lines[2].error.code, 10);
    assert.equal(lines[2].error.message, 'shelf collapsed');
  });

  it('server streaming: SSE on Accept: text/event-stream', async () => {
    const res = await httpRequest(sidecar.port, { path: '/v1/shelves/s/items?count=2', headers: { accept: 'text/event-stream' } });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    assert.equal(res.text(), 'data: {"shelf":"s","id":"1","title":"t1"}\n\ndata: {"shelf":"s","id":"2","title":"t2"}\n\n');
  });

  it('client streaming: a JSON array body becomes one message per element', async () => {
    const res = await httpRequest(sidecar.port, {
      method: 'POST', path: '/v1/items:batch', headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ title: 'a' }, { title: 'b' }, { title: 'c' }]),
    });
    assert.equal(res.status, 200, res.text());
    assert.deepEqual(res.json(), { count: 3, titles: 'a,b,c' });
    assert.deepEqual(shop.last('AddItems').request, ['a', 'b', 'c']);
    const ndjson = await httpRequest(sidecar.port, {
      method: 'POST', path: '/v1/items:batch', headers: { 'content-type': 'application/x-ndjson' }, body: '{"title":"x"}\n{"title":"y"}\n',
    });
    assert.equal(ndjson.status, 200, ndjson.text());
    assert.deepEqual(ndjson.json(), { count: 2, titles: 'x,y' });
  });

  it('client streaming: a malformed element ends the call with 400 and cancels the upstream', async () => {
    const calls = shop.seen.filter((s) => s.method === 'AddItems').length;
    const res = await httpRequest(sidecar.port, {
      method: 'POST', path: '/v1/items:batch', headers: { 'content-type': 'application/json' }, body: '[{"title":"a"}, {"title": }]',
    });
    assert.equal(res.status, 400);
    assert.equal(res.json().code, 3);
    assert.match(res.json().message, /stream message 1/);
    assert.equal(shop.seen.filter((s) => s.method === 'AddItems').length, calls, 'the upstream never completed the call');
  });

  it('request body over max_request_body_size → 413; response message over max_response_body_size → 500', async () => {
    const big = await httpRequest(sidecar.port, {
      method: 'POST', path: '/v1/shelves/a/items', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'y'.repeat(4000) }),
    });
    assert.equal(big.status, 413);
    assert.equal(big.json().code, 8);
    const huge = await httpRequest(sidecar.port, { path: '/v1/shelves/a/items/1?view=big' });
    assert.equal(huge.status, 500);
    assert.equal(huge.json().code, 13);
  });

  it('Request-Timeout becomes the call deadline (504 DEADLINE_EXCEEDED as Status JSON)', async () => {
    const started = Date.now();
    const res = await httpRequest(sidecar.port, { path: '/v1/slow/a', headers: { 'request-timeout': '0.3' } });
    assert.equal(res.status, 504);
    assert.equal(res.json().code, 4);
    const seen = shop.last('Slow');
    // The route allows 10 s; the client asked for 0.3 s, and that is what the upstream sees.
    const deadline = seen.deadline instanceof Date ? seen.deadline.getTime() : Number(seen.deadline);
    assert.ok(Number.isFinite(deadline) && deadline <= started + 1500, `upstream deadline ${deadline} within the client's 0.3 s`);
  });

  it('a route with the filter disabled passes plain HTTP through', async () => {
    const res = await httpRequest(sidecar.port, { path: '/plain/page' });
    assert.equal(res.status, 200);
    assert.equal(res.text(), 'web saw GET /plain/page');
  });

  it('a real gRPC call passes through the same listener untouched', async () => {
    const def = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(descriptors), { longs: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { tt: { v1: { Shop: grpc.ServiceClientConstructor } } };
    const client = new pkg.tt.v1.Shop(`127.0.0.1:${sidecar.port}`, grpc.credentials.createInsecure());
    try {
      const item = await new Promise<any>((resolve, reject) => {
        (client as any).GetItem({ shelf: 'g', id: '9', view: 'grpc' }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r)));
      });
      assert.deepEqual(item, { shelf: 'g', id: '9', title: 'item 9 on g (grpc)' });
      assert.deepEqual(shop.last('GetItem').metadata.get('x-envoy-original-path'), []);
    } finally {
      client.close();
    }
  });
});
