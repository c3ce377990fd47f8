/**
 * Incremental base64 decoding for `application/grpc-web-text` request bodies. The body arrives in
 * arbitrary chunks; the decoder works in 4-character groups, keeping at most 3 characters of an
 * unfinished group between chunks. Any group may be padded (`xx==`, `xxx=`): gRPC-Web clients
 * encode each message frame separately, so padding may appear in the middle of a body
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md "text-encoded (response)").
 * Only the standard alphabet is accepted; anything else (including whitespace) makes `push` return
 * null, and the decoder stays failed. No exceptions on the data path.
 */

/** 0..63 for alphabet characters, 64 for '=', -1 for anything else. */
const VALUE = new Int8Array(256).fill(-1);
{
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) VALUE[alphabet.charCodeAt(i)] = i;
  VALUE[0x3d] = 64;
}
const PAD = 64;
const EMPTY = Buffer.alloc(0);

export class Base64StreamDecoder {
  /** Up to 3 characters of an unfinished group. */
  private readonly carry = Buffer.alloc(4);
  private carried = 0;
  private failed = false;

  /** True when characters of an unfinished group are buffered (at the end of the body: invalid). */
  get pending(): boolean { return this.carried > 0; }

  /** True once invalid input was seen. */
  get invalid(): boolean { return this.failed; }

  /**
   * Decodes the complete groups available with `chunk`; returns their bytes (possibly empty), or
   * null when the input is not valid base64 (then and for every later call).
   */
  push(chunk: Uint8Array): Buffer | null {
    if (this.failed) return null;
    const total = this.carried + chunk.length;
    const groups = total >> 2;
    if (groups === 0) {
      this.carry.set(chunk, this.carried);
      this.carried = total;
      return EMPTY;
    }
    const out = Buffer.allocUnsafe(groups * 3);
    let o = 0;
    let ci = 0; // index into chunk
    const carry = this.carry;
    let carried = this.carried;
    for (let g = 0; g < groups; g++) {
      // Assemble one group from the carry, then from the chunk.
      let a: number, b: number, c: number, d: number;
      if (carried > 0) {
        const need = 4 - carried;
        for (let k = 0; k < need; k++) carry[carried + k] = chunk[ci++]!;
        a = VALUE[carry[0]!]!; b = VALUE[carry[1]!]!; c = VALUE[carry[2]!]!; d = VALUE[carry[3]!]!;
        carried = 0;
      } else {
        a = VALUE[chunk[ci]!]!; b = VALUE[chunk[ci + 1]!]!; c = VALUE[chunk[ci + 2]!]!; d = VALUE[chunk[ci + 3]!]!;
        ci += 4;
      }
      if (a < 0 || b < 0 || c < 0 || d < 0 || a === PAD || b === PAD) return this.fail();
      if (c === PAD) {
        if (d !== PAD || (b & 0x0f) !== 0) return this.fail();
        out[o++] = (a << 2) | (b >> 4);
      } else if (d === PAD) {
        if ((c & 0x03) !== 0) return this.fail();
        out[o++] = (a << 2) | (b >> 4);
        out[o++] = ((b & 0x0f) << 4) | (c >> 2);
      } else {
        out[o++] = (a << 2) | (b >> 4);
        out[o++] = ((b & 0x0f) << 4) | (c >> 2);
        out[o++] = ((c & 0x03) << 6) | d;
      }
    }
    const rest = chunk.length - ci;
    for (let k = 0; k < rest; k++) carry[k] = chunk[ci + k]!;
    this.carried = rest;
    return o === out.length ? out : out.subarray(0, o);
  }

  private fail(): null {
    this.failed = true;
    this.carried = 0;
    return null;
  }
}
