/**
 * Builds Ferry's site into dist-widget/: the tab page (tab/), the widget's frame (widget/), the page `ferry volunteer`
 * relays in inside its own headless Chromium (headless/: it connects only to the loopback server that opened it), and, in a second pass
 * (`--mode embed`), the one-line embed script (embed.js: a fixed name because host pages link it, and one classic
 * script with nothing to import, because host pages load it with a plain <script src>). Serve the folder with a
 * ferry-site.json beside it (docs/operations.md); `ferry demo` and the tests do so with harness/ferry-site.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import preact from '@preact/preset-vite';
import { defineConfig, type Plugin } from 'vite';

/**
 * The pages share the extension's catalogs (locales/_locales), but a visitor of a widget should not download the
 * options page's words: each catalog reaches the pages with only the messages web/ asks for (t('key') and
 * plural('key') in its sources, plural forms included). The catalogs themselves stay whole and shared.
 */
function onlyWebMessages(): Plugin {
  const used = new Set<string>();
  const sources = readdirSync('web', { recursive: true, encoding: 'utf8' }).filter((file) => /\.tsx?$/.test(file));
  for (const file of sources) {
    for (const match of readFileSync(join('web', file), 'utf8').matchAll(/\b(?:t|plural)\(\s*'([A-Za-z0-9_]+)'/g)) used.add(match[1] as string);
  }
  const wanted = (key: string): boolean => used.has(key) || used.has(key.slice(0, key.lastIndexOf('_')));
  return {
    name: 'ferry-only-web-messages',
    enforce: 'pre',
    transform(code, id) {
      if (!/locales\/_locales\/[^/]+\/messages\.json$/.test(id)) return null;
      const catalog = JSON.parse(code) as Record<string, { message: string; placeholders?: unknown }>;
      const kept = Object.fromEntries(
        Object.entries(catalog)
          .filter(([key]) => wanted(key))
          .map(([key, entry]) => [
            key,
            entry.placeholders === undefined ? { message: entry.message } : { message: entry.message, placeholders: entry.placeholders },
          ]),
      );
      return { code: JSON.stringify(kept), map: null };
    },
  };
}

export default defineConfig(({ mode }) =>
  mode === 'embed'
    ? {
        build: {
          outDir: 'dist-widget',
          emptyOutDir: false,
          lib: { entry: 'web/embed.ts', formats: ['iife'], name: 'ferryEmbed', fileName: () => 'embed.js' },
        },
      }
    : {
        root: 'web',
        base: './',
        plugins: [onlyWebMessages(), preact()],
        build: {
          outDir: '../dist-widget',
          emptyOutDir: true,
          modulePreload: { polyfill: false },
          rollupOptions: { input: { tab: 'web/tab/index.html', widget: 'web/widget/index.html', headless: 'web/headless/index.html' } },
        },
      },
);
