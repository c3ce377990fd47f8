/**
 * The request body of one HTTP/1.1 upstream attempt of a retriable call. undici consumes (and on
 * abort destroys) the body stream it is given, so a call that may be retried never hands it the
 * downstream body: each attempt gets a fresh `ReplayBody` that first yields the chunks the router
 * has buffered for replay, then the live chunks the router forwards as they arrive, and ends when
 * the downstream body ends. Backpressure: when undici stops reading, the router pauses the
 * downstream body; `_read()` asks the owner to resume it.
 */
import { Readable } from 'node:stream';

/** The router call feeding this body. */
export interface ReplayBodyOwner {
  /** The attempt's reader wants more data: resume the downstream body if it was paused for this feed. */
  resumeFeed(feed: ReplayBody): void;
}

export class ReplayBody extends Readable {
  constructor(private readonly owner: ReplayBodyOwner, buffered: readonly Buffer[], ended: boolean) {
    super();
    for (let i = 0; i < buffered.length; i++) this.push(buffered[i]);
    if (ended) this.push(null);
  }

  /** Forwards one live chunk; false when the reader is saturated (the caller pauses its source). */
  feed(chunk: Buffer): boolean {
    return this.push(chunk);
  }

  /** The downstream body ended. */
  finishFeed(): void {
    this.push(null);
  }

  override _read(): void {
    this.owner.resumeFeed(this);
  }
}
