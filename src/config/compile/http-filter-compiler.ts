/**
 * The seam between the config pipeline and the HTTP filter implementations: `compileHttpConnectionManager`
 * hands each `http_filters[]` entry and each `typed_per_filter_config` value to an `HttpFilterCompiler`
 * (built by the composition root from the filter registry), which decides whether the type URL is
 * known and compiles the filter's own config. Also defines `CompileDeps`, everything the compile
 * functions need from the outside world.
 */
import type { ValidationResult } from '../../core/errors';
import type { ProtoObject } from './proto-json';

/** The type URL of the terminal router filter; `http_filters` must end with exactly one of these. */
export const ROUTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

/** Reads a file named in config (config time only); throws like fs.readFileSync. */
export type FileReader = (file: string) => Buffer;

export interface HttpFilterCompiler {
  /**
   * Compiles one `http_filters[]` entry. `typedConfig` is the canonical ProtoObject of its
   * `typed_config` (including `'@type'`); `path` is the field path of `typed_config` for errors.
   * Returns errors (with full paths) for an unknown type URL or an invalid config. Synchronous; the
   * only I/O is `readFile` (the compile's file reader, e.g. for a filter's descriptor file).
   */
  compile(name: string, typedConfig: ProtoObject, path: string, readFile: FileReader): ValidationResult<unknown>;
  /**
   * Compiles one `typed_per_filter_config[filterName]` value (a route-level override for the filter
   * named `filterName` in the HCM). Same error contract as `compile`.
   */
  compilePerRoute(filterName: string, typedConfig: ProtoObject, path: string, readFile: FileReader): ValidationResult<unknown>;
}

/** What compile functions need besides the document: the filter compiler and file access. */
export interface CompileDeps {
  readonly filters: HttpFilterCompiler;
  /** Reads a file named by a DataSource `filename` (TLS material, direct-response bodies). May throw. */
  readFile(path: string): Buffer;
}
