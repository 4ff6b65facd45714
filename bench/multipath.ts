/**
 * @module bench/multipath
 * Figures for sessions that hold several volunteers at once (protocol/session-endpoint.ts): the stall when the
 * carrying volunteer is killed, with and without a standby; the longest gap on a healthy path (what the standby
 * silence threshold must stay above); and the goodput of two capped volunteers striped, against one.
 * Each works on a LocalNetwork the caller starts, with the client's and the volunteers' settings it needs.
 */
import type { LocalNetwork } from '../harness/local-network.ts';
import type { OriginServer } from '../harness/origin-server.ts';
import { startSocksDownload } from '../harness/socks-download.ts';
import { socksFetch } from '../harness/socks-fetch.ts';
import { runVolunteerChurn } from '../harness/volunteer-churn.ts';
import { waitFor } from '../harness/wait.ts';

export interface KillStalls {
  /** Each round's longest time with no body bytes (s). */
  stallsSeconds: number[];
  /** Bytes missing or wrong across all rounds: a round whose SHA-256 differs counts at least 1. */
  bytesLost: number;
  /** Rounds whose SHA-256 differed from the origin's. */
  roundsCorrupted: number;
  /** Rounds whose download had already ended when the kill came (their stall says nothing about the kill). */
  killsAfterTheEnd: number;
}

/**
 * `kills` downloads of the origin's file; in each the carrying volunteer is killed (SIGKILL) an eighth of the way in
 * and a replacement volunteer started. With `volunteersBeforeKill` 2 each round waits until the client holds a standby.
 */
export async function measureKillStalls(network: LocalNetwork, origin: OriginServer, kills: number, volunteersBeforeKill: number): Promise<KillStalls> {
  const fileBytes = origin.file.length;
  const rounds = await runVolunteerChurn({
    network,
    originPort: origin.port,
    path: '/file',
    fileBytes,
    rounds: kills,
    // An eighth in: finding the carrier takes over a second more, and the kill must land well before the end.
    killAfterBytes: Math.floor(fileBytes / 8),
    volunteersBeforeKill,
  });
  const corrupted = rounds.filter((round) => round.sha256 !== origin.sha256);
  return {
    stallsSeconds: rounds.map((round) => round.longestStallMs / 1000),
    bytesLost: corrupted.reduce((sum, round) => sum + Math.max(1, fileBytes - round.bytes), 0),
    roundsCorrupted: corrupted.length,
    killsAfterTheEnd: rounds.filter((round) => round.bytesAtKill >= fileBytes).length,
  };
}

export interface HealthyPathGaps {
  /** Each download's longest time with no body bytes (s): no volunteer was killed. */
  longestGapsSeconds: number[];
  /** Volunteer changes the client counted meanwhile: each is a path given up although nothing was killed. */
  pathChanges: number;
  /** Fewest volunteers the client held at any poll during the downloads (a dropped standby shows here). */
  fewestVolunteers: number;
  downloads: number;
}

/** How often the client's state is polled for its volunteer count during the healthy downloads (ms). */
const VOLUNTEER_POLL_MS = 200;

/**
 * Full-speed downloads with nothing killed: the longest gap between body bytes bounds the longest silence of the
 * carrying path (data records arrive at least that often; pongs may fill a gap, never widen it), which the client's
 * standby silence threshold must stay above, or it gives up healthy paths.
 */
export async function measureHealthyPathGaps(network: LocalNetwork, origin: OriginServer, downloads: number): Promise<HealthyPathGaps> {
  const changesBefore = (await network.client.state()).proxyMe.pathChanges;
  let fewestVolunteers = Number.POSITIVE_INFINITY;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const state = await network.client.state().catch(() => undefined);
      if (state) fewestVolunteers = Math.min(fewestVolunteers, state.proxyMe.volunteers);
      await new Promise((resolve) => setTimeout(resolve, VOLUNTEER_POLL_MS));
    }
  })();
  const longestGapsSeconds: number[] = [];
  try {
    for (let index = 0; index < downloads; index++) {
      const download = await startSocksDownload(await network.socksPort(), 'localhost', origin.port, '/file');
      const result = await download.done;
      if (result.sha256 !== origin.sha256) throw new Error(`healthy download ${index + 1}: SHA-256 differs from the origin's (${result.bytes} bytes)`);
      longestGapsSeconds.push(result.longestStallMs / 1000);
    }
  } finally {
    polling = false;
    await poller;
  }
  return {
    longestGapsSeconds,
    pathChanges: (await network.client.state()).proxyMe.pathChanges - changesBefore,
    fewestVolunteers,
    downloads,
  };
}

export interface StripedGoodput {
  /** MB/s through one capped volunteer (proxyPaths 1), one figure per pair of rounds. */
  singleMegabytesPerSecond: number[];
  /** MB/s through two capped volunteers at once (proxyPaths 2, stripePaths true). */
  stripedMegabytesPerSecond: number[];
}

/** Longest one capped download may take (s): curl's own limit. */
const CAPPED_FETCH_TIMEOUT_S = 600;

/** Switches Proxy me off, writes `settings`, switches it on, and waits until the client holds `volunteers`. */
async function restartProxyMe(network: LocalNetwork, settings: Record<string, unknown>, volunteers: number): Promise<void> {
  await network.client.setSwitch('proxy-me', false);
  await network.client.waitForProxyMe(['off']);
  await network.client.changeSettings(settings);
  await network.client.setSwitch('proxy-me', true);
  await network.client.waitForProxyMe(['connected']);
  await waitFor(async () => (await network.client.state()).proxyMe.volunteers >= volunteers, `the client to hold ${volunteers} volunteers`, {
    timeoutMs: 60_000,
    intervalMs: 100,
  });
}

async function cappedDownload(network: LocalNetwork, origin: OriginServer, what: string): Promise<number> {
  const result = await socksFetch(await network.socksPort(), `http://localhost:${origin.port}/file`, { timeoutSeconds: CAPPED_FETCH_TIMEOUT_S });
  if (!result.ok || result.sha256 !== origin.sha256)
    throw new Error(`${what}: the download failed or differs from the origin (${result.bytes} bytes): ${result.stderr}`);
  return result.bytes / 1e6 / (result.elapsedMs / 1000);
}

/**
 * On a network of capped volunteers: `pairs` times, one download through one volunteer (proxyPaths 1), then one
 * striped over two (proxyPaths 2, stripePaths true), alternating so both see the same moments of this machine's load.
 */
export async function measureStripedGoodput(network: LocalNetwork, origin: OriginServer, pairs: number): Promise<StripedGoodput> {
  const singleMegabytesPerSecond: number[] = [];
  const stripedMegabytesPerSecond: number[] = [];
  for (let pair = 1; pair <= pairs; pair++) {
    await restartProxyMe(network, { proxyPaths: 1, stripePaths: false }, 1);
    singleMegabytesPerSecond.push(await cappedDownload(network, origin, `pair ${pair}, one volunteer`));
    await restartProxyMe(network, { proxyPaths: 2, stripePaths: true }, 2);
    stripedMegabytesPerSecond.push(await cappedDownload(network, origin, `pair ${pair}, two volunteers striped`));
  }
  return { singleMegabytesPerSecond, stripedMegabytesPerSecond };
}
