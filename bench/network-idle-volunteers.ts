/**
 * @module bench/network-idle-volunteers
 * How many idle volunteers one broker holds, and what each costs it: one `ferry broker` process with its default
 * limits, `count` volunteer sockets (hello, welcome, then idle) from many source addresses, held by worker processes.
 * Memory is the broker's resident set (VmRSS) after a warm-up crowd has come and gone (so code loaded for the first
 * connection is not counted per connection), then right after the crowd joined, then after it sat idle for a while.
 */
import { startIdleCrowd } from './idle-crowd.ts';
import { readOpenFileLimit, readRssKiB } from './process-stats.ts';
import type { ServerProcess } from './server-processes.ts';

/** Volunteers per source address: under the broker's maxVolunteersPerAddress (64). */
const VOLUNTEERS_PER_ADDRESS = 50;
/** Joins in flight per worker process. */
const JOIN_CONCURRENCY = 100;
/** Volunteers of the warm-up crowd. */
const WARM_UP_VOLUNTEERS = 500;
/** How long the crowd sits idle before the settled memory figure (ms): the broker's allocator and GC catch up. */
const SETTLE_MS = 5_000;
/** Pause after the warm-up crowd left, before the baseline (ms). */
const BASELINE_PAUSE_MS = 2_000;

export interface IdleVolunteersResult {
  attempted: number;
  admitted: number;
  refused: Map<string, number>;
  joinSeconds: number;
  brokerOpenFileLimit: number;
  rssBaselineKiB: number;
  rssJoinedKiB: number;
  rssSettledKiB: number;
  /** (settled - baseline) / admitted */
  kibPerVolunteer: number;
  /** (joined - baseline) / admitted */
  kibPerVolunteerJustJoined: number;
  workers: number;
}

export async function measureIdleVolunteers(broker: ServerProcess, count: number, firstSecondOctet: number): Promise<IdleVolunteersResult> {
  const url = `${broker.url.replace(/^http/, 'ws')}/v1/volunteer`;
  // Each worker holds at most half of what one process may open here, so it never meets its own limit first.
  const perWorker = Math.max(1_000, Math.floor(readOpenFileLimit(process.pid).soft / 2));
  const workers = Math.max(1, Math.ceil(count / perWorker));
  const warmUp = await startIdleCrowd({
    url,
    count: WARM_UP_VOLUNTEERS,
    workers: 1,
    perAddress: VOLUNTEERS_PER_ADDRESS,
    firstSecondOctet,
    concurrency: JOIN_CONCURRENCY,
    timeoutMs: 60_000,
  });
  await warmUp.stop();
  await new Promise((resolve) => setTimeout(resolve, BASELINE_PAUSE_MS));
  const rssBaselineKiB = readRssKiB(broker.pid);
  const crowd = await startIdleCrowd({
    url,
    count,
    workers,
    perAddress: VOLUNTEERS_PER_ADDRESS,
    firstSecondOctet: firstSecondOctet + 1,
    concurrency: JOIN_CONCURRENCY,
    timeoutMs: 300_000,
  });
  try {
    const rssJoinedKiB = readRssKiB(broker.pid);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const rssSettledKiB = readRssKiB(broker.pid);
    const admitted = Math.max(1, crowd.admitted);
    return {
      attempted: count,
      admitted: crowd.admitted,
      refused: crowd.refused,
      joinSeconds: crowd.elapsedMs / 1000,
      brokerOpenFileLimit: readOpenFileLimit(broker.pid).soft,
      rssBaselineKiB,
      rssJoinedKiB,
      rssSettledKiB,
      kibPerVolunteer: (rssSettledKiB - rssBaselineKiB) / admitted,
      kibPerVolunteerJustJoined: (rssJoinedKiB - rssBaselineKiB) / admitted,
      workers,
    };
  } finally {
    await crowd.stop();
  }
}
