/**
 * The codec HTTP filters of a workload's inbound HCM, from the mesh's `GrpcTranscoder` and
 * `GrpcValidation` documents (remora.dev/v1alpha1): Envoy's `envoy.filters.http.grpc_json_transcoder`
 * (the document's compiled descriptors inline as `proto_descriptor_bin`, its `services`, and its
 * camelCase options as Envoy's snake_case fields; unset options are left out so the filter's
 * defaults apply; with `descriptors: {reflection: true}` Remora's ReflectionTranscoder instead, whose
 * reflection target is the workload's first app port on 127.0.0.1) and then Remora's `remora.filters.http.grpc_validation` (from a GrpcTranscoder's
 * `validation` block or a GrpcValidation document), in that order. translate-for-node.ts places
 * them after the request filters (JWT, RBAC, rate limits) and before the router.
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import type { GrpcTranscoder, TranscoderOptions } from '../mesh/grpc-transcoder';
import type { GrpcValidation } from '../mesh/grpc-validation';
import { labelsMatch } from '../mesh/load-mesh-config';
import type { Labels, MeshConfig } from '../mesh/model';
import type { NodeView } from './node-view';

export const GRPC_JSON_TRANSCODER_FILTER_NAME = 'envoy.filters.http.grpc_json_transcoder';
export const GRPC_JSON_TRANSCODER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder';
export const GRPC_VALIDATION_FILTER_NAME = 'remora.filters.http.grpc_validation';
export const REFLECTION_TRANSCODER_TYPE_URL = 'type.googleapis.com/remora.filters.http.grpc_json_transcoder.v1.ReflectionTranscoder';
export const GRPC_VALIDATION_TYPE_URL = 'type.googleapis.com/remora.filters.http.grpc_validation.v1.GrpcValidation';

function selectsNode(doc: { readonly meta: { readonly namespace: string }; readonly selector: Labels }, node: NodeView): boolean {
  return doc.meta.namespace === node.namespace && labelsMatch(doc.selector, node.labels);
}

/** The GrpcTranscoder selecting `node` (the first in file order), or null. */
export function grpcTranscoderFor(mesh: MeshConfig, node: NodeView): GrpcTranscoder | null {
  for (const t of mesh.grpcTranscoders ?? []) if (selectsNode(t, node)) return t;
  return null;
}

/** The GrpcValidation selecting `node` (the first in file order), or null. */
export function grpcValidationFor(mesh: MeshConfig, node: NodeView): GrpcValidation | null {
  for (const v of mesh.grpcValidations ?? []) if (selectsNode(v, node)) return v;
  return null;
}

/** HTTP filter entries for `node`'s inbound listener ([] when no document selects it). */
export function codecFilters(mesh: MeshConfig, node: NodeView): ProtoObject[] {
  if (node.proxyless) return [];
  const out: ProtoObject[] = [];
  const t = grpcTranscoderFor(mesh, node);
  if (t !== null && t.descriptorSet !== null) out.push({ name: GRPC_JSON_TRANSCODER_FILTER_NAME, typed_config: transcoderConfig(t) });
  if (t !== null && t.descriptors.kind === 'reflection') {
    // The sidecar asks the app itself; a workload without a known app port gets no transcoder.
    const port = node.appPorts[0];
    if (port !== undefined) out.push({ name: GRPC_JSON_TRANSCODER_FILTER_NAME, typed_config: reflectionTranscoderConfig(t, `127.0.0.1:${port}`) });
  }
  if (t !== null && t.validation !== null && t.descriptorSet !== null) {
    out.push({ name: GRPC_VALIDATION_FILTER_NAME, typed_config: validationConfig(t.descriptorSet, t.validation.services, t.validation.methods, null, null) });
  } else {
    const v = grpcValidationFor(mesh, node);
    if (v !== null && v.descriptorSet !== null) {
      out.push({ name: GRPC_VALIDATION_FILTER_NAME, typed_config: validationConfig(v.descriptorSet, v.services, v.methods, v.failFast, v.maxMessageBytes) });
    }
  }
  return out;
}

/** Sets `key` on `o` when `v` is not null. */
function put(o: ProtoObject, key: string, v: unknown): void {
  if (v !== null && v !== undefined) o[key] = v;
}

/** The Envoy GrpcJsonTranscoder for `t` (snake_case fields, bytes as a Buffer). */
export function transcoderConfig(t: GrpcTranscoder): ProtoObject {
  const cfg: ProtoObject = { '@type': GRPC_JSON_TRANSCODER_TYPE_URL, proto_descriptor_bin: t.descriptorSet, services: [...t.services] };
  addOptions(cfg, t.options);
  return cfg;
}

/**
 * Remora's ReflectionTranscoder for a `descriptors: {reflection: true}` document: the same options,
 * no descriptors, and the app's `host:port` as the reflection target.
 */
export function reflectionTranscoderConfig(t: GrpcTranscoder, target: string): ProtoObject {
  const config: ProtoObject = { services: [...t.services] };
  addOptions(config, t.options);
  return { '@type': REFLECTION_TRANSCODER_TYPE_URL, config, reflection_target: target };
}

function addOptions(cfg: ProtoObject, o: TranscoderOptions): void {
  if (o.printOptions !== null) {
    const p = o.printOptions;
    const po: ProtoObject = {};
    put(po, 'add_whitespace', p.addWhitespace);
    put(po, 'always_print_primitive_fields', p.alwaysPrintPrimitiveFields);
    put(po, 'always_print_enums_as_ints', p.alwaysPrintEnumsAsInts);
    put(po, 'preserve_proto_field_names', p.preserveProtoFieldNames);
    put(po, 'stream_newline_delimited', p.streamNewlineDelimited);
    cfg['print_options'] = po;
  }
  put(cfg, 'match_incoming_request_route', o.matchIncomingRequestRoute);
  if (o.ignoredQueryParameters.length > 0) cfg['ignored_query_parameters'] = [...o.ignoredQueryParameters];
  put(cfg, 'auto_mapping', o.autoMapping);
  put(cfg, 'ignore_unknown_query_parameters', o.ignoreUnknownQueryParameters);
  put(cfg, 'convert_grpc_status', o.convertGrpcStatus);
  put(cfg, 'url_unescape_spec', o.urlUnescapeSpec);
  put(cfg, 'query_param_unescape_plus', o.queryParamUnescapePlus);
  put(cfg, 'match_unregistered_custom_verb', o.matchUnregisteredCustomVerb);
  if (o.requestValidationOptions !== null) {
    const r = o.requestValidationOptions;
    const rv: ProtoObject = {};
    put(rv, 'reject_unknown_method', r.rejectUnknownMethod);
    put(rv, 'reject_unknown_query_parameters', r.rejectUnknownQueryParameters);
    put(rv, 'reject_binding_body_field_collisions', r.rejectBindingBodyFieldCollisions);
    cfg['request_validation_options'] = rv;
  }
  put(cfg, 'case_insensitive_enum_parsing', o.caseInsensitiveEnumParsing);
  if (o.maxRequestBodySize !== null) cfg['max_request_body_size'] = { value: o.maxRequestBodySize };
  if (o.maxResponseBodySize !== null) cfg['max_response_body_size'] = { value: o.maxResponseBodySize };
}

/** Remora's GrpcValidation filter config (proto/remora/filters/http/grpc_validation/v1). */
export function validationConfig(
  descriptorSet: Buffer, services: readonly string[], methods: readonly string[], failFast: boolean | null, maxMessageBytes: number | null,
): ProtoObject {
  const cfg: ProtoObject = { '@type': GRPC_VALIDATION_TYPE_URL, proto_descriptor_bin: descriptorSet };
  if (services.length > 0) cfg['services'] = [...services];
  if (methods.length > 0) cfg['methods'] = [...methods];
  put(cfg, 'fail_fast', failFast);
  if (maxMessageBytes !== null) cfg['max_message_bytes'] = { value: maxMessageBytes };
  return cfg;
}
