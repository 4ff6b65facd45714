/**
 * @module bench/run
 * `ferry bench` (npm run bench): the speed figures, each printed with its baseline measured in the same run, since
 * this machine is noisy. Nothing here passes or fails; docs/benchmarks.md records what it printed.
 */

import { execFile } from 'node:child_process';
import { parseArgs } from 'node:util';
import { LocalNetwork } from '../harness/local-network.ts';
import { startOriginServer } from '../harness/origin-server.ts';
import { startServersInProcess } from '../harness/servers.ts';
import { startSocksDownload } from '../harness/socks-download.ts';
import { socksFetch } from '../harness/socks-fetch.ts';
import { runVolunteerChurn } from '../harness/volunteer-churn.ts';
import { WaitTimeoutError, withTimeout } from '../harness/wait.ts';
import { measureRawDataChannel } from './raw-datachannel.ts';
import { measureRawWrtc, measureSimplePeer } from './simple-peer.ts';
import { measureVolunteerCpu, volunteerCpuLines } from './volunteer-cpu.ts';
import { measureWidgetSize, WIDGET_GZIP_BUDGET_BYTES } from './widget-size.ts';

const USAGE = `Usage: ferry bench [--megabytes N] [--runs N]
       ferry bench network [options]   (the broker's and the exit's capacity; ferry bench network --help)

Measures, in one run on this machine:
  - the widget's size, gzipped, against its 50 kB budget
  - raw data-channel throughput between two Chromium processes (the baseline)
  - end-to-end goodput through the whole path (SOCKS5 -> helper -> client Chromium -> volunteer Chromium -> exit),
    and its ratio to the raw figure
  - the time from switching Proxy me on to the first proxied byte (median of --runs)
  - the median and worst stall (time with no bytes) when the volunteer carrying a download is killed, and the
    bytes lost (must be 0)
  - a volunteer's CPU time per MiB relayed, for ferry volunteer (Node) and the extension (whole Chromium tree), each
    against a plain TCP relay process carrying the same file (the baseline)
  - simple-peer against the raw RTCPeerConnection API (Node, @roamhq/wrtc)

Options:
  --megabytes N   bytes to move per throughput figure, in MiB (default 64)
  --runs N        Proxy me start-up measurements (default 3)
  --kills N       volunteer kills for the stall figures (default 10)
  --help          show this help
`;

/** Longest a Node @roamhq/wrtc transfer may take before the bench gives up on that figure (ms). */
const WRTC_TIMEOUT_MS = 120_000;

function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(58)} ${value}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
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
      kills: { type: 'string', default: '10' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const totalBytes = Number(values.megabytes) * 1024 * 1024;
  const runs = Number(values.runs);
  const churnRounds = Number(values.kills);
  process.stdout.write(`ferry bench: ${values.megabytes} MiB per throughput figure, ${runs} start-up runs, ${new Date().toISOString()}\n\n`);

  const widget = measureWidgetSize();
  line(
    'widget, gzipped: embed.js, its frame and all the frame loads',
    `${(widget.gzipBytes / 1000).toFixed(1)} kB = ${(widget.gzipBytes / WIDGET_GZIP_BUDGET_BYTES).toFixed(2)} x the ${WIDGET_GZIP_BUDGET_BYTES / 1000} kB budget`,
  );

  const raw = await measureRawDataChannel(totalBytes);
  line('raw data channel, Chromium -> Chromium (baseline)', `${raw.megabytesPerSecond.toFixed(1)} MB/s`);

  const origin = await startOriginServer(totalBytes);
  const servers = await startServersInProcess();
  const network = await LocalNetwork.start({ servers, volunteers: 1, headless: true, clientBypassList: ['<-loopback>'], connectClient: false });
  try {
    // Start-up: Proxy me switched on -> helper started -> volunteer found -> handshake -> first byte from the origin.
    const startups: number[] = [];
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      await network.client.setSwitch('proxy-me', true);
      const state = await network.client.waitForProxyMe(['finding-volunteer', 'connected']);
      const untilCurl = (performance.now() - started) / 1000;
      const firstByte = await curlTimeToFirstByte(state.proxyMe.socksPort, `http://localhost:${origin.port}/page.html`);
      startups.push(untilCurl + firstByte);
      if (run < runs - 1) {
        await network.client.setSwitch('proxy-me', false);
        await network.client.waitForProxyMe(['off']);
      }
    }
    line('Proxy me on -> first proxied byte (median)', `${median(startups).toFixed(2)} s  (runs: ${startups.map((s) => s.toFixed(2)).join(', ')})`);

    await network.client.waitForProxyMe(['connected']);
    const socksPort = await network.socksPort();
    await socksFetch(socksPort, `http://localhost:${origin.port}/page.html`); // warm-up
    const result = await socksFetch(socksPort, `http://localhost:${origin.port}/file`, 600);
    if (!result.ok || result.sha256 !== origin.sha256) throw new Error(`the end-to-end transfer failed: ${result.stderr}`);
    const goodput = result.bytes / 1e6 / (result.elapsedMs / 1000);
    line('end-to-end goodput, SOCKS5 through the whole path', `${goodput.toFixed(1)} MB/s = ${(goodput / raw.megabytesPerSecond).toFixed(2)} x raw`);

    // Churn: the volunteer carrying a download is killed mid-way; how long do bytes stop, and is anything lost?
    // A second volunteer waits to take over (each killed one is replaced).
    await network.addVolunteer();
    const rounds = await runVolunteerChurn({
      network,
      originPort: origin.port,
      path: '/file',
      fileBytes: totalBytes,
      rounds: churnRounds,
      killAfterBytes: Math.floor(totalBytes / 4),
    });
    const stalls = rounds.map((round) => round.longestStallMs / 1000);
    const bytesLost = rounds.reduce((sum, round) => sum + (round.sha256 === origin.sha256 ? 0 : Math.max(1, totalBytes - round.bytes)), 0);
    line(
      `stall when the carrying volunteer is killed, ${churnRounds} kills`,
      `median ${median(stalls).toFixed(2)} s, worst ${Math.max(...stalls).toFixed(2)} s`,
    );
    line('  (baseline: the same downloads with no kill would stall)', `${(await noKillStall(socksPort, origin.port)).toFixed(2)} s at most`);
    line('bytes lost across those kills', `${bytesLost}`);
  } finally {
    await network.stop();
    await servers.stop();
    await origin.close();
  }

  for (const [label, value] of volunteerCpuLines(await measureVolunteerCpu({ fileBytes: totalBytes }))) line(label, value);

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
  process.exit(0);
}
