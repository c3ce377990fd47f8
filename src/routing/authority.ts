/**
 * Port handling of an `:authority`/`Host` value for virtual host selection (`strip_any_host_port`),
 * following Envoy's `HeaderUtility::getPortStart`: the port is the all-digit text after the last ':'
 * unless that ':' sits inside a bracketed IPv6 literal (`[::1]` has no port, `[::1]:80` has port 80).
 * Remora deviation: an unbracketed value with several ':' (a bare IPv6 address, not a valid
 * authority) is treated as having no port, where Envoy would strip its last group.
 */

/** Index of the ':' that starts the port of `authority`, or -1 when it has no (numeric) port. */
export function portStart(authority: string): number {
  const colon = authority.lastIndexOf(':');
  if (colon === -1) return -1;
  const bracket = authority.lastIndexOf(']');
  if (bracket > colon) return -1;
  if (bracket === -1 && authority.indexOf(':') !== colon) return -1;
  const n = authority.length - colon - 1;
  if (n === 0 || n > 10) return -1;
  for (let i = colon + 1; i < authority.length; i++) {
    const c = authority.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return colon;
}

/** `authority` without its `:port`; the same string when it has none. */
export function stripPort(authority: string): string {
  const p = portStart(authority);
  return p === -1 ? authority : authority.slice(0, p);
}
