/**
 * @module render
 * Renders a page of Ferry (the popup, the options page, the tab, the widget) in the reader's language: sets the
 * document's lang and dir, and gives every component the translator.
 */
import { type ComponentChild, render } from 'preact';
import { applyLanguage, type Translator } from './i18n.ts';
import { TranslatorContext } from './i18n-context.ts';

export function renderTranslated(translator: Translator, page: ComponentChild, into: HTMLElement): void {
  applyLanguage(translator);
  render(<TranslatorContext.Provider value={translator}>{page}</TranslatorContext.Provider>, into);
}
