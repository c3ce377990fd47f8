/**
 * Encodes `DiscoveryResponse` messages for the ADS server without going through proto-loader per
 * stream. A push sends the same resources, version and type to many streams; only the nonce
 * differs. Protobuf fields may appear in any order on the wire, so the shared part (version_info,
 * resources, type_url, control_plane) is encoded once and each stream's message is that prefix plus
 * its own `nonce` field. The server registers the ADS method with `passThroughSerialize`, which
 * sends such a Buffer as is (and still serializes plain objects, e.g. from tests).
 */
import * as protobuf from 'protobufjs';
import type { EncodedAny } from '../cache/resource-encoder';

// DiscoveryResponse field numbers (envoy/service/discovery/v3/discovery.proto).
const F_VERSION_INFO = 1;
const F_RESOURCES = 2;
const F_TYPE_URL = 4;
const F_NONCE = 5;
const F_CONTROL_PLANE = 6;
const WIRE_LEN = 2;
/** Shared prefixes kept before the cache is cleared (bounded memory; a push rarely needs more). */
const MAX_CACHED = 4096;

const tag = (field: number): number => (field << 3) | WIRE_LEN;

/** The DiscoveryResponse without its nonce: version_info, resources, type_url, control_plane. */
export function encodeResponsePrefix(version: string, typeUrl: string, resources: readonly EncodedAny[], identifier: string): Buffer {
  const w = protobuf.Writer.create();
  if (version !== '') w.uint32(tag(F_VERSION_INFO)).string(version);
  for (let i = 0; i < resources.length; i++) {
    const any = resources[i]!;
    w.uint32(tag(F_RESOURCES)).fork();
    if (any.type_url !== '') w.uint32(tag(1)).string(any.type_url);
    if (any.value.length > 0) w.uint32(tag(2)).bytes(any.value);
    w.ldelim();
  }
  if (typeUrl !== '') w.uint32(tag(F_TYPE_URL)).string(typeUrl);
  if (identifier !== '') w.uint32(tag(F_CONTROL_PLANE)).fork().uint32(tag(1)).string(identifier).ldelim();
  return Buffer.from(w.finish());
}

/** `prefix` followed by the `nonce` field: one complete DiscoveryResponse. */
export function withNonce(prefix: Buffer, nonce: string): Buffer {
  const n = Buffer.byteLength(nonce);
  // A nonce is a short decimal string: tag (1 byte) + length (1 byte) + bytes.
  if (n > 127) return Buffer.concat([prefix, Buffer.from(protobuf.Writer.create().uint32(tag(F_NONCE)).string(nonce).finish())]);
  const out = Buffer.allocUnsafe(prefix.length + 2 + n);
  prefix.copy(out, 0);
  out[prefix.length] = tag(F_NONCE);
  out[prefix.length + 1] = n;
  out.write(nonce, prefix.length + 2, 'latin1');
  return out;
}

/**
 * Prefix cache for one server: `prefix(key, ...)` encodes once per distinct response (the caller's
 * key names the type, version and resource names) and reuses it for every stream of the push.
 */
export class ResponsePrefixCache {
  private readonly prefixes = new Map<string, Buffer>();

  constructor(private readonly identifier: string) {}

  prefix(key: string, version: string, typeUrl: string, resources: readonly EncodedAny[]): Buffer {
    let p = this.prefixes.get(key);
    if (p === undefined) {
      if (this.prefixes.size >= MAX_CACHED) this.prefixes.clear();
      p = encodeResponsePrefix(version, typeUrl, resources, this.identifier);
      this.prefixes.set(key, p);
    }
    return p;
  }
}

/** A method serializer that sends pre-encoded Buffers as they are and serializes anything else with `fallback`. */
export function passThroughSerialize(fallback: (value: unknown) => Buffer): (value: unknown) => Buffer {
  return (value) => (Buffer.isBuffer(value) ? value : fallback(value));
}
