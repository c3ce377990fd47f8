/**
 * gRPC-Web end to end: a listener compiled from an Envoy bootstrap with
 * `envoy.filters.http.grpc_web` + `envoy.filters.http.cors` + router (and a route CorsPolicy in
 * `typed_per_filter_config`) in front of the real grpc-js Echo server. Clients speak HTTP/1.1
 * (node:http) and HTTP/2: binary and `-text` unary and server-streaming calls, a gRPC error status
 * in the trailer frame, a local reply (no healthy upstream) as a trailer frame, a CORS preflight
 * answered by the proxy, and CORS headers on actual responses.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { bootstrapJson, routeTo } from './fakes/bootstrap';
import { EchoServer } from './fakes/echo-server';
import { httpRequest } from './fakes/http-client';
import { freePort } from './fakes/ports';
import { BrowserFilterListener, decodeEcho, encodeEcho, grpcWebRequest, parseGrpcWebBody } from './fakes/grpc-web-rig';
import { Base64StreamDecoder } from '../src/filters/grpc-web/base64-stream';

const GRPC_WEB_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb';
const CORS_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
const CORS_POLICY_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const ORIGIN = 'http://app.example:8080';

const corsPolicy = {
  '@type': CORS_POLICY_TYPE,
  allow_origin_string_match: [{ exact: ORIGIN }],
  allow_methods: 'POST, OPTIONS',
  allow_headers: 'content-type,x-grpc-web,x-user-agent,x-echo-status',
  expose_headers: 'grpc-status,grpc-message',
  max_age: '1728000',
};

function bootstrap(echoPort: number, deadPort: number): Record<string, unknown> {
  const b = bootstrapJson({
    listeners: [{
      name: 'web',
      routes: [
        routeTo('dead', { prefix: '/remora.test.v1.Dead/' }, {}, { typed_per_filter_config: { 'envoy.filters.http.cors': corsPolicy } }),
        routeTo('echo', { prefix: '/' }, {}, { typed_per_filter_config: { 'envoy.filters.http.cors': corsPolicy } }),
      ],
      hcm: {
        http_filters: [
          { name: 'envoy.filters.http.grpc_web', typed_config: { '@type': GRPC_WEB_TYPE } },
          { name: 'envoy.filters.http.cors', typed_config: { '@type': CORS_TYPE } },
          { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
        ],
      },
    }],
    clusters: [
      { name: 'echo', endpoints: [{ host: '127.0.0.1', port: echoPort }], http2: true },
      { name: 'dead', endpoints: [{ host: '127.0.0.1', port: deadPort }], http2: true, connectTimeout: '0.5s' },
    ],
  });
  return b;
}

/** base64-decodes a -text response body (padded per segment). */
function fromText(body: Buffer): Buffer {
  const out = new Base64StreamDecoder().push(body);
  assert.ok(out !== null, `not base64: ${body.toString('latin1')}`);
  return out;
}

describe('gRPC-Web through the sidecar', () => {
  let echo: EchoServer;
  let proxy: BrowserFilterListener;

  before(async () => {
    echo = await EchoServer.start();
    proxy = await BrowserFilterListener.start(bootstrap(echo.port, await freePort()));
  });
  after(async () => {
    await proxy?.close();
    await echo?.close();
  });

  it('binary unary over HTTP/1.1, with CORS headers on the response', async () => {
    const res = await httpRequest(proxy.port, {
      method: 'POST', path: '/remora.test.v1.Echo/Unary',
      headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1', origin: ORIGIN },
      body: grpcWebRequest(encodeEcho('hello web')),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/grpc-web+proto');
    assert.equal(res.headers['access-control-allow-origin'], ORIGIN);
    assert.equal(res.headers['access-control-expose-headers'], 'grpc-status,grpc-message');
    const reply = parseGrpcWebBody(res.body);
    assert.equal(reply.messages.length, 1);
    assert.equal(decodeEcho(reply.messages[0]!).message, 'hello web');
    assert.equal(reply.trailers['grpc-status'], '0');
    assert.ok(reply.trailersLast);
    // The upstream saw a gRPC call.
    assert.equal(echo.lastMetadata?.get('content-type')[0] ?? 'application/grpc', 'application/grpc');
  });

  it('text unary over HTTP/1.1 (base64 both ways)', async () => {
    const res = await httpRequest(proxy.port, {
      method: 'POST', path: '/remora.test.v1.Echo/Unary',
      headers: { 'content-type': 'application/grpc-web-text', accept: 'application/grpc-web-text' },
      body: grpcWebRequest(encodeEcho('texty ✓')).toString('base64'),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/grpc-web-text+proto');
    assert.match(res.body.toString('latin1'), /^[A-Za-z0-9+/=]+$/);
    const reply = parseGrpcWebBody(fromText(res.body));
    assert.equal(decodeEcho(reply.messages[0]!).message, 'texty ✓');
    assert.equal(reply.trailers['grpc-status'], '0');
  });

  it('text server streaming: every message, then the trailer frame', async () => {
    const res = await httpRequest(proxy.port, {
      method: 'POST', path: '/remora.test.v1.Echo/ServerStream',
      headers: { 'content-type': 'application/grpc-web-text+proto' },
      body: grpcWebRequest(encodeEcho('tick', 3)).toString('base64'),
    });
    assert.equal(res.status, 200);
    const reply = parseGrpcWebBody(fromText(res.body));
    assert.deepEqual(reply.messages.map((m) => decodeEcho(m)), [
      { message: 'tick', count: 0 }, { message: 'tick', count: 1 }, { message: 'tick', count: 2 },
    ]);
    assert.equal(reply.trailers['grpc-status'], '0');
    assert.ok(reply.trailersLast);
  });

  it('binary server streaming', async () => {
    const res = await httpRequest(proxy.port, {
      method: 'POST', path: '/remora.test.v1.Echo/ServerStream',
      headers: { 'content-type': 'application/grpc-web' },
      body: grpcWebRequest(encodeEcho('b', 2)),
    });
    const reply = parseGrpcWebBody(res.body);
    assert.equal(reply.messages.length, 2);
    assert.equal(reply.trailers['grpc-status'], '0');
  });

  it('a gRPC error status comes in the trailer frame', async () => {
    const res = await httpRequest(proxy.port, {
      method: 'POST', path: '/remora.test.v1.Echo/Unary',
      headers: { 'content-type': 'application/grpc-web', 'x-echo-status': '5', 'x-echo-message-bin': Buffer.from('no such echo').toString('base64') },
      body: grpcWebRequest(encodeEcho('x')),
    });
    assert.equal(res.status, 200);
    const reply = parseGrpcWebBody(res.body);
    assert.equal(reply.messages.length, 0);
    assert.equal(reply.trailers['grpc-status'], '5');
    assert.equal(decodeURIComponent(reply.trailers['grpc-message']!), 'no such echo');
  });

  it('a local reply (no upstream listening) is a trailer frame with UNAVAILABLE, CORS headers included', async () => {
    const res = await httpRequest(proxy.port, {
      method: 'POST', path: '/remora.test.v1.Dead/Unary',
      headers: { 'content-type': 'application/grpc-web-text', origin: ORIGIN },
      body: grpcWebRequest(encodeEcho('x')).toString('base64'),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/grpc-web-text+proto');
    assert.equal(res.headers['access-control-allow-origin'], ORIGIN);
    const reply = parseGrpcWebBody(fromText(res.body));
    assert.equal(reply.trailers['grpc-status'], '14');
  });

  it('invalid base64 in a -text body ends the call with a gRPC-Web error', async () => {
    const started = echo.started;
    const res = await httpRequest(proxy.port, {
      method: 'POST', path: '/remora.test.v1.Echo/Unary',
      headers: { 'content-type': 'application/grpc-web-text' },
      body: '!!!notbase64',
    });
    assert.equal(res.status, 200);
    const reply = parseGrpcWebBody(fromText(res.body));
    assert.equal(reply.trailers['grpc-status'], '13');
    assert.equal(echo.started, started, 'the upstream handler never ran');
  });

  it('CORS preflight is answered by the proxy and not forwarded', async () => {
    const started = echo.started;
    const res = await httpRequest(proxy.port, {
      method: 'OPTIONS', path: '/remora.test.v1.Echo/Unary',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-grpc-web' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], ORIGIN);
    assert.equal(res.headers['access-control-allow-methods'], 'POST, OPTIONS');
    assert.equal(res.headers['access-control-allow-headers'], 'content-type,x-grpc-web,x-user-agent,x-echo-status');
    assert.equal(res.headers['access-control-max-age'], '1728000');
    assert.equal(res.body.length, 0);
    assert.equal(echo.started, started);
    // An origin not allowed gets no CORS headers (forwarded upstream by default).
    const other = await httpRequest(proxy.port, {
      method: 'OPTIONS', path: '/remora.test.v1.Echo/Unary',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });

  it('binary unary over HTTP/2', async () => {
    const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
    try {
      const req = session.request({ ':method': 'POST', ':path': '/remora.test.v1.Echo/Unary', 'content-type': 'application/grpc-web+proto', origin: ORIGIN });
      req.end(grpcWebRequest(encodeEcho('over h2')));
      const [headers, body] = await new Promise<[http2.IncomingHttpHeaders, Buffer]>((resolve, reject) => {
        let h: http2.IncomingHttpHeaders = {};
        const chunks: Buffer[] = [];
        req.on('response', (r) => { h = r; });
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolve([h, Buffer.concat(chunks)]));
        req.on('error', reject);
      });
      assert.equal(headers[':status'], 200);
      assert.equal(headers['content-type'], 'application/grpc-web+proto');
      assert.equal(headers['access-control-allow-origin'], ORIGIN);
      const reply = parseGrpcWebBody(body);
      assert.equal(decodeEcho(reply.messages[0]!).message, 'over h2');
      assert.equal(reply.trailers['grpc-status'], '0');
    } finally {
      session.close();
    }
  });
});
