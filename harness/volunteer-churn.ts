/**
 * @module harness/volunteer-churn
 * Volunteers come and go: downloads through a LocalNetwork during which the volunteer carrying each one is killed
 * (its browser process, by pid). Shared by the end-to-end test (which checks every byte) and the benchmark (which
 * reports the stalls).
 */
import type { LocalNetwork } from './local-network.ts';
import { startSocksDownload } from './socks-download.ts';
import { waitFor, withTimeout } from './wait.ts';

export interface ChurnRound {
  sha256: string;
  bytes: number;
  /** Longest time with no body bytes during the download (the stall the kill caused). */
  longestStallMs: number;
  /** Body bytes that had arrived when the carrier was killed: the whole file means the kill came too late to matter. */
  bytesAtKill: number;
}

export interface ChurnOptions {
  network: LocalNetwork;
  originPort: number;
  /** Path of the file on the origin, and its size. */
  path: string;
  fileBytes: number;
  rounds: number;
  /** Kill the carrier once this many bytes have arrived. */
  killAfterBytes: number;
  /** Before each kill, wait until the client's session has this many volunteers (a standby ready); 1 when absent. */
  volunteersBeforeKill?: number;
  log?(line: string): void;
}

/** Longest a round (a download, one kill, the recovery) may take. */
const ROUND_TIMEOUT_MS = 120_000;

/** Runs `rounds` downloads; in each, kills the carrying volunteer mid-way and starts a replacement. */
export async function runVolunteerChurn(options: ChurnOptions): Promise<ChurnRound[]> {
  const { network, log = () => {} } = options;
  const rounds: ChurnRound[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const volunteers = options.volunteersBeforeKill ?? 1;
    await waitFor(
      async () => (await network.client.state()).proxyMe.volunteers >= volunteers,
      `round ${round}: ${volunteers} volunteers carrying the session`,
      {
        timeoutMs: ROUND_TIMEOUT_MS,
      },
    );
    const socksPort = await network.socksPort();
    const download = await startSocksDownload(socksPort, 'localhost', options.originPort, options.path);
    await waitFor(() => download.received() >= options.killAfterBytes, `${options.killAfterBytes} bytes of round ${round}`, { timeoutMs: ROUND_TIMEOUT_MS });
    const carrier = await waitFor(() => network.carryingVolunteer(), 'a volunteer to report carrying the download', { timeoutMs: 10_000 });
    const pid = carrier.pid;
    const bytesAtKill = download.received();
    await network.killVolunteer(carrier);
    log(`round ${round}: killed the carrying volunteer (pid ${pid}) after ${bytesAtKill} bytes`);
    const replacement = network.addVolunteer();
    const result = await withTimeout(download.done, `round ${round}: the download to finish`, ROUND_TIMEOUT_MS);
    await replacement;
    rounds.push({ ...result, bytesAtKill });
    log(`round ${round}: ${result.bytes} bytes, longest stall ${Math.round(result.longestStallMs)} ms`);
  }
  return rounds;
}
