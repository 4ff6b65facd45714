/**
 * @module address-cooldown
 * Addresses that may not open a new volunteer socket for a while, because a volunteer from there was just benched.
 * Without it a benched volunteer reconnects at once with a clean record and collects another round of offers.
 * Addresses are held in memory only, to compare; never logged.
 */

export interface AddressCooldownOptions {
  /** How long an address stays cooling down after start() (ms); 0 means never. */
  cooldownMs: number;
  /** Most addresses remembered; beyond it the one whose cooldown ends first is forgotten early. */
  maxTrackedAddresses: number;
}

export class AddressCooldown {
  /** Address -> end of its cooldown (ms). Insertion order = end order, since every cooldown is equally long. */
  readonly #until = new Map<string, number>();

  constructor(
    private readonly options: AddressCooldownOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** `address` cools down for cooldownMs from now (again from now if it already was). */
  start(address: string): void {
    if (this.options.cooldownMs === 0) return;
    this.#until.delete(address);
    this.#until.set(address, this.now() + this.options.cooldownMs);
    while (this.#until.size > this.options.maxTrackedAddresses) {
      const first = this.#until.keys().next().value;
      if (first === undefined) break;
      this.#until.delete(first);
    }
  }

  /** Whole seconds until `address` may connect again; 0 when it may now. */
  secondsLeft(address: string): number {
    const until = this.#until.get(address);
    if (until === undefined) return 0;
    const leftMs = until - this.now();
    if (leftMs <= 0) {
      this.#until.delete(address);
      return 0;
    }
    return Math.ceil(leftMs / 1_000);
  }
}
