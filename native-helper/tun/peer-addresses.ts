/**
 * @module tun/peer-addresses
 * The volunteers' addresses the client's own transport uses, as the extension reports them over the pipe: the
 * candidates of an answer it is about to connect to (path-connecting), then the address of each live path's selected
 * candidate pair (path-up), until the path goes down. In whole-device mode these are the addresses that must bypass
 * the device, or a path would route into itself. A connecting address is kept PEER_CONNECTING_BYPASS_MS at most.
 */

/** How long an answer's candidates bypass the device while the path connects (ms): the data channel's own limit. */
export const PEER_CONNECTING_BYPASS_MS = 30_000;

export class PeerAddresses {
  readonly #live = new Map<number, string>();
  readonly #connecting = new Map<string, number>();
  readonly #listeners = new Set<(addresses: string[]) => void>();
  #last = '';
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** The addresses to bypass now, sorted. */
  get current(): string[] {
    const now = this.now();
    const addresses = new Set(this.#live.values());
    for (const [address, until] of this.#connecting) if (until > now) addresses.add(address);
    return [...addresses].sort();
  }

  onChange(listener: (addresses: string[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  connecting(addresses: readonly string[]): void {
    const until = this.now() + PEER_CONNECTING_BYPASS_MS;
    for (const address of addresses) this.#connecting.set(address, until);
    this.#changed();
  }

  up(pathId: number, address: string | undefined): void {
    if (address !== undefined) this.#live.set(pathId, address);
    this.#changed();
  }

  down(pathId: number): void {
    this.#live.delete(pathId);
    this.#changed();
  }

  clear(): void {
    this.#live.clear();
    this.#connecting.clear();
    clearTimeout(this.#timer);
    this.#changed();
  }

  #changed(): void {
    const now = this.now();
    for (const [address, until] of this.#connecting) if (until <= now) this.#connecting.delete(address);
    // Wake when the next connecting address expires, to drop it.
    clearTimeout(this.#timer);
    const next = Math.min(...this.#connecting.values());
    if (Number.isFinite(next)) {
      this.#timer = setTimeout(() => this.#changed(), Math.max(0, next - now));
      this.#timer.unref?.();
    }
    const current = this.current;
    const text = current.join(',');
    if (text === this.#last) return;
    this.#last = text;
    for (const listener of this.#listeners) listener(current);
  }
}
