/**
 * The FilterRegistration of `envoy.filters.http.jwt_authn`. `createJwtAuthnRegistration()` is
 * called once per ExtensionRegistry (one per sidecar): the registration owns the JwksPool, so every
 * listener (and every config update) naming the same JWKS URI shares one cache and one fetch
 * schedule. `createFactory` builds the local key sets (JWKS text checked at compile time) and
 * prefetches remote ones in the background, so the first token rarely waits for a fetch.
 */
import type { FilterRegistration } from '../filter';
import {
  compileJwtAuthn, compileJwtAuthnPerRoute, JWT_AUTHN_NAME, JWT_AUTHN_PER_ROUTE_TYPE_URL, JWT_AUTHN_TYPE_URL,
  type JwtAuthnConfig, type JwtAuthnPerRoute,
} from './config';
import { JwtAuthnFilterFactory, JwtAuthnMetrics, type ProviderKeys } from './filter';
import { JwksPool } from './jwks-cache';
import { KeySet } from './key-set';

export interface JwtAuthnRegistrationOptions {
  /** Minimum interval between JWKS refreshes forced by unknown `kid`s, per URI (default 10 s). */
  readonly unknownKidRefreshMs?: number;
  /** Default back-off after a failed JWKS fetch (Envoy's `failed_refetch_duration` default, 1 s). */
  readonly failedRefetchMs?: number;
}

/** A fresh registration with its own JWKS pool; register it in each ExtensionRegistry. */
export function createJwtAuthnRegistration(options: JwtAuthnRegistrationOptions = {}): FilterRegistration<JwtAuthnConfig, JwtAuthnPerRoute> {
  const pool = new JwksPool(options.unknownKidRefreshMs ?? 10_000, options.failedRefetchMs ?? 1_000);
  return {
    name: JWT_AUTHN_NAME,
    typeUrl: JWT_AUTHN_TYPE_URL,
    perRouteTypeUrl: JWT_AUTHN_PER_ROUTE_TYPE_URL,
    compile: compileJwtAuthn,
    compilePerRoute: compileJwtAuthnPerRoute,
    createFactory(config, ctx) {
      const runtime = ctx.runtime;
      const providers = new Map<string, ProviderKeys>();
      for (const name of Object.keys(config.providers)) {
        const p = config.providers[name]!;
        const src = p.jwks;
        if (src.kind === 'local') {
          const r = KeySet.parse(src.jwks);
          // Checked at compile time; a failure here would be a bug, and fails closed (no keys).
          providers.set(name, { config: p, local: r.ok ? r.keys : KeySet.empty(), remote: null });
        } else {
          const remote = pool.get(runtime, src.uri, src.timeoutMs, src.cacheDurationMs, src.failedRefetchMs);
          void remote.load();
          providers.set(name, { config: p, local: null, remote });
        }
      }
      const trace = runtime.trace.has('jwt_authn') ? runtime.logger.child({ component: 'jwt_authn', listener: ctx.listenerName }) : null;
      return new JwtAuthnFilterFactory(config, providers, ctx.filterName, new JwtAuthnMetrics(runtime.metrics, ctx.listenerName), runtime.clock, trace);
    },
  };
}
