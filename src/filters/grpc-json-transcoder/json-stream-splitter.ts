/**
 * Incremental splitter for the request body of a transcoded client-streaming (or bidi) call: the
 * body is either one JSON array of messages (`[m1, m2, …]`, Envoy's format) or a sequence of JSON
 * values (NDJSON, or values merely separated by whitespace, grpc-gateway's format); the first
 * non-whitespace byte decides (`[` → array). `push(chunk)` returns the text of every element that
 * chunk completed, so messages are forwarded as they arrive and only one element is ever buffered
 * (bounded by `maxElementBytes`). It scans bytes for JSON structure only (strings, escapes,
 * nesting); each element's own syntax is checked later by `JSON.parse`. Multi-byte UTF-8 never
 * collides with the ASCII structural characters, so chunk boundaries may fall anywhere.
 */
import { InvalidArgumentError, PayloadTooLargeError } from '../../core/errors';

const enum Mode { Unknown = 0, Array = 1, Sequence = 2 }
const enum ArrayState { ExpectFirst = 0, ExpectValue = 1, AfterValue = 2, Closed = 3 }
const enum Kind { None = 0, Container = 1, String = 2, Scalar = 3 }

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** First byte of a JSON scalar that is not a string: a number, true, false or null. */
function isScalarStart(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d /* - */ || c === 0x74 /* t */ || c === 0x66 /* f */ || c === 0x6e /* n */;
}

const NO_ELEMENTS: readonly string[] = Object.freeze([]);

export class JsonStreamSplitter {
  private mode = Mode.Unknown;
  private arrayState = ArrayState.ExpectFirst;
  /** The kind of the element being scanned (None between elements). */
  private kind = Kind.None;
  private depth = 0;
  private inString = false;
  private escape = false;
  /** Bytes of the current element from earlier chunks. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Elements completed so far (for error messages). */
  private count = 0;
  private ended = false;

  /** @param maxElementBytes the largest element (one message's JSON) accepted; more → PayloadTooLargeError. */
  constructor(private readonly maxElementBytes: number) {}

  /** Elements emitted so far. */
  get elements(): number { return this.count; }

  /**
   * Scans `chunk`; returns the elements it completed, in order (often none). Throws
   * InvalidArgumentError for a body that is not an array/sequence of JSON values, and
   * PayloadTooLargeError for an element over the limit.
   */
  push(chunk: Buffer): readonly string[] {
    if (this.ended) throw new InvalidArgumentError('request body continued after its end');
    let out: string[] | null = null;
    let start = this.kind === Kind.None ? -1 : 0;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const c = chunk[i]!;
      if (this.kind !== Kind.None) {
        if (this.inString) {
          if (this.escape) this.escape = false;
          else if (c === BACKSLASH) this.escape = true;
          else if (c === QUOTE) {
            this.inString = false;
            if (this.kind === Kind.String) {
              (out ??= []).push(this.take(chunk, start, i + 1));
              start = -1;
            }
          }
          continue;
        }
        if (this.kind === Kind.Scalar) {
          if (!isWhitespace(c) && c !== COMMA && c !== RBRACKET && c !== LBRACE && c !== LBRACKET && c !== QUOTE) continue;
          (out ??= []).push(this.take(chunk, start, i));
          start = -1;
          // fall through: `c` is structure after the element
        } else {
          if (c === QUOTE) this.inString = true;
          else if (c === LBRACE || c === LBRACKET) this.depth++;
          else if (c === RBRACE || c === RBRACKET) {
            if (--this.depth === 0) {
              (out ??= []).push(this.take(chunk, start, i + 1));
              start = -1;
            }
          }
          continue;
        }
      }
      // Between elements.
      if (isWhitespace(c)) continue;
      if (this.mode === Mode.Unknown) {
        if (c === LBRACKET) {
          this.mode = Mode.Array;
          continue;
        }
        this.mode = Mode.Sequence;
      }
      if (this.mode === Mode.Array) {
        switch (this.arrayState) {
          case ArrayState.Closed:
            throw new InvalidArgumentError('unexpected data after the closing ] of the request stream');
          case ArrayState.AfterValue:
            if (c === COMMA) this.arrayState = ArrayState.ExpectValue;
            else if (c === RBRACKET) this.arrayState = ArrayState.Closed;
            else throw new InvalidArgumentError(`expected , or ] after stream message ${this.count}`);
            continue;
          case ArrayState.ExpectFirst:
            if (c === RBRACKET) {
              this.arrayState = ArrayState.Closed;
              continue;
            }
            break;
          case ArrayState.ExpectValue:
            if (c === RBRACKET) throw new InvalidArgumentError('trailing comma in the request stream array');
            break;
        }
        this.arrayState = ArrayState.AfterValue;
      } else if (c === COMMA || c === RBRACKET || c === RBRACE) {
        throw new InvalidArgumentError(`unexpected '${String.fromCharCode(c)}' between request stream messages`);
      }
      start = i;
      if (c === LBRACE || c === LBRACKET) {
        this.kind = Kind.Container;
        this.depth = 1;
      } else if (c === QUOTE) {
        this.kind = Kind.String;
        this.inString = true;
      } else if (isScalarStart(c)) {
        this.kind = Kind.Scalar;
      } else {
        throw new InvalidArgumentError(`invalid JSON in request stream message ${this.count}: unexpected character '${String.fromCharCode(c)}'`);
      }
    }
    if (this.kind !== Kind.None) {
      const from = start < 0 ? 0 : start;
      if (from < n) this.keep(chunk.subarray(from));
    }
    return out ?? NO_ELEMENTS;
  }

  /** The body ended: returns a trailing scalar element if any; throws for a truncated body. */
  end(): readonly string[] {
    if (this.ended) return NO_ELEMENTS;
    this.ended = true;
    let out: readonly string[] = NO_ELEMENTS;
    if (this.kind === Kind.Scalar) {
      out = [this.take(Buffer.alloc(0), 0, 0)];
    } else if (this.kind !== Kind.None) {
      throw new InvalidArgumentError(`request stream message ${this.count} is truncated`);
    }
    if (this.mode === Mode.Array && this.arrayState !== ArrayState.Closed) {
      throw new InvalidArgumentError('the request stream array is not closed with ]');
    }
    return out;
  }

  /** Buffers a partial element, enforcing the limit. */
  private keep(bytes: Buffer): void {
    this.partBytes += bytes.length;
    if (this.partBytes > this.maxElementBytes) throw new PayloadTooLargeError('max_request_body_size (one stream message)');
    // Copy: the caller's chunk may be reused.
    this.parts.push(Buffer.from(bytes));
  }

  /** Completes the current element with `chunk[start, end)` (start < 0: none of this chunk). */
  private take(chunk: Buffer, start: number, end: number): string {
    const tail = start < 0 ? chunk.subarray(0, end) : chunk.subarray(start, end);
    const total = this.partBytes + tail.length;
    if (total > this.maxElementBytes) throw new PayloadTooLargeError('max_request_body_size (one stream message)');
    let text: string;
    if (this.parts.length === 0) text = tail.toString('utf8');
    else {
      this.parts.push(tail);
      text = Buffer.concat(this.parts, total).toString('utf8');
      this.parts = [];
    }
    this.partBytes = 0;
    this.kind = Kind.None;
    this.depth = 0;
    this.count++;
    return text;
  }
}
