/**
 * The compiled access-log config of one HTTP connection manager entry (`access_log[i]`): where the
 * JSON lines go, the Envoy `AccessLogFilter` tree (with the CEL subset of `extension_filter` parsed
 * into a typed AST), success sampling, the request headers to copy and the masking lists. Plain,
 * deep-frozen data built by config/compile/access-log.ts; the data plane
 * (observability/access-log/) turns it into predicates and formatters once per listener config.
 */

/** One `access_log[]` entry. */
export interface AccessLogModel {
  /** `AccessLog.name` ('' when unset). */
  readonly name: string;
  /** A file path (appended to) or `/dev/stdout` / `/dev/stderr`. */
  readonly path: string;
  /** Which requests are candidates; null = all. */
  readonly filter: AccessLogFilterModel | null;
  /** Percentage (0–100) of successful requests written; errors are always written. */
  readonly successSamplePercent: number;
  /** Request headers copied into the line under `request_headers` (lowercase names, in order). */
  readonly requestHeaders: readonly string[];
  readonly mask: MaskingModel;
}

/** Names redacted before a line is written (all lowercase; compared case-insensitively). */
export interface MaskingModel {
  readonly headers: readonly string[];
  readonly queryParameters: readonly string[];
  readonly jsonFields: readonly string[];
}

export type ComparisonOp = 'EQ' | 'GE' | 'LE';

/** Envoy's `config.accesslog.v3.AccessLogFilter`, the supported subset. */
export type AccessLogFilterModel =
  | { readonly kind: 'status_code'; readonly op: ComparisonOp; readonly value: number }
  | { readonly kind: 'duration'; readonly op: ComparisonOp; readonly valueMs: number }
  /** Any of the core/response-flags bits in `mask` (every bit when the Envoy filter listed no flag; 0 when it listed only codes Remora never sets). */
  | { readonly kind: 'response_flag'; readonly mask: number }
  | { readonly kind: 'grpc_status'; readonly statuses: readonly number[]; readonly exclude: boolean }
  | { readonly kind: 'runtime'; readonly numerator: number; readonly denominator: number }
  | { readonly kind: 'and'; readonly filters: readonly AccessLogFilterModel[] }
  | { readonly kind: 'or'; readonly filters: readonly AccessLogFilterModel[] }
  /** Remora has no health-check requests on listeners, so this always passes. */
  | { readonly kind: 'not_health_check' }
  | { readonly kind: 'cel'; readonly expression: string; readonly expr: CelExpr };

// ------------------------------------------------------------------------------- CEL subset AST

/** Value types of the CEL subset (`flags` is `response.flags`: an int that also compares to a code string). */
export type CelType = 'int' | 'double' | 'string' | 'bool' | 'null' | 'flags' | 'map' | 'list';

/** Attributes the CEL subset knows (Envoy's attribute names), with their types in CEL_ATTRIBUTES. */
export type CelAttribute =
  | 'request.method' | 'request.path' | 'request.url_path' | 'request.host' | 'request.scheme'
  | 'request.protocol' | 'request.id' | 'request.size'
  | 'response.code' | 'response.grpc_status' | 'response.flags' | 'response.code_details' | 'response.size'
  | 'connection.mtls' | 'source.address' | 'source.principal' | 'upstream.address' | 'xds.route_name' | 'xds.cluster_name';

export const CEL_ATTRIBUTES: Readonly<Record<CelAttribute, CelType>> = Object.freeze({
  'request.method': 'string',
  'request.path': 'string',
  'request.url_path': 'string',
  'request.host': 'string',
  'request.scheme': 'string',
  'request.protocol': 'string',
  'request.id': 'string',
  'request.size': 'int',
  'response.code': 'int',
  'response.grpc_status': 'int',
  'response.flags': 'flags',
  'response.code_details': 'string',
  'response.size': 'int',
  'connection.mtls': 'bool',
  'source.address': 'string',
  'source.principal': 'string',
  'upstream.address': 'string',
  'xds.route_name': 'string',
  'xds.cluster_name': 'string',
});

export type CelCompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
export type CelMethod = 'startsWith' | 'endsWith' | 'contains';

/** A type-checked CEL subset expression. `pos` is the 0-based offset in the source, for messages. */
export type CelExpr =
  | { readonly kind: 'literal'; readonly type: 'int' | 'double' | 'string' | 'bool' | 'null'; readonly value: number | string | boolean | null }
  | { readonly kind: 'attribute'; readonly name: CelAttribute }
  /** `request.headers` as a whole (only as the right side of `in`). */
  | { readonly kind: 'headers' }
  /** `request.headers['name']` (name lowercased). */
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'not'; readonly arg: CelExpr }
  | { readonly kind: 'and' | 'or'; readonly left: CelExpr; readonly right: CelExpr }
  /** When one side is `response.flags` and the other a string, the flags compare as Envoy's codes (`UF,URX`, `-` for none). */
  | { readonly kind: 'compare'; readonly op: CelCompareOp; readonly left: CelExpr; readonly right: CelExpr }
  /** `x in [a, b]` or `'name' in request.headers`. */
  | { readonly kind: 'in'; readonly arg: CelExpr; readonly list: readonly CelExpr[] | null }
  | { readonly kind: 'method'; readonly method: CelMethod; readonly target: CelExpr; readonly arg: CelExpr };
