/**
 * @module extension-storage
 * What the background keeps in the extension's local storage area (settings, pairing links, the monthly data count),
 * read and written the same way by every browser's background. Each init file passes its own storage area:
 * chrome.storage.local in Chromium, webextension-polyfill's browser.storage.local in Firefox.
 */
import type { SignedExitList } from '../../protocol/exit-list.ts';
import { KNOWN_EXIT_LIST_STORAGE_KEY, LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY } from '../../protocol/extension-state.ts';
import type { MonthlyUsage } from '../../relay-worker/monthly-cap.ts';
import { parseMonthlyUsage } from '../messages.ts';
import { PAIRINGS_STORAGE_KEY, type Pairings, parseStoredPairings } from '../pairings.ts';
import { parseStoredSettings, SETTINGS_KEYS, type Settings } from '../settings.ts';

/** Where the monthly data cap's count of Help others is kept between runs (the local storage area). */
export const HELP_USAGE_STORAGE_KEY = 'helpOthersUsage';

/** Where the Help others switch is kept between browser runs (the local storage area): a volunteer stays one. */
export const HELP_OTHERS_ON_STORAGE_KEY = 'helpOthersOn';

/** Longest channel name kept. */
const MAX_STORED_CHANNEL_NAME_CHARS = 600;

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
  /** What Proxy me remembers of the network between runs (see the keys above). */
  networkMemory: NetworkMemory;
}

export interface NetworkMemory {
  /** The kept list as stored, unverified (the caller verifies it); undefined when none. */
  loadExitList(): Promise<unknown>;
  saveExitList(list: SignedExitList): Promise<void>;
  loadLastChannel(): Promise<string | undefined>;
  saveLastChannel(channel: string): Promise<void>;
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
    networkMemory: {
      loadExitList: async () => (await local.get(KNOWN_EXIT_LIST_STORAGE_KEY))[KNOWN_EXIT_LIST_STORAGE_KEY],
      saveExitList: (list) => local.set({ [KNOWN_EXIT_LIST_STORAGE_KEY]: { payload: list.payload, signature: list.signature } }),
      loadLastChannel: async () => {
        const stored: unknown = (await local.get(LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY))[LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY];
        return typeof stored === 'string' && stored.length > 0 && stored.length <= MAX_STORED_CHANNEL_NAME_CHARS ? stored : undefined;
      },
      saveLastChannel: (channel) => local.set({ [LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY]: channel }),
    },
  };
}
