/**
 * A route's `hash_policy` compiled once per config update into a `CompiledHashPolicy`, whose
 * `hash()` computes the request hash that RING_HASH clusters place on their ring (see
 * `upstream/lb/ring-hash.ts`). Semantics follow Envoy's `HashPolicyImpl::generateHash`: the policies
 * are evaluated in order; each one that yields a value is combined into the running hash as
 * `rotl(hash, 1) ^ value` (Envoy rotates a 64-bit hash; Remora's hash is 32-bit), and after a
 * `terminal` policy the evaluation stops if a hash exists by then (whether or not that policy
 * itself yielded a value, as in Envoy). Per policy kind:
 * - `header`: every value of the header (several values are sorted, so their order does not
 *   matter, and hashed in sequence, each seeding the next: Envoy's `xxHash64(span)` over sorted values);
 *   a present header with an empty value still hashes;
 * - `cookie`: the first `name=value` pair named `name` across the `cookie` header(s), surrounding
 *   double quotes stripped; an empty or absent value yields nothing (Envoy's cookie TTL generation is
 *   not modelled);
 * - `source_ip`: the downstream remote address, when non-empty;
 * - `query_parameter`: the first value of the parameter `name` in the `:path` query, compared and
 *   hashed without percent-decoding (Envoy's `parseQueryString`, not `parseAndDecodeQueryString`);
 *   `?a` counts as `a` with an empty value.
 * The string hash is FNV-1a (32-bit) over the string's bytes — Node hands header bytes over as latin1
 * code units; a code unit above 0xFF contributes its low then high byte — followed by murmur3's
 * `fmix32` avalanche, so that similar strings spread over the whole 32-bit ring. It is stable across
 * processes and versions (sidecars must agree), allocation-free, and never throws.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-routeaction-hashpolicy
 */
import type { HashPolicyModel } from '../config/model';
import { hashString } from '../core/hash';
import type { RequestHeaders } from './header-matcher';

export { hashString };

/** Envoy's combination of the running hash with a new policy's value, in 32 bits. */
function combine(hash: number, value: number): number {
  return (((hash << 1) | (hash >>> 31)) ^ value) >>> 0;
}

const KIND_HEADER = 0;
const KIND_COOKIE = 1;
const KIND_SOURCE_IP = 2;
const KIND_QUERY = 3;

/** One compiled policy (flat, monomorphic shape). */
class CompiledHashMethod {
  constructor(
    readonly kind: number,
    /** Lowercased header name, cookie name or query parameter name; '' for source_ip. */
    readonly name: string,
    readonly terminal: boolean,
  ) {}
}

const NO_VALUE = -1;

export class CompiledHashPolicy {
  private readonly methods: readonly CompiledHashMethod[];

  private constructor(methods: readonly CompiledHashMethod[]) {
    this.methods = methods;
  }

  /**
   * Compiles the route's policies (config time). Returns null for an empty list, so a route without
   * hash policy costs nothing (`hash === null` → the ring picks a random point).
   */
  static compile(models: readonly HashPolicyModel[]): CompiledHashPolicy | null {
    if (models.length === 0) return null;
    const methods: CompiledHashMethod[] = [];
    for (let i = 0; i < models.length; i++) {
      const m = models[i];
      switch (m.kind) {
        case 'header': methods.push(new CompiledHashMethod(KIND_HEADER, m.name.toLowerCase(), m.terminal)); break;
        case 'cookie': methods.push(new CompiledHashMethod(KIND_COOKIE, m.name, m.terminal)); break;
        case 'source_ip': methods.push(new CompiledHashMethod(KIND_SOURCE_IP, '', m.terminal)); break;
        case 'query_parameter': methods.push(new CompiledHashMethod(KIND_QUERY, m.name, m.terminal)); break;
      }
    }
    return new CompiledHashPolicy(Object.freeze(methods));
  }

  /**
   * Hot path: the request's hash (unsigned 32-bit), or null when no policy produced a value.
   * Synchronous, never throws; allocates only to sort a multi-valued header.
   * `remoteAddress` is the downstream peer address ('' when unknown); `path` is `:path`.
   */
  hash(headers: RequestHeaders, remoteAddress: string, path: string): number | null {
    const methods = this.methods;
    let hash = 0;
    let have = false;
    for (let i = 0; i < methods.length; i++) {
      const m = methods[i];
      let v = NO_VALUE;
      switch (m.kind) {
        case KIND_HEADER: v = headerHash(headers, m.name); break;
        case KIND_COOKIE: v = cookieHash(headers, m.name); break;
        case KIND_SOURCE_IP: v = remoteAddress.length > 0 ? hashString(remoteAddress) : NO_VALUE; break;
        case KIND_QUERY: v = queryHash(path, m.name); break;
        default: break;
      }
      if (v !== NO_VALUE) {
        hash = have ? combine(hash, v) : v;
        have = true;
      }
      if (m.terminal && have) break;
    }
    return have ? hash : null;
  }
}

function headerHash(headers: RequestHeaders, name: string): number {
  // An inherited member (e.g. `constructor` on a plain object) is neither a string nor an array.
  const raw = headers[name];
  if (typeof raw === 'string') return hashString(raw);
  if (!Array.isArray(raw) || raw.length === 0) return NO_VALUE;
  if (raw.length === 1) return hashString(String(raw[0]));
  const sorted = raw.slice().sort();
  let h = 0;
  for (let i = 0; i < sorted.length; i++) h = hashString(String(sorted[i]), 0, Infinity, h);
  return h;
}

function cookieHash(headers: RequestHeaders, name: string): number {
  const raw = headers.cookie;
  if (typeof raw === 'string') return cookieHashIn(raw, name);
  if (!Array.isArray(raw)) return NO_VALUE;
  for (let i = 0; i < raw.length; i++) {
    const v = cookieHashIn(String(raw[i]), name);
    if (v !== NO_VALUE) return v;
  }
  return NO_VALUE;
}

/**
 * Scans one `cookie` header (`a=1; b="2"`) for `name` without allocating: pairs split on ';',
 * leading spaces/tabs skipped, pairs without '=' ignored (Envoy's `parseCookieValue`).
 */
function cookieHashIn(header: string, name: string): number {
  const len = header.length;
  let pos = 0;
  while (pos < len) {
    let semi = header.indexOf(';', pos);
    if (semi === -1) semi = len;
    let s = pos;
    while (s < semi && (header.charCodeAt(s) === 0x20 || header.charCodeAt(s) === 0x09)) s++;
    const eq = indexOfBefore(header, 0x3d /* = */, s, semi);
    if (eq !== -1 && eq - s === name.length && header.startsWith(name, s)) {
      let vs = eq + 1;
      let ve = semi;
      if (ve - vs >= 2 && header.charCodeAt(vs) === 0x22 && header.charCodeAt(ve - 1) === 0x22) { vs++; ve--; }
      return ve > vs ? hashString(header, vs, ve) : NO_VALUE;
    }
    pos = semi + 1;
  }
  return NO_VALUE;
}

/** The hash of the first raw value of query parameter `name` in `path`, or NO_VALUE. */
function queryHash(path: string, name: string): number {
  const q = path.indexOf('?');
  if (q === -1) return NO_VALUE;
  let end = path.indexOf('#', q + 1);
  if (end === -1) end = path.length;
  let pos = q + 1;
  while (pos < end) {
    let amp = path.indexOf('&', pos);
    if (amp === -1 || amp > end) amp = end;
    let eq = indexOfBefore(path, 0x3d /* = */, pos, amp);
    if (eq === -1) eq = amp;
    if (eq - pos === name.length && path.startsWith(name, pos)) {
      return eq < amp ? hashString(path, eq + 1, amp) : hashString(path, amp, amp);
    }
    pos = amp + 1;
  }
  return NO_VALUE;
}

/** Index of char code `c` in `s[from, to)`, or -1 (bounded, unlike `indexOf`, so scans stay linear). */
function indexOfBefore(s: string, c: number, from: number, to: number): number {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === c) return i;
  return -1;
}
