/**
 * A route's `rate_limits` compiled once per config update into `CompiledRateLimits`, whose
 * `populate()` produces the request's rate-limit descriptors on the hot path, and `descriptorKey()`,
 * the one string form of a descriptor (an ordered key/value entry list) that both the producer and
 * the local rate limit filter's descriptor table use: `key␁value` entries joined by `␀` (U+0001,
 * U+0000: header values cannot contain control characters and configured keys and values are
 * checked for them, so different entry lists never share a key).
 *
 * Semantics follow Envoy's `RateLimitPolicyEntryImpl::populateLocalDescriptors`: each RateLimit
 * yields at most one descriptor, the entries of its actions in order; an action that produces
 * nothing drops the whole descriptor, except `request_headers` with `skip_if_absent`, which only drops
 * its entry; a descriptor left without entries is not produced. Per action:
 * - `request_headers`: the header's first value (Node joins most repeated headers with ', ' already);
 * - `remote_address`: the downstream peer address, key `remote_address`; an IPv4-mapped IPv6 address
 *   (`::ffff:10.0.0.1`, from a dual-stack listener) is reported as the IPv4 address. Envoy uses the
 *   XFF-derived address when `xff_num_trusted_hops` is set; Remora always uses the socket peer;
 * - `generic_key` (and `destination_cluster`, compiled to one): a constant entry;
 * - `header_value_match`: the constant entry when "all `headers` match" equals `expect_match`;
 * - `source_principal` (Remora's hook, no Envoy action): the peer principal passed to `populate()`;
 *   nothing produces it until the security issue puts the mTLS peer identity on the stream, and
 *   until then callers pass null, which drops such descriptors.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-ratelimit-action
 */
import type { RateLimitActionModel, RateLimitModel } from '../config/model';
import { CompiledHeaderMatcher, type RequestHeaders } from './header-matcher';

/** Separates a descriptor entry's key from its value. */
export const DESCRIPTOR_KEY_VALUE_SEPARATOR = '\u0001';
/** Separates the entries of a descriptor. */
export const DESCRIPTOR_ENTRY_SEPARATOR = '\u0000';

/** The lookup key of an ordered descriptor entry list (configured descriptors and request descriptors alike). */
export function descriptorKey(entries: readonly { readonly key: string; readonly value: string }[]): string {
  let k = '';
  for (let i = 0; i < entries.length; i++) {
    k += (i === 0 ? '' : DESCRIPTOR_ENTRY_SEPARATOR) + entries[i].key + DESCRIPTOR_KEY_VALUE_SEPARATOR + entries[i].value;
  }
  return k;
}

const A_REQUEST_HEADERS = 0;
const A_REMOTE_ADDRESS = 1;
const A_CONSTANT = 2;
const A_HEADER_VALUE_MATCH = 3;
const A_SOURCE_PRINCIPAL = 4;

/** One action, flat and monomorphic: every field set for every kind. */
class CompiledAction {
  readonly kind: number;
  /** `key␁`: the entry's key with its separator, precomputed. */
  readonly keyPrefix: string;
  /** The header read by `request_headers`; '' otherwise. */
  readonly header: string;
  readonly skipIfAbsent: boolean;
  /** `keyPrefix + value` of a constant (`generic_key`, `header_value_match`) entry; '' otherwise. */
  readonly constantEntry: string;
  readonly expectMatch: boolean;
  /** `header_value_match` matchers; null otherwise. */
  readonly matchers: readonly CompiledHeaderMatcher[] | null;

  constructor(a: RateLimitActionModel) {
    let kind: number;
    let key: string;
    let header = '';
    let skipIfAbsent = false;
    let value = '';
    let expectMatch = true;
    let matchers: readonly CompiledHeaderMatcher[] | null = null;
    switch (a.kind) {
      case 'request_headers':
        kind = A_REQUEST_HEADERS; key = a.descriptorKey; header = a.headerName; skipIfAbsent = a.skipIfAbsent;
        break;
      case 'remote_address':
        kind = A_REMOTE_ADDRESS; key = 'remote_address';
        break;
      case 'generic_key':
        kind = A_CONSTANT; key = a.descriptorKey; value = a.descriptorValue;
        break;
      case 'header_value_match':
        kind = A_HEADER_VALUE_MATCH; key = a.descriptorKey; value = a.descriptorValue; expectMatch = a.expectMatch;
        matchers = Object.freeze(a.headers.map((h) => new CompiledHeaderMatcher(h)));
        break;
      case 'source_principal':
        kind = A_SOURCE_PRINCIPAL; key = a.descriptorKey;
        break;
    }
    this.kind = kind;
    this.keyPrefix = key + DESCRIPTOR_KEY_VALUE_SEPARATOR;
    this.header = header;
    this.skipIfAbsent = skipIfAbsent;
    this.constantEntry = kind === A_CONSTANT || kind === A_HEADER_VALUE_MATCH ? this.keyPrefix + value : '';
    this.expectMatch = expectMatch;
    this.matchers = matchers;
  }
}

/** `::ffff:a.b.c.d` → `a.b.c.d`; anything else unchanged. */
function unmapIpv4(addr: string): string {
  if (addr.length > 7 && addr.charCodeAt(0) === 0x3a /* : */ && addr.startsWith('::ffff:') && addr.indexOf('.', 7) !== -1) return addr.slice(7);
  return addr;
}

export class CompiledRateLimits {
  /** One action list per RateLimit, in configuration order. */
  private readonly descriptors: readonly (readonly CompiledAction[])[];

  private constructor(descriptors: readonly (readonly CompiledAction[])[]) {
    this.descriptors = descriptors;
  }

  /** Compiles a route's `rateLimits`; null when it has none (the hot path then skips the route). */
  static compile(models: readonly RateLimitModel[]): CompiledRateLimits | null {
    if (models.length === 0) return null;
    return new CompiledRateLimits(Object.freeze(models.map((m) => Object.freeze(m.actions.map((a) => new CompiledAction(a))))));
  }

  /** How many RateLimits this route has (each produces at most one descriptor). */
  get size(): number {
    return this.descriptors.length;
  }

  /**
   * Appends the request's descriptors, in `descriptorKey()` form and configuration order, to `out`.
   * `sourcePrincipal` is the authenticated peer identity (null until mTLS identities reach the
   * stream). Synchronous, never throws; allocates only the key strings.
   */
  populate(headers: RequestHeaders, remoteAddress: string, sourcePrincipal: string | null, out: string[]): void {
    const ds = this.descriptors;
    for (let i = 0; i < ds.length; i++) {
      const actions = ds[i];
      let key = '';
      let entries = 0;
      let produced = true;
      for (let j = 0; j < actions.length; j++) {
        const a = actions[j];
        let entry = '';
        switch (a.kind) {
          case A_REQUEST_HEADERS: {
            const raw = headers[a.header];
            const v = typeof raw === 'string' ? raw : Array.isArray(raw) && raw.length > 0 ? String(raw[0]) : undefined;
            if (v === undefined) {
              if (a.skipIfAbsent) continue;
              produced = false;
            } else {
              entry = a.keyPrefix + v;
            }
            break;
          }
          case A_REMOTE_ADDRESS:
            if (remoteAddress === '') produced = false;
            else entry = a.keyPrefix + unmapIpv4(remoteAddress);
            break;
          case A_CONSTANT:
            entry = a.constantEntry;
            break;
          case A_HEADER_VALUE_MATCH: {
            const ms = a.matchers!;
            let all = true;
            for (let m = 0; m < ms.length; m++) {
              if (!ms[m].matches(headers)) {
                all = false;
                break;
              }
            }
            if (all === a.expectMatch) entry = a.constantEntry;
            else produced = false;
            break;
          }
          default: // A_SOURCE_PRINCIPAL
            if (sourcePrincipal === null || sourcePrincipal === '') produced = false;
            else entry = a.keyPrefix + sourcePrincipal;
        }
        if (!produced) break;
        key = entries === 0 ? entry : key + DESCRIPTOR_ENTRY_SEPARATOR + entry;
        entries++;
      }
      if (produced && entries > 0) out.push(key);
    }
  }
}
