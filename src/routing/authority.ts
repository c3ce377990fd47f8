/**
 * Port handling of an `:authority`/`Host` value for virtual host selection (`strip_any_host_port`),
 * as Envoy's `HeaderUtility::getPortStart`: the port is the all-digit text after the last ':', unless
 * that ':' sits inside a bracketed IPv6 literal (`[::1]` has no port, `[::1]:80` has port 80). Like
 * Envoy, an unbracketed IPv6 address (not a valid authority) loses its last group. One backwards scan
 * over the port digits; no allocation.
 */

/** Index of the ':' that starts the (1–10 digit) port of `authority`, or -1 when it has none. */
export function portStart(authority: string): number {
  const end = authority.length;
  let i = end - 1;
  while (i >= 0) {
    const c = authority.charCodeAt(i);
    if (c >= 48 && c <= 57) { i--; continue; }
    // Only digits follow this ':', so no ']' does: the colon is outside any IPv6 literal.
    if (c === 0x3a /* : */ && i < end - 1 && end - 1 - i <= 10) return i;
    return -1;
  }
  return -1;
}

/** `authority` without its `:port`; the same string when it has none. */
export function stripPort(authority: string): string {
  const p = portStart(authority);
  return p === -1 ? authority : authority.slice(0, p);
}
