/**
 * @module harness/volunteer-churn
 * Volunteers come and go: downloads through a LocalNetwork during which the volunteer carrying each one is killed
 * (its browser process, by pid). Shared by the end-to-end test (which checks every byte) and the benchmark (which
 * reports the stalls).
 */
import type { LocalNetwork } from './local-network.ts';
import { startSocksDownload } from './socks-download.ts';

export interface ChurnRound {
  sha256: string;
  bytes: number;
  /** Longest time with no body bytes during the download (the stall the kill caused). */
  longestStallMs: number;
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
  log?(line: string): void;
}

const POLL_MS = 50;
const ROUND_TIMEOUT_MS = 120_000;

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = ROUND_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Runs `rounds` downloads; in each, kills the carrying volunteer mid-way and starts a replacement. */
export async function runVolunteerChurn(options: ChurnOptions): Promise<ChurnRound[]> {
  const { network, log = () => {} } = options;
  const rounds: ChurnRound[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const socksPort = await network.socksPort();
    const download = await startSocksDownload(socksPort, 'localhost', options.originPort, options.path);
    await until(() => download.received() >= options.killAfterBytes, `${options.killAfterBytes} bytes of round ${round}`);
    let carrier = await network.carryingVolunteer();
    await until(async () => (carrier = await network.carryingVolunteer()) !== undefined, 'a volunteer to report carrying the download', 10_000);
    if (!carrier) throw new Error('no volunteer is carrying the download');
    const pid = carrier.pid;
    await network.killVolunteer(carrier);
    log(`round ${round}: killed the carrying volunteer (pid ${pid}) after ${download.received()} bytes`);
    const replacement = network.addVolunteer();
    const result = await Promise.race([
      download.done,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`round ${round}: the download did not finish`)), ROUND_TIMEOUT_MS)),
    ]);
    await replacement;
    rounds.push(result);
    log(`round ${round}: ${result.bytes} bytes, longest stall ${Math.round(result.longestStallMs)} ms`);
  }
  return rounds;
}
