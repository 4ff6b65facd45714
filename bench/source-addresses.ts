/**
 * @module bench/source-addresses
 * Many source addresses on one machine: Linux routes all of 127.0.0.0/8 to the loopback interface, so a socket may
 * bind any 127.x.y.z as its local address. The network benchmark spreads its volunteers and clients over them, so the
 * broker's and the exit's per-address limits (volunteer sockets, offers per minute, paths, handshakes) apply as they
 * would to many real peers, instead of being raised for the benchmark.
 */

/** Addresses in one block: 127.B.C.D with D from 1 to 254 and C from 0 to 255. */
const ADDRESSES_PER_BLOCK = 256 * 254;

/**
 * Hands out distinct loopback addresses from 127.`firstOctet`.0.1 on (never 127.0.0.x, where the servers listen).
 * Each part of a run takes its own block, so limits counted per address by one server never carry over to another part.
 */
export class SourceAddresses {
  #next = 0;
  readonly #secondOctet: number;

  constructor(secondOctet: number) {
    if (!Number.isInteger(secondOctet) || secondOctet < 1 || secondOctet > 255) throw new RangeError('the second octet must be 1..255');
    this.#secondOctet = secondOctet;
  }

  /** A fresh address, never handed out before by this allocator. */
  take(): string {
    const index = this.#next++;
    if (index >= ADDRESSES_PER_BLOCK) throw new RangeError(`127.${this.#secondOctet}.0.0/16 has no more addresses`);
    return `127.${this.#secondOctet}.${Math.floor(index / 254)}.${(index % 254) + 1}`;
  }

  /** Addresses for `peers` peers, `perAddress` of them on each: returns the address of peer i (0-based). */
  takeShared(peers: number, perAddress: number): (peer: number) => string {
    const addresses = Array.from({ length: Math.ceil(peers / perAddress) }, () => this.take());
    return (peer) => addresses[Math.floor(peer / perAddress)] ?? addresses[addresses.length - 1] ?? '127.0.0.1';
  }
}
