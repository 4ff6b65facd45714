/**
 * @module bench/process-stats
 * What a process costs, read from Linux's /proc: resident memory (VmRSS in /proc/PID/status) and CPU time used so far
 * (utime + stime in /proc/PID/stat), and raising a process's open-file limit with util-linux `prlimit`. The network
 * benchmark reads the broker's and the exit's own processes this way, from outside, as an operator's tools would.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of the whole line (utime, stime) are 12 and 13 after the name (state is field 3 = index 0).
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / CLOCK_TICKS_PER_SECOND;
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
  const read = (): Record<string, number> =>
    Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, pids.reduce((sum, pid) => sum + safeCpuSeconds(pid), 0)]));
  const startedAt = performance.now();
  const machineAtStart = readMachineBusySeconds();
  const atStart = read();
  return {
    stop: () => {
      const atEnd = read();
      const seconds = (performance.now() - startedAt) / 1000;
      const cores = Object.fromEntries(Object.keys(groups).map((name) => [name, ((atEnd[name] ?? 0) - (atStart[name] ?? 0)) / seconds]));
      const machineCores = (readMachineBusySeconds() - machineAtStart) / seconds;
      const ours = Object.values(cores).reduce((sum, value) => sum + value, 0);
      return { seconds, cores, machineCores, otherCores: Math.max(0, machineCores - ours) };
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
