/**
 * Per-route filter state: a filter whose route may override its listener-level config
 * (`typed_per_filter_config`, keyed by the filter's HCM name) keeps one state object per compiled
 * override (buckets, compiled matchers, …), built on the first request of that route and reused
 * after. Keyed weakly by the compiled config, so a config update drops the old states with it.
 */
import type { CompiledRoute } from '../routing/route-table';

export class PerRouteStates<C extends object, S> {
  private readonly states = new WeakMap<C, S>();

  /**
   * @param filterName the filter's name in `http_filters` (its `typed_per_filter_config` key)
   * @param accepts tells this filter's compiled per-route config from anything else
   * @param build creates the state for one override (config time for that route; called once)
   */
  constructor(
    private readonly filterName: string,
    private readonly accepts: (config: unknown) => config is C,
    private readonly build: (config: C) => S,
  ) {}

  /** The route's compiled override of this filter, or null. */
  config(route: CompiledRoute | null): C | null {
    if (route === null) return null;
    const c = route.model.perFilterConfig[this.filterName];
    return c !== undefined && this.accepts(c) ? c : null;
  }

  /** The state for the route's override, or `fallback` when the route has none. Hot path. */
  forRoute(route: CompiledRoute | null, fallback: S): S {
    const c = this.config(route);
    if (c === null) return fallback;
    let s = this.states.get(c);
    if (s === undefined) {
      s = this.build(c);
      this.states.set(c, s);
    }
    return s;
  }
}
