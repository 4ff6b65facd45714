/**
 * @module use-now
 * A Preact hook for countdowns and clocks on screen: the current time, re-read every second while `ticking`, and
 * no timer at all otherwise (an idle page costs nothing).
 */
import { useEffect, useState } from 'preact/hooks';

/** How often the time on screen moves on (ms). */
export const TICK_MS = 1_000;

export function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ticking) return undefined;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), TICK_MS);
    return () => clearInterval(timer);
  }, [ticking]);
  return now;
}
