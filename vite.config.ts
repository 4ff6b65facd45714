/**
 * Builds the browser extension from the root manifest.json into dist/extension/ (load it unpacked). The offscreen page is not named in the
 * manifest (chrome.offscreen.createDocument opens it), so it is added as an extra input here.
 */
import { crx, type ManifestV3Export } from '@crxjs/vite-plugin';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';
import manifest from './manifest.json' with { type: 'json' };

/**
 * Pairing links live on the broker's origin (`<broker>/pair#token`); the content script that picks them up runs only
 * there. FERRY_BROKER_URL (the network's broker, default this machine's) names the host; match patterns take any port.
 */
function withPairingLinkHost(base: ManifestV3Export): ManifestV3Export {
  const broker = new URL(process.env.FERRY_BROKER_URL ?? 'http://127.0.0.1');
  const matches = [`${broker.protocol}//${broker.hostname}/pair*`];
  const scripts = (base as { content_scripts?: Array<Record<string, unknown>> }).content_scripts ?? [];
  return { ...base, content_scripts: scripts.map((script) => ({ ...script, matches })) } as ManifestV3Export;
}

/**
 * Build-time constants every build of the extension shares (vite.firefox.config.ts too). The operator's exit-list keys
 * this build trusts by default (extension/settings.ts); settings can replace them. The network's broker
 * (FERRY_BROKER_URL): the default broker URL setting, and the host of its pairing links.
 */
export const EXTENSION_BUILD_DEFINES = {
  __FERRY_EXIT_LIST_KEYS__: JSON.stringify(process.env.FERRY_EXIT_LIST_KEYS ?? ''),
  __FERRY_BROKER_URL__: JSON.stringify(process.env.FERRY_BROKER_URL ?? ''),
};

export default defineConfig({
  define: EXTENSION_BUILD_DEFINES,
  plugins: [preact(), crx({ manifest: withPairingLinkHost(manifest as ManifestV3Export) })],
  // locales/_locales: the message catalogs of every shell, copied as the extension's _locales (chrome.i18n).
  publicDir: 'locales',
  build: {
    outDir: 'dist/extension',
    emptyOutDir: true,
    // Extension pages load their modules from the package itself; the preload polyfill is dead weight.
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: { offscreen: 'extension/offscreen/offscreen.html' },
    },
  },
});
