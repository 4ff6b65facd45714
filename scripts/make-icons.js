#!/usr/bin/env node
// Makes the extension's PNG icons (16, 32, 48 and 128 px: what Chrome and the stores ask for) from the one source
// drawing, extension/icons/ferry.svg, by rendering it in Debian's Chromium (the browser the tests use), and records
// the drawing's SHA-256 next to them so a test notices icons older than the drawing. Run it after changing the SVG:
//   node scripts/make-icons.js
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const root = resolve(import.meta.dirname, '..');
const dir = join(root, 'extension', 'icons');
export const ICON_SIZES = [16, 32, 48, 128];

const svg = await readFile(join(dir, 'ferry.svg'), 'utf8');
const browser = await chromium.launch({ executablePath: process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ deviceScaleFactor: 1 });
  for (const size of ICON_SIZES) {
    await page.setViewportSize({ width: size, height: size });
    await page.setContent(
      `<html><body style="margin:0;background:transparent">${svg.replace('<svg ', `<svg width="${size}" height="${size}" `)}</body></html>`,
    );
    const png = await page.screenshot({ omitBackground: true, clip: { x: 0, y: 0, width: size, height: size } });
    await writeFile(join(dir, `icon-${size}.png`), png);
    console.log(`make-icons: extension/icons/icon-${size}.png (${png.length} bytes)`);
  }
} finally {
  await browser.close();
}
await writeFile(join(dir, 'ferry.svg.sha256'), `${createHash('sha256').update(svg).digest('hex')}\n`);
