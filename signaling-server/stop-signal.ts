/**
 * @module stop-signal
 * The broker's commands (`ferry broker`, `ferry nat-probe`) run until SIGINT or SIGTERM, then close cleanly.
 */

/** Resolves at the first SIGINT or SIGTERM, and stops listening for them. */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
