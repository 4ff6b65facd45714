/**
 * @module status
 * What a volunteer's UI shows: the status contract is protocol/relay-status.ts; this adds its default wording and
 * the one-line summary.
 */
import type { RelayState, RelayStatus } from '../protocol/relay-status.ts';

/** Default wording for each state, for UIs that have no translation of their own. */
export const RELAY_STATE_WORDING: Readonly<Record<RelayState, string>> = {
  connecting: 'Connecting to the Ferry network…',
  waiting: 'Waiting for someone who needs help',
  relaying: 'Helping someone connect right now',
  'broker-unreachable': 'Cannot reach the Ferry network; retrying',
  paused: 'Paused by a limit you set',
  stopped: 'Not helping (turned off)',
};

/** Whole seconds from `now` until `at` (ms since the epoch), never below 0: "retrying in N s". */
export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** Counters at one moment, for the rate over a stretch. */
export interface TrafficSnapshot {
  at: number;
  bytes: number;
}

/** Bytes in decimal units a person reads at a glance: 950 B, 12.3 kB, 4.56 MB, 1.20 GB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)} ${units[unit]}`;
}

/** A rate in megabits a second, as people compare it with their connection: "3.20 Mbit/s". */
export function formatMegabits(bytesPerSecond: number): string {
  return `${((bytesPerSecond * 8) / 1e6).toFixed(2)} Mbit/s`;
}

/**
 * One line about what the volunteer did: its state, people helped, bytes relayed, and the rate since `previous`.
 * `ferry volunteer` prints it every --summary-every seconds; the tab can show the same words.
 */
export function summaryLine(
  status: RelayStatus,
  limits: { maxClients: number; maxBytesPerSecond: number },
  now: TrafficSnapshot,
  previous: TrafficSnapshot | undefined,
): string {
  const relayed = status.bytesClientToExit + status.bytesExitToClient;
  const people = `helping ${status.clientsNow} of at most ${limits.maxClients} now, ${status.clientsTotal} since start`;
  const bytes = `relayed ${formatBytes(relayed)} (${formatBytes(status.bytesClientToExit)} to exits, ${formatBytes(status.bytesExitToClient)} to people)`;
  const seconds = previous === undefined ? 0 : (now.at - previous.at) / 1000;
  const rate =
    previous === undefined || seconds <= 0 ? '' : `, ${formatMegabits((now.bytes - previous.bytes) / seconds)} over the last ${Math.round(seconds)} s`;
  const cap = limits.maxBytesPerSecond > 0 ? `; capped at ${formatMegabits(limits.maxBytesPerSecond)}` : '';
  const problem = status.lastError === undefined ? '' : `; last problem: ${status.lastError}`;
  const paused = status.pausedBy === undefined ? '' : ` (${status.pausedBy})`;
  return `${RELAY_STATE_WORDING[status.state]}${paused}: ${people}; ${bytes}${rate}${cap}${problem}`;
}
