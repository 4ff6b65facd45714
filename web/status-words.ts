/**
 * @module status-words
 * The one-line status of a page volunteer (tab, widget), in the same words as the extension's popup.
 */
import type { RelayStatus } from '../protocol/relay-status.ts';
import { secondsUntil } from '../relay-worker/status.ts';
import type { Translator } from './i18n.ts';

/** `now` (ms since the epoch) counts down the broker's retry. */
export function pageStatusText(status: RelayStatus | undefined, translator: Translator, now = Date.now()): string {
  const { t } = translator;
  switch (status?.state) {
    case undefined:
    case 'stopped':
      return t('hoNotHelping');
    case 'connecting':
      return t('hoConnecting');
    case 'waiting':
      return t('hoWaiting');
    case 'relaying':
      return translator.plural('hoHelping', status.clientsNow);
    case 'broker-unreachable':
      return status.retryAt === undefined ? t('hoBrokerUnreachable') : t('hoBrokerUnreachableIn', secondsUntil(status.retryAt, now));
    case 'paused':
      return status.pauseReason === 'battery' ? t('pausedOnBattery') : status.pauseReason === 'metered' ? t('pausedOnMetered') : t('hoPaused');
  }
}
