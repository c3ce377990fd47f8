/**
 * The route table of one `RouteConfigModel`, compiled once per config update and swapped in whole:
 * virtual host selection by authority and the per-request route match. Domain search order follows
 * Envoy: exact domain (case-insensitive), then suffix wildcards (`*.foo.com`, `*-bar.foo.com`) longest
 * first, then prefix wildcards (`foo.*`, `foo-*`) longest first, then `*`; a wildcard never matches
 * the empty string. The authority is matched as given (port included) unless the listener has
 * `strip_any_host_port`; as in Envoy, there is no automatic retry without the port.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-virtualhost
 */
import type { RouteConfigModel } from '../config/model';
import { portStart } from './authority';
import type { CompiledRoute } from './compiled-route';
import { CompiledVirtualHost } from './compiled-virtual-host';
import type { RouteRequest } from './route-request';
import { asciiLowerCase, regionMatchesIgnoreCase } from './string-matcher';

export { CompiledRoute } from './compiled-route';
export { CompiledVirtualHost } from './compiled-virtual-host';
export type { RouteRequest } from './route-request';
export type { HeaderMutationLevel } from './header-mutations';

export interface RouteTableOptions {
  /** HCM `strip_any_host_port`: drop `:port` from the authority before domain matching. */
  readonly stripAnyHostPort: boolean;
}

/** A bucket above this size is searched through a Map (one slice + lowercase) instead of compares. */
const BUCKET_LINEAR_MAX = 16;

/**
 * All domain keys (exact domains, or wildcard domains without their '*') of one length, lowercased.
 * Small buckets are searched by case-insensitive compares on the authority in place, so selection
 * allocates nothing (no slice, no lowercase copy, no hashing of a fresh string).
 */
class DomainBucket {
  readonly length: number;
  private readonly keys: readonly string[];
  private readonly hosts: readonly CompiledVirtualHost[];
  private readonly byKey: ReadonlyMap<string, CompiledVirtualHost> | null;

  constructor(length: number, entries: readonly (readonly [string, CompiledVirtualHost])[]) {
    this.length = length;
    this.keys = entries.map((e) => e[0]);
    this.hosts = entries.map((e) => e[1]);
    this.byKey = entries.length > BUCKET_LINEAR_MAX ? new Map(entries) : null;
  }

  /** The virtual host whose key equals `s[offset, offset + length)` ignoring ASCII case, or null. */
  find(s: string, offset: number): CompiledVirtualHost | null {
    if (this.byKey !== null) {
      const vh = this.byKey.get(asciiLowerCase(s.slice(offset, offset + this.length)));
      return vh === undefined ? null : vh;
    }
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) if (regionMatchesIgnoreCase(s, offset, keys[i])) return this.hosts[i];
    return null;
  }
}

export class RouteTable {
  readonly name: string;
  readonly model: RouteConfigModel;
  readonly virtualHosts: readonly CompiledVirtualHost[];
  private readonly stripAnyHostPort: boolean;
  /** Exact domains by length (index = length; null when none has that length). */
  private readonly exact: readonly (DomainBucket | null)[];
  /** Keys are the domain without its leading '*'; longest first. */
  private readonly suffixes: readonly DomainBucket[];
  /** Keys are the domain without its trailing '*'; longest first. */
  private readonly prefixes: readonly DomainBucket[];
  private readonly defaultHost: CompiledVirtualHost | null;
  /** True when '*' is the only domain: selection skips the authority entirely. */
  private readonly onlyDefault: boolean;
  /**
   * One-entry memo of the last selection. A sidecar mostly sees one authority per route table, and
   * comparing the whole authority once is cheaper than stripping and folding it. Never observable:
   * the table is immutable, so the answer for an authority never changes.
   */
  private lastAuthority: string | null;
  private lastHost: CompiledVirtualHost | null;

  private constructor(model: RouteConfigModel, opts: RouteTableOptions) {
    this.name = model.name;
    this.model = model;
    this.stripAnyHostPort = opts.stripAnyHostPort;
    const hosts: CompiledVirtualHost[] = [];
    const exact = new Map<number, [string, CompiledVirtualHost][]>();
    const suffixes = new Map<number, [string, CompiledVirtualHost][]>();
    const prefixes = new Map<number, [string, CompiledVirtualHost][]>();
    let defaultHost: CompiledVirtualHost | null = null;
    for (const vhm of model.virtualHosts) {
      const vh = new CompiledVirtualHost(vhm, model.name, model.headers);
      hosts.push(vh);
      for (const raw of vhm.domains) {
        const d = asciiLowerCase(raw);
        if (d === '*') {
          if (defaultHost === null) defaultHost = vh;
        } else if (d.startsWith('*')) {
          addDomain(suffixes, d.slice(1), vh);
        } else if (d.endsWith('*')) {
          addDomain(prefixes, d.slice(0, -1), vh);
        } else {
          addDomain(exact, d, vh);
        }
      }
    }
    this.virtualHosts = Object.freeze(hosts);
    const exactByLength: (DomainBucket | null)[] = [];
    for (const b of buckets(exact)) {
      while (exactByLength.length <= b.length) exactByLength.push(null);
      exactByLength[b.length] = b;
    }
    this.exact = Object.freeze(exactByLength);
    this.suffixes = Object.freeze(buckets(suffixes));
    this.prefixes = Object.freeze(buckets(prefixes));
    this.defaultHost = defaultHost;
    this.onlyDefault = exact.size === 0 && suffixes.size === 0 && prefixes.size === 0;
    this.lastAuthority = null;
    this.lastHost = null;
  }

  /** Compiles `model` (already validated). Config time only; the result is immutable. */
  static compile(model: RouteConfigModel, opts: RouteTableOptions): RouteTable {
    return new RouteTable(model, opts);
  }

  /**
   * The virtual host serving `authority`, or null when no domain matches and there is no `*`.
   * Synchronous; allocation-free unless more than 16 domains of the authority's length exist.
   */
  selectVirtualHost(authority: string): CompiledVirtualHost | null {
    if (this.onlyDefault) return this.defaultHost;
    if (authority === this.lastAuthority) return this.lastHost;
    const vh = this.findVirtualHost(authority);
    this.lastAuthority = authority;
    this.lastHost = vh;
    return vh;
  }

  private findVirtualHost(authority: string): CompiledVirtualHost | null {
    // The host is authority[0, n): the whole authority, or without its port.
    let n = authority.length;
    if (this.stripAnyHostPort) {
      const p = portStart(authority);
      if (p !== -1) n = p;
    }
    if (n < this.exact.length) {
      const bucket = this.exact[n];
      if (bucket !== null) {
        const vh = bucket.find(authority, 0);
        if (vh !== null) return vh;
      }
    }
    const suffixes = this.suffixes;
    for (let i = 0; i < suffixes.length; i++) {
      const b = suffixes[i];
      if (b.length >= n) continue; // the wildcard must stand for at least one character
      const vh = b.find(authority, n - b.length);
      if (vh !== null) return vh;
    }
    const prefixes = this.prefixes;
    for (let i = 0; i < prefixes.length; i++) {
      const b = prefixes[i];
      if (b.length >= n) continue;
      const vh = b.find(authority, 0);
      if (vh !== null) return vh;
    }
    return this.defaultHost;
  }

  /**
   * Selects the virtual host for `req.authority` and returns its first route matching `req`, or null
   * (no virtual host or no route: the caller answers with `NoRouteError`). Synchronous, never throws.
   */
  match(req: RouteRequest): CompiledRoute | null {
    const vh = this.selectVirtualHost(req.authority);
    return vh === null ? null : vh.match(req);
  }
}

function addDomain(into: Map<number, [string, CompiledVirtualHost][]>, key: string, vh: CompiledVirtualHost): void {
  let list = into.get(key.length);
  if (list === undefined) {
    list = [];
    into.set(key.length, list);
  }
  // Domains are unique per route configuration (validated); keep the first if not.
  if (!list.some(([k]) => k === key)) list.push([key, vh]);
}

/** Buckets by key length, longest first. */
function buckets(byLength: Map<number, [string, CompiledVirtualHost][]>): DomainBucket[] {
  return [...byLength.entries()].sort((a, b) => b[0] - a[0]).map(([len, entries]) => new DomainBucket(len, entries));
}
