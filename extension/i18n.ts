/**
 * @module i18n
 * The extension's translator: chrome.i18n over the same catalogs the tab and widget use (locales/_locales, copied
 * into the extension as _locales by the build). Chromium picks the browser's language and falls back to English.
 */
import { directionOf, localeOf, type MessageKey, matchLanguage, type PluralKey, pluralKey, type Translator } from '../web/i18n.ts';

export function chromeTranslator(): Translator {
  const language = matchLanguage(chrome.i18n.getUILanguage());
  const locale = localeOf(language);
  const say = (key: string, substitutions: Array<string | number>): string => chrome.i18n.getMessage(key, substitutions.map(String)) || key;
  return {
    locale,
    dir: chrome.i18n.getMessage('@@bidi_dir') === 'rtl' ? 'rtl' : directionOf(language),
    t: (key: MessageKey, ...substitutions) => say(key, substitutions),
    plural: (key: PluralKey, count, ...substitutions) =>
      say(
        pluralKey(key, count, locale, (candidate) => chrome.i18n.getMessage(candidate) !== ''),
        [count, ...substitutions],
      ),
  };
}
