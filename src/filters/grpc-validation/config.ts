/**
 * Compiles `remora.filters.http.grpc_validation.v1.GrpcValidation` (proto/remora/filters/http/
 * grpc_validation/v1/grpc_validation.proto) into a frozen `GrpcValidationConfig` holding the
 * method validators (codec/validate/message-validator.ts: descriptor registry, input schemas,
 * protovalidate validator with its rule plans warmed), and registers the filter. The descriptor set
 * comes from `proto_descriptor` (a file, read here at config time) or `proto_descriptor_bin`. Per
 * route the same message only carries `disabled`.
 */
import { compileDescriptorSource } from '../../config/compile/descriptor-source';
import type { ValidationResult } from '../../core/errors';
import { Issues, joinPath, bool, onlyFields, strList, msg } from '../../config/compile/context';
import type { ProtoObject } from '../../config/compile/proto-json';
import { compileValidatorTable, type ValidatorTable } from '../../codec/validate/message-validator';
import type { FilterRegistration } from '../filter';
import { GrpcValidationFactory } from './filter';

export const GRPC_VALIDATION_NAME = 'remora.filters.http.grpc_validation';
export const GRPC_VALIDATION_TYPE_URL = 'type.googleapis.com/remora.filters.http.grpc_validation.v1.GrpcValidation';
/** gRPC's default receive limit. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface GrpcValidationConfig {
  readonly kind: 'grpc_validation';
  /** The validated methods by `:path`. */
  readonly table: ValidatorTable;
  /** Largest request message (compressed and decompressed), bytes. */
  readonly maxMessageBytes: number;
}

export interface GrpcValidationPerRouteConfig {
  readonly kind: 'grpc_validation_per_route';
  readonly disabled: boolean;
}

export function isGrpcValidationPerRoute(c: unknown): c is GrpcValidationPerRouteConfig {
  return typeof c === 'object' && c !== null && (c as { kind?: unknown }).kind === 'grpc_validation_per_route';
}

export interface GrpcValidationCompileDeps {
  /** Reads `proto_descriptor` files (the compile's file reader). May throw. */
  readonly readFile: (path: string) => Buffer;
}

const FIELDS = ['proto_descriptor', 'proto_descriptor_bin', 'services', 'methods', 'max_message_bytes', 'fail_fast', 'disabled'];

/** Compiles the listener-level config; every problem is reported with its path under `path`. */
export function compileGrpcValidation(tc: ProtoObject, path: string, deps: GrpcValidationCompileDeps): ValidationResult<GrpcValidationConfig> {
  const issues = new Issues();
  onlyFields(issues, tc, path, FIELDS);
  if (bool(tc, 'disabled') === true) issues.add(joinPath(path, 'disabled'), 'only allowed in a per-route config');
  const source = compileDescriptorSource(issues, tc, path, deps.readFile);
  const set = source === null ? null : source.bytes;
  let maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
  const max = msg(tc, 'max_message_bytes');
  if (max !== undefined) {
    const v = Number(max['value'] ?? 0);
    if (!Number.isInteger(v) || v < 1) issues.add(joinPath(path, 'max_message_bytes'), `must be at least 1, got ${String(max['value'])}`);
    else maxMessageBytes = v;
  }
  const services = strList(tc, 'services');
  const methods = strList(tc, 'methods');
  if (services.length === 0 && methods.length === 0) issues.add(path, 'at least one of services or methods is required');
  if (issues.count > 0 || set === null) return { ok: false, errors: issues.list };
  const table = compileValidatorTable(set, { services, methods }, { failFast: bool(tc, 'fail_fast') ?? false }, path);
  if (!table.ok) return table;
  // Shallow freeze: the table holds protobuf registries and validators that cache plans lazily.
  return { ok: true, value: Object.freeze({ kind: 'grpc_validation' as const, table: table.value, maxMessageBytes }) };
}

/** Compiles a `typed_per_filter_config` entry: only `disabled` may be set. */
export function compileGrpcValidationPerRoute(tc: ProtoObject, path: string): ValidationResult<GrpcValidationPerRouteConfig> {
  const issues = new Issues();
  onlyFields(issues, tc, path, ['disabled']);
  return issues.result({ kind: 'grpc_validation_per_route' as const, disabled: bool(tc, 'disabled') ?? false });
}

/** The registration, reading `proto_descriptor` files with `deps.readFile`. */
export function createGrpcValidationRegistration(deps?: GrpcValidationCompileDeps): FilterRegistration<GrpcValidationConfig, GrpcValidationPerRouteConfig> {
  return {
    name: GRPC_VALIDATION_NAME,
    typeUrl: GRPC_VALIDATION_TYPE_URL,
    perRouteTypeUrl: GRPC_VALIDATION_TYPE_URL,
    compile: (tc, path, readFile) => compileGrpcValidation(tc, path, deps ?? { readFile }),
    compilePerRoute: compileGrpcValidationPerRoute,
    createFactory: (config, ctx) => new GrpcValidationFactory(config, ctx),
  };
}

/** Register this in the ExtensionRegistry (src/filters/registry.ts). */
export const grpcValidationFilter: FilterRegistration<GrpcValidationConfig, GrpcValidationPerRouteConfig> = createGrpcValidationRegistration();
