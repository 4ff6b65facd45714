/**
 * @module capacity-signal
 * Tells the waiting clients (waiting-clients.ts) that volunteer capacity may have grown: a slot given back, a
 * volunteer arriving, a `slots` message. Without it a waiting client would have to poll the store.
 *
 * Per broker instance, like the volunteer sockets: the hub and the matchmaker of this instance report the changes
 * they make; with a store shared by several instances, the mesh (broker-mesh.ts) also reports changes made elsewhere.
 */

/** Where a change happened: on this instance, or on another one (heard through the mesh). */
export type CapacityChangeOrigin = 'here' | 'elsewhere';

export class CapacitySignal {
  readonly #listeners = new Set<(origin: CapacityChangeOrigin) => void>();
  #closed = false;

  /** Volunteer capacity may have grown, by a change this instance made. */
  changed(): void {
    this.#notify('here');
  }

  /** Another instance reported a change (the mesh calls this; it must not publish it again). */
  changedElsewhere(): void {
    this.#notify('elsewhere');
  }

  /** Calls `listener` on every change until close(). */
  onChange(listener: (origin: CapacityChangeOrigin) => void): void {
    this.#listeners.add(listener);
  }

  #notify(origin: CapacityChangeOrigin): void {
    if (this.#closed) return;
    for (const listener of [...this.#listeners]) listener(origin);
  }

  /** Broker shutdown: no more changes are reported. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
  }
}
