/**
 * @module bench/network-exit-memory
 * What an idle client session costs an exit: `count` real sessions (WebSocket, Noise NK HELLO, WELCOME, then only the
 * client's heartbeat PINGs) to one `ferry exit` process, from many volunteer source addresses. Memory is the exit's
 * resident set after a warm-up of a few sessions came and went, then with every session open and idle for a while.
 */
import { openExitSessions } from './exit-client.ts';
import { readRssKiB, startCpuWindow } from './process-stats.ts';
import type { ServerProcess } from './server-processes.ts';
import { SourceAddresses } from './source-addresses.ts';

/** Sessions per volunteer address: under the exit's maxPathsPerAddress (64) and 120 handshakes per minute. */
const SESSIONS_PER_ADDRESS = 40;
const WARM_UP_SESSIONS = 50;
const HANDSHAKE_CONCURRENCY = 50;
/** How long the sessions sit idle before the figure (ms). */
const SETTLE_MS = 5_000;

export interface ExitMemoryResult {
  attempted: number;
  opened: number;
  failed: Map<string, number>;
  openSeconds: number;
  rssBaselineKiB: number;
  rssSettledKiB: number;
  kibPerSession: number;
  /** Cores the exit used while the sessions sat idle (their heartbeats). */
  idleCores: number;
}

export async function measureExitMemory(exit: ServerProcess, count: number, addressBlocks: readonly [number, number]): Promise<ExitMemoryResult> {
  const target = { url: exit.url, publicKey: exit.publicKey };
  const common = { perAddress: SESSIONS_PER_ADDRESS, concurrency: HANDSHAKE_CONCURRENCY, timeoutMs: 20_000 };
  const warmUp = await openExitSessions(target, { ...common, count: WARM_UP_SESSIONS, addresses: new SourceAddresses(addressBlocks[0]) });
  for (const session of warmUp.sessions) session.close();
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const rssBaselineKiB = readRssKiB(exit.pid);
  const started = performance.now();
  const { sessions, failed } = await openExitSessions(target, { ...common, count, addresses: new SourceAddresses(addressBlocks[1]) });
  const openSeconds = (performance.now() - started) / 1000;
  try {
    const window = startCpuWindow({ exit: [exit.pid] });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const idleCores = window.stop().cores.exit ?? 0;
    const rssSettledKiB = readRssKiB(exit.pid);
    return {
      attempted: count,
      opened: sessions.length,
      failed,
      openSeconds,
      rssBaselineKiB,
      rssSettledKiB,
      kibPerSession: (rssSettledKiB - rssBaselineKiB) / Math.max(1, sessions.length),
      idleCores,
    };
  } finally {
    for (const session of sessions) session.close();
  }
}
