/**
 * Compiles `envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder` (listener
 * `typed_config`, and a route's `typed_per_filter_config`: a full override, or
 * `envoy.config.route.v3.FilterConfig{disabled: true}`) into a frozen `GrpcJsonTranscoderConfig`
 * holding the compiled `TranscoderTable` (descriptors, HTTP rules, ProtoJSON codecs: all config
 * time), and registers the filter (`grpcJsonTranscoderFilter`). The descriptor set is read here,
 * once per config update (`proto_descriptor` is a file path, `proto_descriptor_bin` inline bytes).
 * Remora's defaults are stricter than Envoy's where the Spec or ProtoJSON says so; docs/transcoding.md
 * lists every difference. Fields that would change behaviour but are not implemented are errors.
 */
import type { FileReader } from '../../config/compile/http-filter-compiler';
import { compileDescriptorSource } from '../../config/compile/descriptor-source';
import type { ConfigIssue, ValidationResult } from '../../core/errors';
import { bool, Issues, joinPath, msg, onlyFields, strList, wrapped } from '../../config/compile/context';
import type { ProtoObject } from '../../config/compile/proto-json';
import type { UnescapeMode } from '../../codec/transcode/percent-decoding';
import { TranscoderConfigError, TranscoderTable, type TranscoderOptions } from '../../codec/transcode/transcoder-table';
import type { FilterRegistration } from '../filter';
import { StreamFraming } from './stream-framing';
import { GrpcJsonTranscoderFactory } from './filter';

export const GRPC_JSON_TRANSCODER_NAME = 'envoy.filters.http.grpc_json_transcoder';
export const GRPC_JSON_TRANSCODER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder';
export const FILTER_CONFIG_TYPE_URL = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';

/** Remora's default `max_request_body_size` / `max_response_body_size` (Envoy: the stream buffer limit). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface GrpcJsonTranscoderConfig {
  readonly kind: 'grpc_json_transcoder';
  readonly table: TranscoderTable;
  /**
   * Envoy's `match_incoming_request_route`: true keeps the route matched on the HTTP request (and an
   * unbound path passes through untouched); false (default) re-matches routes on `/pkg.Svc/Method`
   * after the rewrite, and an unbound path is answered 404.
   */
  readonly matchIncomingRequestRoute: boolean;
  /** Server-streaming framing when the request's Accept header names none. */
  readonly defaultFraming: StreamFraming;
  /** Whole JSON body of a unary / server-streaming request, or one message of a client stream. */
  readonly maxRequestBodyBytes: number;
  /** One response message (gRPC frame) from the upstream. */
  readonly maxResponseBodyBytes: number;
}

/** A route's override: the filter disabled, or a whole other config. */
export type GrpcJsonTranscoderPerRoute =
  | { readonly kind: 'grpc_json_transcoder_per_route'; readonly disabled: true; readonly config: null }
  | { readonly kind: 'grpc_json_transcoder_per_route'; readonly disabled: false; readonly config: GrpcJsonTranscoderConfig };

const FIELDS = [
  'proto_descriptor', 'proto_descriptor_bin', 'services', 'print_options', 'match_incoming_request_route',
  'ignored_query_parameters', 'auto_mapping', 'ignore_unknown_query_parameters', 'convert_grpc_status',
  'url_unescape_spec', 'query_param_unescape_plus', 'match_unregistered_custom_verb', 'request_validation_options',
  'case_insensitive_enum_parsing', 'max_request_body_size', 'max_response_body_size',
];
const PRINT_FIELDS = [
  'add_whitespace', 'always_print_primitive_fields', 'always_print_enums_as_ints', 'preserve_proto_field_names',
  'stream_newline_delimited', 'stream_sse_style_delimited',
];
const VALIDATION_FIELDS = ['reject_unknown_method', 'reject_unknown_query_parameters', 'reject_binding_body_field_collisions'];

const UNESCAPE: Readonly<Record<string, UnescapeMode>> = {
  ALL_CHARACTERS_EXCEPT_RESERVED: 'ALL_CHARACTERS_EXCEPT_RESERVED',
  ALL_CHARACTERS_EXCEPT_SLASH: 'ALL_CHARACTERS_EXCEPT_SLASH',
  ALL_CHARACTERS: 'ALL_CHARACTERS',
};

/** Reads a `UInt32Value` size limit: absent → the default; must be > 0. */
function sizeLimit(issues: Issues, o: ProtoObject, k: string, path: string): number {
  const v = wrapped<number>(o, k);
  if (v === undefined) return DEFAULT_MAX_BODY_BYTES;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    issues.add(joinPath(path, k), `must be a positive number of bytes, got ${String(v)}`);
    return DEFAULT_MAX_BODY_BYTES;
  }
  return v;
}

/**
 * Compiles a GrpcJsonTranscoder (listener-level or a per-route override: same rules). `readFile`
 * reads `proto_descriptor` (tests may inject one). Errors carry paths under `path`.
 */
export function compileGrpcJsonTranscoder(
  typedConfig: ProtoObject, path: string, readFile: FileReader,
): ValidationResult<GrpcJsonTranscoderConfig> {
  const issues = new Issues();
  const o = typedConfig;
  onlyFields(issues, o, path, FIELDS);
  if (o['capture_unknown_query_parameters'] === true) {
    issues.add(joinPath(path, 'capture_unknown_query_parameters'), 'is not supported by Remora (unknown query parameters are rejected with 400, or ignored with ignore_unknown_query_parameters)');
  }

  // Descriptors.
  const source = compileDescriptorSource(issues, o, path, readFile);
  const descriptors = source === null ? null : source.bytes;
  const descriptorPath = source === null ? joinPath(path, 'proto_descriptor') : source.path;

  const services = strList(o, 'services');
  if (services.length === 0) issues.add(joinPath(path, 'services'), 'at least one service to transcode is required (Remora rejects an empty list, which would make the filter a no-op)');

  // Print options and stream framing.
  const po = msg(o, 'print_options') ?? {};
  const pp = joinPath(path, 'print_options');
  onlyFields(issues, po, pp, PRINT_FIELDS);
  const ndjson = bool(po, 'stream_newline_delimited') ?? false;
  const sse = bool(po, 'stream_sse_style_delimited') ?? false;
  if (ndjson && sse) issues.add(pp, 'only one of stream_newline_delimited and stream_sse_style_delimited may be set');
  const defaultFraming = sse ? StreamFraming.Sse : ndjson ? StreamFraming.Ndjson : StreamFraming.JsonArray;

  const rv = msg(o, 'request_validation_options') ?? {};
  onlyFields(issues, rv, joinPath(path, 'request_validation_options'), VALIDATION_FIELDS);
  // reject_unknown_method and reject_unknown_query_parameters are Remora's defaults already (404/405 and 400).

  if (o['match_unregistered_custom_verb'] === true) {
    issues.add(joinPath(path, 'match_unregistered_custom_verb'),
      'is not supported by Remora: a custom verb belongs to its template (the google.api.http grammar), so `:x` with no template using verb x stays part of the last segment');
  }

  let unescapeMode: UnescapeMode = 'ALL_CHARACTERS_EXCEPT_SLASH';
  const us = o['url_unescape_spec'];
  if (us !== undefined) {
    const m = typeof us === 'string' ? UNESCAPE[us] : undefined;
    if (m === undefined) issues.add(joinPath(path, 'url_unescape_spec'), `unknown value ${JSON.stringify(us)}`);
    else unescapeMode = m;
  }

  const maxRequestBodyBytes = sizeLimit(issues, o, 'max_request_body_size', path);
  const maxResponseBodyBytes = sizeLimit(issues, o, 'max_response_body_size', path);

  const options: TranscoderOptions = {
    services,
    autoMapping: bool(o, 'auto_mapping') ?? false,
    print: {
      addWhitespace: bool(po, 'add_whitespace') ?? false,
      alwaysPrintPrimitiveFields: bool(po, 'always_print_primitive_fields') ?? false,
      alwaysPrintEnumsAsInts: bool(po, 'always_print_enums_as_ints') ?? false,
      preserveProtoFieldNames: bool(po, 'preserve_proto_field_names') ?? false,
    },
    ignoredQueryParameters: strList(o, 'ignored_query_parameters'),
    ignoreUnknownQueryParameters: bool(o, 'ignore_unknown_query_parameters') ?? false,
    rejectBindingBodyFieldCollisions: bool(rv, 'reject_binding_body_field_collisions') ?? false,
    ignoreUnknownJsonFields: false,
    caseInsensitiveEnumParsing: bool(o, 'case_insensitive_enum_parsing') ?? false,
    unescapeMode,
    queryParamUnescapePlus: bool(o, 'query_param_unescape_plus') ?? false,
  };

  let table: TranscoderTable | null = null;
  if (descriptors !== null && services.length > 0) {
    try {
      table = TranscoderTable.compile(descriptors, options);
    } catch (e) {
      if (e instanceof TranscoderConfigError) {
        for (const p of e.problems) issues.add(/^service\b/i.test(p) ? joinPath(path, 'services') : descriptorPath, p);
      } else {
        issues.add(descriptorPath, `cannot use the descriptor set: ${(e as Error).message}`);
      }
    }
  }
  if (issues.count > 0 || table === null) return failed(issues.list, path);
  // Not deep-frozen: the table is an immutable class instance with its own internals.
  return {
    ok: true,
    value: Object.freeze({
      kind: 'grpc_json_transcoder' as const,
      table,
      matchIncomingRequestRoute: bool(o, 'match_incoming_request_route') ?? false,
      defaultFraming,
      maxRequestBodyBytes,
      maxResponseBodyBytes,
    }),
  };
}

function failed<T>(list: readonly ConfigIssue[], path: string): ValidationResult<T> {
  return { ok: false, errors: list.length > 0 ? list : [{ path, message: 'invalid transcoder config' }] };
}

/** Compiles a `typed_per_filter_config` entry: `FilterConfig{disabled: true}` or a full GrpcJsonTranscoder. */
export function compileGrpcJsonTranscoderPerRoute(typedConfig: ProtoObject, path: string, readFile: FileReader): ValidationResult<GrpcJsonTranscoderPerRoute> {
  const type = typedConfig['@type'];
  if (type === FILTER_CONFIG_TYPE_URL) {
    const issues = new Issues();
    onlyFields(issues, typedConfig, path, ['disabled', 'is_optional']);
    if (typedConfig['disabled'] !== true) issues.add(joinPath(path, 'disabled'), 'a FilterConfig for the transcoder must set disabled: true (or give a GrpcJsonTranscoder instead)');
    if (issues.count > 0) return failed(issues.list, path);
    return { ok: true, value: Object.freeze({ kind: 'grpc_json_transcoder_per_route' as const, disabled: true as const, config: null }) };
  }
  if (type !== GRPC_JSON_TRANSCODER_TYPE_URL) {
    return failed([{ path: joinPath(path, '@type'), message: `expected ${GRPC_JSON_TRANSCODER_TYPE_URL} or ${FILTER_CONFIG_TYPE_URL}, got ${String(type)}` }], path);
  }
  const r = compileGrpcJsonTranscoder(typedConfig, path, readFile);
  if (!r.ok) return r;
  return { ok: true, value: Object.freeze({ kind: 'grpc_json_transcoder_per_route' as const, disabled: false as const, config: r.value }) };
}

/** Register in the sidecar's ExtensionRegistry: `registry.register(grpcJsonTranscoderFilter)`. */
export const grpcJsonTranscoderFilter: FilterRegistration<GrpcJsonTranscoderConfig, GrpcJsonTranscoderPerRoute> = {
  name: GRPC_JSON_TRANSCODER_NAME,
  typeUrl: GRPC_JSON_TRANSCODER_TYPE_URL,
  perRouteTypeUrl: GRPC_JSON_TRANSCODER_TYPE_URL,
  compile: compileGrpcJsonTranscoder,
  compilePerRoute: compileGrpcJsonTranscoderPerRoute,
  createFactory: (config, ctx) => new GrpcJsonTranscoderFactory(config, ctx),
};
