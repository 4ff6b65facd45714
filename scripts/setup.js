#!/usr/bin/env node
// Makes a fresh Debian machine with Node ready for `npm run demo` and `npm test`: installs the npm packages when
// they are missing or stale, Debian's chromium and curl when they are missing, and builds the extension.
// Idempotent and quick when everything is already there.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const say = (line) => console.log(`setup: ${line}`);

function run(command, args, options = {}) {
  execFileSync(command, args, { cwd: root, stdio: 'inherit', ...options });
}

function which(command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// 1. npm packages: install when node_modules is missing or older than the lock file.
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  say('installing npm packages (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// 2. Debian packages the browser tests and the demo need.
const missing = [];
if (!existsSync(process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium')) missing.push('chromium');
if (!which('curl')) missing.push('curl');
if (missing.length > 0) {
  const asRoot = process.getuid?.() === 0 ? [] : ['sudo'];
  say(`installing Debian packages: ${missing.join(' ')}`);
  const apt = (args) =>
    asRoot.length ? run('sudo', ['apt-get', ...args]) : run('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  apt(['update', '-qq']);
  apt(['install', '-y', '-qq', ...missing]);
}

// 3. The extension (Vite + crxjs; well under a second).
say('building the extension into dist/extension');
run(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn']);
