/**
 * Trace and span ids for the request path: random bytes from `crypto.randomFillSync` into a pooled
 * 4 KiB buffer, hex-encoded once per refill (every 256 span ids); an id is a slice of that hex
 * string (V8 keeps slices as views, so an id costs no copy and no encoding). No syscall per
 * request. Ids are never all-zero (invalid in W3C and B3).
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;

export class IdGenerator {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  private hex = '';
  /** Next unused hex character of `hex`. */
  private offset = POOL_BYTES * 2;

  /** A new 16-hex span id. */
  spanId(): string {
    for (;;) {
      const id = this.take(8);
      if (id !== '0000000000000000') return id;
    }
  }

  /** A new 32-hex trace id. */
  traceId(): string {
    for (;;) {
      const id = this.take(16);
      if (id !== '00000000000000000000000000000000') return id;
    }
  }

  /** `n` random bytes as 2n hex characters. */
  private take(n: number): string {
    const chars = n * 2;
    if (this.offset + chars > POOL_BYTES * 2) {
      randomFillSync(this.pool);
      this.hex = this.pool.toString('hex');
      this.offset = 0;
    }
    const s = this.hex.slice(this.offset, this.offset + chars);
    this.offset += chars;
    return s;
  }
}
