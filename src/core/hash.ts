/**
 * The one non-cryptographic string hash of the data path: FNV-1a over the bytes of the UTF-16
 * code units (low byte, then the high byte when non-zero), finished with murmur3's fmix32
 * avalanche. Unsigned 32-bit, allocation-free and stable across processes, so a route's hash
 * policy (routing/) and the ring-hash load balancer's points (upstream/lb/) agree everywhere.
 */

/** FNV-1a's 32-bit offset basis and prime (for callers that continue a state, e.g. ring points). */
export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

/**
 * The hash of `s.slice(start, end)` seeded with `seed` (0 for a plain hash). `start`/`end` are
 * clamped to the string; nothing is allocated.
 */
export function hashString(s: string, start = 0, end = s.length, seed = 0): number {
  if (end > s.length) end = s.length;
  let h = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = start < 0 ? 0 : start; i < end; i++) {
    const c = s.charCodeAt(i);
    h = Math.imul(h ^ (c & 0xff), FNV_PRIME);
    if (c > 0xff) h = Math.imul(h ^ (c >>> 8), FNV_PRIME);
  }
  return fmix32(h);
}

/** FNV-1a state `h` continued with the bytes of `s` (not finalized: pass the result to `fmix32`). */
export function fnvUpdate(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h = Math.imul(h ^ (c & 0xff), FNV_PRIME);
    if (c > 0xff) h = Math.imul(h ^ (c >>> 8), FNV_PRIME);
  }
  return h;
}

/** murmur3's 32-bit finalizer: full avalanche of `h`, unsigned. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
