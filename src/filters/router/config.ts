/**
 * Compiles `envoy.extensions.filters.http.router.v3.Router`. Remora's router has no options yet:
 * fields that only tune Envoy-specific headers or stats are accepted as no-ops, anything that would
 * change behaviour is rejected with its path.
 */
import type { ConfigIssue, ValidationResult } from '../../core/errors';
import type { FilterRegistration } from '../filter';

export const ROUTER_NAME = 'envoy.filters.http.router';
export const ROUTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

export interface RouterConfig {
  readonly kind: 'router';
}

/** Fields with no effect in Remora (we emit no x-envoy-* headers and keep no dynamic stats). */
const NO_OP_FIELDS = new Set(['@type', 'dynamic_stats', 'suppress_envoy_headers', 'start_child_span']);

const ROUTER_CONFIG: RouterConfig = Object.freeze({ kind: 'router' });

export const routerRegistration: FilterRegistration<RouterConfig> = {
  name: ROUTER_NAME,
  typeUrl: ROUTER_TYPE_URL,
  compile(typedConfig, path): ValidationResult<RouterConfig> {
    const errors: ConfigIssue[] = [];
    for (const key of Object.keys(typedConfig)) {
      if (!NO_OP_FIELDS.has(key)) errors.push({ path: `${path}.${key}`, message: 'field is not supported by Remora' });
    }
    return errors.length > 0 ? { ok: false, errors } : { ok: true, value: ROUTER_CONFIG };
  },
  createFactory: () => null,
};
