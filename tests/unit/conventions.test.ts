// Convention meta-tests (after refined-github's build/features.test.ts): the runtime-neutral cores must not reach
// for a runtime's globals (Buffer, process, chrome.*), which the import rules of .dependency-cruiser.cjs cannot see.
// Only files under an adapters/ folder, the adapters node.ts / browser.ts, the command line main.ts and the volunteer's
// metrics server node-metrics.ts and the Chromium it relays in, chromium-engine.ts, may (the same list as
// .dependency-cruiser.cjs).

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..');
const runtimeSpecific = /\bfrom ['"]node:|\brequire\(|\bBuffer\b|\bchrome\.|\bprocess\./;

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'adapters' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && !['node.ts', 'browser.ts', 'main.ts', 'node-metrics.ts', 'chromium-engine.ts'].includes(entry.name) ? [path] : [];
  });
}

for (const folder of ['protocol', 'relay-worker']) {
  test(`${folder}/ core uses only web-standard APIs`, () => {
    const files = sourceFiles(join(root, folder));
    assert.ok(files.length > 0, `${folder}/ has sources`);
    for (const file of files) {
      const offending = readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => !/^(\*|\/\/|\/\*)/.test(line.trim()))
        .find((line) => runtimeSpecific.test(line));
      assert.equal(offending, undefined, `${file} uses a runtime-specific API: ${offending}`);
    }
  });
}

test('manifest.json keeps the version of package.json and the public key that pins the extension ID', async () => {
  const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as { version: string; key: string; manifest_version: number };
  const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const { FERRY_EXTENSION_PUBLIC_KEY } = await import('../../protocol/local-channel.ts');
  assert.equal(manifest.manifest_version, 3);
  assert.equal(manifest.version, packageJson.version);
  assert.equal(manifest.key, FERRY_EXTENSION_PUBLIC_KEY);
});
