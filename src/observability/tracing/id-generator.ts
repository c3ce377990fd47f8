/**
 * Trace and span ids for the request path: random bytes from `crypto.randomFillSync` drawn from a
 * pooled 4 KiB buffer (refilled once every 256 span ids), hex-encoded. One string allocation per
 * id and no syscall per request. Ids are never all-zero (invalid in W3C and B3).
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;

export class IdGenerator {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  private offset = POOL_BYTES;

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

  private take(n: number): string {
    if (this.offset + n > POOL_BYTES) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const s = this.pool.toString('hex', this.offset, this.offset + n);
    this.offset += n;
    return s;
  }
}
