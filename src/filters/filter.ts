/**
 * The HTTP filter contract, split by lifetime (CONVENTIONS.md §1–2): a FilterRegistration compiles
 * its typed_config once per config update, `createFactory` builds a factory per listener holding the
 * compiled config and pre-bound metric handles, and the factory creates one small Filter per stream.
 * The router is the terminal filter and is driven by the connection manager directly.
 */
import type { FileReader } from '../config/compile/http-filter-compiler';
import type { Runtime } from '../core/runtime';
import type { ValidationResult } from '../core/errors';
import type { StreamContext } from './stream-context';

export const enum FilterStatus {
  /** Go on to the next filter. */
  Continue = 0,
  /**
   * Stop: this filter sent a local reply, or (asynchronous filters: rate-limit service calls,
   * fault delays) it will call `ctx.continueChain()` exactly once later, or reply locally then.
   */
  StopIteration = 1,
}

/** Per-stream filter. Never throws: failures become a local reply and StopIteration. */
export interface HttpFilter {
  onRequestHeaders(ctx: StreamContext): FilterStatus;
}

/** Built once per listener/config; `createFilter` is called once per stream. */
export interface HttpFilterFactory {
  createFilter(): HttpFilter;
}

/** Dependencies a filter factory may use (kept small and explicit). */
export interface FilterFactoryContext {
  readonly runtime: Runtime;
  readonly listenerName: string;
  /** The filter's `name` in the HCM's `http_filters` (the key of its `typed_per_filter_config` entries). */
  readonly filterName: string;
}

/** One per filter type, registered in an ExtensionRegistry instance (no module-level registries). */
export interface FilterRegistration<C = unknown, R = unknown> {
  /** Canonical filter name, e.g. `envoy.filters.http.router`. */
  readonly name: string;
  readonly typeUrl: string;
  /** Type URL of its per-route config, when it has one (`typed_per_filter_config` is keyed by filter name). */
  readonly perRouteTypeUrl?: string;
  /** Validates and compiles typed_config (ProtoObject form); errors carry paths under `path`. */
  compile(typedConfig: Record<string, unknown>, path: string, readFile: FileReader): ValidationResult<C>;
  /** Compiles a `typed_per_filter_config` entry; absent when the filter has no per-route config. */
  compilePerRoute?(typedConfig: Record<string, unknown>, path: string, readFile: FileReader): ValidationResult<R>;
  /** Null for the terminal router, which the connection manager drives itself. */
  createFactory(config: C, ctx: FilterFactoryContext): HttpFilterFactory | null;
}
