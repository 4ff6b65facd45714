/**
 * @module monthly-cap
 * The volunteer's monthly data cap: bytes relayed (both directions) per calendar month, in UTC. When the month's
 * bytes reach the cap the volunteer pauses until the next month starts (relay-worker.ts). The count outlives restarts
 * through a UsageStore the shell provides (a file for `ferry volunteer --state-file`); without one it counts from
 * the start of this run. Runtime-neutral.
 */

/** The smallest monthly cap (bytes): below it a few records would use up a month. */
export const MIN_MONTHLY_DATA_CAP_BYTES = 1024 * 1024;

/** Bytes relayed in one calendar month (UTC), as a UsageStore keeps them. */
export interface MonthlyUsage {
  /** 'YYYY-MM', UTC. */
  month: string;
  bytes: number;
}

/** Where the month's count is kept between runs. */
export interface UsageStore {
  load(): Promise<MonthlyUsage | undefined>;
  save(usage: MonthlyUsage): Promise<void>;
}

/** 'YYYY-MM' of a time (ms since the epoch), in UTC. */
export function monthOf(time: number): string {
  return new Date(time).toISOString().slice(0, 7);
}

/** The first millisecond of the month after the one `time` falls in, UTC. */
export function startOfNextMonth(time: number): number {
  const date = new Date(time);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}

export class MonthlyDataCap {
  #usage: MonthlyUsage;
  #dirty = false;
  /** When the count was last handed to the store (this.now()); -Infinity before. */
  #savedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly capBytes: number,
    private readonly store: UsageStore | undefined,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.#usage = { month: monthOf(now()), bytes: 0 };
  }

  /** Takes the month's count from the store, if it holds this month's. A store that fails is ignored (counted afresh). */
  async restore(): Promise<void> {
    const stored = await this.store?.load().catch(() => undefined);
    if (stored !== undefined && stored.month === monthOf(this.now()) && Number.isFinite(stored.bytes) && stored.bytes >= 0) {
      this.#usage = { month: stored.month, bytes: stored.bytes };
    }
  }

  /** Bytes relayed this month so far. */
  get usedBytes(): number {
    this.#rollOver();
    return this.#usage.bytes;
  }

  /** The month's cap is used up. */
  get reached(): boolean {
    return this.usedBytes >= this.capBytes;
  }

  /** When the count starts again from zero (ms since the epoch). */
  get resetsAt(): number {
    return startOfNextMonth(this.now());
  }

  /** Counts relayed bytes; true when this makes the cap reached. */
  add(bytes: number): boolean {
    this.#rollOver();
    const before = this.#usage.bytes;
    this.#usage.bytes += bytes;
    this.#dirty = true;
    return before < this.capBytes && this.#usage.bytes >= this.capBytes;
  }

  /** Saves the count if it changed since the last save, and (with `minIntervalMs`) that save is at least that old. */
  async flush(minIntervalMs = 0): Promise<void> {
    if (!this.#dirty || this.store === undefined || this.now() - this.#savedAt < minIntervalMs) return;
    this.#dirty = false;
    this.#savedAt = this.now();
    await this.store.save({ ...this.#usage }).catch(() => {
      this.#dirty = true; // tried again at the next flush
    });
  }

  #rollOver(): void {
    const month = monthOf(this.now());
    if (month === this.#usage.month) return;
    this.#usage = { month, bytes: 0 };
    this.#dirty = true;
  }
}
