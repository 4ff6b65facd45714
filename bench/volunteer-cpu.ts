/**
 * @module bench/volunteer-cpu
 * A volunteer's CPU time per MiB relayed, and its memory, for `ferry volunteer` with each engine (by default its own
 * headless Chromium, counted as the whole tree: the Node process and Chromium's; and node-datachannel, the Node
 * process alone) and for the extension's volunteer (a real Chromium with Help others on: the whole process tree, browser, offscreen
 * document's renderer, GPU, utility and network service processes together), each against a plain Node TCP relay
 * process (bench/tcp-relay.ts, the baseline) carrying the same file from the same origin.
 *
 * The client is a real one: a Chromium with the Ferry extension and Proxy me on, its native helper, a broker and an
 * exit (in this process); curl downloads the origin's file through the helper's SOCKS5 port, so the bytes cross the
 * one volunteer the broker knows. Only the volunteer's CPU is counted (utime + stime from /proc, before and after
 * each download); the client, the helper, the exit and the origin are not. Each volunteer in turn: one uncounted
 * warm-up (both processes compile their hot code first), then `rounds` rounds of one download through the volunteer
 * and one through the plain relay, interleaved so both see the same moments of the machine; each figure is the median
 * over the rounds. The plain relay costs so little per byte that one file would be a few of /proc's 10 ms ticks, so
 * each of its rounds moves the file several times over (at least BASELINE_BYTES_PER_ROUND).
 *
 * Run alone: `node --import tsx bench/volunteer-cpu.ts [--megabytes N] [--rounds N]`; `ferry bench` runs it too.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { FerryUser } from '../harness/ferry-user.ts';
import { LocalNetwork } from '../harness/local-network.ts';
import { type OriginServer, startOriginServer } from '../harness/origin-server.ts';
import { terminate } from '../harness/processes.ts';
import { spawnFerry, startServersInProcess } from '../harness/servers.ts';
import { socksFetch } from '../harness/socks-fetch.ts';
import { median } from './median.ts';
import { readProcessTreeCpuSeconds, readProcessTreePssKiB } from './process-stats.ts';
import { startTcpRelayProcess } from './server-processes.ts';

const MIB = 1024 * 1024;
/** Measured rounds after the warm-up (default); each figure is the median over them. */
export const DEFAULT_VOLUNTEER_CPU_ROUNDS = 3;
/** The least the plain relay moves per round: about 0.7 CPU s here (docs/benchmarks.md), far above a 10 ms tick. */
const BASELINE_BYTES_PER_ROUND = 1024 * MIB;
/** Longest one download through a volunteer may take (s): 64 MiB at Chromium's slowest seen here is about 10 s. */
const VOLUNTEER_DOWNLOAD_TIMEOUT_S = 300;
/** Longest one round of plain-relay downloads may take (s). */
const BASELINE_DOWNLOAD_TIMEOUT_S = 120;
/** The `ferry volunteer` ready lines: its metrics address (printed first), then its pid once the broker welcomed it. */
const NODE_VOLUNTEER_READY = /metrics at (http:\/\/\S+)[\s\S]*ferry volunteer: waiting at \S+ \(pid (\d+)\)/;

/** A volunteer download or a plain relay download did not arrive whole; the message says which and how. */
export class VolunteerCpuBenchError extends Error {
  override readonly name = 'VolunteerCpuBenchError';
  readonly code = 'FERRY_ERR_BENCH_VOLUNTEER_CPU';
}

export interface VolunteerCpuFigure {
  /** The volunteer's CPU seconds per MiB of the file relayed (median over the rounds). */
  cpuSecondsPerMiB: number;
  /** The plain relay's CPU seconds per MiB in the rounds interleaved with this volunteer's (median). */
  baselineCpuSecondsPerMiB: number;
  /** cpuSecondsPerMiB / baselineCpuSecondsPerMiB. */
  ratio: number;
  /** Each round's own ratio, in order: how far the figure moves from round to round. */
  roundRatios: number[];
  /** The download's goodput through the volunteer (median over the rounds), MB/s. */
  megabytesPerSecond: number;
  /** Bytes the volunteer itself counted as relayed exit -> client over the whole measurement (warm-up included). */
  volunteerCountedBytes: number;
  /** The volunteer's memory after the rounds, with its client connected: the Pss of its whole process tree (MiB). */
  memoryMiB: number;
}

export interface VolunteerCpuResult {
  /** `ferry volunteer`, its default engine: the relay in its own headless Chromium. */
  chromiumEngine: VolunteerCpuFigure;
  /** `ferry volunteer --engine node-datachannel`. */
  node: VolunteerCpuFigure;
  extension: VolunteerCpuFigure;
  /** The file's size: bytes of each download through a volunteer. */
  fileBytes: number;
  /** How many times the plain relay moves the file per round. */
  baselineCopiesPerRound: number;
  rounds: number;
}

export interface VolunteerCpuOptions {
  /** Bytes of the file downloaded through each volunteer per round. */
  fileBytes: number;
  rounds?: number;
  /** Progress lines (which volunteer is being measured); none when absent. */
  log?(line: string): void;
}

/** Downloads the origin's file `copies` times in one curl run through the plain relay, and checks every copy's size. */
function downloadThroughPlainRelay(relayPort: number, copies: number, fileBytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // A URL range makes curl fetch the file `copies` times (to /dev/null) and print each download's size.
    const url = `http://127.0.0.1:${relayPort}/file?copy=[1-${copies}]`;
    execFile(
      'curl',
      ['--silent', '--show-error', '--max-time', String(BASELINE_DOWNLOAD_TIMEOUT_S), '--output', '/dev/null', '--write-out', '%{size_download}\\n', url],
      (error, stdout, stderr) => {
        const sizes = stdout.trim().split('\n').map(Number);
        if (error) reject(new VolunteerCpuBenchError(`a download through the plain TCP relay failed: ${stderr.trim() || error.message}`));
        else if (sizes.length !== copies || sizes.some((size) => size !== fileBytes))
          reject(new VolunteerCpuBenchError(`the plain TCP relay carried ${sizes.join(', ')} bytes, not ${copies} x ${fileBytes}`));
        else resolve();
      },
    );
  });
}

/** Downloads the origin's file through the client's SOCKS5 port (so through the volunteer) and checks its SHA-256; returns MB/s. */
async function downloadThroughVolunteer(socksPort: number, origin: OriginServer): Promise<number> {
  const result = await socksFetch(socksPort, `http://localhost:${origin.port}/file`, { timeoutSeconds: VOLUNTEER_DOWNLOAD_TIMEOUT_S });
  if (!result.ok) throw new VolunteerCpuBenchError(`a download through the volunteer failed (curl exit ${result.exitCode}): ${result.stderr.trim()}`);
  if (result.sha256 !== origin.sha256)
    throw new VolunteerCpuBenchError(`a download through the volunteer arrived altered: ${result.bytes} bytes, wrong SHA-256`);
  return result.bytes / 1e6 / (result.elapsedMs / 1000);
}

/** CPU seconds `readCpu` grows by while `work` runs, and what `work` returned. */
async function cpuDuring<T>(readCpu: () => number, work: () => Promise<T>): Promise<{ cpuSeconds: number; value: T }> {
  const before = readCpu();
  const value = await work();
  return { cpuSeconds: readCpu() - before, value };
}

interface Rig {
  origin: OriginServer;
  relay: { pid: number; port: number };
  network: LocalNetwork;
  fileBytes: number;
  copies: number;
  rounds: number;
}

/** One warm-up, then `rig.rounds` interleaved rounds (volunteer download, plain relay downloads) for one volunteer. */
async function measureVolunteer(rig: Rig, volunteerPid: number, countedBytes: () => Promise<number>): Promise<VolunteerCpuFigure> {
  const socksPort = await rig.network.socksPort();
  const countedBefore = await countedBytes();
  const volunteerCpu = (): number => readProcessTreeCpuSeconds(volunteerPid);
  const relayCpu = (): number => readProcessTreeCpuSeconds(rig.relay.pid);
  const fileMiB = rig.fileBytes / MIB;
  // Not counted: the first bytes through a fresh path compile the volunteer's and the relay's hot code.
  await downloadThroughVolunteer(socksPort, rig.origin);
  await downloadThroughPlainRelay(rig.relay.port, rig.copies, rig.fileBytes);
  const volunteerPerMiB: number[] = [];
  const baselinePerMiB: number[] = [];
  const speeds: number[] = [];
  for (let round = 0; round < rig.rounds; round++) {
    const volunteer = await cpuDuring(volunteerCpu, () => downloadThroughVolunteer(socksPort, rig.origin));
    const baseline = await cpuDuring(relayCpu, () => downloadThroughPlainRelay(rig.relay.port, rig.copies, rig.fileBytes));
    volunteerPerMiB.push(volunteer.cpuSeconds / fileMiB);
    baselinePerMiB.push(baseline.cpuSeconds / (fileMiB * rig.copies));
    speeds.push(volunteer.value);
  }
  const volunteerCountedBytes = (await countedBytes()) - countedBefore;
  // Every download's bytes crossed this volunteer (the broker knows no other): its own count must say so.
  const downloaded = rig.fileBytes * (rig.rounds + 1);
  if (volunteerCountedBytes < downloaded)
    throw new VolunteerCpuBenchError(`the volunteer counted ${volunteerCountedBytes} bytes relayed to the client, fewer than the ${downloaded} downloaded`);
  const cpuSecondsPerMiB = median(volunteerPerMiB);
  const baselineCpuSecondsPerMiB = median(baselinePerMiB);
  const memoryMiB = readProcessTreePssKiB(volunteerPid) / 1024;
  return {
    memoryMiB,
    cpuSecondsPerMiB,
    baselineCpuSecondsPerMiB,
    ratio: cpuSecondsPerMiB / baselineCpuSecondsPerMiB,
    roundRatios: volunteerPerMiB.map((perMiB, round) => perMiB / (baselinePerMiB[round] ?? Number.NaN)),
    megabytesPerSecond: median(speeds),
    volunteerCountedBytes,
  };
}

/** Reads `ferry volunteer`'s own count of bytes relayed from exits to clients, from its Prometheus metrics. */
async function ferryVolunteerBytesToClient(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const match = /^ferry_volunteer_relayed_bytes_total\{direction="to_client"\} (\d+)$/m.exec(text);
  if (!match) throw new VolunteerCpuBenchError(`${metricsUrl} has no ferry_volunteer_relayed_bytes_total{direction="to_client"} line`);
  return Number(match[1]);
}

/** Switches the client's Proxy me on and waits until it has a path (through whichever volunteer the broker offers). */
async function connectClient(client: FerryUser): Promise<void> {
  await client.setSwitch('proxy-me', true);
  await client.waitForProxyMe(['connected']);
}

async function disconnectClient(client: FerryUser): Promise<void> {
  await client.setSwitch('proxy-me', false);
  await client.waitForProxyMe(['off']);
}

export async function measureVolunteerCpu(options: VolunteerCpuOptions): Promise<VolunteerCpuResult> {
  const log = options.log ?? (() => {});
  const rounds = Math.max(1, options.rounds ?? DEFAULT_VOLUNTEER_CPU_ROUNDS);
  const fileBytes = options.fileBytes;
  const copies = Math.max(1, Math.ceil(BASELINE_BYTES_PER_ROUND / fileBytes));
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const origin = await startOriginServer(fileBytes);
    cleanups.push(() => origin.close());
    const relayProcess = await startTcpRelayProcess([origin.port]);
    cleanups.push(() => relayProcess.stop());
    const servers = await startServersInProcess();
    cleanups.push(() => servers.stop());
    // No volunteer yet: each is started alone, so the broker can offer the client no other.
    const network = await LocalNetwork.start({ servers, volunteers: 0, headless: true, clientBypassList: ['<-loopback>'], connectClient: false });
    cleanups.push(() => network.stop());
    const rig: Rig = { origin, relay: { pid: relayProcess.pid, port: relayProcess.ports[0] ?? 0 }, network, fileBytes, copies, rounds };

    const measureFerryVolunteer = async (engine: 'chromium' | 'node-datachannel'): Promise<VolunteerCpuFigure> => {
      log(`volunteer CPU: measuring ferry volunteer --engine ${engine}`);
      const started = await spawnFerry(
        ['volunteer', '--engine', engine, '--broker', servers.brokerUrl, '--exit-list-key', servers.exitListKey, '--metrics-port', '0', '--summary-every', '0'],
        NODE_VOLUNTEER_READY,
      );
      const volunteer: ChildProcess = started.child;
      cleanups.push(() => terminate(volunteer));
      const metricsUrl = started.match[1] ?? '';
      await connectClient(network.client);
      // Its whole tree: with the chromium engine, Chromium is the Node process's child.
      const figure = await measureVolunteer(rig, Number(started.match[2]), () => ferryVolunteerBytesToClient(metricsUrl));
      await disconnectClient(network.client);
      await terminate(volunteer);
      return figure;
    };
    const chromiumEngine = await measureFerryVolunteer('chromium');
    const node = await measureFerryVolunteer('node-datachannel');

    log('volunteer CPU: measuring the extension (Chromium, Help others on)');
    const browserVolunteer = await network.addVolunteer();
    await connectClient(network.client);
    const extension = await measureVolunteer(rig, browserVolunteer.pid, async () => (await browserVolunteer.state()).helpOthers.bytesExitToClient);
    return { chromiumEngine, node, extension, fileBytes, baselineCopiesPerRound: copies, rounds };
  } finally {
    // In reverse order of starting; each ends its own processes by PID (harness/processes.ts).
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  }
}

/** The figures as `ferry bench` prints them: [label, value] per line, labels within run.ts's 58 columns. */
export function volunteerCpuLines(result: VolunteerCpuResult): Array<[label: string, value: string]> {
  const ms = (seconds: number): string => (seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1);
  const rounds = (figure: VolunteerCpuFigure): string => figure.roundRatios.map((ratio) => ratio.toFixed(1)).join(', ');
  const volunteerLine = (figure: VolunteerCpuFigure): string =>
    `${ms(figure.cpuSecondsPerMiB)} CPU ms/MiB = ${figure.ratio.toFixed(1)} x baseline  (${figure.megabytesPerSecond.toFixed(1)} MB/s; rounds: ${rounds(figure)} x)`;
  const memory = (figure: VolunteerCpuFigure): string => `${figure.memoryMiB.toFixed(0)} MiB`;
  return [
    [
      `volunteer CPU baseline: plain TCP relay, the file x ${result.baselineCopiesPerRound}`,
      `${ms(result.chromiumEngine.baselineCpuSecondsPerMiB)}, ${ms(result.node.baselineCpuSecondsPerMiB)}, ${ms(result.extension.baselineCpuSecondsPerMiB)} CPU ms/MiB beside the three below`,
    ],
    [`ferry volunteer (Chromium engine, tree), CPU per MiB`, volunteerLine(result.chromiumEngine)],
    [`ferry volunteer --engine node-datachannel, CPU per MiB`, volunteerLine(result.node)],
    [`extension volunteer (Chromium tree), CPU per MiB relayed`, volunteerLine(result.extension)],
    [
      `volunteer memory (Pss of the tree, client connected)`,
      `Chromium engine ${memory(result.chromiumEngine)}, node-datachannel ${memory(result.node)}, extension browser ${memory(result.extension)}`,
    ],
  ];
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { megabytes: { type: 'string', default: '64' }, rounds: { type: 'string' } } });
  const result = await measureVolunteerCpu({
    fileBytes: Number(values.megabytes) * MIB,
    ...(values.rounds === undefined ? {} : { rounds: Number(values.rounds) }),
    log: (text) => process.stderr.write(`${text}\n`),
  });
  for (const [label, value] of volunteerCpuLines(result)) process.stdout.write(`${label.padEnd(58)} ${value}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
