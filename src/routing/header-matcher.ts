/**
 * Envoy's route `HeaderMatcher` compiled once per config update. A header with several values is
 * matched as the values joined with ',' (Envoy's `getAllOfHeaderAsString`); a missing header fails
 * every value matcher, inverted or not, unless `treat_missing_header_as_empty` makes it the empty
 * string; a presence matcher compares presence with `present_match`, then applies `invert_match`.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-headermatcher
 */
import type { HeaderMatcherModel } from '../config/model';
import { StringMatcher } from './string-matcher';

/** Read-only request headers as the router sees them (lowercase names, Node value shapes). */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** A compiled header matcher. Immutable; shared across requests. */
export class CompiledHeaderMatcher {
  readonly name: string;
  /** null for a presence matcher. */
  private readonly matcher: StringMatcher | null;
  private readonly presentMatch: boolean;
  private readonly invert: boolean;
  private readonly treatMissingAsEmpty: boolean;

  constructor(model: HeaderMatcherModel) {
    this.name = model.name;
    this.matcher = model.match === null ? null : StringMatcher.compile(model.match);
    this.presentMatch = model.presentMatch;
    this.invert = model.invertMatch;
    this.treatMissingAsEmpty = model.treatMissingAsEmpty;
  }

  /**
   * True when `headers` satisfy this matcher. Synchronous, never throws; allocates only to join a
   * multi-valued header.
   */
  matches(headers: RequestHeaders): boolean {
    const raw = headers[this.name];
    let value: string | undefined;
    if (typeof raw === 'string') value = raw;
    else if (Array.isArray(raw)) value = raw.join(',');
    else value = undefined; // absent (or an inherited Object.prototype member of a plain object)
    if (this.matcher === null) {
      const present = value !== undefined || this.treatMissingAsEmpty;
      return (present === this.presentMatch) !== this.invert;
    }
    if (value === undefined) {
      if (!this.treatMissingAsEmpty) return false;
      value = '';
    }
    return this.matcher.match(value) !== this.invert;
  }
}
