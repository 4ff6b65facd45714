/**
 * @module bench/tun-goodput
 * Whole-device (TUN) goodput against SOCKS5 goodput, through the same client in the same run. The stage is the
 * whole-device lab (harness/whole-device-lab.ts): Chromium with the extension in a client namespace, its Proxy me on
 * and its "Whole device" switch on, one volunteer in another namespace, the origin in a third. Each round fetches the
 * same file twice with curl in the client namespace: once through the helper's SOCKS5 port (the baseline; loopback,
 * which the device's routes leave alone) and once with no proxy settings, through the TUN and the system stack. Both
 * go through the same helper, browser, volunteer and exit, so the ratio is what the TUN path itself costs. The order
 * alternates each round, so a drift in the machine's load falls on both.
 */
import { closeUserAndHelper } from '../harness/lab-servers.ts';
import { natLabPrerequisites } from '../harness/nat-lab.ts';
import { WholeDeviceLab } from '../harness/whole-device-lab.ts';

export interface TunGoodputRound {
  socksMegabytesPerSecond: number;
  tunMegabytesPerSecond: number;
}

export type TunGoodputResult = { rounds: TunGoodputRound[] } | { notMeasured: string };

/** A small file fetched once each way before the rounds: the first connection's costs (DNS, the exit's dial) stay out. */
const WARM_UP_BYTES = 1024 * 1024;
/** Longest one fetch may take (s): curl's own limit. */
const FETCH_TIMEOUT_S = 600;
/** How long the popup's switch may take to bring whole-device mode on (ms). */
const SWITCH_TIMEOUT_MS = 60_000;

/** One curl fetch in the client namespace; resolves with its goodput (MB/s), or throws when it fell short. */
async function fetchOnce(stage: WholeDeviceLab, url: string, expectedBytes: number, socksPort?: number): Promise<number> {
  const proxy = socksPort === undefined ? '' : `--socks5-hostname 127.0.0.1:${socksPort} `;
  const run = await stage.shell(
    `curl --silent --show-error --max-time ${FETCH_TIMEOUT_S} ${proxy}--output /dev/null --write-out '%{size_download} %{time_total}' ${url}`,
    (FETCH_TIMEOUT_S + 30) * 1000,
  );
  const [size, seconds] = run.stdout.trim().split(' ').map(Number);
  if (run.code !== 0 || size !== expectedBytes || seconds === undefined || !(seconds > 0)) {
    throw new Error(`a ${socksPort === undefined ? 'TUN' : 'SOCKS5'} fetch fell short (${run.stdout.trim()}): ${run.stderr.trim()}`);
  }
  return expectedBytes / seconds / 1e6;
}

/**
 * `rounds` rounds of one SOCKS5 and one TUN fetch of `fileBytes`. Needs root (namespaces, the service): without it,
 * or without the lab's tools, says why it measured nothing rather than failing the whole bench.
 */
export async function measureTunGoodput(options: { fileBytes: number; rounds: number }): Promise<TunGoodputResult> {
  const prerequisites = await natLabPrerequisites();
  const reason = prerequisites.skip ?? prerequisites.missing;
  if (reason !== undefined) return { notMeasured: reason };
  const stage = await WholeDeviceLab.start({ originFiles: [options.fileBytes, WARM_UP_BYTES] });
  try {
    const user = await stage.launchClientBrowser();
    try {
      await user.setSwitch('whole-device', true);
      const state = await user.waitFor(
        (published) => published.proxyMe.wholeDevice === 'on' || published.proxyMe.wholeDevice === 'failed',
        'whole-device mode to be on',
        SWITCH_TIMEOUT_MS,
      );
      if (state.proxyMe.wholeDevice !== 'on') throw new Error(`whole-device mode did not come on: ${state.proxyMe.wholeDeviceReason}`);
      const socksPort = state.proxyMe.socksPort;
      await fetchOnce(stage, stage.originUrl(1), WARM_UP_BYTES, socksPort);
      await fetchOnce(stage, stage.originUrl(1), WARM_UP_BYTES);
      const rounds: TunGoodputRound[] = [];
      for (let round = 0; round < options.rounds; round++) {
        const socksFirst = round % 2 === 0;
        const first = await fetchOnce(stage, stage.originUrl(0), options.fileBytes, socksFirst ? socksPort : undefined);
        const second = await fetchOnce(stage, stage.originUrl(0), options.fileBytes, socksFirst ? undefined : socksPort);
        rounds.push(
          socksFirst ? { socksMegabytesPerSecond: first, tunMegabytesPerSecond: second } : { socksMegabytesPerSecond: second, tunMegabytesPerSecond: first },
        );
      }
      return { rounds };
    } finally {
      await closeUserAndHelper(user);
    }
  } finally {
    await stage.close();
  }
}
