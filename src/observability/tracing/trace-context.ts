/**
 * Trace-context propagation on the request headers: parsing W3C Trace Context (`traceparent` /
 * `tracestate`, https://www.w3.org/TR/trace-context/) and B3 (single `b3` and multi `x-b3-*`
 * headers, https://github.com/openzipkin/b3-propagation) into one `IncomingContext`, and writing
 * this hop's context back in the formats the request came with. The parsers are small hand-written
 * scanners (no regex, no exceptions): malformed input yields null and the request is traced as a
 * new root. Ids are normalised to lowercase hex, 64-bit B3 trace ids left-padded to 128 bits.
 */

/** A header map as the connection manager forwards it (lowercase names). */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** Bits of `IncomingContext.formats` / `writeContext`'s `formats`. */
export const Format = {
  W3C: 1,
  B3Single: 2,
  B3Multi: 4,
} as const;

/** The sampling decision a request carries: 1 sampled, 0 not sampled, -1 none (we decide). */
export type SamplingDecision = 1 | 0 | -1;

/** What a request carried. `traceId`/`spanId` are null when it carried only a decision (B3 `b3: 0`). */
export class IncomingContext {
  constructor(
    readonly traceId: string | null,
    readonly spanId: string | null,
    readonly sampled: SamplingDecision,
    /** B3 debug (`x-b3-flags: 1` or `b3: …-d`): forces sampling and is propagated. */
    readonly debug: boolean,
    /** The `Format` bit it was read from. */
    readonly format: number,
  ) {}
}

const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';
const PAD_64 = '0000000000000000';

/** The single string value of a header; null when absent or repeated (ambiguous). */
function single(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  if (typeof v === 'string') return v;
  return v.length === 1 ? v[0] : null;
}

/** True when s[from, from+len) is hex; lowercase only unless `anyCase`. */
function isHex(s: string, from: number, len: number, anyCase: boolean): boolean {
  for (let i = from; i < from + len; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) continue;
    if (anyCase && c >= 0x41 && c <= 0x46) continue;
    return false;
  }
  return true;
}

/**
 * Parses a `traceparent` value (version 00, or a later version read as 00 as the spec requires).
 * Returns null when malformed, when a later version has no `-` after the 55 known characters,
 * for version `ff` and for all-zero ids.
 */
export function parseTraceparent(v: string): IncomingContext | null {
  const s = v.trim();
  if (s.length < 55) return null;
  if (s.charCodeAt(2) !== 0x2d || s.charCodeAt(35) !== 0x2d || s.charCodeAt(52) !== 0x2d) return null;
  if (!isHex(s, 0, 2, false) || (s.charCodeAt(0) === 0x66 && s.charCodeAt(1) === 0x66)) return null;
  const v00 = s.charCodeAt(0) === 0x30 && s.charCodeAt(1) === 0x30;
  if (v00 ? s.length !== 55 : s.length > 55 && s.charCodeAt(55) !== 0x2d) return null;
  if (!isHex(s, 3, 32, false) || !isHex(s, 36, 16, false) || !isHex(s, 53, 2, false)) return null;
  const traceId = s.slice(3, 35);
  const spanId = s.slice(36, 52);
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  const flags = parseInt(s.slice(53, 55), 16);
  return new IncomingContext(traceId, spanId, (flags & 1) === 1 ? 1 : 0, false, Format.W3C);
}

/** A 16- or 32-hex B3 trace id, normalised to 32 lowercase hex; null when invalid or zero. */
function b3TraceId(s: string, from: number, len: number): string | null {
  if ((len !== 16 && len !== 32) || !isHex(s, from, len, true)) return null;
  const raw = s.slice(from, from + len).toLowerCase();
  const id = len === 16 ? PAD_64 + raw : raw;
  return id === ZERO_TRACE ? null : id;
}

/** A 16-hex B3 span id, lowercased; null when invalid or zero. */
function b3SpanId(s: string, from: number, len: number): string | null {
  if (len !== 16 || !isHex(s, from, len, true)) return null;
  const id = s.slice(from, from + len).toLowerCase();
  return id === ZERO_SPAN ? null : id;
}

/** Parses a single-header `b3` value: `{trace}-{span}[-{1|0|d}[-{parent}]]` or a lone `1|0|d`. */
export function parseB3Single(v: string): IncomingContext | null {
  const s = v.trim();
  if (s.length === 1) {
    if (s === '0') return new IncomingContext(null, null, 0, false, Format.B3Single);
    if (s === '1') return new IncomingContext(null, null, 1, false, Format.B3Single);
    if (s === 'd') return new IncomingContext(null, null, 1, true, Format.B3Single);
    return null;
  }
  const d1 = s.indexOf('-');
  if (d1 < 0) return null;
  const traceId = b3TraceId(s, 0, d1);
  if (traceId === null) return null;
  let d2 = s.indexOf('-', d1 + 1);
  if (d2 < 0) d2 = s.length;
  const spanId = b3SpanId(s, d1 + 1, d2 - d1 - 1);
  if (spanId === null) return null;
  if (d2 === s.length) return new IncomingContext(traceId, spanId, -1, false, Format.B3Single);
  let d3 = s.indexOf('-', d2 + 1);
  if (d3 < 0) d3 = s.length;
  if (d3 - d2 !== 2) return null;
  const c = s.charCodeAt(d2 + 1);
  let sampled: SamplingDecision;
  let debug = false;
  if (c === 0x31) sampled = 1;
  else if (c === 0x30) sampled = 0;
  else if (c === 0x64) { sampled = 1; debug = true; } else return null;
  if (d3 !== s.length && b3SpanId(s, d3 + 1, s.length - d3 - 1) === null) return null;
  return new IncomingContext(traceId, spanId, sampled, debug, Format.B3Single);
}

/** Parses the multi-header B3 form; null when absent or malformed. */
export function parseB3Multi(headers: HeaderMap): IncomingContext | null {
  const t = single(headers['x-b3-traceid']);
  const sp = single(headers['x-b3-spanid']);
  const sampledRaw = single(headers['x-b3-sampled']);
  const flags = single(headers['x-b3-flags']);
  const debug = flags !== null && flags.trim() === '1';
  let sampled: SamplingDecision = -1;
  if (debug) sampled = 1;
  else if (sampledRaw !== null) {
    const x = sampledRaw.trim();
    if (x === '1' || x === 'true') sampled = 1;
    else if (x === '0' || x === 'false') sampled = 0;
    else return null;
  }
  if (t === null && sp === null) return sampled === -1 ? null : new IncomingContext(null, null, sampled, debug, Format.B3Multi);
  if (t === null || sp === null) return null;
  const tt = t.trim();
  const ss = sp.trim();
  const traceId = b3TraceId(tt, 0, tt.length);
  const spanId = b3SpanId(ss, 0, ss.length);
  if (traceId === null || spanId === null) return null;
  return new IncomingContext(traceId, spanId, sampled, debug, Format.B3Multi);
}

/**
 * Which formats the request used (bits of `Format`, whether valid or not: a malformed header is
 * overwritten in its own format); 0 when none.
 */
export function presentFormats(headers: HeaderMap): number {
  let f = 0;
  if (headers['traceparent'] !== undefined) f |= Format.W3C;
  if (headers['b3'] !== undefined) f |= Format.B3Single;
  if (headers['x-b3-traceid'] !== undefined || headers['x-b3-spanid'] !== undefined || headers['x-b3-sampled'] !== undefined || headers['x-b3-flags'] !== undefined) {
    f |= Format.B3Multi;
  }
  return f;
}

/**
 * The request's trace context: W3C first, then B3 single, then B3 multi (the first valid one wins);
 * null when none is present or all present ones are malformed. `formats` is `presentFormats(headers)`.
 */
export function extractContext(headers: HeaderMap, formats: number): IncomingContext | null {
  if ((formats & Format.W3C) !== 0) {
    const tp = single(headers['traceparent']);
    const c = tp === null ? null : parseTraceparent(tp);
    if (c !== null) return c;
  }
  if ((formats & Format.B3Single) !== 0) {
    const b3 = single(headers['b3']);
    const c = b3 === null ? null : parseB3Single(b3);
    if (c !== null) return c;
  }
  if ((formats & Format.B3Multi) !== 0) return parseB3Multi(headers);
  return null;
}

/**
 * Writes this hop's context into `headers` in each format of `formats` (W3C when 0): `spanId` is
 * this hop's span, `parentSpanId` the incoming span (B3's parent id; null for a root). `tracestate`
 * is dropped when the incoming `traceparent` was not valid (`keepTraceState` false), as the spec
 * requires.
 */
export function writeContext(
  headers: HeaderMap, formats: number, traceId: string, spanId: string, parentSpanId: string | null,
  sampled: boolean, debug: boolean, keepTraceState: boolean,
): void {
  const f = formats === 0 ? Format.W3C : formats;
  if ((f & Format.W3C) !== 0) {
    headers['traceparent'] = sampled ? `00-${traceId}-${spanId}-01` : `00-${traceId}-${spanId}-00`;
    if (!keepTraceState) delete headers['tracestate'];
  }
  if ((f & Format.B3Single) !== 0) {
    const flag = debug ? 'd' : sampled ? '1' : '0';
    headers['b3'] = parentSpanId === null ? `${traceId}-${spanId}-${flag}` : `${traceId}-${spanId}-${flag}-${parentSpanId}`;
  }
  if ((f & Format.B3Multi) !== 0) {
    headers['x-b3-traceid'] = traceId;
    headers['x-b3-spanid'] = spanId;
    if (parentSpanId === null) delete headers['x-b3-parentspanid'];
    else headers['x-b3-parentspanid'] = parentSpanId;
    if (debug) {
      headers['x-b3-flags'] = '1';
      delete headers['x-b3-sampled'];
    } else {
      headers['x-b3-sampled'] = sampled ? '1' : '0';
      delete headers['x-b3-flags'];
    }
  }
}
