/**
 * @module capacity-signal
 * Wakes clients waiting for a volunteer to free up. A client whose offer one volunteer let time out, and who finds
 * nobody else free, keeps looking until its deadline: every slot given back, `hello` or `slots` message may be the
 * one it needs. Without this the client would get 504 at once, or the broker would have to poll the store.
 *
 * Per broker instance, like the volunteer sockets: the hub and the matchmaker of this instance report the changes
 * they make. A store shared by several instances would also need to publish changes made elsewhere.
 */

/** How a wait for a change ended. 'closed' means the broker is shutting down. */
export type CapacityWaitResult = 'changed' | 'deadline' | 'aborted' | 'closed';

export class CapacitySignal {
  #version = 0;
  #closed = false;
  readonly #waiters = new Set<(result: CapacityWaitResult) => void>();

  /** Goes up by one on every change; read it before looking at the store, pass it to wait(). */
  get version(): number {
    return this.#version;
  }

  /** Volunteer capacity may have grown: a slot came back, a volunteer arrived or announced slots. */
  changed(): void {
    this.#version += 1;
    for (const wake of [...this.#waiters]) wake('changed');
  }

  /**
   * Resolves once the version differs from `sinceVersion` (at once if it already does, so a change made while the
   * caller was reading the store is not missed), or at `deadline`, or when `signal` aborts, or on close().
   */
  wait(sinceVersion: number, deadline: number, signal: AbortSignal): Promise<CapacityWaitResult> {
    if (this.#closed) return Promise.resolve('closed');
    if (signal.aborted) return Promise.resolve('aborted');
    if (this.#version !== sinceVersion) return Promise.resolve('changed');
    return new Promise<CapacityWaitResult>((resolve) => {
      const finish = (result: CapacityWaitResult): void => {
        this.#waiters.delete(finish);
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const onAbort = (): void => finish('aborted');
      const timer = setTimeout(() => finish('deadline'), Math.max(0, deadline - Date.now()));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(finish);
    });
  }

  /** Broker shutdown: every waiter is released with 'closed', and later waits return 'closed' at once. */
  close(): void {
    this.#closed = true;
    for (const wake of [...this.#waiters]) wake('closed');
  }
}
