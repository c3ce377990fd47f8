/**
 * Versioned, pre-encoded xDS snapshots, one per node group. A `Snapshot` wraps one immutable
 * `XdsResourceSet` (the translation's output) with every resource packed once into an `Any`
 * (`{type_url, value}`) and a per-type version derived from content: the first 12 hex digits of a
 * sha256 over the type's (name, encoded bytes) pairs sorted by name. Identical content therefore has
 * the same version in every process and after every restart, and different content never reuses a
 * version. Streams share the encoded bytes, so a push never re-encodes per stream. `SnapshotCache`
 * maps a node-group key (the caller decides how nodes are grouped) to its current Snapshot and tells
 * listeners when a key's snapshot changes.
 */
import { createHash } from 'node:crypto';
import type * as protobuf from 'protobufjs';
import { ResourceEncoder, type EncodedAny } from './resource-encoder';
import { TYPE_URL, type NodeIdentity, type XdsResourceSet, type XdsTypeUrl } from './resources';

/** One resource of a snapshot: its name and its encoded bytes. */
export interface EncodedResource {
  readonly name: string;
  readonly any: EncodedAny;
}

/** All resources of one type in a snapshot, with the type's content version. */
export interface TypeSnapshot {
  readonly typeUrl: string;
  readonly version: string;
  /** By resource name. */
  readonly resources: ReadonlyMap<string, EncodedResource>;
}

/** Maps a node to the key of its snapshot group. The default groups by `node.id`. */
export type NodeKeyFn = (node: NodeIdentity) => string;

/** The default grouping: one snapshot per node id. */
export const nodeIdKey: NodeKeyFn = (node) => node.id;

/** Thrown by `buildSnapshot`/`setSnapshot` when a resource cannot be encoded; names the resource. */
export class SnapshotEncodeError extends Error {
  readonly code = 'REMORA_ERR_SNAPSHOT_ENCODE';
  constructor(readonly typeUrl: string, readonly resourceName: string, cause: unknown) {
    super(`cannot encode ${typeUrl} '${resourceName}': ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'SnapshotEncodeError';
  }
}

const ALL_TYPES: readonly XdsTypeUrl[] = [TYPE_URL.CLUSTER, TYPE_URL.ENDPOINT, TYPE_URL.LISTENER, TYPE_URL.ROUTE, TYPE_URL.SECRET];

/**
 * The content version of a list of resources: the first 12 hex digits of sha256 over the
 * (name, bytes) pairs in name order. Pure; the empty list has a fixed version too.
 */
export function contentVersion(resources: Iterable<EncodedResource>): string {
  const sorted = Array.from(resources).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hash = createHash('sha256');
  const len = Buffer.alloc(4);
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i]!;
    const name = Buffer.from(r.name, 'utf8');
    len.writeUInt32BE(name.length, 0);
    hash.update(len);
    hash.update(name);
    len.writeUInt32BE(r.any.value.length, 0);
    hash.update(len);
    hash.update(r.any.value);
  }
  return hash.digest('hex').slice(0, 12);
}

/** An immutable, encoded snapshot of one node group's resources. */
export class Snapshot {
  /** Every known type (absent types are empty), by type URL. */
  readonly types: ReadonlyMap<string, TypeSnapshot>;

  constructor(readonly set: XdsResourceSet, types: ReadonlyMap<string, TypeSnapshot>) {
    this.types = types;
  }

  /** The resources of `typeUrl`, or null for a type this snapshot does not know. */
  type(typeUrl: string): TypeSnapshot | null {
    return this.types.get(typeUrl) ?? null;
  }

  /** The content version of `typeUrl` ('' for an unknown type). */
  version(typeUrl: string): string {
    return this.types.get(typeUrl)?.version ?? '';
  }

  /** True when every type has the same version as in `other`. */
  sameContentAs(other: Snapshot): boolean {
    if (other.types.size !== this.types.size) return false;
    for (const [url, t] of this.types) if (other.version(url) !== t.version) return false;
    return true;
  }
}

/**
 * Encodes every resource of `set` once and computes per-type versions. Throws
 * `SnapshotEncodeError` naming the first resource that cannot be encoded. With `previous`, a type
 * whose content did not change keeps the previous `TypeSnapshot` object (so a stream that was sent
 * it can tell in O(1) that nothing changed), and one whose resources are the very same encodings is
 * not hashed again.
 */
export function buildSnapshot(encoder: ResourceEncoder, set: XdsResourceSet, previous: Snapshot | null = null): Snapshot {
  const types = new Map<string, TypeSnapshot>();
  for (const typeUrl of ALL_TYPES) {
    const byName = set.byType.get(typeUrl);
    const resources = new Map<string, EncodedResource>();
    if (byName !== undefined) {
      for (const [name, obj] of byName) {
        let any: EncodedAny;
        try {
          any = encoder.encode(typeUrl, obj);
        } catch (err) {
          throw new SnapshotEncodeError(typeUrl, name, err);
        }
        resources.set(name, { name, any });
      }
    }
    const before = previous === null ? null : previous.type(typeUrl);
    if (before !== null && sameEncodings(before.resources, resources)) {
      types.set(typeUrl, before);
      continue;
    }
    const version = contentVersion(resources.values());
    types.set(typeUrl, before !== null && before.version === version ? before : { typeUrl, version, resources });
  }
  return new Snapshot(set, types);
}

/** Same names mapped to the very same encoded bytes (identity, not content). */
function sameEncodings(a: ReadonlyMap<string, EncodedResource>, b: ReadonlyMap<string, EncodedResource>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, r] of b) {
    const o = a.get(name);
    if (o === undefined || o.any.value !== r.any.value || o.any.type_url !== r.any.type_url) return false;
  }
  return true;
}

/** Called after a key's snapshot changed content (never for an identical replacement). */
export type SnapshotListener = (key: string, snapshot: Snapshot, previous: Snapshot | null) => void;

/** Node-group key → current Snapshot, with change notifications. Not thread-shared; synchronous. */
export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly listeners = new Set<SnapshotListener>();
  private readonly encoder: ResourceEncoder;

  constructor(encoderOrRoot: ResourceEncoder | protobuf.Root) {
    this.encoder = encoderOrRoot instanceof ResourceEncoder ? encoderOrRoot : new ResourceEncoder(encoderOrRoot);
  }

  /**
   * Encodes `set` and makes it the snapshot of `key`. Returns the snapshot now current and whether
   * it changed; an identical set (same versions for every type) keeps the existing snapshot and
   * notifies nobody. Listeners run synchronously before this returns. Throws SnapshotEncodeError
   * (leaving the previous snapshot in place) when a resource cannot be encoded.
   */
  setSnapshot(key: string, set: XdsResourceSet): { snapshot: Snapshot; changed: boolean } {
    const previous = this.snapshots.get(key) ?? null;
    const next = buildSnapshot(this.encoder, set, previous);
    if (previous !== null && previous.sameContentAs(next)) return { snapshot: previous, changed: false };
    this.snapshots.set(key, next);
    for (const listener of Array.from(this.listeners)) listener(key, next, previous);
    return { snapshot: next, changed: true };
  }

  /** A new config generation starts (see `ResourceEncoder.nextGeneration`). */
  nextGeneration(): void {
    this.encoder.nextGeneration();
  }

  /** The current snapshot of `key`, or null if none was set. */
  get(key: string): Snapshot | null {
    return this.snapshots.get(key) ?? null;
  }

  /** Forgets `key` (no notification). Returns whether it existed. */
  delete(key: string): boolean {
    return this.snapshots.delete(key);
  }

  /** The keys that currently have a snapshot. */
  keys(): string[] {
    return Array.from(this.snapshots.keys());
  }

  /** Number of snapshots held. */
  get size(): number {
    return this.snapshots.size;
  }

  /** Registers a change listener; returns a function that removes it. */
  onChange(listener: SnapshotListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }
}
