/**
 * @module load-catalog
 * The tab page's and the widget's catalogs: English is bundled (the fallback for any missing message), every other
 * language is its own small file, fetched only when a page asks for it. Vite resolves import.meta.glob at build time.
 */
import english from '../locales/_locales/en/messages.json';
import { type Catalog, catalogTranslator, type Language, matchLanguage, type Translator } from './i18n.ts';

const lazyCatalogs = import.meta.glob<Catalog>(['../locales/_locales/*/messages.json', '!../locales/_locales/en/messages.json'], { import: 'default' });

/** The translator for `requested` (a data-lang value or navigator.language); English when that language is not shipped. */
export async function loadTranslator(requested: string | undefined): Promise<Translator> {
  const language: Language = matchLanguage(requested);
  const load = lazyCatalogs[`../locales/_locales/${language}/messages.json`];
  const catalog = language === 'en' || load === undefined ? english : await load().catch(() => english);
  return catalogTranslator(language, catalog, english);
}
