// The extension's icons: every size Chrome and the stores ask for is in the manifest, each a PNG of exactly that size
// with transparency, and all were made from the current source drawing (extension/icons/ferry.svg) by
// scripts/make-icons.js, which records the drawing's SHA-256.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width, height and colour type from a PNG's IHDR chunk. */
function pngHeader(bytes: Buffer): { width: number; height: number; colorType: number } {
  assert.ok(bytes.subarray(0, 8).equals(PNG_SIGNATURE), 'a PNG signature');
  assert.equal(bytes.subarray(12, 16).toString('latin1'), 'IHDR');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), colorType: bytes[25] ?? -1 };
}

test('the manifest names icons of 16, 32, 48 and 128 px, each a PNG of that size with an alpha channel', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as {
    icons: Record<string, string>;
    action: { default_icon: Record<string, string> };
  };
  assert.deepEqual(
    Object.keys(manifest.icons).sort((a, b) => Number(a) - Number(b)),
    ['16', '32', '48', '128'],
  );
  assert.deepEqual(Object.keys(manifest.action.default_icon), ['16', '32'], 'the toolbar icon');
  for (const [size, path] of [...Object.entries(manifest.icons), ...Object.entries(manifest.action.default_icon)]) {
    const header = pngHeader(readFileSync(join(root, path)));
    assert.deepEqual([header.width, header.height], [Number(size), Number(size)], path);
    assert.equal(header.colorType, 6, `${path} is RGBA (its rounded corners are transparent)`);
  }
});

test('the icons were made from the current source drawing', () => {
  const svg = readFileSync(join(root, 'extension', 'icons', 'ferry.svg'));
  const recorded = readFileSync(join(root, 'extension', 'icons', 'ferry.svg.sha256'), 'utf8').trim();
  assert.equal(
    createHash('sha256').update(svg).digest('hex'),
    recorded,
    'extension/icons/ferry.svg changed since the PNGs were made: run "node scripts/make-icons.js" and commit the result',
  );
});
