/**
 * @module bench/goodput-rounds
 * End-to-end goodput against the raw data channel, in alternating rounds: raw between plain pages, raw between the
 * extension's offscreen documents, then Ferry (SOCKS5 -> helper -> client Chromium -> volunteer Chromium -> exit),
 * again and again. One raw figure and one Ferry figure taken minutes apart on this shared machine can differ by half
 * from load alone; each Ferry round is divided by the raw rounds just before it, and the spread of those ratios shows
 * how far to trust their median.
 */

import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalNetwork } from '../harness/local-network.ts';
import type { OriginServer } from '../harness/origin-server.ts';
import { socksFetch, socksFetchToFile } from '../harness/socks-fetch.ts';
import { openExtensionOffscreenPair } from './extension-datachannel.ts';
import { type ProcessTreePart, startProcessTreeCpuWindow } from './process-stats.ts';
import { openPlainPagePair, type RawDataChannelPair } from './raw-datachannel.ts';

export interface GoodputRound {
  plainPagesMegabytesPerSecond: number;
  offscreenDocumentsMegabytesPerSecond: number;
  ferryMegabytesPerSecond: number;
  /** Cores the whole machine was busy during each transfer (of its 2 here): how near each came to running out of CPU. */
  offscreenDocumentsMachineCores: number;
  ferryMachineCores: number;
  /**
   * CPU milliseconds per MiB moved, per part, during the raw offscreen transfer and during Ferry's: where the CPU of
   * each byte goes, so a ratio below goal says which hop costs it. 'machine' is every process on the machine.
   */
  offscreenDocumentsCpuMsPerMiB: Record<string, number>;
  ferryCpuMsPerMiB: Record<string, number>;
}

/** The machine-wide figure in the CPU-per-MiB records, beside the named parts. */
export const MACHINE_PART = 'machine';

/** Runs `transfer` of `bytes` and reads the CPU each part, and the whole machine, spent on it. */
async function withCpuReadings<T>(
  parts: readonly ProcessTreePart[],
  bytes: number,
  transfer: () => Promise<T>,
): Promise<{ result: T; machineCores: number; cpuMsPerMiB: Record<string, number> }> {
  const window = startProcessTreeCpuWindow(parts);
  const result = await transfer();
  const share = window.stop();
  const mebibytes = bytes / (1024 * 1024);
  const cpuMsPerMiB = Object.fromEntries(Object.entries(share.cpuSeconds).map(([name, cpuSeconds]) => [name, (cpuSeconds * 1000) / mebibytes]));
  cpuMsPerMiB[MACHINE_PART] = (share.machineCores * share.seconds * 1000) / mebibytes;
  return { result, machineCores: share.machineCores, cpuMsPerMiB };
}

/** Longest one Ferry download may take (s): curl's own limit. */
const FERRY_FETCH_TIMEOUT_S = 600;

/**
 * `rounds` rounds of the three transfers, each `origin.file.length` bytes. The network's client must be connected;
 * the two raw pairs (four more Chromium processes) are opened first and stay open, idle while Ferry runs.
 */
export async function measureGoodputRounds(network: LocalNetwork, origin: OriginServer, rounds: number): Promise<GoodputRound[]> {
  const pairs: RawDataChannelPair[] = [];
  try {
    const plainPages = await openPlainPagePair();
    pairs.push(plainPages);
    const offscreenDocuments = await openExtensionOffscreenPair();
    pairs.push(offscreenDocuments);
    const socksPort = await network.socksPort();
    const helperPid = await network.helperPid();
    const offscreenParts: ProcessTreePart[] = [
      { name: 'sending Chromium', rootPids: [offscreenDocuments.browserPids[0]] },
      { name: 'receiving Chromium', rootPids: [offscreenDocuments.browserPids[1]] },
    ];
    // In order: the helper is claimed before the client browser that started it, and the bench process (the origin,
    // curl, its child, and the exit and broker when they run in it) gets only what no other part holds.
    const ferryParts = (): ProcessTreePart[] => [
      { name: 'helper', rootPids: [helperPid] },
      { name: 'client Chromium', rootPids: [network.client.pid] },
      { name: "volunteers' Chromium", rootPids: network.volunteers.map((volunteer) => volunteer.pid) },
      { name: 'idle baseline browsers', rootPids: pairs.flatMap((pair) => pair.browserPids) },
      ...(network.servers.exitPid === process.pid
        ? []
        : [
            { name: 'exit', rootPids: [network.servers.exitPid] },
            { name: 'broker', rootPids: [network.servers.brokerPid] },
          ]),
      { name: 'origin, curl', rootPids: [process.pid] },
    ];
    const downloadFile = join(tmpdir(), `ferry-bench-download-${process.pid}`);
    // Warm-up: the first request through a fresh session opens its stream and grows its windows.
    await socksFetch(socksPort, `http://localhost:${origin.port}/page.html`);
    const results: GoodputRound[] = [];
    for (let round = 1; round <= rounds; round++) {
      const plain = await plainPages.measure(origin.file.length);
      const offscreen = await withCpuReadings(offscreenParts, origin.file.length, () => offscreenDocuments.measure(origin.file.length));
      // curl writes to a file, hashed after the timed transfer: this process, where the exit runs, does not also
      // read and hash the body meanwhile (the raw transfer checks nothing either).
      const ferry = await withCpuReadings(ferryParts(), origin.file.length, () =>
        socksFetchToFile(socksPort, `http://localhost:${origin.port}/file`, downloadFile, { timeoutSeconds: FERRY_FETCH_TIMEOUT_S }),
      );
      const fetched = ferry.result;
      const body = await readFile(downloadFile).catch(() => Buffer.alloc(0));
      await rm(downloadFile, { force: true });
      if (!fetched.ok || createHash('sha256').update(body).digest('hex') !== origin.sha256) {
        throw new Error(`goodput round ${round}: the end-to-end transfer failed (${body.length} bytes): ${fetched.stderr}`);
      }
      results.push({
        plainPagesMegabytesPerSecond: plain.megabytesPerSecond,
        offscreenDocumentsMegabytesPerSecond: offscreen.result.megabytesPerSecond,
        ferryMegabytesPerSecond: body.length / 1e6 / (fetched.elapsedMs / 1000),
        offscreenDocumentsMachineCores: offscreen.machineCores,
        ferryMachineCores: ferry.machineCores,
        offscreenDocumentsCpuMsPerMiB: offscreen.cpuMsPerMiB,
        ferryCpuMsPerMiB: ferry.cpuMsPerMiB,
      });
    }
    return results;
  } finally {
    await Promise.all(pairs.map((pair) => pair.close()));
  }
}
