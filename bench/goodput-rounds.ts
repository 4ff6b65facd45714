/**
 * @module bench/goodput-rounds
 * End-to-end goodput against the raw data channel, in alternating rounds: raw between plain pages, raw between the
 * extension's offscreen documents, then Ferry (SOCKS5 -> helper -> client Chromium -> volunteer Chromium -> exit),
 * again and again. One raw figure and one Ferry figure taken minutes apart on this shared machine can differ by half
 * from load alone; each Ferry round is divided by the raw rounds just before it, and the spread of those ratios shows
 * how far to trust their median.
 */
import type { LocalNetwork } from '../harness/local-network.ts';
import type { OriginServer } from '../harness/origin-server.ts';
import { socksFetch } from '../harness/socks-fetch.ts';
import { openExtensionOffscreenPair } from './extension-datachannel.ts';
import { startCpuWindow } from './process-stats.ts';
import { openPlainPagePair, type RawDataChannelPair } from './raw-datachannel.ts';

export interface GoodputRound {
  plainPagesMegabytesPerSecond: number;
  offscreenDocumentsMegabytesPerSecond: number;
  ferryMegabytesPerSecond: number;
  /** Cores the whole machine was busy during each transfer (of its 2 here): how near each came to running out of CPU. */
  offscreenDocumentsMachineCores: number;
  ferryMachineCores: number;
}

/** Runs `transfer` and says how many cores the whole machine was busy meanwhile. */
async function withMachineCores<T>(transfer: () => Promise<T>): Promise<{ result: T; machineCores: number }> {
  const window = startCpuWindow({});
  const result = await transfer();
  return { result, machineCores: window.stop().machineCores };
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
    // Warm-up: the first request through a fresh session opens its stream and grows its windows.
    await socksFetch(socksPort, `http://localhost:${origin.port}/page.html`);
    const results: GoodputRound[] = [];
    for (let round = 1; round <= rounds; round++) {
      const plain = await plainPages.measure(origin.file.length);
      const { result: offscreen, machineCores: offscreenDocumentsMachineCores } = await withMachineCores(() => offscreenDocuments.measure(origin.file.length));
      const { result: ferry, machineCores: ferryMachineCores } = await withMachineCores(() =>
        socksFetch(socksPort, `http://localhost:${origin.port}/file`, FERRY_FETCH_TIMEOUT_S),
      );
      if (!ferry.ok || ferry.sha256 !== origin.sha256) throw new Error(`goodput round ${round}: the end-to-end transfer failed: ${ferry.stderr}`);
      results.push({
        plainPagesMegabytesPerSecond: plain.megabytesPerSecond,
        offscreenDocumentsMegabytesPerSecond: offscreen.megabytesPerSecond,
        ferryMegabytesPerSecond: ferry.bytes / 1e6 / (ferry.elapsedMs / 1000),
        offscreenDocumentsMachineCores,
        ferryMachineCores,
      });
    }
    return results;
  } finally {
    await Promise.all(pairs.map((pair) => pair.close()));
  }
}
