/**
 * Builds the Firefox variant of the extension into dist-firefox/ (`npm run build` runs it after vite.config.ts). Same
 * pages and core; its manifest comes from the root manifest.json through extension/firefox-manifest.ts, and its
 * background is the event page extension/background/firefox.ts, which runs Help others' relay itself (no offscreen
 * document). `web-ext lint dist-firefox` checks it; `web-ext build -s dist-firefox` packs it for addons.mozilla.org.
 */
import { crx, type ManifestV3Export } from '@crxjs/vite-plugin';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';
import { type ChromiumManifest, firefoxManifest } from './extension/firefox-manifest.ts';
import manifest from './manifest.json' with { type: 'json' };
import { EXTENSION_BUILD_DEFINES } from './vite.config.ts';

/**
 * The add-on id. FERRY_FIREFOX_ADDON_ID lets an operator who publishes the add-on use an id of their own domain; the
 * default lies in the reserved .invalid domain, so it can never be someone else's.
 */
const FIREFOX_ADDON_ID = process.env.FERRY_FIREFOX_ADDON_ID ?? 'ferry@ferry.invalid';

export default defineConfig({
  define: { ...EXTENSION_BUILD_DEFINES, __FERRY_BROWSER__: JSON.stringify('firefox') },
  plugins: [
    preact(),
    crx({
      browser: 'firefox',
      manifest: firefoxManifest(manifest as ChromiumManifest, {
        addonId: FIREFOX_ADDON_ID,
        backgroundScript: 'extension/background/firefox.ts',
      }) as ManifestV3Export,
    }),
  ],
  // The same message catalogs as the Chromium build, as the add-on's _locales (browser.i18n).
  publicDir: 'locales',
  build: {
    outDir: 'dist-firefox',
    emptyOutDir: true,
    // Extension pages load their modules from the package itself; the preload polyfill is dead weight.
    modulePreload: { polyfill: false },
  },
});
