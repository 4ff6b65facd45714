/**
 * @module i18n-context
 * The translator for Preact components shared by the extension's pages, the tab and the widget: each shell provides
 * its own (chrome.i18n in the extension, the catalogs in the tab and widget).
 */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Translator } from './i18n.ts';

export const TranslatorContext = createContext<Translator | undefined>(undefined);

export function useTranslator(): Translator {
  const translator = useContext(TranslatorContext);
  if (translator === undefined) throw new Error('a Ferry component was rendered without a TranslatorContext provider');
  return translator;
}
