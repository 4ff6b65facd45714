// Translators over the shipped catalogs, as the tab and the widget build them, for tests of wording in Node.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Catalog, catalogTranslator, type Language, type Translator } from '../../../web/i18n.ts';

const LOCALES = join(import.meta.dirname, '..', '..', '..', 'locales', '_locales');

export function readCatalog(language: Language): Catalog {
  return JSON.parse(readFileSync(join(LOCALES, language, 'messages.json'), 'utf8')) as Catalog;
}

export function translatorFor(language: Language): Translator {
  return catalogTranslator(language, readCatalog(language), readCatalog('en'));
}

export const english: Translator = translatorFor('en');
