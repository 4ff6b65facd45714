/**
 * @module seen-window
 * Which sequence numbers one path has already delivered, over a sliding window behind the highest. An honest sender
 * never sends a record twice on the same path (it sends it again only on another path, after the first one died),
 * so a path that delivers the same number twice is replaying records, or forging them: that path is dropped.
 */

/** How far behind the highest number a path delivered its earlier numbers are remembered (records; 512 bytes a path). */
export const SEEN_WINDOW_RECORDS = 4_096;

const WORD_BITS = 32;

export type Sighting = 'first' | 'again' | 'too-old';

export class SeenWindow {
  private readonly words = new Uint32Array(SEEN_WINDOW_RECORDS / WORD_BITS);
  /** One past the highest number seen; 0 before any. */
  private upTo = 0;

  /**
   * Notes `seq` as delivered by this path. `again` when it was already; `too-old` when it is further behind the
   * highest than the window remembers (not noted; an honest sender's late resend can be that old).
   */
  witness(seq: number): Sighting {
    if (seq >= this.upTo) {
      this.clearRange(this.upTo, Math.min(seq, this.upTo + SEEN_WINDOW_RECORDS));
      this.upTo = seq + 1;
      this.set(seq);
      return 'first';
    }
    if (this.upTo - seq > SEEN_WINDOW_RECORDS) return 'too-old';
    if (this.isSet(seq)) return 'again';
    this.set(seq);
    return 'first';
  }

  private slot(seq: number): [number, number] {
    const bit = seq % SEEN_WINDOW_RECORDS;
    return [bit >>> 5, 1 << (bit & 31)];
  }

  private set(seq: number): void {
    const [word, mask] = this.slot(seq);
    this.words[word] = (this.words[word] as number) | mask;
  }

  private isSet(seq: number): boolean {
    const [word, mask] = this.slot(seq);
    return ((this.words[word] as number) & mask) !== 0;
  }

  /** Forgets [from, to): the slots the window reuses for the numbers now ahead of it. */
  private clearRange(from: number, to: number): void {
    for (let seq = from; seq < to; seq++) {
      const [word, mask] = this.slot(seq);
      this.words[word] = (this.words[word] as number) & ~mask;
    }
  }
}
