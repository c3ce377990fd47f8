/**
 * Compiles `envoy.extensions.filters.http.grpc_web.v3.GrpcWeb` (an empty message: the filter has
 * no options) and registers the `envoy.filters.http.grpc_web` filter. The filter has no per-route
 * config. https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/grpc_web_filter
 */
import type { ValidationResult } from '../../core/errors';
import { Issues, onlyFields } from '../../config/compile/context';
import type { ProtoObject } from '../../config/compile/proto-json';
import type { FilterRegistration } from '../filter';
import { GrpcWebFactory } from './filter';

export const GRPC_WEB_NAME = 'envoy.filters.http.grpc_web';
export const GRPC_WEB_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb';

export interface GrpcWebConfig {
  readonly kind: 'grpc_web';
}

const CONFIG: GrpcWebConfig = Object.freeze({ kind: 'grpc_web' });

/** Validates a GrpcWeb typed_config (no fields besides `@type`). */
export function compileGrpcWeb(typedConfig: ProtoObject, path: string): ValidationResult<GrpcWebConfig> {
  const issues = new Issues();
  onlyFields(issues, typedConfig, path, []);
  return issues.result<GrpcWebConfig>(CONFIG);
}

/** The registration to add to the ExtensionRegistry. */
export const grpcWebFilter: FilterRegistration<GrpcWebConfig> = {
  name: GRPC_WEB_NAME,
  typeUrl: GRPC_WEB_TYPE_URL,
  compile: compileGrpcWeb,
  createFactory: (_config, ctx) => new GrpcWebFactory(ctx),
};
