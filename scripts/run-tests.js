#!/usr/bin/env node
// Runs the checks and the test suites, then prints the plain closing line `N passed, N failed` that CI reads.
// Usage: node scripts/run-tests.js [dir-or-file ...]
//
// First the three checks, each counted as one result: the type check (tsc), lint and format (Biome), and the folder
// rules (dependency-cruiser, .dependency-cruiser.cjs; a violation prints the rule's name). Then the tests with node's
// own test runner (through tsx, so tests are TypeScript). Default suites: tests/unit, tests/integration, tests/e2e,
// in that order (e2e last: it is the slowest and needs Chromium).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const targets = process.argv.slice(2);
const roots = targets.length > 0 ? targets : ['tests/unit', 'tests/integration', 'tests/e2e'];
const bin = (name) => join(root, 'node_modules', '.bin', name);

/** The folders whose imports the folder rules check. */
const SOURCE_FOLDERS = [
  'protocol',
  'signaling-server',
  'exit-server',
  'relay-worker',
  'native-helper',
  'extension',
  'web',
  'cli',
  'harness',
  'bench',
  'tests',
  'scripts',
  'bin',
];

const checks = [
  { name: 'type check (tsc)', command: bin('tsc'), args: ['--noEmit', '-p', 'tsconfig.json'] },
  { name: 'lint and format (biome)', command: bin('biome'), args: ['ci', '--colors=off', '.'] },
  { name: 'folder rules (dependency-cruiser)', command: bin('depcruise'), args: ['--config', '.dependency-cruiser.cjs', ...SOURCE_FOLDERS] },
];

let checksPassed = 0;
let checksFailed = 0;
for (const check of checks) {
  const started = Date.now();
  const result = spawnSync(check.command, check.args, { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status === 0) {
    checksPassed += 1;
    console.log(`✔ ${check.name} (${seconds} s)`);
  } else {
    checksFailed += 1;
    console.log(`✖ ${check.name} failed (${seconds} s):`);
    console.log(`${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`.trim());
  }
}

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
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    '--test-timeout=600000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tapFile}`,
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
  if (checksFailed > 0) console.log(`${checksFailed} of the checks above failed (type check, lint and format, folder rules)`);
  console.log(`${passed + checksPassed} passed, ${failed + checksFailed} failed`);
  process.exit(checksFailed > 0 ? 1 : (code ?? (signal ? 1 : 0)));
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
