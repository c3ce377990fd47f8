/**
 * A fast decoder for the common `DiscoveryRequest`: an ACK or a subscription change, which carries
 * only `version_info`, `resource_names`, `type_url` and `response_nonce` (no node after the first
 * request, no `error_detail`). It reads those four string fields straight from the wire into the
 * proto-loader shape the ADS server consumes. Any other field (node, error_detail,
 * resource_locators, unknown fields) or anything malformed hands the whole message to the general
 * proto-loader deserializer, so NACKs, first requests and odd clients decode exactly as before.
 */
import type { WireDiscoveryRequest } from './ads-proto';

// DiscoveryRequest field numbers (envoy/service/discovery/v3/discovery.proto), all length-delimited.
const TAG_VERSION_INFO = (1 << 3) | 2;
const TAG_RESOURCE_NAMES = (3 << 3) | 2;
const TAG_TYPE_URL = (4 << 3) | 2;
const TAG_RESPONSE_NONCE = (5 << 3) | 2;

/**
 * Decodes `buf` when it holds only the four string fields; returns null otherwise (the caller then
 * uses the general decoder). Never throws.
 */
export function decodeSimpleDiscoveryRequest(buf: Buffer): WireDiscoveryRequest | null {
  let version = '';
  let typeUrl = '';
  let nonce = '';
  const names: string[] = [];
  let pos = 0;
  const end = buf.length;
  while (pos < end) {
    const tag = buf[pos++]!;
    if (tag !== TAG_VERSION_INFO && tag !== TAG_RESOURCE_NAMES && tag !== TAG_TYPE_URL && tag !== TAG_RESPONSE_NONCE) return null;
    // Length varint (at most 4 bytes here: anything longer than 2^28 is not a request we fast-path).
    let len = 0;
    let shift = 0;
    for (;;) {
      if (pos >= end || shift > 21) return null;
      const b = buf[pos++]!;
      len |= (b & 0x7f) << shift;
      if (b < 0x80) break;
      shift += 7;
    }
    if (pos + len > end) return null;
    const value = len === 0 ? '' : buf.toString('utf8', pos, pos + len);
    pos += len;
    switch (tag) {
      case TAG_VERSION_INFO: version = value; break;
      case TAG_RESOURCE_NAMES: names.push(value); break;
      case TAG_TYPE_URL: typeUrl = value; break;
      default: nonce = value; break;
    }
  }
  return { version_info: version, node: null, resource_names: names, type_url: typeUrl, response_nonce: nonce, error_detail: null };
}

/** A request deserializer: the fast path when it applies, else `fallback`. */
export function fastRequestDeserialize(fallback: (buf: Buffer) => unknown): (buf: Buffer) => unknown {
  return (buf) => decodeSimpleDiscoveryRequest(buf) ?? fallback(buf);
}
