/**
 * The compiled RBAC matcher engine: Envoy's `envoy.config.rbac.v3` Permission and Principal trees
 * compiled once per config update into one monomorphic `RbacMatcher` class (an integer kind plus
 * the fields a kind needs, null otherwise), `MetadataMatch` for the `istio_authn` dynamic-metadata
 * matchers Istio emits for request principals and JWT claims, and `RbacRules` (an action and its
 * policies, sorted by name as Envoy's map). Evaluation reads one `RbacRequest` the filter fills per
 * request (reused, so nothing is allocated), never throws and never allocates.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/rbac/v3/rbac.proto
 */
import type { CompiledHeaderMatcher, RequestHeaders } from '../../routing/header-matcher';
import type { StringMatcher } from '../../routing/string-matcher';
import type { PeerIdentity, RequestPrincipal } from '../../transport/peer-identity';
import { IpScratch, type CidrRange } from './ip-address';

export const K_ANY = 0;
export const K_AND = 1;
export const K_OR = 2;
export const K_NOT = 3;
export const K_HEADER = 4;
export const K_URL_PATH = 5;
export const K_DEST_PORT = 6;
/** `authenticated` (principal_name null = any authenticated peer). */
export const K_AUTHENTICATED = 7;
/** `direct_remote_ip`, `source_ip` and `remote_ip` (see docs/bootstrap.md: one address in Remora). */
export const K_REMOTE_IP = 8;
export const K_METADATA = 9;

/** The request as the matchers see it: filled by the filter once per request, then read only. */
export class RbacRequest {
  headers: RequestHeaders = {};
  /** `:path` without query and fragment. */
  pathNoQuery = '/';
  /** The port of `:authority` (80/443 by scheme when absent). */
  destinationPort = 0;
  readonly remoteIp = new IpScratch();
  peer: PeerIdentity | null = null;
  requestPrincipal: RequestPrincipal | null = null;
}

// Where an `istio_authn` metadata path points.
export const MD_PRINCIPAL = 0;
export const MD_AUDIENCES = 1;
export const MD_PRESENTER = 2;
export const MD_CLAIMS = 3;

const V_STRING = 0;
const V_LIST_ONE_OF = 1;
const V_OR = 2;
const V_PRESENT = 3;

/** A compiled `envoy.type.matcher.v3.ValueMatcher` (string, list one_of, or, present). */
export class ValueMatch {
  private constructor(
    private readonly kind: number,
    private readonly string: StringMatcher | null,
    private readonly children: readonly ValueMatch[] | null,
    private readonly present: boolean,
  ) {}

  static string(m: StringMatcher): ValueMatch { return new ValueMatch(V_STRING, m, null, false); }
  static oneOf(inner: ValueMatch): ValueMatch { return new ValueMatch(V_LIST_ONE_OF, null, [inner], false); }
  static or(children: readonly ValueMatch[]): ValueMatch { return new ValueMatch(V_OR, null, children, false); }
  static present(p: boolean): ValueMatch { return new ValueMatch(V_PRESENT, null, null, p); }

  /**
   * Matches a metadata value (undefined when absent). A string matcher matches a string, or a
   * list with a matching string element (a JWT `aud` may be either); a list matcher matches any
   * element, and a plain string as a one-element list (Istio's authn filter stores claims as lists).
   */
  match(v: unknown): boolean {
    switch (this.kind) {
      case V_PRESENT: return (v !== undefined && v !== null) === this.present;
      case V_OR: {
        const cs = this.children!;
        for (let i = 0; i < cs.length; i++) if (cs[i].match(v)) return true;
        return false;
      }
      case V_STRING: {
        if (typeof v === 'string') return this.string!.match(v);
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) if (typeof v[i] === 'string' && this.string!.match(v[i] as string)) return true;
        }
        return false;
      }
      case V_LIST_ONE_OF: {
        const inner = this.children![0];
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) if (inner.match(v[i])) return true;
          return false;
        }
        return typeof v === 'string' && inner.match(v);
      }
      default: return false;
    }
  }
}

/** A compiled `MetadataMatcher` over filter `istio_authn`, read from the request principal. */
export class MetadataMatch {
  constructor(
    readonly source: number,
    /** The claim path below `request.auth.claims` (MD_CLAIMS only), else []. */
    readonly claimPath: readonly string[],
    readonly value: ValueMatch,
    readonly invert: boolean,
  ) {}

  matches(rp: RequestPrincipal | null): boolean {
    let v: unknown = undefined;
    if (rp !== null) {
      switch (this.source) {
        case MD_PRINCIPAL: v = rp.principal; break;
        case MD_AUDIENCES: v = rp.audiences; break;
        case MD_PRESENTER: v = rp.claims['azp']; break;
        default: {
          v = rp.claims;
          const p = this.claimPath;
          for (let i = 0; i < p.length; i++) {
            if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.prototype.hasOwnProperty.call(v, p[i])) {
              v = undefined;
              break;
            }
            v = (v as Record<string, unknown>)[p[i]];
          }
        }
      }
    }
    return this.value.match(v) !== this.invert;
  }
}

/** One node of a compiled Permission or Principal tree. Immutable; shared across requests. */
export class RbacMatcher {
  private constructor(
    readonly kind: number,
    readonly children: readonly RbacMatcher[] | null,
    readonly header: CompiledHeaderMatcher | null,
    /** url_path's path matcher, or authenticated's principal_name (null = any authenticated peer). */
    readonly string: StringMatcher | null,
    readonly cidr: CidrRange | null,
    /** destination_port / destination_port_range: [portLo, portHi). */
    readonly portLo: number,
    readonly portHi: number,
    readonly metadata: MetadataMatch | null,
  ) {}

  static any(): RbacMatcher { return new RbacMatcher(K_ANY, null, null, null, null, 0, 0, null); }
  static and(c: readonly RbacMatcher[]): RbacMatcher { return new RbacMatcher(K_AND, c, null, null, null, 0, 0, null); }
  static or(c: readonly RbacMatcher[]): RbacMatcher { return new RbacMatcher(K_OR, c, null, null, null, 0, 0, null); }
  static not(c: RbacMatcher): RbacMatcher { return new RbacMatcher(K_NOT, [c], null, null, null, 0, 0, null); }
  static header(h: CompiledHeaderMatcher): RbacMatcher { return new RbacMatcher(K_HEADER, null, h, null, null, 0, 0, null); }
  static urlPath(m: StringMatcher): RbacMatcher { return new RbacMatcher(K_URL_PATH, null, null, m, null, 0, 0, null); }
  static portRange(lo: number, hi: number): RbacMatcher { return new RbacMatcher(K_DEST_PORT, null, null, null, null, lo, hi, null); }
  static authenticated(m: StringMatcher | null): RbacMatcher { return new RbacMatcher(K_AUTHENTICATED, null, null, m, null, 0, 0, null); }
  static remoteIp(c: CidrRange): RbacMatcher { return new RbacMatcher(K_REMOTE_IP, null, null, null, c, 0, 0, null); }
  static metadata(m: MetadataMatch): RbacMatcher { return new RbacMatcher(K_METADATA, null, null, null, null, 0, 0, m); }

  /** True when `req` satisfies this node. Synchronous, allocation-free, never throws. */
  matches(req: RbacRequest): boolean {
    switch (this.kind) {
      case K_ANY: return true;
      case K_AND: {
        const cs = this.children!;
        for (let i = 0; i < cs.length; i++) if (!cs[i].matches(req)) return false;
        return true;
      }
      case K_OR: {
        const cs = this.children!;
        for (let i = 0; i < cs.length; i++) if (cs[i].matches(req)) return true;
        return false;
      }
      case K_NOT: return !this.children![0].matches(req);
      case K_HEADER: return this.header!.matches(req.headers);
      case K_URL_PATH: return this.string!.match(req.pathNoQuery);
      case K_DEST_PORT: return req.destinationPort >= this.portLo && req.destinationPort < this.portHi;
      case K_AUTHENTICATED: return authenticatedMatches(this.string, req.peer);
      case K_REMOTE_IP: return this.cidr!.contains(req.remoteIp);
      case K_METADATA: return this.metadata!.matches(req.requestPrincipal);
      default: return false;
    }
  }
}

/**
 * Envoy's `authenticated` principal: any verified peer certificate when `principal_name` is unset;
 * otherwise the matcher against the URI SANs, then the DNS SANs, then the subject.
 */
function authenticatedMatches(m: StringMatcher | null, peer: PeerIdentity | null): boolean {
  if (peer === null) return false;
  if (m === null) return true;
  const uris = peer.uriSans;
  for (let i = 0; i < uris.length; i++) if (m.match(uris[i])) return true;
  if (uris.length === 0 && peer.spiffeId !== null && m.match(peer.spiffeId)) return true;
  const dns = peer.dnsSans;
  for (let i = 0; i < dns.length; i++) if (m.match(dns[i])) return true;
  return peer.subject !== '' && m.match(peer.subject);
}

/** One named policy: matches when some permission and some principal match. */
export class RbacPolicy {
  constructor(
    readonly name: string,
    readonly permissions: readonly RbacMatcher[],
    readonly principals: readonly RbacMatcher[],
  ) {}

  matches(req: RbacRequest): boolean {
    const ps = this.permissions;
    let ok = false;
    for (let i = 0; i < ps.length; i++) if (ps[i].matches(req)) { ok = true; break; }
    if (!ok) return false;
    const ids = this.principals;
    for (let i = 0; i < ids.length; i++) if (ids[i].matches(req)) return true;
    return false;
  }
}

export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

/** A compiled `envoy.config.rbac.v3.RBAC`: the action and its policies in name order. */
export class RbacRules {
  constructor(
    readonly action: RbacAction,
    readonly policies: readonly RbacPolicy[],
  ) {}

  /** The first policy (by name) that matches `req`, or null. */
  firstMatch(req: RbacRequest): RbacPolicy | null {
    const ps = this.policies;
    for (let i = 0; i < ps.length; i++) if (ps[i].matches(req)) return ps[i];
    return null;
  }

  /**
   * The decision: ALLOW allows only on a match, DENY denies on a match, LOG always allows.
   * Returns the deciding policy through `firstMatch` when the caller needs its name.
   */
  allows(matched: RbacPolicy | null): boolean {
    if (this.action === 'ALLOW') return matched !== null;
    if (this.action === 'DENY') return matched === null;
    return true;
  }
}
