/**
 * Builds Ferry's site into dist-widget/: the tab page (tab/), the widget's frame (widget/), and, in a second pass
 * (`--mode embed`), the one-line embed script (embed.js: a fixed name because host pages link it, and one classic
 * script with nothing to import, because host pages load it with a plain <script src>). Serve the folder with a
 * ferry-site.json beside it (docs/operations.md); `ferry demo` and the tests do so with harness/ferry-site.ts.
 */
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

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
        plugins: [preact()],
        build: {
          outDir: '../dist-widget',
          emptyOutDir: true,
          modulePreload: { polyfill: false },
          rollupOptions: { input: { tab: 'web/tab/index.html', widget: 'web/widget/index.html' } },
        },
      },
);
