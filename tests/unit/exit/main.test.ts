import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { type TestContext, test } from 'node:test';
import { withTimeout } from '../../../harness/wait.ts';
import { RELAYING_NODE_FLAGS } from '../../../protocol/adapters/node-flags.ts';
import { parsePrometheusText, sampleValue } from '../prometheus-text.ts';
import { connectClient } from './ws-client.ts';

/** Bound for each step of the exit process (started through bin/ferry.js and tsx). */
const STEP_MS = 15_000;

const repoRoot = resolve(import.meta.dirname, '../../..');

function getFrom(url: string, localAddress: string): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const outgoing = request(url, { localAddress }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      response.once('end', () => resolveBody(text));
    });
    outgoing.once('error', reject);
    outgoing.end();
  });
}

interface ExitProcess {
  child: ChildProcess;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
  /** The ready line's URL, port and public key. */
  ready: Promise<[url: string, port: string, publicKey: string]>;
}

/** `node <nodeFlags> bin/ferry.js exit` on 127.0.0.1, any port; killed (SIGKILL) after the test if still running. */
function spawnExit(t: TestContext, nodeFlags: readonly string[]): ExitProcess {
  const child = spawn(process.execPath, [...nodeFlags, join(repoRoot, 'bin', 'ferry.js'), 'exit', '--host', '127.0.0.1', '--port', '0'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output.stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output.stderr += chunk;
  });
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const ready = withTimeout(
    new Promise<[string, string, string]>((resolveLine, reject) => {
      const check = (): void => {
        const line = /^ferry exit: (ws:\/\/127\.0\.0\.1:(\d+)\/v1\/relay) ready, public key (\S+) \(pid \d+\)$/m.exec(output.stdout);
        if (line) resolveLine([line[1] ?? '', line[2] ?? '', line[3] ?? '']);
      };
      child.stdout?.on('data', check);
      void exited.then((code) => reject(new Error(`the exit stopped early with ${code}: ${output.stderr}`)));
    }),
    'the ready line',
    STEP_MS,
  );
  return { child, output, exited, ready };
}

const logRecords = (stderr: string): Record<string, unknown>[] =>
  stderr
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

test('ferry exit prints one ready line on stdout and logs JSON lines on stderr that name no volunteer address', async (t) => {
  // Started as the harness, the demo and docs/operations.md start it: with its node flags, and so without warnings.
  const { child, output, exited, ready } = spawnExit(t, RELAYING_NODE_FLAGS);
  const [url, port, publicKey] = await ready;
  const { session, socket } = await connectClient(url, publicKey, { localAddress: '127.0.0.2' });
  const metrics = await withTimeout(getFrom(`http://127.0.0.1:${port}/metrics`, '127.0.0.3'), 'GET /metrics', STEP_MS);
  assert.equal(sampleValue(parsePrometheusText(metrics), 'ferry_exit_sessions_total'), 1);
  session.close();
  socket.close();

  child.kill('SIGTERM');
  assert.equal(await withTimeout(exited, 'the exit to stop', STEP_MS), 0);
  assert.equal(output.stdout.trim().split('\n').length, 1, 'stdout has only the ready line');
  const records = logRecords(output.stderr);
  for (const record of records) {
    assert.match(String(record.level), /^(debug|info|warn|error)$/);
    assert.equal(record.name, 'ferry-exit');
    assert.equal(record.pid, child.pid);
  }
  assert.deepEqual(
    records.map((record) => record.msg),
    ['listening', 'stopping', 'stopped'],
  );
  assert.equal(records[0]?.port, Number(port));
  assert.equal(records[0]?.publicKey, publicKey);
  assert.equal(records[0]?.aead, 'native addon', 'npm run setup builds native/aead, and the exit uses it');
  for (const [what, text] of [
    ['the log', output.stderr],
    ['/metrics', metrics],
  ] as const) {
    assert.doesNotMatch(text, /\b\d{1,3}(?:\.\d{1,3}){3}\b|::/, `${what} names no address`);
  }
});

test('ferry exit started without its node flags says which are missing and how to start it', async (t) => {
  const { child, output, exited, ready } = spawnExit(t, []);
  await ready;
  child.kill('SIGTERM');
  assert.equal(await withTimeout(exited, 'the exit to stop', STEP_MS), 0);
  const warning = logRecords(output.stderr).find((record) => record.level === 'warn' && Array.isArray(record.missingFlags));
  assert.ok(warning, `a warning about the missing flags: ${output.stderr}`);
  assert.deepEqual(warning.missingFlags, [...RELAYING_NODE_FLAGS]);
  assert.match(String(warning.msg), /node --initial-old-space-size=64 bin\/ferry\.js exit/);
});

test('ferry exit refuses a path limit outside 1 to 3, saying the range', async () => {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'ferry.js'), 'exit', '--port', '0', '--max-paths-per-session', '4'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const code = await withTimeout(
    new Promise<number | null>((resolveExit) => child.once('exit', (exitCode) => resolveExit(exitCode))),
    'the exit to refuse',
    STEP_MS,
  );
  assert.equal(code, 1);
  assert.match(stderr, /--max-paths-per-session must be from 1 to 3, got 4/);
});
