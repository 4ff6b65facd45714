/**
 * @module address-budget
 * Per-address budgets for servers that face the open internet (the broker and the exit): how many things one address
 * may hold at once (paths, requests still sending their body, volunteer sockets) and how many it may start per minute
 * (a token bucket that refills continuously). The table of addresses is bounded: beyond maxTrackedAddresses the least
 * recently seen are forgotten, which costs nothing but a fresh, full bucket. Addresses are held in memory only, to
 * count; a server never logs them. Runtime-neutral.
 */

export interface AddressBudgetLimits {
  /** Most things one address may hold at once (enter/leave). */
  maxConcurrentPerAddress: number;
  /** Most things one address may start per minute (take). */
  maxPerAddressPerMinute: number;
  /** Most addresses whose rate budget is remembered. */
  maxTrackedAddresses: number;
}

interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

const MINUTE_MS = 60_000;

export class AddressBudget {
  readonly #limits: AddressBudgetLimits;
  readonly #now: () => number;
  readonly #held = new Map<string, number>();
  /** Insertion order = least recently used first (an entry is re-inserted when used). */
  readonly #buckets = new Map<string, Bucket>();

  constructor(limits: AddressBudgetLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Counts one more thing held by `address`; false (and nothing counted) when it already holds its limit. */
  enter(address: string): boolean {
    const held = this.#held.get(address) ?? 0;
    if (held >= this.#limits.maxConcurrentPerAddress) return false;
    this.#held.set(address, held + 1);
    return true;
  }

  /** One thing `address` held is gone (call once per successful enter). */
  leave(address: string): void {
    const held = (this.#held.get(address) ?? 0) - 1;
    if (held > 0) this.#held.set(address, held);
    else this.#held.delete(address);
  }

  /** Takes one start from `address`'s budget; false when it is spent (it refills over the minute). */
  take(address: string): boolean {
    const now = this.#now();
    const capacity = this.#limits.maxPerAddressPerMinute;
    const bucket = this.#buckets.get(address) ?? { tokens: capacity, updatedAtMs: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.updatedAtMs) * capacity) / MINUTE_MS);
    bucket.updatedAtMs = now;
    this.#buckets.delete(address);
    this.#buckets.set(address, bucket);
    while (this.#buckets.size > this.#limits.maxTrackedAddresses) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest === undefined) break;
      this.#buckets.delete(oldest);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Seconds until `address` may start one more (0 when it may now). */
  secondsUntilNext(address: string): number {
    const bucket = this.#buckets.get(address);
    if (bucket === undefined || bucket.tokens >= 1) return 0;
    return Math.ceil(((1 - bucket.tokens) * MINUTE_MS) / this.#limits.maxPerAddressPerMinute / 1000);
  }
}
