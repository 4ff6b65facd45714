/**
 * @module site-config
 * ferry-site.json: what the operator of a Ferry site (the tab page and the widget, dist-widget/) tells those pages at
 * run time: which broker to wait at, and which keys sign the exit list the volunteer checks offered exits against.
 * Served beside the pages, so one build serves any network. Runtime-neutral.
 */
import { type Fail, isRecord, requireText, requireUrl } from './validate.ts';

/** Where the pages fetch it, relative to the site's root. */
export const SITE_CONFIG_FILE = 'ferry-site.json';
/** Longest accepted file (bytes): a broker URL and a few keys. */
export const MAX_SITE_CONFIG_BYTES = 16 * 1024;
const MAX_EXIT_LIST_KEYS = 16;
const MAX_URL_CHARS = 2_048;
const MAX_KEY_CHARS = 256;

export interface SiteConfig {
  /** The broker's base URL (http or https; the volunteer opens its WebSocket there). */
  brokerUrl: string;
  /** Public keys (as the exit list's signer prints them) whose signed exit lists the volunteer trusts. */
  exitListKeys: string[];
}

/** ferry-site.json is unusable; the message names the field and what it must hold. */
export class SiteConfigError extends Error {
  override readonly name = 'SiteConfigError';
  readonly code = 'SITE_CONFIG_BAD';
}

const fail: Fail = (message) => new SiteConfigError(`${SITE_CONFIG_FILE}: ${message}`);

export function parseSiteConfig(value: unknown): SiteConfig {
  if (!isRecord(value)) throw fail('must be a JSON object {"brokerUrl": "...", "exitListKeys": ["..."]}');
  const keys = value.exitListKeys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_EXIT_LIST_KEYS) {
    throw fail(`"exitListKeys" must list 1 to ${MAX_EXIT_LIST_KEYS} keys (ferry exit-list prints them)`);
  }
  return {
    brokerUrl: requireUrl(value.brokerUrl, '"brokerUrl"', ['http:', 'https:'], MAX_URL_CHARS, fail),
    exitListKeys: keys.map((key, index) => requireText(key, `"exitListKeys"[${index}]`, MAX_KEY_CHARS, fail)),
  };
}
