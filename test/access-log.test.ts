/**
 * JSON access logs end to end through a real sidecar from a static bootstrap: requests that succeed,
 * get 404 NR, 503 UF (connect failure to a closed port), 503 UH (a cluster whose only endpoint is UNHEALTHY, panic mode off), 429 RL
 * (local rate limit), an FI fault abort, a DI fault delay and a gRPC call ending UNAVAILABLE are
 * written as one JSON line each — to one shared file from several listeners — with the documented
 * fields, the local replies' reasons, and authorization/cookie headers, `?token=` and a JSON header
 * field masked. A CEL `response.code >= 400` filter writes only errors, success_sample_percent 0
 * writes only errors and 100 writes everything, and a bad expression fails the bootstrap with the
 * field path. The files are read after the sidecar closed (which flushes them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ConfigError } from '../src/core/errors';
import { EchoServer } from './fakes/echo-server';
import { createEchoClient, unary } from './fakes/echo-client';
import { ECHO_CONTROL } from './fakes/echo-proto';
import { HttpBackend } from './fakes/http-backend';
import { httpRequest } from './fakes/http-client';
import { freePort } from './fakes/ports';
import { SidecarHarness } from './fakes/sidecar-harness';
import { ROUTER_TYPE, routeTo, type ListenerSpec } from './fakes/bootstrap';

const JSON_LOG = 'type.googleapis.com/remora.access_loggers.v1.JsonAccessLog';
const FILE_LOG = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
const CEL = 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter';
const FAULT = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
const LRL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
const PCT100 = { numerator: 100, denominator: 'HUNDRED' };
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } };

type Line = Record<string, unknown>;

function jsonLog(file: string, extra: Record<string, unknown> = {}, filter?: Record<string, unknown>): Record<string, unknown> {
  return { name: 'json', ...(filter === undefined ? {} : { filter }), typed_config: { '@type': JSON_LOG, path: file, ...extra } };
}

function celFilter(expression: string): Record<string, unknown> {
  return { extension_filter: { name: 'envoy.access_loggers.extension_filters.cel', typed_config: { '@type': CEL, expression } } };
}

function listener(name: string, routes: Record<string, unknown>[], accessLog: Record<string, unknown>[], filters: Record<string, unknown>[] = []): ListenerSpec {
  return { name, routes, hcm: { access_log: accessLog, http_filters: [...filters, ROUTER] } };
}

function readLines(file: string): Line[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
}

describe('JSON access logs', { timeout: 60_000 }, () => {
  let dir: string;
  let backend: HttpBackend;
  let echo: EchoServer;
  const ports = new Map<string, number>();
  let main: Line[];
  let errorsOnly: Line[];
  let sample0: Line[];
  let sample100: Line[];
  let stdoutFile: Line[];

  /** The lines of `all` written for listener `name` (its port is in the authority). */
  const of = (all: Line[], name: string): Line[] => all.filter((l) => l['authority'] === `127.0.0.1:${ports.get(name)}`);
  const byPath = (all: Line[], p: string): Line => {
    const hit = all.filter((l) => String(l['path']).startsWith(p));
    assert.equal(hit.length, 1, `one line for ${p}, got ${JSON.stringify(hit)}`);
    return hit[0]!;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-access-log-'));
    backend = await HttpBackend.start('b1');
    echo = await EchoServer.start({ id: 'e1' });
    const closedPort = await freePort();
    const mainLog = path.join(dir, 'main.log');
    const mainEntry = jsonLog(mainLog, { request_headers: ['authorization', 'cookie', 'x-ctx', 'x-absent'] });
    const sidecar = await SidecarHarness.start({
      listeners: [
        listener('main', [
          routeTo('http-up', { prefix: '/ok' }),
          routeTo('closed-up', { prefix: '/closed' }),
          routeTo('unhealthy-up', { prefix: '/unhealthy' }),
        ], [mainEntry]),
        listener('rl', [routeTo('http-up')], [mainEntry], [{
          name: 'envoy.filters.http.local_ratelimit',
          typed_config: {
            '@type': LRL, stat_prefix: 'rl', token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: '3600s' },
            filter_enabled: { default_value: PCT100 }, filter_enforced: { default_value: PCT100 },
          },
        }]),
        listener('abort', [routeTo('http-up')], [mainEntry], [{ name: 'envoy.filters.http.fault', typed_config: { '@type': FAULT, abort: { http_status: 503, percentage: PCT100 } } }]),
        listener('delay', [routeTo('http-up')], [mainEntry], [{ name: 'envoy.filters.http.fault', typed_config: { '@type': FAULT, delay: { fixed_delay: '0.001s', percentage: PCT100 } } }]),
        listener('grpc', [routeTo('grpc-up')], [mainEntry]),
        listener('errors-only', [routeTo('http-up', { prefix: '/ok' })], [jsonLog(path.join(dir, 'errors.log'), {}, celFilter('response.code >= 400'))]),
        listener('sample0', [routeTo('http-up', { prefix: '/ok' })], [jsonLog(path.join(dir, 'sample0.log'), { success_sample_percent: 0 })]),
        listener('sample100', [routeTo('http-up', { prefix: '/ok' })], [
          jsonLog(path.join(dir, 'sample100.log'), { success_sample_percent: 100 }),
          { name: 'envoy.access_loggers.file', typed_config: { '@type': FILE_LOG, path: path.join(dir, 'file-log.log') } },
        ]),
      ],
      clusters: [
        { name: 'http-up', endpoints: [{ host: '127.0.0.1', port: backend.port }] },
        { name: 'closed-up', endpoints: [{ host: '127.0.0.1', port: closedPort }] },
        {
          name: 'unhealthy-up', endpoints: [],
          extra: {
            common_lb_config: { healthy_panic_threshold: { value: 0 } },
            load_assignment: { cluster_name: 'unhealthy-up', endpoints: [{ lb_endpoints: [{ health_status: 'UNHEALTHY', endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: closedPort } } } }] }] },
          },
        },
        { name: 'grpc-up', endpoints: [{ host: '127.0.0.1', port: echo.port }], http2: true },
      ],
    });
    try {
      for (const n of ['main', 'rl', 'abort', 'delay', 'grpc', 'errors-only', 'sample0', 'sample100']) ports.set(n, sidecar.port(n));
      const m = ports.get('main')!;
      assert.equal((await httpRequest(m, {
        path: '/ok/a?x=1&token=s3cr3t&b=2',
        headers: { authorization: 'Bearer abc', cookie: 'sid=1', 'x-ctx': '{"user":"u","password":"hunter2","deep":{"token":"t"}}' },
      })).status, 200);
      assert.equal((await httpRequest(m, { path: '/missing' })).status, 404);
      assert.equal((await httpRequest(m, { path: '/closed' })).status, 503);
      assert.equal((await httpRequest(m, { path: '/unhealthy' })).status, 503);
      assert.equal((await httpRequest(ports.get('rl')!, { path: '/rl/1' })).status, 200);
      assert.equal((await httpRequest(ports.get('rl')!, { path: '/rl/2' })).status, 429);
      assert.equal((await httpRequest(ports.get('abort')!, { path: '/abort' })).status, 503);
      assert.equal((await httpRequest(ports.get('delay')!, { path: '/delay' })).status, 200);
      const client = createEchoClient(sidecar.target('grpc'));
      try {
        const md = new grpc.Metadata();
        md.set(ECHO_CONTROL.status, String(grpc.status.UNAVAILABLE));
        const r = await unary(client, { message: 'hi' }, { metadata: md });
        assert.equal(r.status.code, grpc.status.UNAVAILABLE);
      } finally {
        client.close();
      }
      for (const n of ['errors-only', 'sample0', 'sample100']) {
        assert.equal((await httpRequest(ports.get(n)!, { path: '/ok/1' })).status, 200);
        assert.equal((await httpRequest(ports.get(n)!, { path: '/nope' })).status, 404);
      }
    } finally {
      await sidecar.close(); // flushes the access logs
    }
    main = readLines(mainLog);
    errorsOnly = readLines(path.join(dir, 'errors.log'));
    sample0 = readLines(path.join(dir, 'sample0.log'));
    sample100 = readLines(path.join(dir, 'sample100.log'));
    stdoutFile = readLines(path.join(dir, 'file-log.log'));
  });

  after(async () => {
    await echo?.close();
    await backend?.close();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes one line per request from every listener sharing the file', () => {
    assert.equal(main.length, 9, JSON.stringify(main));
    assert.equal(of(main, 'main').length, 4);
    assert.equal(of(main, 'rl').length, 2);
  });

  it('a proxied success has every field, with masked headers, query and JSON field', () => {
    const l = byPath(of(main, 'main'), '/ok/a');
    assert.match(String(l['start_time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(String(l['start_time'])) - Date.now()) < 600_000);
    assert.equal(typeof l['duration_ms'], 'number');
    assert.ok((l['duration_ms'] as number) >= 0);
    assert.equal(l['method'], 'GET');
    assert.equal(l['path'], '/ok/a?x=1&token=[REDACTED]&b=2');
    assert.equal(l['protocol'], 'HTTP/1.1');
    assert.equal(l['grpc_service'], null);
    assert.equal(l['response_code'], 200);
    assert.equal(l['grpc_status'], null);
    assert.equal(l['response_flags'], '-');
    assert.equal(l['reason'], null);
    assert.equal(l['upstream_cluster'], 'http-up');
    assert.equal(l['upstream_host'], `127.0.0.1:${backend.port}`);
    assert.equal(l['upstream_attempts'], 1);
    assert.ok((l['bytes_sent'] as number) > 0);
    assert.equal(l['bytes_received'], 0);
    assert.match(String(l['request_id']), /^[0-9a-f-]{36}$/);
    assert.equal(l['trace_id'], null);
    assert.equal(l['peer_principal'], null);
    assert.equal(l['downstream_remote_address'], '127.0.0.1');
    assert.equal(l['route_name'], '');
    assert.deepEqual(l['request_headers'], {
      authorization: '[REDACTED]', cookie: '[REDACTED]', 'x-ctx': '{"user":"u","password":"[REDACTED]","deep":{"token":"[REDACTED]"}}', 'x-absent': null,
    });
    const raw = fs.readFileSync(path.join(dir, 'main.log'), 'utf8');
    for (const secret of ['s3cr3t', 'Bearer abc', 'sid=1', 'hunter2']) assert.ok(!raw.includes(secret), `${secret} leaked`);
  });

  it('local replies carry the Envoy response flag and a human-readable reason', () => {
    const cases: [string, Line, number, string, string][] = [
      ['NR', byPath(of(main, 'main'), '/missing'), 404, 'NR', 'no route matched'],
      ['UF', byPath(of(main, 'main'), '/closed'), 503, 'UF', 'upstream connect error'],
      ['UH', byPath(of(main, 'main'), '/unhealthy'), 503, 'UH', 'no healthy upstream'],
      ['RL', byPath(of(main, 'rl'), '/rl/2'), 429, 'RL', 'rate limited'],
      ['FI', byPath(of(main, 'abort'), '/abort'), 503, 'FI', 'fault filter abort'],
    ];
    for (const [name, l, status, flags, reason] of cases) {
      assert.equal(l['response_code'], status, name);
      assert.match(String(l['response_flags']), new RegExp(`(^|,)${flags}(,|$)`), `${name}: ${String(l['response_flags'])}`);
      assert.equal(l['reason'], reason, name);
    }
    assert.equal(byPath(of(main, 'main'), '/missing')['route_name'], null);
    assert.equal(byPath(of(main, 'main'), '/closed')['upstream_cluster'], 'closed-up');
    const ok = byPath(of(main, 'rl'), '/rl/1');
    assert.equal(ok['response_flags'], '-');
    assert.equal(ok['reason'], null);
  });

  it('a delayed request is a success with the DI flag', () => {
    const l = byPath(of(main, 'delay'), '/delay');
    assert.equal(l['response_code'], 200);
    assert.equal(l['response_flags'], 'DI');
    assert.equal(l['reason'], null);
  });

  it('a gRPC call has service, method, grpc_status and HTTP/2', () => {
    const [l] = of(main, 'grpc');
    assert.ok(l);
    assert.equal(l['protocol'], 'HTTP/2');
    assert.equal(l['grpc_service'], 'remora.test.v1.Echo');
    assert.equal(l['grpc_method'], 'Unary');
    assert.equal(l['response_code'], 200);
    assert.equal(l['grpc_status'], grpc.status.UNAVAILABLE);
    assert.equal(l['reason'], null);
    assert.ok((l['bytes_received'] as number) > 0);
    assert.equal(l['upstream_cluster'], 'grpc-up');
  });

  it('a CEL response.code >= 400 filter writes only the errors', () => {
    assert.deepEqual(errorsOnly.map((l) => [l['path'], l['response_code']]), [['/nope', 404]]);
  });

  it('success_sample_percent 0 writes only errors, 100 writes everything; FileAccessLog writes the same line', () => {
    assert.deepEqual(sample0.map((l) => l['path']), ['/nope']);
    assert.deepEqual(sample100.map((l) => l['path']), ['/ok/1', '/nope']);
    assert.deepEqual(stdoutFile.map((l) => l['path']), ['/ok/1', '/nope']);
    assert.deepEqual(Object.keys(stdoutFile[0]!), Object.keys(sample100[0]!));
  });

  it('a bad CEL expression fails the bootstrap with the field path and the column', async () => {
    await assert.rejects(
      SidecarHarness.start({
        listeners: [listener('bad', [routeTo('c')], [jsonLog(path.join(dir, 'bad.log'), {}, celFilter('response.code >= 400 &&'))])],
        clusters: [{ name: 'c', endpoints: [{ host: '127.0.0.1', port: backend.port }] }],
      }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, /access_log\[0\]\.filter\.extension_filter\.typed_config\.expression: unexpected end of expression at column 24 of CEL expression 'response.code >= 400 &&'/);
        return true;
      },
    );
  });
});
