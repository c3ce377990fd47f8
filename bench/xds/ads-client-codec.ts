/**
 * The load process's lean DiscoveryResponse reader and ACK writer. One process plays 1,000s of
 * sidecars on the control plane's two cores, so its per-message work lands in the measured
 * latency (the last stream's ACK waits behind every other stream's decode) although real sidecars
 * decode in parallel on their own machines. proto-loader's (de)serializers convert whole messages
 * to and from objects (`toObject`/`fromObject`, Any values copied); this reads only what a SotW
 * client needs to ACK (version, type, nonce, and each resource's bytes to read its name) and
 * writes the ACK's four fields directly. The first request of a stream (it carries the node) still
 * goes through proto-loader.
 */
import * as protobuf from 'protobufjs';

// DiscoveryResponse / DiscoveryRequest / Any field numbers (envoy/service/discovery/v3/discovery.proto).
const RESP_VERSION_INFO = 1;
const RESP_RESOURCES = 2;
const RESP_TYPE_URL = 4;
const RESP_NONCE = 5;
const ANY_VALUE = 2;
const REQ_VERSION_INFO = 1;
const REQ_RESOURCE_NAMES = 3;
const REQ_TYPE_URL = 4;
const REQ_RESPONSE_NONCE = 5;
const LEN = 2;

/** What an ACK needs from a DiscoveryResponse. `resources` are views of each Any's `value`. */
export interface LeanResponse {
  readonly version: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly Uint8Array[];
}

/** Reads a DiscoveryResponse; fields other than the four above are skipped. Throws on malformed input. */
export function readResponse(buf: Uint8Array): LeanResponse {
  const r = protobuf.Reader.create(buf);
  let version = '';
  let typeUrl = '';
  let nonce = '';
  const resources: Uint8Array[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === RESP_RESOURCES && (tag & 7) === LEN) resources.push(anyValue(r.bytes()));
    else if (field === RESP_VERSION_INFO && (tag & 7) === LEN) version = r.string();
    else if (field === RESP_TYPE_URL && (tag & 7) === LEN) typeUrl = r.string();
    else if (field === RESP_NONCE && (tag & 7) === LEN) nonce = r.string();
    else r.skipType(tag & 7);
  }
  return { version, typeUrl, nonce, resources };
}

function anyValue(any: Uint8Array): Uint8Array {
  const r = protobuf.Reader.create(any);
  let value: Uint8Array = new Uint8Array(0);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === ANY_VALUE && (tag & 7) === LEN) value = r.bytes();
    else r.skipType(tag & 7);
  }
  return value;
}

/** A DiscoveryRequest without node or error_detail (an ACK or a subscription change). */
export function writeRequest(version: string, names: readonly string[], typeUrl: string, nonce: string): Uint8Array {
  const w = protobuf.Writer.create();
  if (version !== '') w.uint32((REQ_VERSION_INFO << 3) | LEN).string(version);
  for (let i = 0; i < names.length; i++) w.uint32((REQ_RESOURCE_NAMES << 3) | LEN).string(names[i]!);
  if (typeUrl !== '') w.uint32((REQ_TYPE_URL << 3) | LEN).string(typeUrl);
  if (nonce !== '') w.uint32((REQ_RESPONSE_NONCE << 3) | LEN).string(nonce);
  return w.finish();
}
