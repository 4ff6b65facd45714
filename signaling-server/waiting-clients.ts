/**
 * @module waiting-clients
 * Clients waiting for a volunteer to free up, first come first served. Under a burst every volunteer may be busy
 * answering another client's offer for a few milliseconds; a client that arrives then waits its turn (bounded by its
 * own deadline and by maxPendingClients) instead of being refused while capacity exists.
 *
 * Each capacity change runs one pass over the queue in arrival order: every waiter tries to reserve a slot, and the
 * first to succeed gets it, so a later arrival never takes a slot an earlier one could use. Passes never overlap: a
 * change during a pass runs one more pass after it. Within a pass, once a waiter with no exclusions finds nothing for
 * its NAT class, the others like it skip the store (they would find the same).
 *
 * A waiter leaves the queue with a reservation; with 'none' when no connected volunteer suits it any more (unless it
 * asked to wait through that, see wait()); at its deadline; when its client hangs up; or when the broker closes.
 */
import type { NatClass } from '../protocol/signaling.ts';
import type { SlotRequest, SlotReservation, VolunteerStore } from './store.ts';

export type TurnResult = Extract<SlotReservation, { kind: 'reserved' }> | { kind: 'none' } | { kind: 'deadline' } | { kind: 'aborted' } | { kind: 'closed' };

export interface WaitingClientsOptions {
  store: Pick<VolunteerStore, 'reserveSlot' | 'releaseSlot'>;
  /** Reports a store failure during a pass (the waiter stays queued and is tried again on the next change). */
  onStoreError: (error: unknown) => void;
}

interface Waiter {
  request: SlotRequest;
  waitThroughNone: boolean;
  finish(result: TurnResult): void;
}

export class WaitingClients {
  readonly #options: WaitingClientsOptions;
  /** In arrival order (a Set keeps insertion order). */
  readonly #waiters = new Set<Waiter>();
  #passRunning = false;
  #passAgain = false;
  #closed = false;

  constructor(options: WaitingClientsOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Queues a client until it can reserve a slot. With `waitThroughNone` it keeps waiting even when no volunteer
   * suits it right now (a volunteer let its offer time out: more may connect or free up before its deadline).
   */
  wait(request: SlotRequest, waitThroughNone: boolean, deadline: number, signal: AbortSignal): Promise<TurnResult> {
    if (this.#closed) return Promise.resolve({ kind: 'closed' });
    if (signal.aborted) return Promise.resolve({ kind: 'aborted' });
    return new Promise<TurnResult>((resolve) => {
      const waiter: Waiter = {
        request,
        waitThroughNone,
        finish: (result) => {
          if (!this.#waiters.delete(waiter)) return;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(result);
        },
      };
      const onAbort = (): void => waiter.finish({ kind: 'aborted' });
      const timer = setTimeout(() => waiter.finish({ kind: 'deadline' }), Math.max(0, deadline - Date.now()));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
      // The newcomer may fit capacity nobody ahead of it can use (another NAT class).
      this.capacityChanged();
    });
  }

  /** Capacity may have grown: runs a pass over the queue (or one more after the running one). */
  capacityChanged(): void {
    if (this.#closed || this.#waiters.size === 0) return;
    if (this.#passRunning) {
      this.#passAgain = true;
      return;
    }
    this.#passRunning = true;
    void this.#runPasses();
  }

  /** Broker shutdown: every waiter leaves with 'closed'. */
  close(): void {
    this.#closed = true;
    for (const waiter of [...this.#waiters]) waiter.finish({ kind: 'closed' });
  }

  async #runPasses(): Promise<void> {
    try {
      do {
        this.#passAgain = false;
        await this.#pass();
      } while (this.#passAgain && !this.#closed);
    } finally {
      this.#passRunning = false;
    }
  }

  async #pass(): Promise<void> {
    /** What a waiter with no exclusions found, per NAT class, in this pass. */
    const foundForClass = new Map<NatClass, 'busy' | 'none'>();
    for (const waiter of [...this.#waiters]) {
      if (this.#closed) return;
      if (!this.#waiters.has(waiter)) continue;
      const { request } = waiter;
      const plain = request.excludeIds.size === 0 && request.clientNetwork === undefined && request.pairingId === undefined;
      let found: SlotReservation['kind'] | undefined = plain ? foundForClass.get(request.clientNat) : undefined;
      if (found === undefined) {
        let reservation: SlotReservation;
        try {
          reservation = await this.#options.store.reserveSlot(request);
        } catch (error) {
          this.#options.onStoreError(error);
          continue;
        }
        if (reservation.kind === 'reserved') {
          if (this.#waiters.has(waiter)) waiter.finish(reservation);
          else {
            // Its client left while the store picked: the slot goes back, and to whoever is next.
            await this.#options.store.releaseSlot(reservation.volunteerId, 'unused', reservation.pool).catch(this.#options.onStoreError);
            this.#passAgain = true;
          }
          continue;
        }
        found = reservation.kind;
        if (plain) foundForClass.set(request.clientNat, found);
      }
      if (found === 'none' && !waiter.waitThroughNone) waiter.finish({ kind: 'none' });
    }
  }
}
