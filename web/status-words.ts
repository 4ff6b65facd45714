/**
 * @module status-words
 * A volunteer's one-line status, the same words wherever it runs: the extension's popup (status-text.ts adds its
 * 'off' and 'failed'), the tab and the widget.
 */
import type { PauseReason, RelayState, RelayStatus } from '../protocol/relay-status.ts';
import { secondsUntil } from '../relay-worker/status.ts';
import type { Translator } from './i18n.ts';

/** What the words depend on: the relay's state and, for some states, one more figure. */
export interface RelayStateFacts {
  state: RelayState;
  clientsNow: number;
  /** While broker-unreachable: the next attempt (ms since the epoch); 0 or absent when unknown. */
  retryAt?: number | undefined;
  pauseReason?: PauseReason | '' | undefined;
}

/** `now` (ms since the epoch) counts down the broker's retry. */
export function relayStateText(facts: RelayStateFacts, translator: Translator, now = Date.now()): string {
  const { t } = translator;
  switch (facts.state) {
    case 'stopped':
      return t('hoNotHelping');
    case 'connecting':
      return t('hoConnecting');
    case 'waiting':
      return t('hoWaiting');
    case 'relaying':
      return translator.plural('hoHelping', facts.clientsNow);
    case 'broker-unreachable':
      return facts.retryAt ? t('hoBrokerUnreachableIn', secondsUntil(facts.retryAt, now)) : t('hoBrokerUnreachable');
    case 'paused':
      return facts.pauseReason === 'battery' ? t('pausedOnBattery') : facts.pauseReason === 'metered' ? t('pausedOnMetered') : t('hoPaused');
  }
}

/** The tab's and the widget's status: their relay's, or "not helping" before it runs. */
export function pageStatusText(status: RelayStatus | undefined, translator: Translator, now = Date.now()): string {
  return status === undefined ? translator.t('hoNotHelping') : relayStateText(status, translator, now);
}
