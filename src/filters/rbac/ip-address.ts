/**
 * IP addresses and CIDR ranges for the RBAC filter's `direct_remote_ip` / `remote_ip` / `source_ip`
 * matchers: `CidrRange` is compiled once per config update (network words pre-masked), and
 * `IpScratch.parse` reads a peer address string into a reusable scratch without allocating, so a
 * request's address is parsed once and compared against every range with a few word operations.
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack Node socket reports for an IPv4
 * peer) are treated as the IPv4 address, so `10.0.0.0/8` matches them; Envoy compares families as
 * given, but its listeners never see mapped addresses.
 */

const COLON = 58;
const DOT = 46;

/** Parses dotted-quad IPv4 in `s[from, to)` into an unsigned 32-bit value; -1 when malformed. */
function parseV4(s: string, from: number, to: number): number {
  let value = 0;
  let octets = 0;
  let cur = -1;
  let digits = 0;
  for (let i = from; i <= to; i++) {
    const c = i === to ? DOT : s.charCodeAt(i);
    if (c === DOT) {
      if (cur < 0 || octets === 4) return -1;
      value = value * 256 + cur;
      octets++;
      cur = -1;
      digits = 0;
      continue;
    }
    if (c < 48 || c > 57) return -1;
    // No leading zeros beyond a single '0' (as node:net's isIP).
    if (digits === 1 && cur === 0) return -1;
    cur = cur < 0 ? c - 48 : cur * 10 + (c - 48);
    digits++;
    if (cur > 255) return -1;
  }
  return octets === 4 ? value >>> 0 : -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/**
 * Reusable parse buffers for one address at a time. Owned by one filter factory (the filter runs
 * synchronously and is never re-entered), so parsing a request's address allocates nothing.
 */
export class IpScratch {
  /** 4 (IPv4, value in words[0]), 6 (IPv6, four big-endian words) or 0 (not an IP). */
  family = 0;
  readonly words = new Uint32Array(4);
  private readonly groups = new Uint16Array(8);

  /** Parses `s` (IPv4, IPv6 with optional `%zone`); sets and returns `family`. Never throws. */
  parse(s: string): number {
    this.family = this.parseInto(s);
    return this.family;
  }

  private parseInto(s: string): number {
    const w = this.words;
    let len = s.indexOf('%');
    if (len === -1) len = s.length;
    if (len === 0) return 0;
    if (s.indexOf(':') === -1 || s.indexOf(':') >= len) {
      const v = parseV4(s, 0, len);
      if (v < 0) return 0;
      w[0] = v;
      return 4;
    }
    const g = this.groups;
    let n = 0;
    let dbl = -1;
    let i = 0;
    if (s.charCodeAt(0) === COLON) {
      if (len < 2 || s.charCodeAt(1) !== COLON) return 0;
      dbl = 0;
      i = 2;
    }
    while (i < len) {
      let end = i;
      while (end < len && s.charCodeAt(end) !== COLON) end++;
      if (end === i) return 0;
      const dot = s.indexOf('.', i);
      if (dot !== -1 && dot < end) {
        // Embedded IPv4 tail (`::ffff:1.2.3.4`): must be the last part.
        if (end !== len || n > 6) return 0;
        const v = parseV4(s, i, end);
        if (v < 0) return 0;
        g[n++] = v >>> 16;
        g[n++] = v & 0xffff;
        i = end;
        break;
      }
      if (end - i > 4 || n === 8) return 0;
      let val = 0;
      for (let k = i; k < end; k++) {
        const h = hexValue(s.charCodeAt(k));
        if (h < 0) return 0;
        val = val * 16 + h;
      }
      g[n++] = val;
      if (end === len) {
        i = end;
        break;
      }
      if (end + 1 < len && s.charCodeAt(end + 1) === COLON) {
        if (dbl !== -1) return 0;
        dbl = n;
        i = end + 2;
      } else {
        i = end + 1;
        if (i === len) return 0;
      }
    }
    if (dbl === -1) {
      if (n !== 8) return 0;
    } else {
      if (n > 7) return 0;
      const tail = n - dbl;
      for (let k = 0; k < tail; k++) g[7 - k] = g[n - 1 - k];
      for (let k = dbl; k < 8 - tail; k++) g[k] = 0;
    }
    for (let k = 0; k < 4; k++) w[k] = ((g[2 * k] << 16) | g[2 * k + 1]) >>> 0;
    if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) {
      w[0] = w[3];
      return 4;
    }
    return 6;
  }
}

/**
 * A compiled `envoy.config.core.v3.CidrRange`. Immutable (plain number fields, so the frozen config
 * can hold it).
 */
export class CidrRange {
  private constructor(
    /** 4 or 6. */
    readonly family: number,
    readonly prefixLen: number,
    /** Network words, already masked (IPv4: n0 only), and their masks. */
    private readonly n0: number, private readonly n1: number, private readonly n2: number, private readonly n3: number,
    private readonly m0: number, private readonly m1: number, private readonly m2: number, private readonly m3: number,
  ) {}

  /**
   * Compiles `address_prefix` / `prefix_len`; returns an error message instead for a bad address
   * or a prefix length out of range. Config time only. (An IPv4-mapped IPv6 prefix is compiled as
   * IPv4 with the length reduced by 96.)
   */
  static compile(addressPrefix: string, prefixLen: number): CidrRange | string {
    const scratch = new IpScratch();
    const family = scratch.parse(addressPrefix);
    if (family === 0) return `'${addressPrefix}' is not an IP address`;
    let len = prefixLen;
    const mapped = family === 4 && addressPrefix.indexOf(':') !== -1;
    if (mapped) len -= 96;
    const max = family === 4 ? 32 : 128;
    if (!Number.isInteger(len) || len < 0 || len > max) return `prefix length ${prefixLen} is out of range (0..${mapped ? 128 : max})`;
    const words = family === 4 ? 1 : 4;
    const net = [0, 0, 0, 0];
    const mask = [0, 0, 0, 0];
    for (let k = 0; k < words; k++) {
      const bits = Math.max(0, Math.min(32, len - 32 * k));
      mask[k] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      net[k] = (scratch.words[k]! & mask[k]!) >>> 0;
    }
    return new CidrRange(family, len, net[0]!, net[1]!, net[2]!, net[3]!, mask[0]!, mask[1]!, mask[2]!, mask[3]!);
  }

  /** Parses `a.b.c.d`, `a.b.c.d/n`, `::1`, `fe80::/10` (Istio's ipBlocks form). */
  static parse(text: string): CidrRange | string {
    const slash = text.indexOf('/');
    if (slash === -1) return CidrRange.compile(text, text.indexOf(':') === -1 ? 32 : 128);
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText)) return `invalid prefix length '${lenText}'`;
    return CidrRange.compile(text.slice(0, slash), Number(lenText));
  }

  /** True when the parsed address in `ip` is inside this range. Allocation-free. */
  contains(ip: IpScratch): boolean {
    if (ip.family !== this.family) return false;
    const w = ip.words;
    if (((w[0]! & this.m0) >>> 0) !== this.n0) return false;
    if (this.family === 4) return true;
    return ((w[1]! & this.m1) >>> 0) === this.n1 && ((w[2]! & this.m2) >>> 0) === this.n2 && ((w[3]! & this.m3) >>> 0) === this.n3;
  }
}
