/**
 * @module settings
 * The extension's settings, kept in `chrome.storage.local` under these keys (tests set them with
 * `chrome.storage.local.set({...})` from an extension page before switching a feature on):
 *
 * | key          | type     | default                                        | meaning                                         |
 * | ------------ | -------- | ---------------------------------------------- | ----------------------------------------------- |
 * | `brokerUrl`  | string   | BUILT_IN_BROKER_URL (FERRY_BROKER_URL at build, else `'http://127.0.0.1:8787'`) | the broker (http or https) |
 * | `exitId`     | string   | `''` = the first exit the broker lists         | which exit "Proxy me" goes out through          |
 * | `socksPort`  | number   | `0` = any free port                            | the helper's local SOCKS5 port                  |
 * | `bypassList` | string[] | DEFAULT_BYPASS_LIST: loopback, plain host names, private ranges | hosts the browser reaches directly |
 * | `maxClients` | number   | `2`                                            | most people "Help others" relays for at once    |
 * | `maxMbps`    | number   | `0` = no cap                                   | bandwidth cap of "Help others", Mbit/s          |
 * | `monthlyCapGb` | number | `0` = no cap                                   | "Help others" pauses after this many GB a month |
 * | `exitListKeys` | string[] | BUILT_IN_EXIT_LIST_KEYS (set at build time)  | operator keys the exit list must be signed by   |
 * | `pauseOnBattery` | boolean | `true`                                       | "Help others" pauses while on battery          |
 * | `pauseOnMetered` | boolean | `true`                                       | "Help others" pauses on a metered connection   |
 * | `proxyPaths` | number   | `2`                                            | volunteers "Proxy me" keeps connected (1 to 3)  |
 * | `stripePaths` | boolean | `false`                                        | all carry at once (true) or the others stand by |
 *
 * Pure: parsing and validation only; the chrome.storage calls live in the entry points.
 */

import englishCatalog from '../locales/_locales/en/messages.json';
import { MAX_PATHS_PER_SESSION } from '../protocol/config.ts';
import { OperatorKeyError, parseOperatorPublicKeys } from '../protocol/exit-list.ts';
import { DEFAULT_BROKER_PORT, MAX_VOLUNTEER_SLOTS } from '../protocol/signaling.ts';
import { MIN_MONTHLY_DATA_CAP_BYTES } from '../relay-worker/monthly-cap.ts';
import { MIN_RATE_LIMIT_BYTES_PER_SECOND } from '../relay-worker/rate-limit.ts';
import { type CatalogMessage, fillMessage, type MessageKey } from '../web/i18n.ts';

export interface Settings {
  brokerUrl: string;
  /** Empty: the first exit the broker lists. */
  exitId: string;
  /** 0: any free port. */
  socksPort: number;
  bypassList: string[];
  maxClients: number;
  /** Bandwidth cap of Help others in megabits a second, every person and both directions together; 0 = none. */
  maxMbps: number;
  /** Monthly data cap of Help others in gigabytes (10^9 bytes) a calendar month, UTC; 0 = none. */
  monthlyCapGb: number;
  /** The network operator's exit-list keys (Ed25519, base64url): exits come only from a list one of them signed. */
  exitListKeys: string[];
  /**
   * Help others pauses while the device runs on battery / on a metered connection (cellular, or data saver on),
   * where the browser tells. On by default: a volunteer's battery and data plan are theirs first.
   */
  pauseOnBattery: boolean;
  pauseOnMetered: boolean;
  /**
   * Volunteers Proxy me keeps connected at once (1 to MAX_PATHS_PER_SESSION). More than one means no pause when one
   * leaves, and each sees the client's address (docs/threat-model.md).
   */
  proxyPaths: number;
  /** Whether every volunteer carries at once (more speed) or the others stand by (pings only) to take over. */
  stripePaths: boolean;
}

export const SETTINGS_KEYS = [
  'brokerUrl',
  'exitId',
  'socksPort',
  'bypassList',
  'maxClients',
  'maxMbps',
  'monthlyCapGb',
  'exitListKeys',
  'pauseOnBattery',
  'pauseOnMetered',
  'proxyPaths',
  'stripePaths',
] as const;
/** The settings shown as a checkbox (true or false) rather than as text. */
export const SWITCH_SETTINGS = ['pauseOnBattery', 'pauseOnMetered', 'stripePaths'] as const satisfies readonly SettingsKey[];
export type SettingsKey = (typeof SETTINGS_KEYS)[number];

/**
 * What the browser reaches directly by default, in Chromium's bypass-rule syntax: this machine, plain host names
 * (`<local>`: no dot, i.e. the intranet), and the private and link-local address ranges (CIDR rules match IP
 * literals only, so a public host name that resolves to a private address still goes through the tunnel, and its
 * DNS lookup with it). The user's own network is not what Ferry hides from.
 */
export const DEFAULT_BYPASS_LIST: readonly string[] = Object.freeze([
  'localhost',
  '127.0.0.1',
  '[::1]',
  '<local>',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '169.254.0.0/16',
  'fc00::/7',
  'fe80::/10',
]);

declare const __FERRY_EXIT_LIST_KEYS__: string | undefined;

/**
 * The operator keys this build trusts unless the settings say otherwise: FERRY_EXIT_LIST_KEYS (comma-separated) when
 * the extension was built (vite.config.ts), so an operator ships their own key. Outside a build (node tests) none.
 */
export const BUILT_IN_EXIT_LIST_KEYS: readonly string[] = Object.freeze(
  (typeof __FERRY_EXIT_LIST_KEYS__ === 'string' ? __FERRY_EXIT_LIST_KEYS__ : '')
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== ''),
);

declare const __FERRY_BROKER_URL__: string | undefined;

/**
 * The broker this build uses unless the settings say otherwise: FERRY_BROKER_URL when the extension was built
 * (vite.config.ts; the same host its pairing-link content script runs on), else this machine's `ferry broker`.
 */
export const BUILT_IN_BROKER_URL: string =
  typeof __FERRY_BROKER_URL__ === 'string' && __FERRY_BROKER_URL__ !== '' ? __FERRY_BROKER_URL__ : `http://127.0.0.1:${DEFAULT_BROKER_PORT}`;

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  brokerUrl: BUILT_IN_BROKER_URL,
  exitId: '',
  socksPort: 0,
  bypassList: [...DEFAULT_BYPASS_LIST],
  maxClients: 2,
  maxMbps: 0,
  monthlyCapGb: 0,
  exitListKeys: [...BUILT_IN_EXIT_LIST_KEYS],
  pauseOnBattery: true,
  pauseOnMetered: true,
  proxyPaths: 2,
  stripePaths: false,
});

/** Longest broker URL accepted (characters). */
export const MAX_BROKER_URL_CHARS = 2048;
/** Longest exit id (characters); the broker's own limit. */
export const MAX_EXIT_ID_CHARS = 128;
/** Most bypass-list entries, and the longest one (characters; a DNS name is at most 253). */
export const MAX_BYPASS_ENTRIES = 200;
export const MAX_BYPASS_ENTRY_CHARS = 260;
/** Most people "Help others" relays for at once: the broker's slot limit. */
export const MAX_MAX_CLIENTS = MAX_VOLUNTEER_SLOTS;

/**
 * A stored or typed setting is unusable; `key` names it and `message` says how to fix it, in English (logs). The
 * options page shows `messageKey` with `substitutions` in the reader's language.
 */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  readonly code = 'INVALID_SETTING';
  readonly substitutions: string[];
  constructor(
    readonly key: SettingsKey,
    readonly messageKey: MessageKey,
    ...substitutions: Array<string | number>
  ) {
    super(englishMessage(messageKey, substitutions));
    this.substitutions = substitutions.map(String);
  }
}

function englishMessage(key: MessageKey, substitutions: Array<string | number>): string {
  const entry: CatalogMessage | undefined = (englishCatalog as Record<string, CatalogMessage>)[key];
  return entry === undefined ? key : fillMessage(entry, substitutions.map(String));
}

/** Returns the URL without a trailing slash, or throws SettingsError. */
export function parseBrokerUrl(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new SettingsError('brokerUrl', 'errBrokerUrlEmpty');
  const text = value.trim();
  if (text.length > MAX_BROKER_URL_CHARS) throw new SettingsError('brokerUrl', 'errBrokerUrlLong', MAX_BROKER_URL_CHARS);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SettingsError('brokerUrl', 'errBrokerUrlNotUrl', text);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SettingsError('brokerUrl', 'errBrokerUrlScheme', url.protocol);
  }
  if (url.search !== '' || url.hash !== '') throw new SettingsError('brokerUrl', 'errBrokerUrlQuery');
  return url.href.replace(/\/+$/, '');
}

export function parseExitId(value: unknown): string {
  if (typeof value !== 'string') throw new SettingsError('exitId', 'errExitIdText');
  const text = value.trim();
  if (text.length > MAX_EXIT_ID_CHARS) throw new SettingsError('exitId', 'errExitIdLong', MAX_EXIT_ID_CHARS);
  return text;
}

function parseInteger(key: SettingsKey, messageKey: MessageKey, value: unknown, min: number, max: number): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value.trim()) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
    throw new SettingsError(key, messageKey, min, max);
  }
  return number;
}

export function parseSocksPort(value: unknown): number {
  return parseInteger('socksPort', 'errSocksPort', value, 0, 65535);
}

export function parseMaxClients(value: unknown): number {
  return parseInteger('maxClients', 'errMaxClients', value, 1, MAX_MAX_CLIENTS);
}

export function parseProxyPaths(value: unknown): number {
  return parseInteger('proxyPaths', 'errProxyPaths', value, 1, MAX_PATHS_PER_SESSION);
}

/** Highest bandwidth cap the options accept (Mbit/s): anything above is a typo, and 0 already means no cap. */
export const MAX_MAX_MBPS = 100_000;
/** The lowest cap the relay accepts (relay-worker/rate-limit.ts), in Mbit/s. */
export const MIN_MAX_MBPS = (MIN_RATE_LIMIT_BYTES_PER_SECOND * 8) / 1e6;

/** Highest monthly cap the options accept (GB); 0 already means none. */
export const MAX_MONTHLY_CAP_GB = 1_000_000;
/** The lowest monthly cap the relay accepts (relay-worker/monthly-cap.ts), in GB. */
export const MIN_MONTHLY_CAP_GB = MIN_MONTHLY_DATA_CAP_BYTES / 1e9;

/** The monthly cap in bytes, as the relay worker takes it (0 = none). */
export function monthlyCapBytes(monthlyCapGb: number): number {
  return Math.round(monthlyCapGb * 1e9);
}

export function parseMonthlyCapGb(value: unknown): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value.trim()) : value;
  const fine = typeof number === 'number' && Number.isFinite(number) && (number === 0 || (number >= MIN_MONTHLY_CAP_GB && number <= MAX_MONTHLY_CAP_GB));
  if (!fine) {
    throw new SettingsError('monthlyCapGb', 'errMonthlyCap', MIN_MONTHLY_CAP_GB, MAX_MONTHLY_CAP_GB);
  }
  return number;
}

/** The bandwidth cap in bytes a second, as the relay worker takes it (0 = none). */
export function capBytesPerSecond(maxMbps: number): number {
  return Math.round((maxMbps * 1e6) / 8);
}

export function parseMaxMbps(value: unknown): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value.trim()) : value;
  const fine = typeof number === 'number' && Number.isFinite(number) && (number === 0 || (number >= MIN_MAX_MBPS && number <= MAX_MAX_MBPS));
  if (!fine) {
    throw new SettingsError('maxMbps', 'errMaxMbps', MIN_MAX_MBPS, MAX_MAX_MBPS);
  }
  return number;
}

/** `address/prefix` as Chromium's bypass rules take it: IPv4 with a prefix up to 32, IPv6 (no brackets) up to 128. */
function isAddressRange(entry: string): boolean {
  const slash = entry.lastIndexOf('/');
  const address = entry.slice(0, slash);
  const prefix = entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix)) return false;
  const octets = address.split('.');
  if (octets.length === 4 && octets.every((octet) => /^\d{1,3}$/.test(octet) && Number(octet) <= 255)) return Number(prefix) <= 32;
  return address.includes(':') && /^[0-9a-f:.]+$/i.test(address) && Number(prefix) <= 128;
}

/** Accepts an array of strings, or text with one entry per line (the options page). Blank lines are dropped. */
export function parseBypassList(value: unknown): string[] {
  const entries = typeof value === 'string' ? value.split(/\r?\n/) : value;
  if (!Array.isArray(entries) || !entries.every((entry) => typeof entry === 'string')) {
    throw new SettingsError('bypassList', 'errBypassList');
  }
  const cleaned = (entries as string[]).map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (cleaned.length > MAX_BYPASS_ENTRIES) throw new SettingsError('bypassList', 'errBypassTooMany', MAX_BYPASS_ENTRIES);
  for (const entry of cleaned) {
    if (entry.length > MAX_BYPASS_ENTRY_CHARS) throw new SettingsError('bypassList', 'errBypassEntryLong', entry.slice(0, 40));
    if (/\s/.test(entry)) throw new SettingsError('bypassList', 'errBypassEntrySpace', entry);
    if (!entry.includes('://') && entry.includes('/') && !isAddressRange(entry)) {
      throw new SettingsError('bypassList', 'errBypassEntryRange', entry);
    }
  }
  return cleaned;
}

/** Accepts an array of keys, or text with one key per line (the options page). Blank lines are dropped. */
export function parseExitListKeys(value: unknown): string[] {
  const entries = typeof value === 'string' ? value.split(/\r?\n/) : value;
  if (!Array.isArray(entries) || !entries.every((entry) => typeof entry === 'string')) {
    throw new SettingsError('exitListKeys', 'errExitListKeysList');
  }
  try {
    return parseOperatorPublicKeys((entries as string[]).filter((entry) => entry.trim() !== ''));
  } catch (error) {
    if (error instanceof OperatorKeyError) throw new SettingsError('exitListKeys', 'errExitListKey', error.message);
    throw error;
  }
}

/** true or false, or the options form's 'true' / 'false'. */
function parseSwitch(key: SettingsKey): (value: unknown) => boolean {
  return (value) => {
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    throw new SettingsError(key, 'errSwitch');
  };
}

const PARSERS: { [K in SettingsKey]: (value: unknown) => Settings[K] } = {
  brokerUrl: parseBrokerUrl,
  exitId: parseExitId,
  socksPort: parseSocksPort,
  bypassList: parseBypassList,
  maxClients: parseMaxClients,
  maxMbps: parseMaxMbps,
  monthlyCapGb: parseMonthlyCapGb,
  exitListKeys: parseExitListKeys,
  pauseOnBattery: parseSwitch('pauseOnBattery'),
  pauseOnMetered: parseSwitch('pauseOnMetered'),
  proxyPaths: parseProxyPaths,
  stripePaths: parseSwitch('stripePaths'),
};

/**
 * Turns what `chrome.storage.local.get(SETTINGS_KEYS)` returned into Settings. Absent keys take their defaults; a
 * present but invalid value throws SettingsError (a wrong setting fails loudly instead of being silently replaced).
 */
export function parseStoredSettings(stored: Record<string, unknown>): Settings {
  const settings: Settings = { ...DEFAULT_SETTINGS, bypassList: [...DEFAULT_SETTINGS.bypassList], exitListKeys: [...DEFAULT_SETTINGS.exitListKeys] };
  for (const key of SETTINGS_KEYS) {
    if (stored[key] === undefined) continue;
    (settings as unknown as Record<SettingsKey, unknown>)[key] = PARSERS[key](stored[key]);
  }
  return settings;
}

/** The options form: every field as typed text. */
export type SettingsForm = { [K in SettingsKey]: string };

export function settingsToForm(settings: Settings): SettingsForm {
  return {
    brokerUrl: settings.brokerUrl,
    exitId: settings.exitId,
    socksPort: String(settings.socksPort),
    bypassList: settings.bypassList.join('\n'),
    maxClients: String(settings.maxClients),
    maxMbps: String(settings.maxMbps),
    monthlyCapGb: String(settings.monthlyCapGb),
    exitListKeys: settings.exitListKeys.join('\n'),
    pauseOnBattery: String(settings.pauseOnBattery),
    pauseOnMetered: String(settings.pauseOnMetered),
    proxyPaths: String(settings.proxyPaths),
    stripePaths: String(settings.stripePaths),
  };
}

/** A refused form: per field, what is wrong (SettingsError: an English message, and a message key for the page). */
export type FormResult = { ok: true; settings: Settings } | { ok: false; errors: Partial<Record<SettingsKey, SettingsError>> };

/** Validates every field of the options form and collects one message per bad field. */
export function parseSettingsForm(form: SettingsForm): FormResult {
  const errors: Partial<Record<SettingsKey, SettingsError>> = {};
  const settings: Partial<Record<SettingsKey, unknown>> = {};
  for (const key of SETTINGS_KEYS) {
    try {
      settings[key] = PARSERS[key](form[key]);
    } catch (error) {
      if (!(error instanceof SettingsError)) throw error;
      errors[key] = error;
    }
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, settings: settings as unknown as Settings };
}
