/**
 * @module status-text
 * The popup's one-line statuses. Honest wording: say what is happening, never "connected" before it is.
 */
import type { HelpOthersState, ProxyMeState } from '../protocol/extension-state.ts';
import { secondsUntil } from '../relay-worker/status.ts';

/** The command that installs the native helper; shown when it is missing. */
export const HELPER_INSTALL_COMMAND = 'npx ferry helper --install';

export function proxyMeStatusText(state: ProxyMeState): string {
  switch (state.phase) {
    case 'off':
      return 'Off';
    case 'starting-helper':
      return 'Starting the helper…';
    case 'finding-volunteer':
      return 'Finding a volunteer…';
    case 'connected':
      return 'Connected through a volunteer';
    case 'switching-volunteer':
      return 'Switching volunteer…';
    case 'no-volunteers':
      return 'No volunteers available right now, retrying…';
    case 'broker-unreachable':
      return 'Cannot reach the network, retrying…';
    case 'path-error':
      return `Could not reach a volunteer (${state.detail || 'unknown error'}), retrying…`;
    case 'helper-not-installed':
      return `Helper not installed: run ${HELPER_INSTALL_COMMAND}`;
    case 'helper-stopped':
      return `Helper stopped: ${state.detail || 'no reason given'}`;
    case 'failed':
      return `Could not start: ${state.detail || 'unknown error'}`;
  }
}

/** `now` (ms since the epoch) counts down the broker's retry. */
export function helpOthersStatusText(state: HelpOthersState, now = Date.now()): string {
  switch (state.phase) {
    case 'off':
    case 'stopped':
      return 'Off';
    case 'connecting':
      return 'Connecting to the network…';
    case 'waiting':
      return 'Waiting for someone who needs help';
    case 'relaying':
      return state.clientsNow === 1 ? 'Helping 1 person' : `Helping ${state.clientsNow} people`;
    case 'broker-unreachable':
      return state.retryAt > 0 ? `Cannot reach the network, retrying in ${secondsUntil(state.retryAt, now)} s` : 'Cannot reach the network, retrying…';
    case 'paused':
      return 'Paused by a limit you set';
    case 'failed':
      return `Could not start: ${state.lastError || 'unknown error'}`;
  }
}

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;

/** 1536 -> "1.5 KB" (powers of 1024, one decimal below 10). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '0 B';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

/** 1536 per second -> "1.5 KB/s". */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

/** Milliseconds as h:mm:ss (3_725_000 -> "1:02:05"); hours keep counting past 24. */
export function formatDuration(ms: number): string {
  const totalSeconds = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  return `${hours}:${String(minutes).padStart(2, '0')}:${String(seconds).padStart(2, '0')}`;
}

/** "Volunteer changed 1 time" / "Volunteer changed 3 times". */
export function pathChangesText(pathChanges: number): string {
  return `Volunteer changed ${pathChanges} ${pathChanges === 1 ? 'time' : 'times'}`;
}
