/**
 * @module record-pool
 * Reusable memory for sealed records. A session keeps each record it sends until the peer acknowledges it (the
 * replay buffer), so at the exit's rates hundreds of MB a second of records live just long enough to outlast a young
 * garbage collection: each is then promoted, and only a full mark-compact of the heap frees it. Sealing into blocks
 * that come back here instead keeps that memory out of the collector's way (docs/benchmarks.md, exit CPU).
 *
 * A record's block returns only when nothing can read it any more: the peer has acknowledged it (or the session has
 * ended) and every path it was handed to has finished writing it (session-endpoint.ts counts both). A record whose
 * write never reports back is simply never returned, and the collector frees it as before: a missed return costs
 * memory reuse, never correctness. Runtime-neutral: plain ArrayBuffers.
 */

export class RecordPoolConfigError extends Error {
  override name = 'RecordPoolConfigError';
}

export interface RecordPoolOptions {
  /** Size of each block: the largest record sealed into the pool (larger ones get memory of their own). */
  blockBytes: number;
  /** Most unused blocks kept for reuse; more are left to the collector. Bounds the pool's idle memory. */
  maxIdleBlocks: number;
}

export class RecordPool {
  readonly blockBytes: number;
  readonly maxIdleBlocks: number;
  /** Unused blocks, ready to hand out. A Set, so a block given back twice is still handed out once. */
  private readonly idle = new Set<ArrayBuffer>();
  /** Every block this pool made and has not let go of: give() takes back only these. */
  private readonly own = new WeakSet<ArrayBuffer>();
  private blocksMade = 0;
  private blocksReused = 0;

  constructor(options: RecordPoolOptions) {
    if (!Number.isInteger(options.blockBytes) || options.blockBytes < 1)
      throw new RecordPoolConfigError(`blockBytes must be a positive whole number, not ${options.blockBytes}`);
    if (!Number.isInteger(options.maxIdleBlocks) || options.maxIdleBlocks < 0) {
      throw new RecordPoolConfigError(`maxIdleBlocks must be a whole number of at least 0, not ${options.maxIdleBlocks}`);
    }
    this.blockBytes = options.blockBytes;
    this.maxIdleBlocks = options.maxIdleBlocks;
  }

  /** `length` bytes for a record (contents undefined): the start of a pooled block when it fits, else new memory. */
  readonly take = (length: number): Uint8Array => {
    if (length > this.blockBytes) return new Uint8Array(length);
    const reused = this.idle.values().next();
    if (!reused.done) {
      this.idle.delete(reused.value);
      this.blocksReused++;
      return new Uint8Array(reused.value, 0, length);
    }
    const block = new ArrayBuffer(this.blockBytes);
    this.own.add(block);
    this.blocksMade++;
    return new Uint8Array(block, 0, length);
  };

  /** Takes a record's block back once nothing reads the record any more. Anything not from take() is ignored. */
  give(record: Uint8Array): void {
    const block = record.buffer as ArrayBuffer;
    if (!this.own.has(block) || this.idle.has(block)) return;
    if (this.idle.size >= this.maxIdleBlocks) {
      this.own.delete(block);
      return;
    }
    this.idle.add(block);
  }

  get stats(): { idleBlocks: number; blocksMade: number; blocksReused: number } {
    return { idleBlocks: this.idle.size, blocksMade: this.blocksMade, blocksReused: this.blocksReused };
  }
}
