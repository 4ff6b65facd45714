// `ferry demo` as a person runs it: one line per component, the ready line, traffic through the SOCKS5 port, and
// SIGTERM ending every process it started.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { startOriginServer } from '../../harness/origin-server.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { socksFetch } from '../../harness/socks-fetch.ts';
import { waitFor } from '../../harness/wait.ts';

const READY_TIMEOUT_MS = 120_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('ferry demo starts the whole network, carries traffic, and SIGTERM stops every process it started', async () => {
  const origin = await startOriginServer(2 * 1024 * 1024);
  const demo = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'bin', 'ferry.js'),
      'demo',
      '--headless',
      '--socks-port',
      '0',
      '--broker-port',
      '0',
      '--exit-port',
      '0',
      '--site-port',
      '0',
      '--host-port',
      '0',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  demo.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  demo.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const socksPort = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line within ${READY_TIMEOUT_MS} ms:\n${output}`)), READY_TIMEOUT_MS);
      demo.stdout.on('data', () => {
        const match = /^ferry demo: socks5:\/\/127\.0\.0\.1:(\d+) ready$/m.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      demo.once('exit', (code) => reject(new Error(`demo exited early (${code}):\n${output}`)));
    });
    const pids = [...output.matchAll(/pid (\d+)/g)].map((match) => Number(match[1]));
    for (const component of ['exit', 'broker', 'volunteer 1', 'client', 'helper']) {
      assert.match(output, new RegExp(`^ferry demo: ${component}\\b.*pid \\d+`, 'm'), `a line for the ${component} with its pid`);
    }
    assert.equal(pids.length, 5);
    // Ferry's site and the second origin that embeds the widget.
    const tabUrl = /^ferry demo: tab page (http:\/\/127\.0\.0\.1:\d+\/tab\/)/m.exec(output)?.[1];
    const hostUrl = /^ferry demo: widget (http:\/\/localhost:\d+\/)/m.exec(output)?.[1];
    assert.ok(tabUrl && hostUrl, output);
    assert.match(await (await fetch(tabUrl)).text(), /<div id="app">/);
    const hostPage = await (await fetch(hostUrl)).text();
    assert.ok(hostPage.includes(`<script src="${new URL('../embed.js', tabUrl).href}" async`), 'the host page embeds the widget with one line');
    const result = await socksFetch(socksPort, `http://localhost:${origin.port}/file`);
    assert.ok(result.ok, result.stderr);
    assert.equal(result.sha256, origin.sha256);

    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    demo.kill('SIGTERM');
    assert.equal(await exited, 0);
    // Every process the demo started must be gone (the kernel may take a moment to reap them).
    await waitFor(() => !pids.some(alive), 'every process the demo started to end', { timeoutMs: 5_000, intervalMs: 100 }).catch(() => undefined);
    assert.deepEqual(pids.filter(alive), [], 'no process outlives the demo');
  } finally {
    if (demo.exitCode === null) demo.kill('SIGKILL');
    await origin.close();
  }
});

test('every ferry command answers --help', async () => {
  for (const command of ['demo', 'broker', 'exit', 'volunteer', 'helper', 'bench']) {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ferry.js'), command, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`ferry ${command} --help exited ${code}`))));
    });
    assert.match(output, /Usage: ferry /, `ferry ${command} --help`);
  }
});
