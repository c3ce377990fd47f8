/**
 * `access_log[]` compile: JsonAccessLog and FileAccessLog sinks (defaults, masking merge/replace,
 * format fields rejected), every supported AccessLogFilter kind, the CEL extension filter parsed at
 * config time, and the field paths of what is rejected — going through the real proto JSON parser
 * as xDS input does.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../xds/protos';
import type { AccessLogModel } from '../access-log-model';
import { ResponseFlag } from '../../core/response-flags';
import type { ValidationResult } from '../../core/errors';
import { CEL_FILTER_TYPE_URL, compileAccessLogs, DEFAULT_MASKING, FILE_ACCESS_LOG_TYPE_URL, JSON_ACCESS_LOG_TYPE_URL } from './access-log';
import { Issues, type CompileDeps } from './context';
import { parseProtoJson } from './proto-json';

const deps = {} as CompileDeps;
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
let root: protobuf.Root;
before(() => { root = loadEnvoyProtos(); });

function compile(accessLog: unknown[]): ValidationResult<AccessLogModel[]> {
  const parsed = parseProtoJson(root, HCM, { stat_prefix: 'x', access_log: accessLog }, 'hcm');
  if (!parsed.ok) return parsed;
  const issues = new Issues();
  const v = compileAccessLogs(issues, deps, parsed.value, 'hcm');
  return issues.result(v);
}

function ok(accessLog: unknown[]): AccessLogModel[] {
  const r = compile(accessLog);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.value;
}

function errorAt(accessLog: unknown[], path: string, re?: RegExp): void {
  const r = compile(accessLog);
  assert.equal(r.ok, false, 'expected errors');
  const errs = (r as { errors: readonly { path: string; message: string }[] }).errors;
  const hit = errs.find((e) => e.path === path);
  assert.ok(hit, `no error at ${path}; got ${JSON.stringify(errs)}`);
  if (re !== undefined) assert.match(hit.message, re);
}

const json = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ '@type': JSON_ACCESS_LOG_TYPE_URL, path: '/tmp/a.log', ...extra });
const cel = (expression: string): Record<string, unknown> => ({ extension_filter: { name: 'cel', typed_config: { '@type': CEL_FILTER_TYPE_URL, expression } } });

describe('access_log compile', () => {
  it('JsonAccessLog: defaults, sampling, request headers, masking merged with the defaults or replacing them', () => {
    const [a, b] = ok([
      { name: 'a', typed_config: json() },
      {
        typed_config: json({
          success_sample_percent: 2.5, request_headers: ['X-Debug', 'authorization', 'x-debug'],
          mask: { headers: ['X-Secret'], query_parameters: ['sig'], json_fields: ['pin'] },
        }),
      },
    ]);
    assert.deepEqual(a, { name: 'a', filter: null, path: '/tmp/a.log', successSamplePercent: 100, requestHeaders: [], mask: DEFAULT_MASKING });
    assert.equal(b!.successSamplePercent, 2.5);
    assert.deepEqual(b!.requestHeaders, ['x-debug', 'authorization']);
    assert.deepEqual(b!.mask.headers, [...DEFAULT_MASKING.headers, 'x-secret']);
    assert.deepEqual(b!.mask.queryParameters, [...DEFAULT_MASKING.queryParameters, 'sig']);
    const [c] = ok([{ typed_config: json({ mask: { headers: ['x-only'], replace_defaults: true } }) }]);
    assert.deepEqual(c!.mask, { headers: ['x-only'], queryParameters: [], jsonFields: [] });
  });

  it('FileAccessLog with a path is the same JSON line; format fields are rejected with a clear message', () => {
    const [f] = ok([{ name: 'envoy.access_loggers.file', typed_config: { '@type': FILE_ACCESS_LOG_TYPE_URL, path: '/dev/stdout' } }]);
    assert.equal(f!.path, '/dev/stdout');
    assert.deepEqual(f!.mask, DEFAULT_MASKING);
    errorAt([{ typed_config: { '@type': FILE_ACCESS_LOG_TYPE_URL, path: '/dev/stdout', log_format: { text_format_source: { inline_string: '%START_TIME%' } } } }],
      'hcm.access_log[0].typed_config.log_format', /always writes Remora's JSON line/);
    errorAt([{ typed_config: { '@type': FILE_ACCESS_LOG_TYPE_URL, path: '/dev/stdout', json_format: { a: '%PROTOCOL%' } } }],
      'hcm.access_log[0].typed_config.json_format');
  });

  it('rejects a missing path, a bad percent, an unknown sink, a bad header name', () => {
    errorAt([{ typed_config: json({ path: '' }) }], 'hcm.access_log[0].typed_config.path', /required/);
    errorAt([{ typed_config: json({ success_sample_percent: 101 }) }], 'hcm.access_log[0].typed_config.success_sample_percent', /0..100/);
    errorAt([{ typed_config: json({ request_headers: ['ok', 'bad header'] }) }], 'hcm.access_log[0].typed_config.request_headers[1]');
    errorAt([{ name: 'x' }], 'hcm.access_log[0].typed_config', /required/);
    errorAt([{ typed_config: { '@type': CEL_FILTER_TYPE_URL, expression: 'true' } }],
      'hcm.access_log[0].typed_config.@type', /not supported/);
  });

  it('compiles every supported filter kind', () => {
    const [m] = ok([{
      typed_config: json(),
      filter: {
        or_filter: {
          filters: [
            { status_code_filter: { comparison: { op: 'GE', value: { default_value: 500, runtime_key: 'k' } } } },
            { duration_filter: { comparison: { op: 'LE', value: { default_value: 10, runtime_key: 'k' } } } },
            { response_flag_filter: { flags: ['UF', 'URX', 'DO'] } },
            { response_flag_filter: {} },
            { grpc_status_filter: { statuses: ['UNAVAILABLE', 'INTERNAL'], exclude: true } },
            { and_filter: { filters: [{ not_health_check_filter: {} }, { runtime_filter: { runtime_key: 'r', percent_sampled: { numerator: 5 } } }] } },
            cel('response.code >= 400'),
          ],
        },
      },
    }]);
    const f = m!.filter!;
    assert.equal(f.kind, 'or');
    const subs = (f as { filters: readonly unknown[] }).filters;
    assert.deepEqual(subs[0], { kind: 'status_code', op: 'GE', value: 500 });
    assert.deepEqual(subs[1], { kind: 'duration', op: 'LE', valueMs: 10 });
    assert.deepEqual(subs[2], { kind: 'response_flag', mask: ResponseFlag.UpstreamConnectionFailure | ResponseFlag.UpstreamRetryLimitExceeded });
    assert.equal((subs[3] as { mask: number }).mask & ResponseFlag.NoRouteFound, ResponseFlag.NoRouteFound);
    assert.deepEqual(subs[4], { kind: 'grpc_status', statuses: [14, 13], exclude: true });
    assert.deepEqual(subs[5], { kind: 'and', filters: [{ kind: 'not_health_check' }, { kind: 'runtime', numerator: 5, denominator: 100 }] });
    assert.equal((subs[6] as { kind: string }).kind, 'cel');
  });

  it('a bad CEL expression is a config error at the expression path, naming the expression and the column', () => {
    errorAt([{ typed_config: json(), filter: cel('response.code >= ') }],
      'hcm.access_log[0].filter.extension_filter.typed_config.expression', /unexpected end of expression at column 18 of CEL expression 'response.code >= '/);
    errorAt([{ typed_config: json(), filter: { and_filter: { filters: [{ not_health_check_filter: {} }, cel("request.header['x'] == 'a'")] } } }],
      'hcm.access_log[0].filter.and_filter.filters[1].extension_filter.typed_config.expression', /unsupported attribute 'request.header'/);
  });

  it('rejects unsupported filters and fields with their paths', () => {
    errorAt([{ typed_config: json(), filter: { header_filter: { header: { name: 'x', present_match: true } } } }], 'hcm.access_log[0].filter.header_filter', /CEL/);
    errorAt([{ typed_config: json(), filter: { traceable_filter: {} } }], 'hcm.access_log[0].filter.traceable_filter');
    errorAt([{ typed_config: json(), filter: { and_filter: { filters: [{ not_health_check_filter: {} }] } } }], 'hcm.access_log[0].filter.and_filter.filters', /at least 2/);
    errorAt([{ typed_config: json(), filter: { response_flag_filter: { flags: ['UF', 'ZZ'] } } }], 'hcm.access_log[0].filter.response_flag_filter.flags[1]');
    errorAt([{ typed_config: json(), filter: { extension_filter: { name: 'x', typed_config: { '@type': JSON_ACCESS_LOG_TYPE_URL, path: 'x' } } } }],
      'hcm.access_log[0].filter.extension_filter.typed_config.@type', /not supported/);
    errorAt([{ typed_config: json(), filter: { runtime_filter: { runtime_key: 'k', percent_sampled: { numerator: 200 } } } }],
      'hcm.access_log[0].filter.runtime_filter.percent_sampled.numerator');
  });
});
