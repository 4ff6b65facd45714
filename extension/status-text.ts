/**
 * @module status-text
 * The popup's one-line statuses. Honest wording: say what is happening, never "connected" before it is.
 */
import type { HelpOthersState, ProxyMeState } from './ui-state.ts';

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

export function helpOthersStatusText(state: HelpOthersState): string {
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
      return 'Cannot reach the network, retrying…';
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
