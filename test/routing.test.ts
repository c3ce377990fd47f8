/**
 * Route selection and route actions through the sidecar: virtual hosts by authority (HTTP Host and
 * gRPC :authority), header, query-parameter, path/prefix/safe_regex and `grpc: {}` matches,
 * prefix_rewrite, host_rewrite_literal, header mutations at every level, direct_response, redirect,
 * and the no-route reply (HTTP 404, gRPC UNIMPLEMENTED) with its metric.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { EchoServer } from './fakes/echo-server';
import { SERVED_BY } from './fakes/echo-proto';
import { createEchoClient, md, unary } from './fakes/echo-client';
import { HttpBackend, type BackendEcho } from './fakes/http-backend';
import { httpRequest } from './fakes/http-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { routeTo } from './fakes/bootstrap';
import { rawGrpcCall } from './fakes/raw-grpc';

describe('routing', { timeout: 60_000 }, () => {
  let main: HttpBackend;
  let api: HttpBackend;
  let canary: HttpBackend;
  let v2: HttpBackend;
  let echoA: EchoServer;
  let echoB: EchoServer;
  let sidecar: SidecarHarness;
  let port: number;

  before(async () => {
    main = await HttpBackend.start('main');
    api = await HttpBackend.start('api');
    canary = await HttpBackend.start('canary');
    v2 = await HttpBackend.start('v2');
    echoA = await EchoServer.start({ id: 'grpc-a' });
    echoB = await EchoServer.start({ id: 'grpc-b' });
    sidecar = await SidecarHarness.start({
      listeners: [
        {
          name: 'http',
          routeConfig: {
            request_headers_to_add: [{ header: { key: 'x-rc-added', value: 'rc' } }],
            response_headers_to_add: [{ header: { key: 'x-rc-response', value: 'rc' } }],
          },
          virtualHosts: [
            {
              name: 'api', domains: ['api.example.com', 'api.example.com:*'],
              routes: [routeTo('api')],
              request_headers_to_add: [{ header: { key: 'x-vhost', value: 'api' } }],
            },
            {
              name: 'default', domains: ['*'],
              routes: [
                { match: { path: '/ping' }, direct_response: { status: 200, body: { inline_string: 'pong' } } },
                { match: { prefix: '/old-site' }, redirect: { https_redirect: true, host_redirect: 'new.example.com', response_code: 'PERMANENT_REDIRECT' } },
                routeTo('canary', { prefix: '/', headers: [{ name: 'x-canary', string_match: { exact: 'true' } }] }),
                routeTo('v2', { prefix: '/', query_parameters: [{ name: 'version', string_match: { exact: 'v2' } }] }),
                routeTo('main', { safe_regex: { regex: '^/items/[0-9]+$' } }, {}, {
                  request_headers_to_add: [{ header: { key: 'x-matched', value: 'regex' } }],
                }),
                routeTo('main', { prefix: '/legacy/' }, { prefix_rewrite: '/v1/' }),
                routeTo('main', { path: '/host' }, { host_rewrite_literal: 'rewritten.internal' }),
                routeTo('main', { prefix: '/mutate' }, {}, {
                  request_headers_to_add: [
                    { header: { key: 'x-added', value: 'route' } },
                    { header: { key: 'x-overwrite', value: 'new' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
                  ],
                  request_headers_to_remove: ['x-secret'],
                  response_headers_to_add: [{ header: { key: 'x-route-response', value: 'yes' } }],
                  response_headers_to_remove: ['x-backend-id'],
                }),
                routeTo('main', { prefix: '/app/' }),
              ],
            },
          ],
        },
        {
          name: 'grpc',
          virtualHosts: [
            { name: 'b-host', domains: ['echo-b.svc'], routes: [routeTo('echo-b', { prefix: '/', grpc: {} })] },
            {
              name: 'default', domains: ['*'],
              routes: [
                routeTo('echo-b', { prefix: '/remora.test.v1.Echo/', headers: [{ name: 'x-route-to', string_match: { exact: 'b' } }] }),
                routeTo('echo-a', { prefix: '/remora.test.v1.Echo/', grpc: {} }),
              ],
            },
          ],
        },
      ],
      clusters: [
        { name: 'main', endpoints: [{ host: '127.0.0.1', port: main.port }] },
        { name: 'api', endpoints: [{ host: '127.0.0.1', port: api.port }] },
        { name: 'canary', endpoints: [{ host: '127.0.0.1', port: canary.port }] },
        { name: 'v2', endpoints: [{ host: '127.0.0.1', port: v2.port }] },
        { name: 'echo-a', endpoints: [{ host: '127.0.0.1', port: echoA.port }], http2: true },
        { name: 'echo-b', endpoints: [{ host: '127.0.0.1', port: echoB.port }], http2: true },
      ],
    });
    port = sidecar.port('http');
  });

  after(async () => {
    await sidecar?.close();
    for (const s of [main, api, canary, v2, echoA, echoB]) await s?.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await httpRequest(port, { path, headers });
    return { res, echo: res.status === 200 && res.headers['content-type'] === 'application/json' ? res.json<BackendEcho>() : null };
  };

  it('routes by virtual host (Host header) and applies route-config and vhost headers', { timeout: 20_000 }, async () => {
    const { res, echo } = await get('/anything', { host: 'api.example.com' });
    assert.equal(res.status, 200);
    assert.equal(echo?.id, 'api');
    assert.equal(echo?.headers['x-vhost'], 'api');
    assert.equal(echo?.headers['x-rc-added'], 'rc');
    assert.equal(res.headers['x-rc-response'], 'rc');
    const other = await get('/app/x', { host: 'www.example.com' });
    assert.equal(other.echo?.id, 'main');
  });

  it('routes by header match', { timeout: 20_000 }, async () => {
    assert.equal((await get('/app/x', { 'x-canary': 'true' })).echo?.id, 'canary');
    assert.equal((await get('/app/x', { 'x-canary': 'false' })).echo?.id, 'main');
  });

  it('routes by query parameter match', { timeout: 20_000 }, async () => {
    assert.equal((await get('/app/x?version=v2&y=1')).echo?.id, 'v2');
    assert.equal((await get('/app/x?version=v1')).echo?.id, 'main');
  });

  it('matches safe_regex and applies route-level request headers', { timeout: 20_000 }, async () => {
    const hit = await get('/items/123');
    assert.equal(hit.echo?.id, 'main');
    assert.equal(hit.echo?.headers['x-matched'], 'regex');
    const miss = await get('/items/abc');
    assert.equal(miss.res.status, 404);
  });

  it('prefix_rewrite rewrites the path (query kept)', { timeout: 20_000 }, async () => {
    const { echo } = await get('/legacy/users?id=7');
    assert.equal(echo?.url, '/v1/users?id=7');
  });

  it('host_rewrite_literal rewrites the Host header', { timeout: 20_000 }, async () => {
    const { echo } = await get('/host');
    assert.equal(echo?.headers['host'], 'rewritten.internal');
  });

  it('adds, overwrites and removes request and response headers', { timeout: 20_000 }, async () => {
    const { res, echo } = await get('/mutate', { 'x-overwrite': 'old', 'x-secret': 'hunter2', 'x-keep': 'k' });
    assert.equal(echo?.headers['x-added'], 'route');
    assert.equal(echo?.headers['x-overwrite'], 'new');
    assert.equal(echo?.headers['x-secret'], undefined);
    assert.equal(echo?.headers['x-keep'], 'k');
    assert.equal(res.headers['x-route-response'], 'yes');
    assert.equal(res.headers['x-backend-id'], undefined);
  });

  it('direct_response answers without an upstream', { timeout: 20_000 }, async () => {
    const before = main.requests;
    const res = await httpRequest(port, { path: '/ping' });
    assert.equal(res.status, 200);
    assert.equal(res.text(), 'pong');
    assert.equal(main.requests, before);
  });

  it('redirect answers 308 with the rewritten location', { timeout: 20_000 }, async () => {
    const res = await httpRequest(port, { path: '/old-site/page?q=1' });
    assert.equal(res.status, 308);
    assert.equal(res.headers['location'], 'https://new.example.com/old-site/page?q=1');
  });

  it('no route → 404 over HTTP and remora_local_replies_total{reason="no_route"}', { timeout: 20_000 }, async () => {
    const before = await sidecar.metrics();
    const res = await httpRequest(port, { path: '/nowhere' });
    assert.equal(res.status, 404);
    const m = await sidecar.metrics();
    assert.equal(m.sum('remora_local_replies_total', { reason: 'no_route' }) - before.sum('remora_local_replies_total', { reason: 'no_route' }), 1);
    assert.equal(m.sum('remora_downstream_requests_total', { listener: 'http', status_class: '4xx' })
      - before.sum('remora_downstream_requests_total', { listener: 'http', status_class: '4xx' }), 1);
  });

  it('gRPC: routes by metadata header and by :authority virtual host', { timeout: 20_000 }, async () => {
    const client = createEchoClient(sidecar.target('grpc'));
    const clientB = createEchoClient(sidecar.target('grpc'), { 'grpc.default_authority': 'echo-b.svc' });
    try {
      const plain = await unary(client, { message: 'x' });
      assert.equal(plain.error, null, plain.error?.details);
      assert.equal(plain.headers?.get(SERVED_BY)[0], 'grpc-a');
      const byHeader = await unary(client, { message: 'x' }, { metadata: md({ 'x-route-to': 'b' }) });
      assert.equal(byHeader.headers?.get(SERVED_BY)[0], 'grpc-b');
      const byAuthority = await unary(clientB, { message: 'x' });
      assert.equal(byAuthority.error, null, byAuthority.error?.details);
      assert.equal(byAuthority.headers?.get(SERVED_BY)[0], 'grpc-b');
    } finally {
      client.close();
      clientB.close();
    }
  });

  it('gRPC: no route → trailers-only UNIMPLEMENTED from the sidecar', { timeout: 20_000 }, async () => {
    const client = new grpc.Client(sidecar.target('grpc'), grpc.credentials.createInsecure());
    try {
      const before = await sidecar.metrics();
      const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
        client.makeUnaryRequest('/other.Service/Method', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), { deadline: Date.now() + 5000 },
          (e) => (e ? resolve(e) : reject(new Error('expected an error'))));
      });
      assert.equal(err.code, grpc.status.UNIMPLEMENTED);
      const m = await sidecar.metrics();
      assert.equal(m.sum('remora_local_replies_total', { reason: 'no_route' }) - before.sum('remora_local_replies_total', { reason: 'no_route' }), 1);
      assert.equal(m.sum('remora_downstream_requests_total', { listener: 'grpc', grpc_status: '12' })
        - before.sum('remora_downstream_requests_total', { listener: 'grpc', grpc_status: '12' }), 1);
      // On the wire: one HEADERS frame with END_STREAM, :status 200 and grpc-status 12.
      const raw = await rawGrpcCall(sidecar.port('grpc'), '/other.Service/Method');
      assert.equal(raw.trailersOnly, true, 'expected a trailers-only response');
      assert.equal(raw.headers[':status'], 200);
      assert.equal(raw.headers['grpc-status'], '12');
      assert.doesNotMatch(String(raw.headers['grpc-message'] ?? ''), /127\.0\.0\.1/);
    } finally {
      client.close();
    }
  });
});
