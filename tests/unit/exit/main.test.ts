import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { withTimeout } from '../../../harness/wait.ts';
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

test('ferry exit prints one ready line on stdout and logs JSON lines on stderr that name no volunteer address', async (t) => {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'ferry.js'), 'exit', '--host', '127.0.0.1', '--port', '0'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const [, url = '', port = '', publicKey = ''] = await withTimeout(
    new Promise<RegExpExecArray>((resolveLine, reject) => {
      const check = (): void => {
        const line = /^ferry exit: (ws:\/\/127\.0\.0\.1:(\d+)\/v1\/relay) ready, public key (\S+) \(pid \d+\)$/m.exec(stdout);
        if (line) resolveLine(line);
      };
      child.stdout.on('data', check);
      void exited.then((code) => reject(new Error(`the exit stopped early with ${code}: ${stderr}`)));
    }),
    'the ready line',
    STEP_MS,
  );

  const { session, socket } = await connectClient(url, publicKey, { localAddress: '127.0.0.2' });
  const metrics = await withTimeout(getFrom(`http://127.0.0.1:${port}/metrics`, '127.0.0.3'), 'GET /metrics', STEP_MS);
  assert.equal(sampleValue(parsePrometheusText(metrics), 'ferry_exit_sessions_total'), 1);
  session.close();
  socket.close();

  child.kill('SIGTERM');
  assert.equal(await withTimeout(exited, 'the exit to stop', STEP_MS), 0);
  assert.equal(stdout.trim().split('\n').length, 1, 'stdout has only the ready line');
  const records = stderr
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
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
  for (const [what, output] of [
    ['the log', stderr],
    ['/metrics', metrics],
  ] as const) {
    assert.doesNotMatch(output, /\b\d{1,3}(?:\.\d{1,3}){3}\b|::/, `${what} names no address`);
  }
});
