/**
 * @module bench/process-stats
 * What a process costs, read from Linux's /proc: resident memory (VmRSS in /proc/PID/status; for a process tree its
 * proportional share, Pss in /proc/PID/smaps_rollup, so pages its processes share count once) and CPU time used so far
 * (utime + stime in /proc/PID/stat, of one process or of a whole process tree such as a browser's), and raising a
 * process's open-file limit with util-linux `prlimit`. The network benchmark reads the broker's and the exit's own
 * processes this way, from outside, as an operator's tools would.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/PID/stat's times (sysconf CLK_TCK); 100 on every Linux seen in practice. */
const CLOCK_TICKS_PER_SECOND = readClockTicks();

export interface ProcessSample {
  /** Resident set size (KiB). */
  rssKiB: number;
  /** User + system CPU time since the process started (s). */
  cpuSeconds: number;
  /** When the sample was taken (performance.now(), ms). */
  atMs: number;
}

function readClockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** VmRSS of `pid` (KiB). */
export function readRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no VmRSS line`);
  return Number(match[1]);
}

/** utime + stime of `pid` (s). */
export function readCpuSeconds(pid: number): number {
  return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).ownTicks / CLOCK_TICKS_PER_SECOND;
}

/** The fields of one /proc/PID/stat line that CPU readings need. */
export interface ProcStat {
  pid: number;
  /** The parent's PID (field 4). */
  ppid: number;
  /** utime + stime (fields 14, 15), in clock ticks: this process's own threads. */
  ownTicks: number;
  /** cutime + cstime (fields 16, 17), in clock ticks: its children that have ended and that it has waited for. */
  endedChildrenTicks: number;
}

/** Parses one /proc/PID/stat line. */
export function parseProcStat(stat: string): ProcStat {
  // The command name (field 2) is in parentheses and may contain spaces and parentheses: count fields after its last
  // closing one. State (field 3) is index 0 there, so field N of the whole line is index N - 3.
  const nameEnd = stat.lastIndexOf(')');
  const fields = stat.slice(nameEnd + 2).split(' ');
  const field = (n: number): number => Number(fields[n - 3]);
  const parsed = { pid: Number.parseInt(stat, 10), ppid: field(4), ownTicks: field(14) + field(15), endedChildrenTicks: field(16) + field(17) };
  if (nameEnd < 0 || Object.values(parsed).some((value) => !Number.isInteger(value))) throw new Error(`not a /proc/PID/stat line: ${stat.slice(0, 80)}`);
  return parsed;
}

/** `rootPid` and every process below it (children, their children, ...), found through each process's ppid. */
export function processTree(processes: readonly ProcStat[], rootPid: number): ProcStat[] {
  const childrenOf = new Map<number, ProcStat[]>();
  for (const entry of processes) {
    const siblings = childrenOf.get(entry.ppid);
    if (siblings === undefined) childrenOf.set(entry.ppid, [entry]);
    else siblings.push(entry);
  }
  const root = processes.find((entry) => entry.pid === rootPid);
  if (root === undefined) return [];
  const tree = [root];
  // Breadth first: the loop also visits the entries it appends.
  for (const entry of tree) tree.push(...(childrenOf.get(entry.pid) ?? []));
  return tree;
}

/**
 * CPU ticks a process tree has used so far: each live process's own utime + stime, plus the cutime + cstime its ended
 * children left to it when it waited for them. So a renderer that ends between two readings still counts (in its
 * parent), and nothing counts twice: a live child's time is in no cutime until its parent has waited for it.
 */
export function treeCpuTicks(processes: readonly ProcStat[], rootPid: number): number {
  return processTree(processes, rootPid).reduce((sum, entry) => sum + entry.ownTicks + entry.endedChildrenTicks, 0);
}

/** Every process's /proc/PID/stat now; processes that end while the list is read are left out. */
export function readAllProcStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      stats.push(parseProcStat(readFileSync(`/proc/${name}/stat`, 'utf8')));
    } catch {
      // ended meanwhile
    }
  }
  return stats;
}

/**
 * CPU time (s) used so far by `rootPid` and all its descendants (a browser and its renderer, GPU, utility and network
 * processes), read from /proc. A process that leaves the tree by being re-parented (a daemon's double fork) is not
 * followed. Throws if `rootPid` is not running.
 */
export function readProcessTreeCpuSeconds(rootPid: number): number {
  const stats = readAllProcStats();
  if (!stats.some((entry) => entry.pid === rootPid)) throw new Error(`process ${rootPid} is not running: no CPU time to read for its tree`);
  return treeCpuTicks(stats, rootPid) / CLOCK_TICKS_PER_SECOND;
}

export function sampleProcess(pid: number): ProcessSample {
  return { rssKiB: readRssKiB(pid), cpuSeconds: readCpuSeconds(pid), atMs: performance.now() };
}

/** CPU used between two samples, as cores (1.0 = one core busy the whole time). */
export function coresUsed(from: ProcessSample, to: ProcessSample): number {
  const seconds = (to.atMs - from.atMs) / 1000;
  return seconds > 0 ? (to.cpuSeconds - from.cpuSeconds) / seconds : 0;
}

/** The open-file limit of `pid` (soft, hard), from /proc/PID/limits. */
export function readOpenFileLimit(pid: number): { soft: number; hard: number } {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  const parse = (text: string | undefined): number => (text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text));
  return { soft: parse(match?.[1]), hard: parse(match?.[2]) };
}

/**
 * Raises the open-file limit (soft and hard) of a running process to at least `wanted`, with `prlimit --pid`.
 * Raising the hard limit needs root (CAP_SYS_RESOURCE); returns the limit in force afterwards, whatever happened, and
 * the error text if prlimit failed.
 */
export function raiseOpenFileLimit(pid: number, wanted: number): { soft: number; error: string | undefined } {
  if (readOpenFileLimit(pid).soft >= wanted) return { soft: readOpenFileLimit(pid).soft, error: undefined };
  let error: string | undefined;
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${wanted}:${wanted}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (failure) {
    const stderr = (failure as { stderr?: Buffer | string }).stderr?.toString().trim();
    error = stderr || (failure instanceof Error ? failure.message : String(failure));
  }
  return { soft: readOpenFileLimit(pid).soft, error };
}

/** CPU time the whole machine has spent busy (not idle or iowait), over all cores, since boot (s); from /proc/stat. */
export function readMachineBusySeconds(): number {
  const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  // cpu  user nice system idle iowait irq softirq steal ...
  const ticks = first.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return (total - idle) / CLOCK_TICKS_PER_SECOND;
}

export interface CpuShare {
  /** Wall time of the window (s). */
  seconds: number;
  /** Cores used by each named group of processes over the window. */
  cores: Record<string, number>;
  /** Cores the whole machine was busy, ours and everyone else's. */
  machineCores: number;
  /** machineCores minus every group: other processes sharing the machine (other engineers' work, the kernel). */
  otherCores: number;
}

/**
 * CPU use over a window, per named group of processes (e.g. {broker: [pid], 'load generator': [process.pid]}) and for
 * the whole machine, so a figure can say how much of the cores the load generator and everyone else took.
 */
export function startCpuWindow(groups: Record<string, readonly number[]>): { stop(): CpuShare } {
  const window = startWindow(() =>
    Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, pids.reduce((sum, pid) => sum + safeCpuSeconds(pid), 0)])),
  );
  return {
    stop: () => {
      const { seconds, cpuSeconds, machineCores } = window.stop();
      const cores = Object.fromEntries(Object.entries(cpuSeconds).map(([name, used]) => [name, used / seconds]));
      const ours = Object.values(cores).reduce((sum, value) => sum + value, 0);
      return { seconds, cores, machineCores, otherCores: Math.max(0, machineCores - ours) };
    },
  };
}

/** A window over `read` (CPU seconds so far, per name): what each used meanwhile, and how busy the whole machine was. */
function startWindow(read: () => Record<string, number>): { stop(): { seconds: number; cpuSeconds: Record<string, number>; machineCores: number } } {
  const startedAt = performance.now();
  const machineAtStart = readMachineBusySeconds();
  const atStart = read();
  return {
    stop: () => {
      const atEnd = read();
      const seconds = (performance.now() - startedAt) / 1000;
      const cpuSeconds = Object.fromEntries(Object.keys(atStart).map((name) => [name, (atEnd[name] ?? 0) - (atStart[name] ?? 0)]));
      return { seconds, cpuSeconds, machineCores: (readMachineBusySeconds() - machineAtStart) / seconds };
    },
  };
}

/** CPU seconds of a process, 0 once it is gone (a window never fails because a process ended). */
function safeCpuSeconds(pid: number): number {
  try {
    return readCpuSeconds(pid);
  } catch {
    return 0;
  }
}

/** A part of the system whose CPU a window reads: `rootPids` and every process below them. */
export interface ProcessTreePart {
  name: string;
  rootPids: readonly number[];
}

export interface ProcessTreeCpuShare {
  seconds: number;
  /** CPU seconds each part used over the window. */
  cpuSeconds: Record<string, number>;
  machineCores: number;
}

/**
 * CPU use over a window per part, each a set of process trees (a browser with its renderer, network and GPU
 * processes). Parts are claimed in the order given: a process below several roots counts once, in the first part
 * whose tree holds it. So `[{helper}, {client browser}, {bench process}]` counts the helper apart from the browser
 * that started it, and the bench process's own part holds only what no earlier part claimed (curl, in-process servers).
 * A process that ends inside the window counts in its parent's part (cutime), if that parent waited for it.
 */
export function startProcessTreeCpuWindow(parts: readonly ProcessTreePart[]): { stop(): ProcessTreeCpuShare } {
  return startWindow(() => {
    const stats = readAllProcStats();
    const claimed = new Set<number>();
    const seconds: Record<string, number> = {};
    for (const part of parts) {
      let ticks = 0;
      for (const rootPid of part.rootPids) {
        for (const entry of processTree(stats, rootPid)) {
          if (claimed.has(entry.pid)) continue;
          claimed.add(entry.pid);
          ticks += entry.ownTicks + entry.endedChildrenTicks;
        }
      }
      seconds[part.name] = (seconds[part.name] ?? 0) + ticks / CLOCK_TICKS_PER_SECOND;
    }
    return seconds;
  });
}

/**
 * Memory (KiB) of `rootPid` and all its descendants: the sum of their proportional set sizes (Pss), so the pages a
 * browser's processes share (its binary, its zygote's heap) count once, not once per process. Throws if `rootPid`
 * is not running.
 */
export function readProcessTreePssKiB(rootPid: number): number {
  const tree = processTree(readAllProcStats(), rootPid);
  if (tree.length === 0) throw new Error(`process ${rootPid} is not running: no memory to read for its tree`);
  let pssKiB = 0;
  for (const entry of tree) {
    try {
      pssKiB += Number(/^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${entry.pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // ended meanwhile
    }
  }
  return pssKiB;
}
