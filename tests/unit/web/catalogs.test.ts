// The shipped catalogs (locales/_locales) are complete and consistent: every language has every message of the
// English catalog, its own CLDR plural forms for each message that has forms, the same placeholders, and only
// placeholders its messages define. chrome.i18n would silently show an empty string for a message a catalog lacks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fillMessage, LANGUAGES, localeOf } from '../../../web/i18n.ts';
import { readCatalog } from '../support/translators.ts';

const english = readCatalog('en');
const pluralBases = [...new Set(Object.keys(english).flatMap((key) => (key.endsWith('_other') ? [key.slice(0, -'_other'.length)] : [])))];
const isPluralForm = (key: string): boolean => pluralBases.some((base) => key.startsWith(`${base}_`));

for (const language of LANGUAGES) {
  test(`${language}: every message, its plural forms, and the same placeholders as English`, () => {
    const catalog = readCatalog(language);
    const categories = new Intl.PluralRules(localeOf(language)).resolvedOptions().pluralCategories;
    const expected = [
      ...Object.keys(english).filter((key) => !isPluralForm(key)),
      ...pluralBases.flatMap((base) => categories.map((category) => `${base}_${category}`)),
    ].sort();
    assert.deepEqual(Object.keys(catalog).sort(), expected);

    for (const [key, entry] of Object.entries(catalog)) {
      const source = english[key] ?? english[`${key.slice(0, key.lastIndexOf('_'))}_other`];
      assert.ok(source, key);
      assert.deepEqual(entry.placeholders ?? {}, source.placeholders ?? {}, `${language} ${key}: placeholders`);
      for (const [, name] of entry.message.matchAll(/\$([a-zA-Z0-9_@]+)\$/g)) {
        assert.ok(entry.placeholders?.[(name as string).toLowerCase()], `${language} ${key}: $${name}$ is not defined`);
      }
      // Filled, no placeholder is left behind.
      const filled = fillMessage(entry, ['1', '2', '3', '4']);
      assert.doesNotMatch(filled, /\$[a-zA-Z]/, `${language} ${key}: ${filled}`);
      assert.ok(entry.message.trim().length > 0, `${language} ${key} is empty`);
    }
  });
}
