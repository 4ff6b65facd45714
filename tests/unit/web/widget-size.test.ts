// The widget a website embeds stays small: everything a visitor downloads for it, gzipped, within 50 kB. Reads the
// build that `npm test` makes first (dist-widget/).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureWidgetSize, WIDGET_GZIP_BUDGET_BYTES } from '../../../bench/widget-size.ts';

test('the whole widget, gzipped, is at most 50 kB, and the measure sees its frame, scripts and styles', () => {
  const size = measureWidgetSize();
  const names = size.files.map((file) => file.path);
  assert.ok(names.includes('embed.js') && names.includes('widget/index.html'), names.join(', '));
  assert.ok(names.some((name) => name.endsWith('.js') && name.startsWith('assets/')) && names.some((name) => name.endsWith('.css')), names.join(', '));
  assert.ok(
    names.some((name) => name.startsWith('assets/messages-')),
    `the largest language catalog a visitor may fetch is counted: ${names.join(', ')}`,
  );
  // The relay core and Preact are in it: a measure that missed them would be far too small.
  assert.ok(size.gzipBytes > 20_000, `${size.gzipBytes} bytes is too small to hold the relay`);
  assert.ok(size.gzipBytes <= WIDGET_GZIP_BUDGET_BYTES, `${size.gzipBytes} bytes gzipped: ${JSON.stringify(size.files)}`);
});
