/**
 * @module reorder-buffer
 * The receiving side of a session whose records come over several paths: records are authenticated as they arrive,
 * in any order, and handed on strictly in sequence. Records that came early wait here, bounded in bytes: an honest
 * peer never has more in flight than this side's receive window lets it, so a peer that overfills it is misbehaving.
 */

import { SessionCloseCode } from './constants.ts';
import { ProtocolError } from './errors.ts';

export class ReorderBufferFullError extends ProtocolError {
  override name = 'ReorderBufferFullError';
  constructor(limitBytes: number) {
    super(
      'FERRY_ERR_REORDER_BUFFER_FULL',
      `more than ${limitBytes} bytes arrived ahead of a missing record: the peer sent beyond the window it was given`,
      SessionCloseCode.FLOW_CONTROL_ERROR,
    );
  }
}

export class ReorderBuffer {
  private readonly early = new Map<number, Uint8Array>();
  private heldBytes = 0;
  /** The sequence number to hand on next: every one below it has been. */
  nextSeq = 0;
  /** One past the highest sequence number received, in order or not. */
  receivedUpTo = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes of records waiting for an earlier one. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Whether `seq` was already received (handed on, or waiting here). */
  has(seq: number): boolean {
    return seq < this.nextSeq || this.early.has(seq);
  }

  /**
   * Takes the authenticated plaintext of record `seq` (not yet received: check has() first) and hands on, through
   * `deliver`, every record now in sequence. Throws ReorderBufferFullError when keeping it would pass the bound.
   */
  accept(seq: number, plaintext: Uint8Array, deliver: (plaintext: Uint8Array) => void): void {
    if (seq + 1 > this.receivedUpTo) this.receivedUpTo = seq + 1;
    if (seq !== this.nextSeq) {
      if (this.heldBytes + plaintext.length > this.maxBytes) throw new ReorderBufferFullError(this.maxBytes);
      this.early.set(seq, plaintext);
      this.heldBytes += plaintext.length;
      return;
    }
    this.nextSeq++;
    deliver(plaintext);
    for (let next = this.early.get(this.nextSeq); next !== undefined; next = this.early.get(this.nextSeq)) {
      this.early.delete(this.nextSeq);
      this.heldBytes -= next.length;
      this.nextSeq++;
      deliver(next);
    }
  }

  clear(): void {
    this.early.clear();
    this.heldBytes = 0;
  }
}
