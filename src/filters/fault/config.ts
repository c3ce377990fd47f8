/**
 * Compiles `envoy.extensions.filters.http.fault.v3.HTTPFault` (listener-level `typed_config` and the
 * route-level `typed_per_filter_config`, which replaces it for that route as in Envoy) into a frozen
 * `FaultConfig`, and registers the filter. Delay (`fixed_delay` or `header_delay`) and abort
 * (`http_status`, `grpc_status` or `header_abort`) each carry a FractionalPercent; an absent
 * percentage is 0%, as in Envoy (the proto default), so a fault always names its percentage.
 * Header control (`x-envoy-fault-*` request headers) exists only where the config opts in with
 * `header_delay` / `header_abort`; the `-percentage` headers can only lower the configured percentage.
 * `headers` (route HeaderMatchers) restrict the requests a fault applies to.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/fault_filter
 *
 * Rejected as unsupported: `upstream_cluster`, `downstream_nodes`, `response_rate_limit`. Accepted
 * and ignored: the `*_runtime` keys (Remora has no runtime layer; the config values apply),
 * `disable_downstream_cluster_stats`, `filter_metadata`.
 */
import { compileHeaderMatcher } from '../../config/compile/route-configuration';
import type { ValidationResult } from '../../core/errors';
import type { FractionalPercentModel, HeaderMatcherModel } from '../../config/model';
import { compileFractionalPercent, ZERO_PERCENT } from '../../config/compile/fractional-percent';
import { Issues, joinPath, list, msg, onlyFields } from '../../config/compile/context';
import type { ProtoObject } from '../../config/compile/proto-json';
import type { FilterRegistration } from '../filter';
import { FaultFactory } from './filter';

export const FAULT_NAME = 'envoy.filters.http.fault';
export const FAULT_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

/** A fault's percentage (the fault fires with probability numerator/denominator). */
export type FaultFraction = FractionalPercentModel;

export type FaultDelayModel =
  | { readonly kind: 'fixed'; readonly delayMs: number; readonly percentage: FaultFraction }
  /** Delay from `x-envoy-fault-delay-request` (ms); percentage capped by `x-envoy-fault-delay-request-percentage`. */
  | { readonly kind: 'header'; readonly delayMs: 0; readonly percentage: FaultFraction };

export type FaultAbortModel =
  | { readonly kind: 'http'; readonly httpStatus: number; readonly percentage: FaultFraction }
  | { readonly kind: 'grpc'; readonly grpcStatus: number; readonly percentage: FaultFraction }
  /** Status from `x-envoy-fault-abort-request` / `x-envoy-fault-abort-grpc-request`. */
  | { readonly kind: 'header'; readonly percentage: FaultFraction };

export interface FaultConfig {
  readonly kind: 'fault';
  readonly delay: FaultDelayModel | null;
  readonly abort: FaultAbortModel | null;
  /** All must match for the fault to apply; empty = every request. */
  readonly headers: readonly HeaderMatcherModel[];
  /** `max_active_faults`; null = unlimited (Envoy's default). */
  readonly maxActiveFaults: number | null;
}

const SUPPORTED_FIELDS = [
  'delay', 'abort', 'headers', 'max_active_faults', 'delay_percent_runtime', 'abort_percent_runtime', 'delay_duration_runtime',
  'abort_http_status_runtime', 'max_active_faults_runtime', 'response_rate_limit_percent_runtime', 'abort_grpc_status_runtime',
  'disable_downstream_cluster_stats', 'filter_metadata',
];

/** A FractionalPercent at `path`; absent → 0%. A numerator beyond the denominator's scale is rejected. */
export function compileFaultFraction(issues: Issues, o: ProtoObject | undefined, path: string): FaultFraction {
  if (o === undefined) return ZERO_PERCENT;
  return compileFractionalPercent(issues, o, path) ?? ZERO_PERCENT;
}

function compileDelay(issues: Issues, d: ProtoObject, path: string): FaultDelayModel | null {
  onlyFields(issues, d, path, ['fixed_delay', 'header_delay', 'percentage']);
  const percentage = compileFaultFraction(issues, msg(d, 'percentage'), joinPath(path, 'percentage'));
  const fixed = msg(d, 'fixed_delay');
  const header = msg(d, 'header_delay');
  if (fixed !== undefined && header !== undefined) {
    issues.add(path, 'only one of fixed_delay and header_delay may be set');
    return null;
  }
  if (header !== undefined) {
    onlyFields(issues, header, joinPath(path, 'header_delay'), []);
    return { kind: 'header', delayMs: 0, percentage };
  }
  if (fixed === undefined) {
    issues.add(path, 'one of fixed_delay or header_delay is required');
    return null;
  }
  const s = Number(fixed['seconds'] ?? 0);
  const n = Number(fixed['nanos'] ?? 0);
  const delayMs = s * 1000 + n / 1e6;
  if (!(delayMs > 0)) {
    issues.add(joinPath(path, 'fixed_delay'), `must be a positive duration, got ${s}s ${n}ns`);
    return null;
  }
  return { kind: 'fixed', delayMs, percentage };
}

function compileAbort(issues: Issues, a: ProtoObject, path: string): FaultAbortModel | null {
  onlyFields(issues, a, path, ['http_status', 'grpc_status', 'header_abort', 'percentage']);
  const percentage = compileFaultFraction(issues, msg(a, 'percentage'), joinPath(path, 'percentage'));
  const http = a['http_status'];
  const grpc = a['grpc_status'];
  const header = msg(a, 'header_abort');
  const set = (http !== undefined ? 1 : 0) + (grpc !== undefined ? 1 : 0) + (header !== undefined ? 1 : 0);
  if (set !== 1) {
    issues.add(path, 'exactly one of http_status, grpc_status or header_abort is required');
    return null;
  }
  if (header !== undefined) {
    onlyFields(issues, header, joinPath(path, 'header_abort'), []);
    return { kind: 'header', percentage };
  }
  if (http !== undefined) {
    if (typeof http !== 'number' || !Number.isInteger(http) || http < 200 || http >= 600) {
      issues.add(joinPath(path, 'http_status'), `must be in 200..599, got ${String(http)}`);
      return null;
    }
    return { kind: 'http', httpStatus: http, percentage };
  }
  if (typeof grpc !== 'number' || !Number.isInteger(grpc) || grpc < 0 || grpc > 16) {
    issues.add(joinPath(path, 'grpc_status'), `must be a gRPC status code in 0..16, got ${String(grpc)}`);
    return null;
  }
  return { kind: 'grpc', grpcStatus: grpc, percentage };
}

/** Compiles an HTTPFault (listener-level or per-route: same rules). Errors carry paths under `path`. */
export function compileFault(typedConfig: ProtoObject, path: string): ValidationResult<FaultConfig> {
  const issues = new Issues();
  const o = typedConfig;
  // upstream_cluster, downstream_nodes and response_rate_limit are reported as unsupported here.
  onlyFields(issues, o, path, SUPPORTED_FIELDS);
  const d = msg(o, 'delay');
  const a = msg(o, 'abort');
  const delay = d === undefined ? null : compileDelay(issues, d, joinPath(path, 'delay'));
  const abort = a === undefined ? null : compileAbort(issues, a, joinPath(path, 'abort'));
  const headers: HeaderMatcherModel[] = [];
  const hs = list(o, 'headers');
  for (let i = 0; i < hs.length; i++) {
    const m = compileHeaderMatcher(issues, hs[i], `${joinPath(path, 'headers')}[${i}]`);
    if (m !== null) headers.push(m);
  }
  const maf = msg(o, 'max_active_faults');
  let maxActiveFaults: number | null = null;
  if (maf !== undefined) {
    const v = Number(maf['value'] ?? 0);
    if (!Number.isInteger(v) || v < 0) issues.add(joinPath(path, 'max_active_faults'), `must be a non-negative integer, got ${v}`);
    else maxActiveFaults = v;
  }
  return issues.result<FaultConfig>({ kind: 'fault', delay, abort, headers, maxActiveFaults });
}

export const faultRegistration: FilterRegistration<FaultConfig, FaultConfig> = {
  name: FAULT_NAME,
  typeUrl: FAULT_TYPE_URL,
  perRouteTypeUrl: FAULT_TYPE_URL,
  compile: compileFault,
  compilePerRoute: compileFault,
  createFactory: (config, ctx) => new FaultFactory(config, ctx),
};
