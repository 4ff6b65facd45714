/**
 * @module bench/network
 * `ferry bench network` (npm run bench:network): the broker's and the exit's capacity on this machine, each server in
 * its own process and read from /proc, each figure printed with its baseline or its load measured in the same run
 * (this machine is noisy and shared). Nothing here passes or fails; the summary says which of the issue's goals the
 * figures meet, and docs/benchmarks.md records what a run printed.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { defaultExitConfig } from '../exit-server/config.ts';
import { type LocalRedis, startLocalRedis } from '../harness/redis.ts';
import { nodeAeadImplementation } from '../protocol/adapters/node-aead.ts';
import { RELAYING_NODE_FLAGS } from '../protocol/adapters/node-flags.ts';
import type { ExitInfo } from '../protocol/signaling.ts';
import { quantile } from './client-load.ts';
import { type ExitCpuResult, measureExitCpu, type TransferFigure } from './network-exit-cpu.ts';
import { type ExitMemoryResult, measureExitMemory } from './network-exit-memory.ts';
import { type IdleVolunteersResult, measureIdleVolunteers } from './network-idle-volunteers.ts';
import { type MatchingResult, measureMatching } from './network-matching.ts';
import { type CpuShare, raiseOpenFileLimit, readOpenFileLimit } from './process-stats.ts';
import { startBrokerProcess, startExitProcess, stopAllServers, writeExitListFile } from './server-processes.ts';

const USAGE = `Usage: ferry bench network [options]

Measures, in one run on this machine, each server in its own process (memory from VmRSS, CPU from /proc/PID/stat):
  - idle volunteers one broker (default limits) holds, and its memory per volunteer
  - matches per second through one broker, p50/p99 latency (POST to 200), refusals while volunteers had free slots
  - the same through two brokers sharing one Redis, and the ratio to one broker
  - an exit's memory per idle client session
  - an exit's CPU per GiB relayed, next to a plain TCP relay moving the same bytes
Load comes from this process (volunteers answering, clients) and, for the idle crowd, from worker processes; every
peer uses its own 127.x.y.z source address, so no per-address limit is raised.

Options:
  --idle-volunteers N   idle volunteer sockets on one broker (default 20000)
  --volunteers N        answering volunteers for the match figures (default 20)
  --slots N             slots each answering volunteer announces (default 32, the most allowed)
  --answer-delay-ms N   time a volunteer takes to answer an offer (default 2)
  --session-ms N        time a matched client then holds its volunteer's slot (default 100)
  --clients N           clients counted per match figure (default 4000)
  --warm-up-clients N   clients sent first and not counted (default 400)
  --concurrency N       clients in flight at once (default 50)
  --exit-sessions N     idle client sessions on one exit (default 2000)
  --relay-mib N         MiB relayed each way, through the exit and through the plain relay (default 1024)
  --streams N           parallel sessions (exit) or connections (plain relay) carrying them (default 4)
  --help                show this help
`;

/** The goals of the issue, as the summary checks them. */
const GOALS = {
  idleVolunteers: 20_000,
  kibPerVolunteer: 8,
  matchesPerSecond: 2_000,
  p99Ms: 50,
  twoBrokerRatio: 1.6,
  kibPerExitSession: 64,
  exitCpuRatio: 2,
} as const;

/** Exits are not dialled by the match figures' volunteers; the broker only needs a signed list naming one. */
const BENCH_EXIT: ExitInfo = { id: 'bench-exit', url: 'ws://127.0.0.1:9/v1/relay', publicKey: 'mW3pZ8qLZxQ2b1Rj4n0Yc7Vt9Ue6Hs5Gk3Df2Sa1QwE' };
/** Open files wanted for every process holding the idle crowd's sockets (one each, plus room). */
const OPEN_FILES_WANTED = 100_000;

/** Second octets of each part's own source addresses (127.B.x.y): limits counted per address never carry over. */
const ADDRESS_BLOCKS = {
  idleVolunteers: 10, // 10 (warm-up), 11, 12, ... one per worker
  oneBroker: [40, 41, 42],
  oneBrokerRedis: [43, 44, 45],
  twoBrokers: [46, 47, 48],
  exitMemory: [50, 51],
  exitCpu: 52,
} as const;

function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(62)} ${value}\n`);
}

function wholeNumber(text: string, flag: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new Error(`${flag} must be a whole number (got "${text}")`);
  return Number(text);
}

function formatCounts(counts: Map<string, number>): string {
  return counts.size === 0 ? 'none' : [...counts].map(([reason, count]) => `${count} x ${reason}`).join(', ');
}

function formatCpu(share: CpuShare): string {
  const parts = Object.entries(share.cores).map(([name, cores]) => `${name} ${cores.toFixed(2)}`);
  return `${parts.join(', ')}, everything else on the machine ${share.otherCores.toFixed(2)} (cores of ${cpus().length})`;
}

/** Runs one part; a part that fails is reported and the rest still run. */
async function part<T>(name: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    line(name, `not measured: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

function printMatching(label: string, result: MatchingResult): void {
  const { load } = result;
  line(
    `${label}: matches per second`,
    `${result.matchesPerSecond.toFixed(0)}/s  (${load.matches} of ${load.clients} clients in ${(load.elapsedMs / 1000).toFixed(2)} s)`,
  );
  line(`${label}: match latency, POST to 200`, `p50 ${quantile(load.latenciesMs, 0.5).toFixed(1)} ms, p99 ${quantile(load.latenciesMs, 0.99).toFixed(1)} ms`);
  line(
    `${label}: refusals`,
    `${[...load.refusals.values()].reduce((sum, count) => sum + count, 0)} (${formatCounts(load.refusals)}); while volunteers had free slots: ${load.refusalsWithCapacity}`,
  );
  line(
    `${label}: volunteer slots`,
    `${result.volunteersJoined} volunteers x ${result.slotsPerVolunteer}; fewest free at once ${load.fewestFreeSlots}; offers declined for want of a slot ${result.volunteerDeclines}`,
  );
  line(`${label}: CPU during the counted run`, formatCpu(result.cpu));
  const serverCores = Object.entries(result.cpu.cores)
    .filter(([name]) => name.startsWith('broker') || name === 'redis')
    .reduce((sum, [, cores]) => sum + cores, 0);
  line(`${label}: matches per server CPU second`, `${(result.matchesPerSecond / Math.max(0.001, serverCores)).toFixed(0)}`);
}

function printTransfer(label: string, figure: TransferFigure): void {
  line(
    label,
    `${figure.cpuSecondsPerGiB.toFixed(2)} CPU s/GiB  (${(figure.bytes / 1024 ** 3).toFixed(2)} GiB in ${figure.seconds.toFixed(1)} s, ${figure.megabytesPerSecond.toFixed(0)} MB/s; load generator ${figure.loadGeneratorCores.toFixed(2)} cores)`,
  );
}

interface Figures {
  idle: IdleVolunteersResult | undefined;
  one: MatchingResult | undefined;
  oneRedis: MatchingResult | undefined;
  two: MatchingResult | undefined;
  exitMemory: ExitMemoryResult | undefined;
  exitCpu: ExitCpuResult | undefined;
}

function printSummary(figures: Figures): void {
  const { idle, one, two, exitMemory, exitCpu } = figures;
  const p99 = one === undefined ? undefined : quantile(one.load.latenciesMs, 0.99);
  const ratio = one !== undefined && two !== undefined ? two.matchesPerSecond / one.matchesPerSecond : undefined;
  const rows: Array<[goal: string, measured: string, met: boolean | undefined]> = [
    [
      `one broker holds >= ${GOALS.idleVolunteers.toLocaleString('en')} idle volunteers, default limits`,
      idle === undefined ? '-' : `${idle.admitted} of ${idle.attempted}`,
      idle === undefined ? undefined : idle.admitted >= GOALS.idleVolunteers,
    ],
    [
      `  at <= ${GOALS.kibPerVolunteer} KiB each`,
      idle === undefined ? '-' : `${idle.kibPerVolunteer.toFixed(2)} KiB`,
      idle === undefined ? undefined : idle.kibPerVolunteer <= GOALS.kibPerVolunteer,
    ],
    [
      `one broker: >= ${GOALS.matchesPerSecond.toLocaleString('en')} matches/s`,
      one === undefined ? '-' : `${one.matchesPerSecond.toFixed(0)}/s`,
      one === undefined ? undefined : one.matchesPerSecond >= GOALS.matchesPerSecond,
    ],
    [`one broker: p99 <= ${GOALS.p99Ms} ms`, p99 === undefined ? '-' : `${p99.toFixed(1)} ms`, p99 === undefined ? undefined : p99 <= GOALS.p99Ms],
    [
      'no refusal while capacity exists (one and two brokers)',
      one === undefined || two === undefined ? '-' : `${one.load.refusalsWithCapacity} and ${two.load.refusalsWithCapacity}`,
      one === undefined || two === undefined ? undefined : one.load.refusalsWithCapacity === 0 && two.load.refusalsWithCapacity === 0,
    ],
    [
      `two brokers on Redis: >= ${GOALS.twoBrokerRatio} x one`,
      ratio === undefined ? '-' : `${ratio.toFixed(2)} x`,
      ratio === undefined ? undefined : ratio >= GOALS.twoBrokerRatio,
    ],
    [
      `exit: <= ${GOALS.kibPerExitSession} KiB per idle session`,
      exitMemory === undefined ? '-' : `${exitMemory.kibPerSession.toFixed(1)} KiB`,
      exitMemory === undefined ? undefined : exitMemory.kibPerSession <= GOALS.kibPerExitSession,
    ],
    [
      `exit: CPU per GiB <= ${GOALS.exitCpuRatio} x plain TCP relay`,
      exitCpu === undefined ? '-' : `${exitCpu.ratio.toFixed(2)} x`,
      exitCpu === undefined ? undefined : exitCpu.ratio <= GOALS.exitCpuRatio,
    ],
  ];
  process.stdout.write(`\n${'goal'.padEnd(62)} ${'measured'.padEnd(16)} verdict\n`);
  for (const [goal, measured, met] of rows) {
    process.stdout.write(`${goal.padEnd(62)} ${measured.padEnd(16)} ${met === undefined ? 'not measured' : met ? 'met' : 'not met'}\n`);
  }
  const notes = summaryNotes(figures);
  if (notes.length > 0) process.stdout.write(`\n${notes.map((note) => `note: ${note}`).join('\n')}\n`);
}

/** What a reader needs to read a verdict right: a limit of this machine rather than of the code, a saturated CPU. */
function summaryNotes({ idle, one, two }: Figures): string[] {
  const notes: string[] = [];
  if (idle !== undefined && idle.admitted < idle.attempted) {
    const byBroker = [...idle.refused.keys()].filter((reason) => reason.startsWith('HTTP') || reason.startsWith('closed') || reason.startsWith('error'));
    if (byBroker.length === 0 && idle.brokerOpenFileLimit < idle.attempted + 64) {
      notes.push(
        `the broker refused no volunteer itself (no 503, 429 or error message): it held every socket it had a file descriptor for, and this machine allows a process at most ${idle.brokerOpenFileLimit} (it needs about 25 of its own); a broker for ${idle.attempted.toLocaleString('en')} volunteers needs LimitNOFILE= (systemd) or ulimit -n above that`,
      );
    }
  }
  if (one !== undefined && two !== undefined) {
    const used = (share: CpuShare): number => Object.values(share.cores).reduce((sum, cores) => sum + cores, 0) + share.otherCores;
    notes.push(
      `the two-broker run used ${used(two.cpu).toFixed(2)} of ${cpus().length} cores (brokers, Redis, load generator, everything else), the one-broker run ${used(one.cpu).toFixed(2)}: two brokers can only scale where cores are free for them`,
    );
  }
  return notes;
}

async function brokerMatching(
  redis: LocalRedis | undefined,
  brokers: number,
  options: Omit<Parameters<typeof measureMatching>[0], 'brokerUrls' | 'brokerPids' | 'redisPid' | 'addressBlocks'>,
  addressBlocks: readonly [number, number, number],
  exitList: { path: string; exitListKey: string },
): Promise<MatchingResult> {
  const prefix = `ferry-bench-${Math.random().toString(36).slice(2, 8)}:`;
  const started = [];
  try {
    for (let index = 0; index < brokers; index++) {
      started.push(
        await startBrokerProcess({
          exitListFile: exitList.path,
          exitListKey: exitList.exitListKey,
          redisUrl: redis?.url,
          redisPrefix: prefix,
          openFiles: 4_096,
        }),
      );
    }
    return await measureMatching({
      ...options,
      brokerUrls: started.map((broker) => broker.url),
      brokerPids: started.map((broker) => broker.pid),
      redisPid: redis?.pid,
      addressBlocks,
    });
  } finally {
    await Promise.all(started.map((broker) => broker.stop()));
  }
}

export async function runNetworkBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'idle-volunteers': { type: 'string', default: '20000' },
      volunteers: { type: 'string', default: '20' },
      slots: { type: 'string', default: '32' },
      'answer-delay-ms': { type: 'string', default: '2' },
      'session-ms': { type: 'string', default: '100' },
      clients: { type: 'string', default: '4000' },
      'warm-up-clients': { type: 'string', default: '400' },
      concurrency: { type: 'string', default: '50' },
      'exit-sessions': { type: 'string', default: '2000' },
      'relay-mib': { type: 'string', default: '1024' },
      streams: { type: 'string', default: '4' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const idleVolunteers = wholeNumber(values['idle-volunteers'], '--idle-volunteers');
  const exitSessions = wholeNumber(values['exit-sessions'], '--exit-sessions');
  const matching = {
    exitId: BENCH_EXIT.id,
    volunteers: wholeNumber(values.volunteers, '--volunteers'),
    slots: wholeNumber(values.slots, '--slots'),
    answering: { answerDelayMs: wholeNumber(values['answer-delay-ms'], '--answer-delay-ms'), sessionMs: wholeNumber(values['session-ms'], '--session-ms') },
    warmUpClients: wholeNumber(values['warm-up-clients'], '--warm-up-clients'),
    clients: wholeNumber(values.clients, '--clients'),
    concurrency: wholeNumber(values.concurrency, '--concurrency'),
  };
  const relayBytes = wholeNumber(values['relay-mib'], '--relay-mib') * 1024 * 1024;
  const streams = Math.max(1, wholeNumber(values.streams, '--streams'));

  const runStarted = performance.now();
  const [load1, load5] = loadavg();
  process.stdout.write(
    `ferry bench network: ${new Date().toISOString()}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, load average ${load1?.toFixed(2)} / ${load5?.toFixed(2)} (1 / 5 min) at start\n`,
  );
  const ownLimit = raiseOpenFileLimit(process.pid, OPEN_FILES_WANTED);
  line(
    'open-file limit (this process; each server and worker the same)',
    `${ownLimit.soft}${ownLimit.error === undefined ? '' : ` (could not raise to ${OPEN_FILES_WANTED}: ${ownLimit.error}; hard limit ${readOpenFileLimit(process.pid).hard})`}`,
  );
  process.stdout.write('\n');

  const exitList = await writeExitListFile(BENCH_EXIT);
  const figures: Figures = { idle: undefined, one: undefined, oneRedis: undefined, two: undefined, exitMemory: undefined, exitCpu: undefined };
  let redis: LocalRedis | undefined;
  try {
    figures.idle = await part('idle volunteers on one broker', async () => {
      const broker = await startBrokerProcess({ exitListFile: exitList.path, exitListKey: exitList.exitListKey, openFiles: OPEN_FILES_WANTED });
      try {
        return await measureIdleVolunteers(broker, idleVolunteers, ADDRESS_BLOCKS.idleVolunteers);
      } finally {
        await broker.stop();
      }
    });
    if (figures.idle !== undefined) {
      const idle = figures.idle;
      line(
        'idle volunteers admitted by one broker (default limits)',
        `${idle.admitted} of ${idle.attempted} in ${idle.joinSeconds.toFixed(1)} s (${idle.workers} worker processes); refused: ${formatCounts(idle.refused)}`,
      );
      line('  broker open-file limit', String(idle.brokerOpenFileLimit));
      line(
        '  broker memory (VmRSS): before, just joined, idle 5 s later',
        `${(idle.rssBaselineKiB / 1024).toFixed(1)} MiB, ${(idle.rssJoinedKiB / 1024).toFixed(1)} MiB, ${(idle.rssSettledKiB / 1024).toFixed(1)} MiB`,
      );
      line(
        '  broker memory per idle volunteer',
        `${idle.kibPerVolunteer.toFixed(2)} KiB idle  (${idle.kibPerVolunteerJustJoined.toFixed(2)} KiB just after joining)`,
      );
    }

    figures.one = await part('one broker', () => brokerMatching(undefined, 1, matching, ADDRESS_BLOCKS.oneBroker, exitList));
    if (figures.one !== undefined) printMatching('one broker', figures.one);

    redis = await part('Redis', () => startLocalRedis());
    if (redis !== undefined) {
      const shared = redis;
      figures.oneRedis = await part('one broker on Redis', () => brokerMatching(shared, 1, matching, ADDRESS_BLOCKS.oneBrokerRedis, exitList));
      if (figures.oneRedis !== undefined) printMatching('one broker on Redis (reference)', figures.oneRedis);
      figures.two = await part('two brokers on Redis', () => brokerMatching(shared, 2, matching, ADDRESS_BLOCKS.twoBrokers, exitList));
      if (figures.two !== undefined) {
        printMatching('two brokers on Redis', figures.two);
        if (figures.one !== undefined) {
          line('two brokers on Redis / one broker (memory)', `${(figures.two.matchesPerSecond / figures.one.matchesPerSecond).toFixed(2)} x`);
        }
        if (figures.oneRedis !== undefined) {
          line('two brokers on Redis / one broker on Redis', `${(figures.two.matchesPerSecond / figures.oneRedis.matchesPerSecond).toFixed(2)} x`);
        }
      }
      await redis.stop();
      redis = undefined;
    }

    figures.exitMemory = await part('exit memory per idle session', async () => {
      // Room for every session: the default allows 1,000; its outbound reserve (192 KiB each) is only accounting.
      const maxSessions = Math.max(defaultExitConfig.maxSessions, exitSessions + 100);
      const reserveMiB = Math.ceil((maxSessions * defaultExitConfig.reservedQueuedBytesPerSession + defaultExitConfig.maxQueuedBytesPerSession) / 1024 / 1024);
      const flags = maxSessions > defaultExitConfig.maxSessions ? ['--max-sessions', String(maxSessions), '--max-queued-mib', String(reserveMiB)] : [];
      const exit = await startExitProcess(flags, OPEN_FILES_WANTED);
      try {
        const result = await measureExitMemory(exit, exitSessions, ADDRESS_BLOCKS.exitMemory);
        line(
          'exit: idle client sessions opened',
          `${result.opened} of ${result.attempted} in ${result.openSeconds.toFixed(1)} s${flags.length > 0 ? ` (ferry exit ${flags.join(' ')})` : ''}; failed: ${formatCounts(result.failed)}`,
        );
        line(
          '  exit memory (VmRSS): before, idle 5 s later',
          `${(result.rssBaselineKiB / 1024).toFixed(1)} MiB, ${(result.rssSettledKiB / 1024).toFixed(1)} MiB; exit CPU while idle ${result.idleCores.toFixed(2)} cores`,
        );
        line('  exit memory per idle session', `${result.kibPerSession.toFixed(1)} KiB`);
        return result;
      } finally {
        await exit.stop();
      }
    });

    figures.exitCpu = await part('exit CPU per GiB', async () => {
      const exit = await startExitProcess([], OPEN_FILES_WANTED);
      line('exit: started as', `node ${RELAYING_NODE_FLAGS.join(' ')} bin/ferry.js exit; ChaCha20-Poly1305 through the ${nodeAeadImplementation}`);
      try {
        const result = await measureExitCpu({ exit, totalBytes: relayBytes, streams, addressBlock: ADDRESS_BLOCKS.exitCpu });
        printTransfer('plain TCP relay, download (baseline)', result.relayDownload);
        printTransfer('exit, download (origin -> client)', result.exitDownload);
        printTransfer('plain TCP relay, upload (baseline)', result.relayUpload);
        printTransfer('exit, upload (client -> origin)', result.exitUpload);
        line(
          'exit CPU per GiB, both ways',
          `${result.exitCpuPerGiB.toFixed(2)} s/GiB = ${result.ratio.toFixed(2)} x the plain relay's ${result.relayCpuPerGiB.toFixed(2)} s/GiB`,
        );
        line(
          '  each round on its own',
          `${result.roundRatios.map((ratio) => `${ratio.toFixed(2)} x`).join(', ')} (the figures above are medians of ${result.roundRatios.length} rounds, after one warm-up)`,
        );
        return result;
      } finally {
        await exit.stop();
      }
    });

    printSummary(figures);
    const [end1] = loadavg();
    process.stdout.write(`\nthe whole run took ${((performance.now() - runStarted) / 1000).toFixed(0)} s; load average ${end1?.toFixed(2)} at the end\n`);
  } finally {
    await redis?.stop();
    await stopAllServers();
    await exitList.remove();
  }
  process.exit(0);
}
