#!/usr/bin/env node
// Runs the fuzz targets for a long time: `npm run fuzz` (1,000,000 cases per target by default). The runner is
// tests/fuzz/run.ts, started through tsx in one Node process with --expose-gc, so it can measure the heap after a
// forced collection. Options pass through, e.g. `npm run fuzz -- --cases 10000 --target socks5`; the runner's header
// lists them all.
//
// Exit code: the runner's (0 only with no crash and no hang); 1 if its watchdog had to kill it (a blocked event loop).
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'tests/fuzz/run.ts', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NO_COLOR: '1' },
});
child.on('exit', (code, signal) => {
  if (signal) console.error(`fuzz: the runner was killed (${signal}); a blocked event loop is reported just above`);
  process.exit(code ?? 1);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
