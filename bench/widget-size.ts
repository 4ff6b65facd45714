/**
 * @module bench/widget-size
 * What a visitor downloads for the widget, gzipped: embed.js, the frame's page, every script and stylesheet that page
 * loads (read from the built HTML, following the scripts' static imports), and the largest of the language catalogs
 * fetched for a visitor who does not read English (web/load-catalog.ts), against the 50 KB budget.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { WIDGET_DIST_DIR } from '../harness/ferry-site.ts';

/** The budget for the whole widget, gzipped (bytes). */
export const WIDGET_GZIP_BUDGET_BYTES = 50 * 1000;

export interface WidgetSize {
  files: Array<{ path: string; gzipBytes: number }>;
  gzipBytes: number;
}

const gzipBytes = (path: string): number => gzipSync(readFileSync(path), { level: 9 }).length;

/** Files the frame's page names (src=, href=) and, for scripts, the files they import, transitively. */
function framePageFiles(page: string): string[] {
  const found = new Set<string>();
  const pending = [...readFileSync(page, 'utf8').matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((match) => resolve(dirname(page), match[1] as string));
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (found.has(file)) continue;
    found.add(file);
    if (!file.endsWith('.js')) continue;
    for (const match of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*"(\.{1,2}\/[^"]+\.js)"/g))
      pending.push(resolve(dirname(file), match[1] as string));
  }
  return [...found];
}

export function measureWidgetSize(dir = WIDGET_DIST_DIR): WidgetSize {
  const page = join(dir, 'widget', 'index.html');
  const paths = [join(dir, 'embed.js'), page, ...framePageFiles(page)];
  const files = paths.map((path) => ({ path: path.slice(dir.length + 1), gzipBytes: gzipBytes(path) }));
  const catalogs = readdirSync(join(dir, 'assets'))
    .filter((name) => /^messages-.*\.js$/.test(name))
    .map((name) => ({ path: `assets/${name}`, gzipBytes: gzipBytes(join(dir, 'assets', name)) }))
    .sort((a, b) => b.gzipBytes - a.gzipBytes);
  if (catalogs[0] !== undefined) files.push(catalogs[0]);
  return { files, gzipBytes: files.reduce((sum, file) => sum + file.gzipBytes, 0) };
}
