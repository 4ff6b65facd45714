/**
 * @module extension-storage
 * What the background keeps in the extension's local storage area (settings, pairing links, the monthly data count),
 * read and written the same way by every browser's background. Each init file passes its own storage area:
 * chrome.storage.local in Chromium, webextension-polyfill's browser.storage.local in Firefox.
 */
import type { MonthlyUsage } from '../../relay-worker/monthly-cap.ts';
import { parseMonthlyUsage } from '../messages.ts';
import { PAIRINGS_STORAGE_KEY, type Pairings, parseStoredPairings } from '../pairings.ts';
import { parseStoredSettings, SETTINGS_KEYS, type Settings } from '../settings.ts';

/** Where the monthly data cap's count of Help others is kept between runs (the local storage area). */
export const HELP_USAGE_STORAGE_KEY = 'helpOthersUsage';

/** Where the Help others switch is kept between browser runs (the local storage area): a volunteer stays one. */
export const HELP_OTHERS_ON_STORAGE_KEY = 'helpOthersOn';

/** The part of a storage area (chrome.storage.local, browser.storage.local, browser.storage.session) used here. */
export interface StorageArea {
  get(keys: string | string[]): Promise<Record<string, unknown>>;
  set(items: Record<string, unknown>): Promise<void>;
}

export interface ExtensionStorage {
  loadSettings(): Promise<Settings>;
  loadPairings(): Promise<Pairings>;
  savePairings(pairings: Pairings): Promise<void>;
  /** The monthly cap's count kept from earlier runs; undefined when none was kept or it cannot be read. */
  loadUsage(): Promise<MonthlyUsage | undefined>;
  saveUsage(usage: MonthlyUsage): Promise<void>;
  /** The Help others switch as the person left it, for the next browser session. */
  rememberHelpOthersOn(on: boolean): Promise<void>;
  wasHelpOthersOn(): Promise<boolean>;
}

export function extensionStorage(local: StorageArea): ExtensionStorage {
  return {
    loadSettings: async () => parseStoredSettings(await local.get([...SETTINGS_KEYS])),
    loadPairings: async () => parseStoredPairings((await local.get(PAIRINGS_STORAGE_KEY))[PAIRINGS_STORAGE_KEY]),
    savePairings: (pairings) => local.set({ [PAIRINGS_STORAGE_KEY]: pairings }),
    loadUsage: async () => {
      const stored: unknown = (await local.get(HELP_USAGE_STORAGE_KEY))[HELP_USAGE_STORAGE_KEY];
      if (stored === undefined) return undefined;
      try {
        return parseMonthlyUsage(stored);
      } catch {
        return undefined; // an unreadable count starts afresh
      }
    },
    saveUsage: (usage) => local.set({ [HELP_USAGE_STORAGE_KEY]: usage }),
    rememberHelpOthersOn: (on) => local.set({ [HELP_OTHERS_ON_STORAGE_KEY]: on }),
    wasHelpOthersOn: async () => (await local.get(HELP_OTHERS_ON_STORAGE_KEY))[HELP_OTHERS_ON_STORAGE_KEY] === true,
  };
}
