#!/usr/bin/env node
// Runs the test suites with node's own test runner (through tsx, so tests are TypeScript), then prints the plain
// closing line `N passed, N failed` that CI reads. Usage: node scripts/run-tests.js [dir-or-file ...]
// Default: tests/unit, tests/integration, tests/e2e, in that order (e2e last: it is the slowest and needs Chromium).
import { spawn } from 'node:child_process';
import { readdirSync, statSync, readFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const targets = process.argv.slice(2);
const roots = targets.length > 0 ? targets : ['tests/unit', 'tests/integration', 'tests/e2e'];

/** @param {string} path @returns {string[]} */
function collect(path) {
  const full = resolve(root, path);
  if (statSync(full).isFile()) return [full];
  return readdirSync(full, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const child = join(full, entry.name);
      if (entry.isDirectory()) return collect(child);
      return /\.test\.tsx?$/.test(entry.name) ? [child] : [];
    });
}

const files = roots.flatMap(collect);
mkdirSync(join(root, 'test-results'), { recursive: true });
const tapFile = join(root, 'test-results', `results-${process.pid}.tap`);

// One file at a time: the e2e files each start two Chromium processes and this machine has 2 cores.
const child = spawn(
  process.execPath,
  [
    '--import', 'tsx',
    '--test',
    '--test-concurrency=1',
    '--test-timeout=600000',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, NO_COLOR: '1' } },
);
child.on('exit', (code, signal) => {
  let passed = 0;
  let failed = 0;
  try {
    const tap = readFileSync(tapFile, 'utf8');
    passed = Number(/^# pass (\d+)/m.exec(tap)?.[1] ?? 0);
    failed = Number(/^# fail (\d+)/m.exec(tap)?.[1] ?? 0) + Number(/^# cancelled (\d+)/m.exec(tap)?.[1] ?? 0);
  } catch {
    failed = 1;
  }
  if (code !== 0 && failed === 0) failed = 1;
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code ?? (signal ? 1 : 0));
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
