// The folder rules (.dependency-cruiser.cjs) bite: a wrong import planted in a scratch tree shaped like ours fails
// with the name of the rule it breaks. (`npm test` checks the real tree with the same rules before any test runs.)

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { cruise, type IConfiguration } from 'dependency-cruiser';

const root = join(import.meta.dirname, '..', '..');
const config = createRequire(import.meta.url)(join(root, '.dependency-cruiser.cjs')) as IConfiguration;
let scratch: string;

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'ferry-rules-'));
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');
});

after(() => rmSync(scratch, { recursive: true, force: true }));

/** Writes `files` (path -> source) into the scratch tree and returns the names of the rules they break. */
async function brokenRules(files: Record<string, string>): Promise<string[]> {
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), source);
  }
  const { tsConfig: _projectOnly, ...options } = config.options ?? {};
  const result = await cruise(Object.keys(files), {
    ...options,
    ruleSet: { forbidden: config.forbidden ?? [] },
    baseDir: scratch,
    validate: true,
    outputType: 'err',
  });
  assert.equal(typeof result.output, 'string');
  for (const path of Object.keys(files)) rmSync(join(scratch, path));
  return [...new Set([...(result.output as string).matchAll(/error ([a-z-]+): /g)].map((match) => match[1] ?? ''))].sort();
}

test('protocol/ importing ws fails, naming the rule', async () => {
  assert.deepEqual(await brokenRules({ 'protocol/bad.ts': "import { WebSocket } from 'ws';\nexport const socket = WebSocket;\n" }), [
    'protocol-is-runtime-neutral',
  ]);
});

test('protocol/adapters/ may use node:, the rest of protocol/ may not', async () => {
  assert.deepEqual(await brokenRules({ 'protocol/adapters/fine.ts': "import { randomBytes } from 'node:crypto';\nexport const bytes = randomBytes;\n" }), []);
  assert.deepEqual(await brokenRules({ 'protocol/bad.ts': "import { randomBytes } from 'node:crypto';\nexport const bytes = randomBytes;\n" }), [
    'protocol-is-runtime-neutral',
  ]);
});

test('one server importing another, the harness importing extension/, and anything importing tests/ fail', async () => {
  assert.deepEqual(
    await brokenRules({
      'exit-server/exit.ts': 'export const exit = 1;\n',
      'signaling-server/bad.ts': "import { exit } from '../exit-server/exit.ts';\nexport const x = exit;\n",
    }),
    ['servers-never-import-each-other'],
  );
  assert.deepEqual(
    await brokenRules({
      'extension/ui.ts': 'export type Ui = { on: boolean };\n',
      'harness/bad.ts': "import type { Ui } from '../extension/ui.ts';\nexport type X = Ui;\n",
    }),
    ['only-tests-import-extension'],
  );
  assert.deepEqual(
    await brokenRules({
      'tests/support.ts': 'export const fixture = 1;\n',
      'bench/bad.ts': "import { fixture } from '../tests/support.ts';\nexport const x = fixture;\n",
    }),
    ['nothing-imports-tests'],
  );
});

test('the volunteer core never imports the extension, and never a runtime outside its adapters', async () => {
  assert.deepEqual(
    await brokenRules({ 'extension/x.ts': 'export const x = 1;\n', 'relay-worker/bad.ts': "import { x } from '../extension/x.ts';\nexport const y = x;\n" }),
    ['only-tests-import-extension', 'relay-worker-core-is-runtime-neutral', 'relay-worker-never-imports-extension'],
  );
  assert.deepEqual(await brokenRules({ 'relay-worker/node.ts': "import { WebSocket } from 'ws';\nexport const socket = WebSocket;\n" }), []);
});

test('a cycle fails', async () => {
  assert.deepEqual(
    await brokenRules({
      'cli/a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
      'cli/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
    }),
    ['no-circular'],
  );
});
