/**
 * @module address-budget
 * Per-address limits for servers that face the open internet (the broker and the exit): how many things one address
 * may hold at once (AddressHoldings: paths, requests still sending their body, volunteer sockets) and how many it may
 * start per minute (AddressRateLimit: a token bucket that refills continuously). Addresses are held in memory only,
 * to count; a server never logs them. Runtime-neutral.
 */

/** At most `maxPerAddress` things held per address; an address that holds nothing takes no memory. */
export class AddressHoldings {
  readonly #held = new Map<string, number>();

  constructor(private readonly maxPerAddress: number) {}

  /** Counts one more thing held by `address`; false (and nothing counted) when it already holds its limit. */
  enter(address: string): boolean {
    const held = this.#held.get(address) ?? 0;
    if (held >= this.maxPerAddress) return false;
    this.#held.set(address, held + 1);
    return true;
  }

  /** One thing `address` held is gone (call once per successful enter). */
  leave(address: string): void {
    const held = (this.#held.get(address) ?? 0) - 1;
    if (held > 0) this.#held.set(address, held);
    else this.#held.delete(address);
  }
}

export interface AddressRateLimitOptions {
  /** Most starts one address may make per minute. */
  maxPerMinute: number;
  /** Most addresses remembered; beyond it the least recently seen are forgotten (a fresh, full bucket: harmless). */
  maxTrackedAddresses: number;
}

interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

const MINUTE_MS = 60_000;

/** A token bucket per address: maxPerMinute starts, refilling continuously. */
export class AddressRateLimit {
  /** Insertion order = least recently used first (an entry is re-inserted when used). */
  readonly #buckets = new Map<string, Bucket>();

  constructor(
    private readonly options: AddressRateLimitOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one start from `address`'s budget; false when it is spent (it refills over the minute). */
  take(address: string): boolean {
    const now = this.now();
    const capacity = this.options.maxPerMinute;
    const bucket = this.#buckets.get(address) ?? { tokens: capacity, updatedAtMs: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.updatedAtMs) * capacity) / MINUTE_MS);
    bucket.updatedAtMs = now;
    this.#buckets.delete(address);
    this.#buckets.set(address, bucket);
    while (this.#buckets.size > this.options.maxTrackedAddresses) {
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
    return Math.ceil(((1 - bucket.tokens) * MINUTE_MS) / this.options.maxPerMinute / 1000);
  }
}
