/**
 * Percent-decoding of path segments and query components for the transcoder, per google.api.http:
 * a single-segment variable is fully decoded (`%2F` → `/` included); a multi-segment variable is
 * decoded except `%2F`/`%2f` (the Spec), or per Envoy's `url_unescape_spec` modes. Only valid `%HH`
 * sequences are decoded; anything else (`%zz`, a lone `%`) is kept as is, like Envoy. The decoded
 * bytes are read as UTF-8; invalid UTF-8 is reported (null) so the caller can answer 400 rather
 * than forward replacement characters. Strings without `%` are returned unchanged, without copying.
 */

/** What a multi-segment variable keeps encoded (Envoy's `url_unescape_spec`). */
export type UnescapeMode =
  /** Decode everything except `%2F` (the Spec; Remora's default). */
  | 'ALL_CHARACTERS_EXCEPT_SLASH'
  /** Keep every RFC 6570 reserved character encoded (Envoy's default). */
  | 'ALL_CHARACTERS_EXCEPT_RESERVED'
  /** Decode everything. */
  | 'ALL_CHARACTERS';

const RESERVED = new Set("!#$&'()*+,/:;=?@[]".split('').map((c) => c.charCodeAt(0)));
const SLASH = 0x2f;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Decodes `%HH` in `s`, except bytes for which `keep(byte)` is true (left as the original three
 * characters). Returns null when the result is not valid UTF-8.
 */
function decode(s: string, keep: ((byte: number) => boolean) | null): string | null {
  if (s.indexOf('%') < 0) return s;
  const src = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0x25 /* % */ && i + 2 < src.length) {
      const h = hexValue(src[i + 1]!);
      const l = hexValue(src[i + 2]!);
      if (h >= 0 && l >= 0) {
        const b = (h << 4) | l;
        if (keep !== null && keep(b)) {
          out[n++] = 0x25;
          out[n++] = src[i + 1]!;
          out[n++] = src[i + 2]!;
        } else {
          out[n++] = b;
        }
        i += 2;
        continue;
      }
    }
    out[n++] = c;
  }
  try {
    return utf8.decode(out.subarray(0, n));
  } catch {
    return null;
  }
}

/** Fully decodes one path segment or query component (single-segment variables). */
export function decodeComponent(s: string): string | null {
  return decode(s, null);
}

const keepSlash = (b: number): boolean => b === SLASH;
const keepReserved = (b: number): boolean => RESERVED.has(b);

/** Decodes a multi-segment variable's value (segments already joined with `/`) per `mode`. */
export function decodeMultiSegment(s: string, mode: UnescapeMode): string | null {
  switch (mode) {
    case 'ALL_CHARACTERS_EXCEPT_SLASH': return decode(s, keepSlash);
    case 'ALL_CHARACTERS_EXCEPT_RESERVED': return decode(s, keepReserved);
    case 'ALL_CHARACTERS': return decode(s, null);
  }
}

/** Decodes a query component: `%HH`, and `+` as a space when `plusAsSpace` (Envoy's `query_param_unescape_plus`). */
export function decodeQueryComponent(s: string, plusAsSpace: boolean): string | null {
  const t = plusAsSpace && s.indexOf('+') >= 0 ? s.replace(/\+/g, ' ') : s;
  return decode(t, null);
}
