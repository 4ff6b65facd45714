/**
 * @module status-text
 * The popup's one-line statuses. Honest wording: say what is happening, never "connected" before it is.
 */
import type { HelpOthersState, ProxyMeState } from '../protocol/extension-state.ts';
import type { Translator } from '../web/i18n.ts';
import { relayStateText } from '../web/status-words.ts';

/** The command that installs the native helper; shown when it is missing. */
export const HELPER_INSTALL_COMMAND = 'npx ferry helper --install';

export function proxyMeStatusText(state: ProxyMeState, { t }: Translator): string {
  switch (state.phase) {
    case 'off':
      return t('pmOff');
    case 'starting-helper':
      return t('pmStartingHelper');
    case 'finding-volunteer':
      return t('pmFindingVolunteer');
    case 'connected':
      return t('pmConnected');
    case 'switching-volunteer':
      return t('pmSwitchingVolunteer');
    case 'no-volunteers':
      return t('pmNoVolunteers');
    case 'broker-unreachable':
      return t('pmBrokerUnreachable');
    case 'path-error':
      return t('pmPathError', state.detail || t('unknownError'));
    case 'helper-not-installed':
      return t('pmHelperNotInstalled', HELPER_INSTALL_COMMAND);
    case 'helper-stopped':
      return t('pmHelperStopped', state.detail || t('noReasonGiven'));
    case 'failed':
      return t('couldNotStart', state.detail || t('unknownError'));
  }
}

/** `now` (ms since the epoch) counts down the broker's retry. */
export function helpOthersStatusText(state: HelpOthersState, translator: Translator, now = Date.now()): string {
  switch (state.phase) {
    case 'off':
    case 'stopped':
      return translator.t('hoOff');
    case 'failed':
      return translator.t('couldNotStart', state.lastError || translator.t('unknownError'));
    default:
      return relayStateText({ ...state, state: state.phase }, translator, now);
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
/** "Through 2 volunteers": how many carry (or stand by for) the session now. */
export function throughVolunteersText(volunteers: number, translator: Translator): string {
  return translator.plural('throughVolunteers', volunteers);
}

export function pathChangesText(pathChanges: number, translator: Translator): string {
  return translator.plural('pathChanges', pathChanges);
}
