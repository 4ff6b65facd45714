/**
 * @module exit-server/admission
 * Per-address admission at the exit. The exit sees volunteers, not clients (it never learns a client's address), so
 * an address here is a volunteer's. One address may hold at most maxPathsPerAddress WebSocket paths open, and start at
 * most maxHandshakesPerAddressPerMinute sessions (a token bucket), so an attacker on a few addresses cannot fill
 * maxSessions while honest volunteers elsewhere still bring their clients in. The table of addresses is bounded too.
 */

export interface AdmissionLimits {
  /** Most WebSocket paths one volunteer address holds open at once. */
  maxPathsPerAddress: number;
  /** Most new sessions (HELLO) one volunteer address may start per minute; the bucket refills continuously. */
  maxHandshakesPerAddressPerMinute: number;
  /** Most addresses whose handshake budget is remembered; beyond it the least recently seen are forgotten. */
  maxTrackedAddresses: number;
}

interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

const MINUTE_MS = 60_000;

export class AddressAdmission {
  readonly #limits: AdmissionLimits;
  readonly #now: () => number;
  readonly #openPaths = new Map<string, number>();
  /** Insertion order = least recently used first (an entry is re-inserted when used). */
  readonly #buckets = new Map<string, Bucket>();

  constructor(limits: AdmissionLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Counts a new path from `address`; false (and nothing counted) when the address already holds its limit. */
  openPath(address: string): boolean {
    const open = this.#openPaths.get(address) ?? 0;
    if (open >= this.#limits.maxPathsPerAddress) return false;
    this.#openPaths.set(address, open + 1);
    return true;
  }

  closePath(address: string): void {
    const open = (this.#openPaths.get(address) ?? 0) - 1;
    if (open > 0) this.#openPaths.set(address, open);
    else this.#openPaths.delete(address);
  }

  /** Takes one handshake from `address`'s budget; false when it is spent (try again as it refills). */
  takeHandshake(address: string): boolean {
    const now = this.#now();
    const capacity = this.#limits.maxHandshakesPerAddressPerMinute;
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

  /** Addresses with paths open now (for metrics). */
  get addressesWithPaths(): number {
    return this.#openPaths.size;
  }
}
