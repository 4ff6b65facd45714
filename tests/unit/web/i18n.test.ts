// The shared translator: messages filled as chrome.i18n fills them, plural forms by CLDR category, the shipped
// language picked from a browser's tag, and right to left for Persian and Arabic.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Catalog, catalogTranslator, directionOf, fillMessage, matchLanguage, pluralKey } from '../../../web/i18n.ts';
import { english } from '../support/translators.ts';

test('placeholders are filled from their $1… content, and $$ is a dollar sign', () => {
  const entry = { message: 'Relayed $up$ up, $DOWN$ down, costs $$0', placeholders: { up: { content: '$1' }, down: { content: '$2' } } };
  assert.equal(fillMessage(entry, ['1 MB', '2 MB']), 'Relayed 1 MB up, 2 MB down, costs $0');
  assert.equal(english.t('hoBrokerUnreachableIn', 8), 'Cannot reach the network, retrying in 8 s');
});

test('plural forms follow the language’s categories, and fall back to _other', () => {
  assert.equal(english.plural('hoHelping', 1), 'Helping 1 person');
  assert.equal(english.plural('hoHelping', 2), 'Helping 2 people');
  assert.equal(english.plural('hoHelping', 0), 'Helping 0 people');
  const has = (key: string): boolean => ['hoHelping_one', 'hoHelping_few', 'hoHelping_many', 'hoHelping_other'].includes(key);
  assert.equal(pluralKey('hoHelping', 3, 'ru', has), 'hoHelping_few');
  assert.equal(pluralKey('hoHelping', 5, 'ru', has), 'hoHelping_many');
  assert.equal(pluralKey('hoHelping', 21, 'ru', has), 'hoHelping_one');
  assert.equal(pluralKey('hoHelping', 2, 'ar', has), 'hoHelping_other', 'a category the catalog lacks falls back');
});

test('a message missing from a catalog reads in English; the catalog’s own wins otherwise', () => {
  const english: Catalog = { hoWaiting: { message: 'Waiting' }, hoPaused: { message: 'Paused' } };
  const partial: Catalog = { hoWaiting: { message: 'در انتظار' } };
  const translator = catalogTranslator('fa', partial, english);
  assert.equal(translator.t('hoWaiting'), 'در انتظار');
  assert.equal(translator.t('hoPaused'), 'Paused');
  assert.equal(translator.dir, 'rtl');
  assert.equal(translator.locale, 'fa');
});

test('the shipped language is picked from a browser tag; others read English', () => {
  assert.equal(matchLanguage('fa-IR'), 'fa');
  assert.equal(matchLanguage('ru'), 'ru');
  assert.equal(matchLanguage('zh-CN'), 'zh_CN');
  assert.equal(matchLanguage('zh-Hans-CN'), 'zh_CN');
  assert.equal(matchLanguage('zh_TW'), 'en', 'traditional Chinese is not shipped: English, not simplified');
  assert.equal(matchLanguage('ar-EG'), 'ar');
  assert.equal(matchLanguage('tr-TR'), 'tr');
  assert.equal(matchLanguage('de-DE'), 'en');
  assert.equal(matchLanguage(undefined), 'en');
  assert.deepEqual((['en', 'fa', 'ru', 'zh_CN', 'ar', 'tr'] as const).map(directionOf), ['ltr', 'rtl', 'ltr', 'ltr', 'rtl', 'ltr']);
});
