/**
 * @module self-check-words
 * "Am I helping?" in words: what was checked, what failed, and what the person can do. The extension's popup and the
 * tab page say the same.
 */
import type { SelfCheckResult } from '../relay-worker/self-check.ts';
import type { Translator } from './i18n.ts';

export function selfCheckText(result: SelfCheckResult, { t }: Translator): string {
  if (result.ok) return t('checkOk');
  switch (result.failed) {
    case 'broker':
      return t('checkBrokerFailed', result.detail);
    case 'data-channel':
      return t('checkChannelFailed', result.detail);
    case 'exit':
      return t('checkExitFailed', result.detail);
  }
}
