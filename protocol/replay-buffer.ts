/**
 * @module replay-buffer
 * Sealed records this side has sent and the peer has not yet acknowledged, kept (already encrypted) so they can be
 * sent again through a new path after the old one broke. Bounded in bytes: a peer that never acknowledges cannot
 * make it grow without limit.
 */

import { SessionCloseCode } from './constants.ts';
import { ProtocolError } from './errors.ts';
import type { SessionPath } from './session-path.ts';

export class ReplayBufferFullError extends ProtocolError {
  override name = 'ReplayBufferFullError';
  constructor(limitBytes: number) {
    super(
      'FERRY_ERR_REPLAY_BUFFER_FULL',
      `more than ${limitBytes} bytes sent and not acknowledged: the peer stopped acknowledging`,
      SessionCloseCode.FLOW_CONTROL_ERROR,
    );
  }
}

/** One record kept for sending again. */
export interface ReplayEntry {
  readonly seq: number;
  readonly record: Uint8Array;
  /** Paths this record was handed to that have not yet reported it written (session-endpoint.ts counts them). */
  writesPending: number;
  /** Dropped from the buffer: the peer has it, or the session ended. Nobody will send it again. */
  retired: boolean;
  /** The path it was last sent on; undefined while it waits for one (none was live, or its path died). */
  path: SessionPath | undefined;
  /** When it was last sent, counted in sends by this session: orders the sends on one path. */
  sendIndex: number;
  /** How many times it was sent. */
  sends: number;
}

export class ReplayBuffer {
  private readonly records: ReplayEntry[] = [];
  private head = 0;
  private bufferedBytes = 0;

  /** `onRetired` hears of every record as it leaves (acknowledged or cleared), to reuse its memory when it may. */
  constructor(
    private readonly maxBytes: number,
    private readonly onRetired?: (entry: ReplayEntry) => void,
  ) {}

  /** Bytes held. */
  get bytes(): number {
    return this.bufferedBytes;
  }

  get count(): number {
    return this.records.length - this.head;
  }

  /** Sequence number of the oldest record held, or undefined when empty. */
  get oldestSeq(): number | undefined {
    return this.records[this.head]?.seq;
  }

  push(seq: number, record: Uint8Array): ReplayEntry {
    if (this.bufferedBytes + record.length > this.maxBytes) throw new ReplayBufferFullError(this.maxBytes);
    const entry: ReplayEntry = { seq, record, writesPending: 0, retired: false, path: undefined, sendIndex: 0, sends: 0 };
    this.records.push(entry);
    this.bufferedBytes += record.length;
    return entry;
  }

  /** The record numbered `seq`, while it is held. */
  get(seq: number): ReplayEntry | undefined {
    const oldest = this.oldestSeq;
    if (oldest === undefined || seq < oldest) return undefined;
    // Numbers are consecutive: every sealed record is pushed, in order.
    return this.records[this.head + (seq - oldest)];
  }

  /**
   * Drops every record with a sequence number below `nextExpectedSeq` (the peer has them); `onAcknowledged` hears of
   * each before it is retired.
   */
  acknowledge(nextExpectedSeq: number, onAcknowledged?: (entry: ReplayEntry) => void): void {
    while (this.head < this.records.length) {
      const entry = this.records[this.head] as ReplayEntry;
      if (entry.seq >= nextExpectedSeq) break;
      this.bufferedBytes -= entry.record.length;
      this.head++;
      onAcknowledged?.(entry);
      this.retire(entry);
    }
    // Compact now and then so the array does not keep dead slots forever.
    if (this.head > 1024 && this.head * 2 > this.records.length) {
      this.records.splice(0, this.head);
      this.head = 0;
    }
  }

  /** The records from `fromSeq` on, in order, for sending again. */
  *from(fromSeq: number): Generator<ReplayEntry> {
    for (let index = this.head; index < this.records.length; index++) {
      const entry = this.records[index] as ReplayEntry;
      if (entry.seq >= fromSeq) yield entry;
    }
  }

  clear(): void {
    const held = this.records.slice(this.head);
    this.records.length = 0;
    this.head = 0;
    this.bufferedBytes = 0;
    for (const entry of held) this.retire(entry);
  }

  private retire(entry: ReplayEntry): void {
    entry.retired = true;
    this.onRetired?.(entry);
  }
}
