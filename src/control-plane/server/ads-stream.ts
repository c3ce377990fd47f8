/**
 * The State-of-the-World protocol state of one ADS stream and the decision of what to send on it
 * (envoyproxy xds_protocol: "Basic Protocol Overview", "ACK/NACK", "When to send an update",
 * "Resource warming", "How the client specifies what resources to return", "Eventual consistency").
 * Per type URL it keeps the subscription (explicit names; wildcard via `*` or the legacy rule for
 * LDS/CDS: an empty name list from a client that has never named a resource of that type), the
 * last nonce and version sent and exactly which resources (by bytes) were sent. `responseFor`
 * computes the next response or null when nothing new would go out: LDS/CDS are always the full
 * state of the subscription; RDS/EDS carry only subscribed names that exist and are never empty;
 * identical state is never resent on the same stream. The server owns I/O; this file has none.
 */
import { TYPE_URL, type NodeIdentity } from '../cache/resources';
import { contentVersion, type EncodedResource, type Snapshot, type TypeSnapshot } from '../cache/snapshot-cache';

/** Types whose SotW responses are the full state (a missing name means deleted). */
export function isFullStateType(typeUrl: string): boolean {
  return typeUrl === TYPE_URL.LISTENER || typeUrl === TYPE_URL.CLUSTER;
}

/** One type's subscription and last-sent state on one stream. */
export class TypeSubscription {
  /** Explicitly subscribed names (without `*`). */
  names: Set<string> = new Set();
  /** Whether the client wants every resource of the type. */
  wildcard = false;
  /** Whether the client ever sent a non-empty name list for this type (disables legacy wildcard). */
  everNamed = false;
  /** Nonce of the last response sent for this type, or null before the first. */
  lastNonce: string | null = null;
  /** Version of the last response sent, or null. */
  sentVersion: string | null = null;
  /** The resources of the last response, by name, or null before the first. Never mutated (may be shared). */
  sent: ReadonlyMap<string, EncodedResource> | null = null;
  /**
   * The subscription in one string (`*` for wildcard, '' for nothing, else the length-prefixed
   * names in order), so streams that want the same resources share one planned response.
   */
  key = '';
  /** The type snapshot the last response was planned from (null: none, or a transitional one). */
  sentFrom: TypeSnapshot | null = null;
  /** `key` when the last response was planned; with `sentFrom` it says "nothing new" in O(1). */
  sentKey = '';
  /** The names of the last request, as sent (null before the first). */
  private lastRequest: readonly string[] | null = null;

  constructor(readonly typeUrl: string) {}

  /**
   * Applies the names of a request (which supersede earlier ones, xds_protocol "When to send an
   * update"). Returns true when the subscription changed.
   */
  update(resourceNames: readonly string[]): boolean {
    // An ACK repeats the names of the previous request: the same list gives the same subscription.
    if (sameList(resourceNames, this.lastRequest)) return false;
    this.lastRequest = resourceNames.slice();
    const names = new Set<string>();
    let star = false;
    for (let i = 0; i < resourceNames.length; i++) {
      const n = resourceNames[i]!;
      if (n === '*') star = true;
      else names.add(n);
    }
    if (resourceNames.length > 0) this.everNamed = true;
    const wildcard = star || (resourceNames.length === 0 && !this.everNamed && isFullStateType(this.typeUrl));
    const changed = wildcard !== this.wildcard || !sameSet(names, this.names);
    if (!changed) return false;
    this.names = names;
    this.wildcard = wildcard;
    this.key = subscriptionKey(wildcard, names);
    return true;
  }

  /** Records what was just sent: `resources` by name (shared, never mutated) and the type snapshot it came from. */
  recordSent(sent: ReadonlyMap<string, EncodedResource>, from: TypeSnapshot | null): void {
    this.sent = sent;
    this.sentFrom = from;
    this.sentKey = this.key;
  }

  /** Forgets what was sent (the client lost its state): the next plan sends everything again. */
  forgetSent(): void {
    this.sent = null;
    this.sentFrom = null;
  }

  /** The resources of `snapshot` this subscription selects (full state for LDS/CDS), or null when the client wants nothing. */
  desired(snapshot: Snapshot): EncodedResource[] | null {
    const t = snapshot.type(this.typeUrl);
    if (t === null) return null;
    if (!this.wildcard && this.names.size === 0) return null;
    const out: EncodedResource[] = [];
    if (this.wildcard) {
      for (const r of t.resources.values()) out.push(r);
    } else {
      for (const name of this.names) {
        const r = t.resources.get(name);
        if (r !== undefined) out.push(r);
      }
    }
    return out;
  }

  /** True when `resources` is exactly what was last sent (same names, same bytes). */
  sameAsSent(resources: readonly EncodedResource[]): boolean {
    const sent = this.sent;
    if (sent === null || sent.size !== resources.length) return false;
    for (let i = 0; i < resources.length; i++) {
      const r = resources[i]!;
      const prev = sent.get(r.name);
      if (prev === undefined) return false;
      if (prev.any.value !== r.any.value && !prev.any.value.equals(r.any.value)) return false;
    }
    return true;
  }
}

/** A response the server should send: resources plus the version to announce. */
export interface PlannedResponse {
  readonly typeUrl: string;
  readonly version: string;
  readonly resources: readonly EncodedResource[];
  /** The type snapshot it was planned from; null for a transitional response. */
  readonly from: TypeSnapshot | null;
}

/**
 * The next response for `sub` given `snapshot`, or null when nothing should go out: the client
 * wants nothing, RDS/EDS has no existing subscribed resource, or the same state was already sent.
 * With `plans` (a per-server memo), streams with the same subscription of the same type snapshot
 * share one PlannedResponse object.
 */
export function responseFor(sub: TypeSubscription, snapshot: Snapshot, plans: PlanMemo | null = null): PlannedResponse | null {
  const t = snapshot.type(sub.typeUrl);
  if (t === null) return null;
  // Planned from this very type snapshot for the same subscription: exactly what was sent.
  if (sub.sentFrom === t && sub.sentKey === sub.key && sub.sent !== null) return null;
  let planned = plans === null ? undefined : plans.get(t, sub.key);
  if (planned === undefined) {
    const resources = sub.desired(snapshot);
    planned = resources === null || (resources.length === 0 && !isFullStateType(sub.typeUrl))
      ? null
      : { typeUrl: sub.typeUrl, version: t.version, resources, from: t };
    if (plans !== null) plans.set(t, sub.key, planned);
  }
  if (planned === null || sub.sameAsSent(planned.resources)) return null;
  return planned;
}

/** Distinct subscriptions memoised per type snapshot before its memo is cleared. */
const MAX_PLANS_PER_TYPE = 1024;

/**
 * Planned responses by (type snapshot, subscription key), shared by the streams of a push. Entries
 * live as long as their type snapshot is referenced (at most MAX_PLANS_PER_TYPE per type snapshot).
 */
export class PlanMemo {
  private readonly byType = new WeakMap<TypeSnapshot, Map<string, PlannedResponse | null>>();

  /** The memoised plan (null = nothing to send), or undefined when not planned yet. */
  get(t: TypeSnapshot, key: string): PlannedResponse | null | undefined {
    return this.byType.get(t)?.get(key);
  }

  set(t: TypeSnapshot, key: string, planned: PlannedResponse | null): void {
    let m = this.byType.get(t);
    if (m === undefined) {
      m = new Map();
      this.byType.set(t, m);
    } else if (m.size >= MAX_PLANS_PER_TYPE) {
      m.clear(); // bounded: a long-lived type snapshot with ever-changing subscriptions
    }
    m.set(key, planned);
  }
}

/**
 * For a full-state type whose next state drops resources the client has: the make-before-break
 * step. `drops` says whether the final state deletes anything (so it must wait until the other
 * types were pushed); `transitional` is the intermediate response (the new state plus the dropped
 * resources as last sent), or null when the client already has exactly that. Its version is the
 * content version of exactly what it carries.
 */
export function transitionalFor(sub: TypeSubscription, snapshot: Snapshot): { drops: boolean; transitional: PlannedResponse | null } {
  if (!isFullStateType(sub.typeUrl) || sub.sent === null) return { drops: false, transitional: null };
  const resources = sub.desired(snapshot);
  if (resources === null) return { drops: false, transitional: null };
  const keep = new Set<string>();
  for (let i = 0; i < resources.length; i++) keep.add(resources[i]!.name);
  const merged = resources.slice();
  let dropped = 0;
  for (const [name, r] of sub.sent) {
    if (!keep.has(name)) {
      merged.push(r);
      dropped++;
    }
  }
  if (dropped === 0) return { drops: false, transitional: null };
  if (sub.sameAsSent(merged)) return { drops: true, transitional: null };
  return { drops: true, transitional: { typeUrl: sub.typeUrl, version: contentVersion(merged), resources: merged, from: null } };
}

/** All per-stream state. Fields are initialised up front; node/key are set by the first request. */
export class AdsStreamState {
  node: NodeIdentity | null = null;
  key: string | null = null;
  userAgent = '';
  closed = false;
  readonly subs = new Map<string, TypeSubscription>();

  constructor(readonly id: number) {}

  /** The subscription of `typeUrl`, created on first use. */
  sub(typeUrl: string): TypeSubscription {
    let s = this.subs.get(typeUrl);
    if (s === undefined) {
      s = new TypeSubscription(typeUrl);
      this.subs.set(typeUrl, s);
    }
    return s;
  }
}

/** An unambiguous string for a subscription (names are length-prefixed, so no separator can collide). */
function subscriptionKey(wildcard: boolean, names: ReadonlySet<string>): string {
  if (wildcard) return '*';
  let key = '';
  for (const n of names) key += `${n.length}:${n}`;
  return key;
}

function sameList(a: readonly string[], b: readonly string[] | null): boolean {
  if (b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
