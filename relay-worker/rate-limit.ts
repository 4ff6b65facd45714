/**
 * @module rate-limit
 * The volunteer's bandwidth cap: one token bucket shared by every client it relays, both directions together.
 *
 * Records pass whole and in order (the volunteer never splits or reorders what it carries), so the bucket may go into
 * debt by one record: a record is sent whenever the bucket is not in debt, and its size is taken even if that leaves
 * the bucket below zero. Over any stretch longer than a few records the volunteer relays at most the cap (plus one
 * burst); a record never waits for tokens it could never collect. What waits meanwhile stays in the pair's queue,
 * bounded by maxBufferedBytes like everything else the volunteer holds; the tunnel's credit flow control keeps the
 * endpoints from sending much more than the cap lets through.
 *
 * Runtime-neutral: the clock and timers are injectable for tests.
 */

/** Fewest bytes per second a cap may be: below it a full tunnel record (256 KiB) would take over 8 s to pass. */
export const MIN_RATE_LIMIT_BYTES_PER_SECOND = 32 * 1024;
/** How much the bucket holds when full, as time at the cap (ms): bursts after a quiet moment stay this short. */
export const RATE_LIMIT_BURST_MS = 100;

export interface RateLimitClock {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

const SYSTEM_CLOCK: RateLimitClock = {
  now: () => performance.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class RelayRateLimit {
  readonly bytesPerSecond: number;
  readonly burstBytes: number;
  #tokens: number;
  #refilledAt: number;
  /** Senders waiting for the bucket to leave debt, first come first served; each is called once, in turn. */
  #waiting: Array<() => void> = [];
  #timer: unknown;

  constructor(
    bytesPerSecond: number,
    private readonly clock: RateLimitClock = SYSTEM_CLOCK,
  ) {
    this.bytesPerSecond = bytesPerSecond;
    this.burstBytes = Math.max(16 * 1024, Math.round((bytesPerSecond * RATE_LIMIT_BURST_MS) / 1000));
    this.#tokens = this.burstBytes;
    this.#refilledAt = clock.now();
  }

  /** Takes `bytes` and returns true when the bucket is not in debt (it may go into debt by this record); else false. */
  tryTake(bytes: number): boolean {
    this.#refill();
    if (this.#tokens <= 0) return false;
    this.#tokens -= bytes;
    return true;
  }

  /** Calls `wake` once the bucket is out of debt (after every earlier waiter). */
  whenAvailable(wake: () => void): void {
    this.#waiting.push(wake);
    this.#schedule();
  }

  /** Forgets a waiter (its pair closed). */
  cancel(wake: () => void): void {
    this.#waiting = this.#waiting.filter((waiting) => waiting !== wake);
    if (this.#waiting.length === 0 && this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #refill(): void {
    const now = this.clock.now();
    this.#tokens = Math.min(this.burstBytes, this.#tokens + ((now - this.#refilledAt) * this.bytesPerSecond) / 1000);
    this.#refilledAt = now;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#waiting.length === 0) return;
    this.#refill();
    // Out of debt once one more byte's worth has come in; never sooner than 1 ms (no busy loop).
    const delayMs = Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.bytesPerSecond));
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      // One at a time, first come first served: each sends until the bucket is in debt again and, if it has more,
      // waits again at the back. So pairs and directions take turns instead of the first one taking everything.
      this.#refill();
      while (this.#waiting.length > 0 && this.#tokens > 0) {
        (this.#waiting.shift() as () => void)();
        this.#refill();
      }
      this.#schedule();
    }, delayMs);
  }
}
