/**
 * ExtensionRegistry: the set of HTTP filters this sidecar understands, built in the composition root
 * and passed down (never a module global). It implements the config compiler's
 * `HttpFilterCompiler`, so an unknown filter type is a config error with its field path.
 */
import type { ValidationResult } from '../core/errors';
import type { FileReader, HttpFilterCompiler } from '../config/compile/http-filter-compiler';
import type { FilterRegistration } from './filter';
import { routerRegistration } from './router/config';
import { localRateLimitRegistration } from './local-ratelimit/config';
import { faultRegistration } from './fault/config';
import { createGlobalRateLimitRegistration } from './ratelimit/global-ratelimit';
import { rbacRegistration } from './rbac/config';
import { createJwtAuthnRegistration } from './jwt-authn/registration';
import { grpcValidationFilter } from './grpc-validation/config';
import { grpcJsonTranscoderFilter } from './grpc-json-transcoder/config';
import { createReflectionTranscoderRegistration } from './grpc-json-transcoder/reflection-transcoder';
import { grpcWebFilter } from './grpc-web/config';
import { corsFilter } from './cors/config';

type TypedConfig = Record<string, unknown>;

export class ExtensionRegistry implements HttpFilterCompiler {
  private readonly byTypeUrl = new Map<string, FilterRegistration>();
  private readonly byName = new Map<string, FilterRegistration>();
  private readonly byPerRouteTypeUrl = new Map<string, FilterRegistration>();

  register(reg: FilterRegistration): this {
    this.byTypeUrl.set(reg.typeUrl, reg);
    this.byName.set(reg.name, reg);
    if (reg.perRouteTypeUrl !== undefined) this.byPerRouteTypeUrl.set(reg.perRouteTypeUrl, reg);
    return this;
  }

  /** The registration for a compiled filter's type URL. */
  get(typeUrl: string): FilterRegistration | undefined {
    return this.byTypeUrl.get(typeUrl);
  }

  compile(name: string, typedConfig: TypedConfig, path: string, readFile: FileReader): ValidationResult<unknown> {
    const typeUrl = typeof typedConfig['@type'] === 'string' ? (typedConfig['@type'] as string) : '';
    const reg = this.byTypeUrl.get(typeUrl);
    if (reg === undefined) {
      return { ok: false, errors: [{ path: `${path}.@type`, message: `HTTP filter '${name}' of type '${typeUrl}' is not supported by Remora (supported: ${[...this.byTypeUrl.keys()].join(', ')})` }] };
    }
    return reg.compile(typedConfig, path, readFile);
  }

  compilePerRoute(filterName: string, typedConfig: TypedConfig, path: string, readFile: FileReader): ValidationResult<unknown> {
    const typeUrl = typeof typedConfig['@type'] === 'string' ? (typedConfig['@type'] as string) : '';
    const reg = this.byName.get(filterName) ?? this.byPerRouteTypeUrl.get(typeUrl);
    if (reg === undefined || reg.compilePerRoute === undefined) {
      return { ok: false, errors: [{ path, message: `per-route config for filter '${filterName}' is not supported by Remora` }] };
    }
    return reg.compilePerRoute(typedConfig, path, readFile);
  }
}

/** The registry of the filters implemented so far. */
export function defaultExtensionRegistry(): ExtensionRegistry {
  return new ExtensionRegistry().register(routerRegistration)
    .register(localRateLimitRegistration)
    .register(faultRegistration)
    .register(rbacRegistration)
    .register(createGlobalRateLimitRegistration())
    .register(createJwtAuthnRegistration())
    .register(grpcValidationFilter)
    .register(grpcJsonTranscoderFilter)
    .register(createReflectionTranscoderRegistration())
    .register(grpcWebFilter)
    .register(corsFilter);
}
