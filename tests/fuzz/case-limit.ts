/**
 * @module fuzz/case-limit
 * One fuzz case, bounded in time: a case still running after the limit counts as a hang. Shared by the unit run and
 * the long run so both judge hangs the same way.
 *
 * Only a case that yields to the event loop can be caught here; a synchronous endless loop blocks the timer too.
 * The long run has a watchdog thread for that (tests/fuzz/run.ts).
 */

/** A case that takes longer than this (ms) is a hang. Every case of every target normally ends in a few ms. */
export const CASE_TIME_LIMIT_MS = 2_000;

export type CaseOutcome = { kind: 'passed'; ms: number } | { kind: 'failed'; ms: number; error: unknown } | { kind: 'hung'; ms: number };

/** Runs `runCase` and reports how it ended; never rejects. A hung case keeps running, its outcome ignored. */
export async function runCaseWithin(limitMs: number, runCase: () => Promise<void>): Promise<CaseOutcome> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), limitMs);
  });
  let running: Promise<void>;
  try {
    running = runCase();
  } catch (error) {
    running = Promise.reject(error);
  }
  const settled = running.then(
    () => ({ kind: 'passed' as const }),
    (error: unknown) => ({ kind: 'failed' as const, error }),
  );
  const first = await Promise.race([settled, hung]);
  clearTimeout(timer);
  const ms = performance.now() - started;
  if (first === 'hung') return { kind: 'hung', ms };
  return first.kind === 'passed' ? { kind: 'passed', ms } : { kind: 'failed', ms, error: first.error };
}

/** The message of a hung case, the same in both runs. */
export function hangMessage(limitMs: number): string {
  return `the case did not finish within ${limitMs} ms: it counts as a hang`;
}
