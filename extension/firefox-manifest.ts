/**
 * @module firefox-manifest
 * The Firefox build's manifest, derived at build time (vite.firefox.config.ts) from the root manifest.json, which
 * stays the one place for the name, version, icons and pages. What Firefox's MV3 needs differently:
 * - an event page (`background.scripts`, its own init file background/firefox.ts) instead of a service worker: the
 *   page has RTCPeerConnection, so no offscreen document and no `offscreen` permission;
 * - `browser_specific_settings.gecko`: the add-on id (Firefox requires one for MV3) and the oldest Firefox it runs on;
 * - `options_ui` instead of Chromium's `options_page`;
 * - only what Help others uses: Proxy me (nativeMessaging, proxy, privacy, the pairing-link content script) is not in
 *   the Firefox build yet, and an add-on asks for no permission it does not use. Chromium's `key` and
 *   `minimum_chrome_version` mean nothing to Firefox.
 */

/** The shape of the root manifest.json this reads (only the fields it keeps or replaces). */
export interface ChromiumManifest {
  manifest_version: number;
  name: string;
  description: string;
  version: string;
  permissions: string[];
  icons: Record<string, string>;
  action: { default_popup: string; default_title: string; default_icon: Record<string, string> };
  options_page: string;
  [field: string]: unknown;
}

export interface FirefoxManifestOptions {
  /** The add-on id (an email-like name or a {GUID}); addons.mozilla.org ties every update to it. */
  addonId: string;
  /** The Firefox background page's entry (a source path; the build bundles it). */
  backgroundScript: string;
}

/** The permissions Help others uses; anything else in the root manifest is Chromium's or Proxy me's. */
export const FIREFOX_PERMISSIONS: readonly string[] = ['storage'];

/**
 * The oldest Firefox the build runs on: 140, the ESR line that also reads `data_collection_permissions` (below);
 * storage.session and module background scripts are older than that.
 */
export const FIREFOX_MIN_VERSION = '140.0';

/**
 * The extension pages' content security policy: the MV3 default without its `upgrade-insecure-requests`, which would
 * silently turn a plain http:// or ws:// broker or exit (as on a test network or a LAN) into https:// and wss://,
 * unlike in Chromium. Scripts still come only from the add-on itself.
 */
export const FIREFOX_EXTENSION_PAGES_CSP = "script-src 'self'; object-src 'self'";

/** The derived manifest: the root's fields that Firefox reads, and the ones above. */
export interface FirefoxManifest {
  manifest_version: number;
  name: string;
  version: string;
  permissions: string[];
  background: { scripts: string[]; type: 'module' };
  options_ui: { page: string; open_in_tab: boolean };
  content_security_policy: { extension_pages: string };
  browser_specific_settings: { gecko: { id: string; strict_min_version: string; data_collection_permissions: { required: string[] } } };
  [field: string]: unknown;
}

export function firefoxManifest(base: ChromiumManifest, options: FirefoxManifestOptions): FirefoxManifest {
  const { key: _key, minimum_chrome_version: _minimumChromeVersion, background: _background, options_page, content_scripts: _contentScripts, ...kept } = base;
  return {
    ...kept,
    permissions: base.permissions.filter((permission) => FIREFOX_PERMISSIONS.includes(permission)),
    background: { scripts: [options.backgroundScript], type: 'module' },
    options_ui: { page: options_page, open_in_tab: true },
    content_security_policy: { extension_pages: FIREFOX_EXTENSION_PAGES_CSP },
    browser_specific_settings: {
      gecko: {
        id: options.addonId,
        strict_min_version: FIREFOX_MIN_VERSION,
        // Ferry sends no data to its developers: what it relays belongs to the people it helps, and it is encrypted.
        data_collection_permissions: { required: ['none'] },
      },
    },
  };
}
