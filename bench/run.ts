/**
 * @module bench/run
 * `ferry bench` (npm run bench): the speed figures, each printed with its baseline measured in the same run, since
 * this machine is noisy. Nothing here passes or fails; docs/benchmarks.md records what it printed.
 */

import { execFile } from 'node:child_process';
import { parseArgs } from 'node:util';
import { LocalNetwork, type LocalNetworkOptions } from '../harness/local-network.ts';
import { type OriginServer, startOriginServer } from '../harness/origin-server.ts';
import { type NetworkServers, startServerProcesses } from '../harness/servers.ts';
import { startSocksDownload } from '../harness/socks-download.ts';
import { WaitTimeoutError, withTimeout } from '../harness/wait.ts';
import { measureGoodputRounds } from './goodput-rounds.ts';
import { median } from './median.ts';
import { measureHealthyPathGaps, measureKillStalls, measureStripedGoodput } from './multipath.ts';
import { measureRendezvousStartups } from './rendezvous-startup.ts';
import { measureRawWrtc, measureSimplePeer } from './simple-peer.ts';
import { measureTunGoodput } from './tun-goodput.ts';
import { measureVolunteerCpu, volunteerCpuLines } from './volunteer-cpu.ts';
import { measureWidgetSize, WIDGET_GZIP_BUDGET_BYTES } from './widget-size.ts';

/**
 * The parts of one run, each printed with its own baseline, so one part can be measured again alone:
 * - widget: the widget's gzipped size;
 * - standby: start-up, raw and end-to-end goodput rounds, healthy-path gaps, stalls with a standby;
 * - no-standby: stalls with one volunteer at a time;
 * - striping: two capped volunteers against one;
 * - rendezvous: Proxy me start-up through each rendezvous channel, direct as the baseline;
 * - volunteer-cpu: CPU per MiB relayed; wrtc: simple-peer against raw @roamhq/wrtc;
 * - tun: whole-device (TUN) goodput against SOCKS5 goodput through the same client (root: lab namespaces).
 */
const BENCH_PARTS = ['widget', 'standby', 'no-standby', 'striping', 'rendezvous', 'volunteer-cpu', 'wrtc', 'tun'] as const;
type BenchPart = (typeof BENCH_PARTS)[number];

const USAGE = `Usage: ferry bench [--megabytes N] [--runs N] [--kills N] [--rounds N] [--cap-mbps N] [--only PART,...]
       ferry bench network [options]   (the broker's and the exit's capacity; ferry bench network --help)

Measures, in one run on this machine:
  - the widget's size, gzipped, against its 50 kB budget
  - raw data-channel throughput between two Chromium processes (the baseline), between plain pages and between the
    extension's offscreen documents (where Ferry's data channels live)
  - end-to-end goodput through the whole path (SOCKS5 -> helper -> client Chromium -> volunteer Chromium -> exit),
    in rounds alternating with the raw transfers: the median ratio to raw and its spread
  - the time from switching Proxy me on to the first proxied byte (median of --runs)
  - the longest gap between bytes on a healthy path (nothing killed), against the client's standby silence threshold
  - the median and worst stall (time with no bytes) when the volunteer carrying a download is killed, with a
    standby volunteer (2 at once) and without (1), and the bytes lost (must be 0)
  - goodput striped over two volunteers each capped at --cap-mbps, against one such volunteer
  - Proxy me on -> first proxied byte through each rendezvous channel (fronted through a TLS front, through a
    cache), against the direct channel
  - a volunteer's CPU time per MiB relayed, for ferry volunteer (Node) and the extension (whole Chromium tree), each
    against a plain TCP relay process carrying the same file (the baseline)
  - simple-peer against the raw RTCPeerConnection API (Node, @roamhq/wrtc)
  - whole-device (TUN) goodput against SOCKS5 goodput through the same client, in alternating rounds (as root: the
    client runs in a network namespace with the whole-device service)

Options:
  --megabytes N   bytes to move per throughput figure, in MiB (default 64)
  --runs N        Proxy me start-up measurements (default 3)
  --kills N       volunteer kills for each stall figure, with and without a standby (default 20)
  --rounds N      alternating raw / Ferry goodput rounds, and SOCKS5 / TUN rounds (default 3)
  --cap-mbps N    each volunteer's cap (Mbit/s) for the striping figure (default 40)
  --only PARTS    measure only these parts, comma-separated, each with its own baseline (default: all):
                  ${BENCH_PARTS.join(', ')}
  --help          show this help
`;

/** Reads --only: every part when absent; a part this bench does not have is refused, naming the ones it has. */
function chosenParts(only: string | undefined): ReadonlySet<BenchPart> {
  if (only === undefined) return new Set(BENCH_PARTS);
  const names = only.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(BENCH_PARTS as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`--only takes ${BENCH_PARTS.join(', ')}; not ${unknown.join(', ')}`);
  return new Set(names as BenchPart[]);
}

/** Longest a Node @roamhq/wrtc transfer may take before the bench gives up on that figure (ms). */
const WRTC_TIMEOUT_MS = 120_000;
/** Downloads with nothing killed, for the longest gap on a healthy path. */
const HEALTHY_DOWNLOADS = 5;
/** Pairs of capped downloads (one volunteer, then two striped) for the striping figure. */
const STRIPED_PAIRS = 3;
/** The client's silence limit for a path while another is live (protocol/config.ts standbySilenceTimeoutMs), in s. */
const STANDBY_SILENCE_TIMEOUT_S = 1.5;

/** The goals the issue set (shown, not asserted: nothing in the bench passes or fails). */
const GOALS = {
  standbyStallMedianS: 1,
  standbyStallWorstS: 2,
  stripedRatio: 1.6,
  goodputRatio: 0.9,
  /** Issue 11: fronting adds at most this much to the direct channel's start-up (s). */
  frontingAddsAtMostS: 0.5,
  /** Issue 8: whole-device (TUN) goodput at least this share of SOCKS5 goodput through the same client. */
  tunRatio: 0.8,
} as const;

function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(62)} ${value}\n`);
}

function verdict(met: boolean): string {
  return met ? 'goal met' : 'goal NOT met';
}

function seconds(values: readonly number[]): string {
  return values.map((value) => value.toFixed(2)).join(', ');
}

/** Time to first byte of one small request through SOCKS5 (curl's own measurement), in seconds. */
function curlTimeToFirstByte(socksPort: number, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['--silent', '--max-time', '60', '--socks5-hostname', `127.0.0.1:${socksPort}`, '--output', '/dev/null', '--write-out', '%{time_starttransfer}', url],
      (error, stdout) => {
        if (error) reject(error);
        else resolve(Number(stdout));
      },
    );
  });
}

/** The longest pause in one download with no kill: what "stall" means when nothing goes wrong. */
async function noKillStall(socksPort: number, originPort: number): Promise<number> {
  const download = await startSocksDownload(socksPort, 'localhost', originPort, '/file');
  return (await download.done).longestStallMs / 1000;
}

/** Starts a LocalNetwork on `servers`, runs `measure` on it, and stops it (its browsers) whatever happens. */
async function withNetwork(
  servers: NetworkServers,
  options: Omit<LocalNetworkOptions, 'servers' | 'headless' | 'clientBypassList'>,
  measure: (network: LocalNetwork) => Promise<void>,
): Promise<void> {
  const network = await LocalNetwork.start({ servers, headless: true, clientBypassList: ['<-loopback>'], ...options });
  try {
    await measure(network);
  } finally {
    await network.stop();
  }
}

function killStallLines(label: string, stalls: Awaited<ReturnType<typeof measureKillStalls>>, kills: number): void {
  line(
    `stall when the carrier is killed, ${label}, ${kills} kills`,
    `median ${median(stalls.stallsSeconds).toFixed(2)} s, worst ${Math.max(...stalls.stallsSeconds).toFixed(2)} s`,
  );
  line('  each kill', seconds(stalls.stallsSeconds));
  line('  kills that came after the download had ended (not stalls)', `${stalls.killsAfterTheEnd}`);
  line(`  bytes lost (rounds whose SHA-256 differed: ${stalls.roundsCorrupted})`, `${stalls.bytesLost}`);
}

/**
 * The client as it ships (Proxy me keeps 2 volunteers, one carrying, one standing by): start-up, goodput against raw
 * in alternating rounds, the longest gap on a healthy path, and the kill stall with a standby.
 */
async function standbyNetworkFigures(
  servers: NetworkServers,
  origin: OriginServer,
  counts: { runs: number; goodputRounds: number; healthyDownloads: number; kills: number },
): Promise<void> {
  await withNetwork(servers, { volunteers: 2, connectClient: false, clientSettings: { proxyPaths: 2, stripePaths: false } }, async (network) => {
    // Start-up: Proxy me switched on -> helper started -> volunteer found -> handshake -> first byte from the origin.
    const startups: number[] = [];
    for (let run = 0; run < counts.runs; run++) {
      const started = performance.now();
      await network.client.setSwitch('proxy-me', true);
      const state = await network.client.waitForProxyMe(['finding-volunteer', 'connected']);
      const untilCurl = (performance.now() - started) / 1000;
      const firstByte = await curlTimeToFirstByte(state.proxyMe.socksPort, `http://localhost:${origin.port}/page.html`);
      startups.push(untilCurl + firstByte);
      if (run < counts.runs - 1) {
        await network.client.setSwitch('proxy-me', false);
        await network.client.waitForProxyMe(['off']);
      }
    }
    line('Proxy me on -> first proxied byte (median)', `${median(startups).toFixed(2)} s  (runs: ${seconds(startups)})`);
    await network.client.waitForProxyMe(['connected']);

    const rounds = await measureGoodputRounds(network, origin, counts.goodputRounds);
    const plain = rounds.map((round) => round.plainPagesMegabytesPerSecond);
    const offscreen = rounds.map((round) => round.offscreenDocumentsMegabytesPerSecond);
    const ferry = rounds.map((round) => round.ferryMegabytesPerSecond);
    const toPlain = rounds.map((round) => round.ferryMegabytesPerSecond / round.plainPagesMegabytesPerSecond);
    const toOffscreen = rounds.map((round) => round.ferryMegabytesPerSecond / round.offscreenDocumentsMegabytesPerSecond);
    const megabytes = (values: number[]): string => `median ${median(values).toFixed(1)} MB/s  (rounds: ${values.map((v) => v.toFixed(1)).join(', ')})`;
    line('raw data channel, Chromium -> Chromium, plain pages (baseline)', megabytes(plain));
    line('raw data channel, extension offscreen -> offscreen document', megabytes(offscreen));
    line('  offscreen documents / plain pages', `${(median(offscreen) / median(plain)).toFixed(2)} x`);
    line('end-to-end goodput, SOCKS5 through the whole path', megabytes(ferry));
    const spread = (ratios: number[]): string => `${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)}`;
    line(
      `  / raw plain pages, per round (${rounds.length} alternating rounds)`,
      `median ${median(toPlain).toFixed(2)} x, spread ${spread(toPlain)}  ${verdict(median(toPlain) >= GOALS.goodputRatio)} (>= ${GOALS.goodputRatio} x)`,
    );
    line('  / raw offscreen documents, per round', `median ${median(toOffscreen).toFixed(2)} x, spread ${spread(toOffscreen)}`);
    // Both run near the machine's 2 cores: Ferry's extra processes (exit, helper, curl, origin) take CPU the raw
    // transfer's two browsers would otherwise have.
    const cores = (values: number[]): string => `median ${median(values).toFixed(2)} cores  (rounds: ${values.map((v) => v.toFixed(2)).join(', ')})`;
    line('  machine busy during the raw offscreen transfers', cores(rounds.map((round) => round.offscreenDocumentsMachineCores)));
    line('  machine busy during the Ferry transfers', cores(rounds.map((round) => round.ferryMachineCores)));
    // Where each byte's CPU goes (medians over the rounds): the raw transfer's two browsers against Ferry's parts.
    const cpuLine = (label: string, perRound: Array<Record<string, number>>): void => {
      const names = Object.keys(perRound[0] ?? {});
      line(label, names.map((name) => `${name} ${median(perRound.map((readings) => readings[name] ?? 0)).toFixed(1)}`).join(', '));
    };
    cpuLine(
      '  CPU ms per MiB, raw offscreen transfer',
      rounds.map((round) => round.offscreenDocumentsCpuMsPerMiB),
    );
    cpuLine(
      '  CPU ms per MiB, Ferry transfer',
      rounds.map((round) => round.ferryCpuMsPerMiB),
    );

    const gaps = await measureHealthyPathGaps(network, origin, counts.healthyDownloads);
    const longestGap = Math.max(...gaps.longestGapsSeconds);
    line(
      `longest gap between bytes on a healthy path, ${gaps.downloads} downloads`,
      `${longestGap.toFixed(2)} s = ${(longestGap / STANDBY_SILENCE_TIMEOUT_S).toFixed(2)} x the ${STANDBY_SILENCE_TIMEOUT_S} s standby silence threshold  (each: ${seconds(gaps.longestGapsSeconds)})`,
    );
    line('  volunteer changes meanwhile (none was killed)', `${gaps.pathChanges}; fewest volunteers held at once ${gaps.fewestVolunteers}`);

    const stalls = await measureKillStalls(network, origin, counts.kills, 2);
    killStallLines('with a standby', stalls, counts.kills);
    line(
      `  goals: median <= ${GOALS.standbyStallMedianS} s, worst <= ${GOALS.standbyStallWorstS} s`,
      `${verdict(median(stalls.stallsSeconds) <= GOALS.standbyStallMedianS)} (median), ${verdict(Math.max(...stalls.stallsSeconds) <= GOALS.standbyStallWorstS)} (worst)`,
    );
  });
}

/** The client with one volunteer at a time (proxyPaths 1): a killed carrier is noticed by silence and a new match. */
async function singlePathKillFigures(servers: NetworkServers, origin: OriginServer, kills: number): Promise<void> {
  // One carries; the other waits at the broker to be matched once the first is gone (each kill adds a replacement).
  await withNetwork(servers, { volunteers: 2, clientSettings: { proxyPaths: 1, stripePaths: false } }, async (network) => {
    const stalls = await measureKillStalls(network, origin, kills, 1);
    killStallLines('no standby', stalls, kills);
    line('  (baseline: the same download with no kill would stall)', `${(await noKillStall(await network.socksPort(), origin.port)).toFixed(2)} s at most`);
  });
}

/** Two volunteers capped at `capMbps` each: one download through one, then one striped over both, in pairs. */
async function stripedFigures(servers: NetworkServers, origin: OriginServer, options: { capMbps: number; pairs: number }): Promise<void> {
  await withNetwork(
    servers,
    { volunteers: 2, volunteerSettings: { maxMbps: options.capMbps }, clientSettings: { proxyPaths: 1, stripePaths: false } },
    async (network) => {
      const goodput = await measureStripedGoodput(network, origin, options.pairs);
      const ratios = goodput.stripedMegabytesPerSecond.map((striped, index) => striped / (goodput.singleMegabytesPerSecond[index] ?? Number.NaN));
      const cap = `${options.capMbps} Mbit/s = ${((options.capMbps * 1e6) / 8 / 1e6).toFixed(2)} MB/s`;
      const megabytes = (values: number[]): string => `median ${median(values).toFixed(2)} MB/s  (pairs: ${values.map((v) => v.toFixed(2)).join(', ')})`;
      line(`one volunteer capped at ${cap} (baseline)`, megabytes(goodput.singleMegabytesPerSecond));
      line('two such volunteers, striped (proxyPaths 2, stripePaths)', megabytes(goodput.stripedMegabytesPerSecond));
      line(
        `  striped / one, per pair (${options.pairs} pairs)`,
        `median ${median(ratios).toFixed(2)} x, spread ${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)}  ${verdict(median(ratios) >= GOALS.stripedRatio)} (>= ${GOALS.stripedRatio} x)`,
      );
    },
  );
}

/** Whole-device (TUN) goodput against SOCKS5 through the same client, SOCKS5 the baseline, in alternating rounds. */
async function tunFigures(fileBytes: number, rounds: number): Promise<void> {
  const result = await measureTunGoodput({ fileBytes, rounds });
  if ('notMeasured' in result) {
    line('whole-device (TUN) and SOCKS5 goodput', `not measured: ${result.notMeasured}`);
    return;
  }
  const socks = result.rounds.map((round) => round.socksMegabytesPerSecond);
  const tun = result.rounds.map((round) => round.tunMegabytesPerSecond);
  const ratios = result.rounds.map((round) => round.tunMegabytesPerSecond / round.socksMegabytesPerSecond);
  const megabytes = (values: number[]): string => `median ${median(values).toFixed(1)} MB/s  (rounds: ${values.map((v) => v.toFixed(1)).join(', ')})`;
  line('goodput, SOCKS5 mode, client in a namespace (baseline)', megabytes(socks));
  line('goodput, whole-device (TUN) mode, same client, no proxy set', megabytes(tun));
  line(
    `  TUN / SOCKS5, per round (${result.rounds.length} alternating rounds)`,
    `median ${median(ratios).toFixed(2)} x, spread ${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)}  ${verdict(median(ratios) >= GOALS.tunRatio)} (>= ${GOALS.tunRatio} x)`,
  );
}

export async function runBench(argv: string[]): Promise<void> {
  // `ferry bench network` (npm run bench:network): the broker's and the exit's capacity, in bench/network.ts.
  if (argv[0] === 'network') {
    await (await import('./network.ts')).runNetworkBench(argv.slice(1));
    return;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      megabytes: { type: 'string', default: '64' },
      runs: { type: 'string', default: '3' },
      kills: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '3' },
      'cap-mbps': { type: 'string', default: '40' },
      only: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const parts = chosenParts(values.only);
  const totalBytes = Number(values.megabytes) * 1024 * 1024;
  const runs = Number(values.runs);
  const kills = Number(values.kills);
  const goodputRounds = Number(values.rounds);
  const capMbps = Number(values['cap-mbps']);
  const healthyDownloads = HEALTHY_DOWNLOADS;
  const stripedPairs = STRIPED_PAIRS;
  process.stdout.write(`ferry bench: ${values.megabytes} MiB per throughput figure, ${runs} start-up runs, ${new Date().toISOString()}\n\n`);

  if (parts.has('widget')) {
    const widget = measureWidgetSize();
    line(
      'widget, gzipped: embed.js, its frame and all the frame loads',
      `${(widget.gzipBytes / 1000).toFixed(1)} kB = ${(widget.gzipBytes / WIDGET_GZIP_BUDGET_BYTES).toFixed(2)} x the ${WIDGET_GZIP_BUDGET_BYTES / 1000} kB budget`,
    );
  }

  if (parts.has('standby') || parts.has('no-standby') || parts.has('striping')) {
    const origin = await startOriginServer(totalBytes);
    // Each its own process, started as in production (with the exit's V8 flags), so its CPU is read apart.
    const servers = await startServerProcesses({ brokerPort: 0, exitPort: 0 });
    try {
      if (parts.has('standby')) await standbyNetworkFigures(servers, origin, { runs, goodputRounds, healthyDownloads, kills });
      if (parts.has('no-standby')) await singlePathKillFigures(servers, origin, kills);
      if (parts.has('striping')) await stripedFigures(servers, origin, { capMbps, pairs: stripedPairs });
    } finally {
      await servers.stop();
      await origin.close();
    }
  }

  if (parts.has('rendezvous')) {
    const origin = await startOriginServer(1024 * 1024);
    try {
      const startups = await measureRendezvousStartups(origin, runs, curlTimeToFirstByte);
      const direct = median(startups.direct);
      line('Proxy me on -> first byte, direct channel (baseline)', `median ${direct.toFixed(2)} s  (runs: ${seconds(startups.direct)})`);
      for (const kind of ['fronted', 'cache'] as const) {
        const figure = median(startups[kind]);
        const goal = kind === 'fronted' ? `  ${verdict(figure - direct <= GOALS.frontingAddsAtMostS)} (<= +${GOALS.frontingAddsAtMostS} s)` : '';
        line(`  through the ${kind} channel`, `median ${figure.toFixed(2)} s = +${(figure - direct).toFixed(2)} s  (runs: ${seconds(startups[kind])})${goal}`);
      }
    } finally {
      await origin.close();
    }
  }

  if (parts.has('volunteer-cpu')) {
    for (const [label, value] of volunteerCpuLines(await measureVolunteerCpu({ fileBytes: totalBytes }))) line(label, value);
  }

  if (parts.has('wrtc')) {
    // @roamhq/wrtc's native stack has been seen to stall on this machine (2026-11-27); a bounded wait keeps the other
    // figures, and says so, instead of hanging the whole bench.
    try {
      const rawWrtc = await withTimeout(measureRawWrtc(totalBytes), 'the Node @roamhq/wrtc raw transfer', WRTC_TIMEOUT_MS);
      const simplePeer = await withTimeout(measureSimplePeer(totalBytes), 'the Node @roamhq/wrtc simple-peer transfer', WRTC_TIMEOUT_MS);
      line('Node @roamhq/wrtc, raw RTCPeerConnection (baseline)', `${rawWrtc.megabytesPerSecond.toFixed(1)} MB/s`);
      line(
        'Node @roamhq/wrtc, simple-peer',
        `${simplePeer.megabytesPerSecond.toFixed(1)} MB/s = ${(simplePeer.megabytesPerSecond / rawWrtc.megabytesPerSecond).toFixed(2)} x raw`,
      );
    } catch (error) {
      if (!(error instanceof WaitTimeoutError)) throw error;
      line('Node @roamhq/wrtc, raw and simple-peer', `not measured: ${error.message}`);
    }
  }

  if (parts.has('tun')) await tunFigures(totalBytes, goodputRounds);
  process.exit(0);
}
