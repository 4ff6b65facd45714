/**
 * @module i18n
 * Every word a person reads comes from one set of message catalogs, locales/_locales/<language>/messages.json, in
 * the format of Chrome's i18n: the extensions read them through chrome.i18n (extension/i18n.ts), the tab page and
 * the widget through catalogTranslator here. Plurals follow CLDR: a message with forms has one key per plural
 * category of the language (`hoHelping_one`, `hoHelping_few`, …), picked with Intl.PluralRules.
 */
import type english from '../locales/_locales/en/messages.json';

/** The languages Ferry ships, as chrome.i18n names their folders. */
export const LANGUAGES = ['en', 'fa', 'ru', 'zh_CN', 'ar', 'tr'] as const;
export type Language = (typeof LANGUAGES)[number];
/** Languages written right to left. */
const RIGHT_TO_LEFT: ReadonlySet<Language> = new Set(['fa', 'ar']);

type EnglishKey = keyof typeof english;
/** The base of a message with plural forms: `hoHelping` for `hoHelping_one` / `hoHelping_other`. */
export type PluralKey = EnglishKey extends infer Key ? (Key extends `${infer Base}_other` ? Base : never) : never;
/** A message without plural forms. */
export type MessageKey = Exclude<EnglishKey, `${PluralKey}_${string}`>;

/** One message as messages.json holds it. */
export interface CatalogMessage {
  message: string;
  description?: string;
  placeholders?: Record<string, { content: string }>;
}
export type Catalog = Record<string, CatalogMessage>;

export interface Translator {
  /** The language, as a BCP 47 tag for `lang` attributes and Intl (zh-CN, not zh_CN). */
  readonly locale: string;
  readonly dir: 'ltr' | 'rtl';
  t(key: MessageKey, ...substitutions: Array<string | number>): string;
  /** The plural form for `count`; `count` is the first substitution ($1), the others follow. */
  plural(key: PluralKey, count: number, ...substitutions: Array<string | number>): string;
}

/** The shipped language closest to a BCP 47 tag or a chrome.i18n name (fa-IR -> fa, zh-Hans-CN -> zh_CN); English otherwise. */
export function matchLanguage(requested: string | undefined): Language {
  const tag = (requested ?? '').replace('_', '-').toLowerCase();
  if (tag.startsWith('zh')) return tag.includes('tw') || tag.includes('hk') || tag.includes('hant') ? 'en' : 'zh_CN';
  const primary = tag.split('-')[0] ?? '';
  return (LANGUAGES as readonly string[]).includes(primary) ? (primary as Language) : 'en';
}

export function localeOf(language: Language): string {
  return language.replace('_', '-');
}

export function directionOf(language: Language): 'ltr' | 'rtl' {
  return RIGHT_TO_LEFT.has(language) ? 'rtl' : 'ltr';
}

/** Fills a message as chrome.i18n.getMessage does: `$name$` from its placeholder's content, `$1`… from substitutions. */
export function fillMessage(entry: CatalogMessage, substitutions: readonly string[]): string {
  const fromIndex = (text: string): string => text.replace(/\$(\d)/g, (_, digit: string) => substitutions[Number(digit) - 1] ?? '');
  return entry.message
    .replace(/\$([a-zA-Z0-9_@]+)\$/g, (whole, name: string) => {
      const placeholder = entry.placeholders?.[name.toLowerCase()];
      return placeholder === undefined ? whole : fromIndex(placeholder.content);
    })
    .replace(/\$\$/g, '$');
}

/** The key of `count`'s plural form in `locale`, falling back to `_other` when a catalog lacks the category. */
export function pluralKey(key: PluralKey, count: number, locale: string, has: (key: string) => boolean): string {
  const category = new Intl.PluralRules(locale).select(count);
  const exact = `${key}_${category}`;
  return has(exact) ? exact : `${key}_other`;
}

/** A translator over one catalog, with English for any message it lacks (a half-translated release still reads). */
export function catalogTranslator(language: Language, catalog: Catalog, fallback: Catalog): Translator {
  const locale = localeOf(language);
  const lookup = (key: string): CatalogMessage | undefined => catalog[key] ?? fallback[key];
  const say = (key: string, substitutions: Array<string | number>): string => {
    const entry = lookup(key);
    return entry === undefined ? key : fillMessage(entry, substitutions.map(String));
  };
  return {
    locale,
    dir: directionOf(language),
    t: (key, ...substitutions) => say(key, substitutions),
    plural: (key, count, ...substitutions) =>
      say(
        pluralKey(key, count, locale, (candidate) => lookup(candidate) !== undefined),
        [count, ...substitutions],
      ),
  };
}

/** Sets the page's language and direction (Persian and Arabic lay out right to left). */
export function applyLanguage(translator: Translator): void {
  document.documentElement.lang = translator.locale;
  document.documentElement.dir = translator.dir;
}

/**
 * A value with a Latin unit ("4.5 MB", "1.5 KB/s") inside a sentence: isolated (Unicode FSI … PDI), so a right-to-left
 * sentence does not turn it into "MB 4.5". Left-to-right pages need nothing and get the text as it is.
 */
export function isolate(text: string, dir: 'ltr' | 'rtl'): string {
  return dir === 'rtl' ? `\u2068${text}\u2069` : text;
}
