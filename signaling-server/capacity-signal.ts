/**
 * @module capacity-signal
 * Tells the waiting clients (waiting-clients.ts) that volunteer capacity may have grown: a slot given back, a
 * volunteer arriving, a `slots` message. Without it a waiting client would have to poll the store.
 *
 * Per broker instance, like the volunteer sockets: the hub and the matchmaker of this instance report the changes
 * they make; with a store shared by several instances, the mesh (broker-mesh.ts) also reports changes made elsewhere.
 */

export class CapacitySignal {
  readonly #listeners = new Set<() => void>();
  #closed = false;

  /** Volunteer capacity may have grown. */
  changed(): void {
    if (this.#closed) return;
    for (const listener of [...this.#listeners]) listener();
  }

  /** Calls `listener` on every change until close(). */
  onChange(listener: () => void): void {
    this.#listeners.add(listener);
  }

  /** Broker shutdown: no more changes are reported. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
  }
}
