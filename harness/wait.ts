/**
 * @module harness/wait
 * Waiting for something to happen, always with a bound: the one `waitFor` and the one `withTimeout` that the tests,
 * the local-network harness and the benchmarks use. A wait that runs out throws WaitTimeoutError naming what was
 * awaited, so a failure reads as "timed out waiting for X" instead of a hang.
 */

/** Default bound for a wait (ms). Long enough for a loaded 2-core machine; callers pass their own where it matters. */
export const DEFAULT_WAIT_TIMEOUT_MS = 20_000;
/** Default pause between two checks of a polled condition (ms). */
export const DEFAULT_POLL_INTERVAL_MS = 20;

/** A bounded wait ran out; `message` names what was awaited and for how long. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  readonly code = 'WAIT_TIMEOUT';
}

export interface WaitOptions {
  /** Give up after this long (ms). Default DEFAULT_WAIT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Check this often (ms). Default DEFAULT_POLL_INTERVAL_MS. */
  intervalMs?: number;
}

/**
 * Resolves with the first truthy value `condition` returns (checked at once, then every intervalMs), or throws
 * WaitTimeoutError after timeoutMs. For state that has no event to listen to; prefer an event where there is one.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, what: string, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() >= deadline) throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves or rejects as `promise` does, or rejects with WaitTimeoutError after timeoutMs. Clears its timer. */
export function withTimeout<T>(promise: Promise<T>, what: string, timeoutMs: number = DEFAULT_WAIT_TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
