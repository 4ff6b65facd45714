import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { LocalOperator } from '../../../harness/operator.ts';
import { withTimeout } from '../../../harness/wait.ts';
import { BrokerConfigError } from '../../../signaling-server/config.ts';
import { BrokerUsageError, runBroker } from '../../../signaling-server/main.ts';
import { TEST_EXIT, TEST_EXIT_LIST, TEST_OPERATOR, WAIT_MS } from './helpers.ts';

/** Bound for each step of the broker process (spawned through tsx): this file's own, three times WAIT_MS. */
const CLI_WAIT_MS = WAIT_MS * 3;

const repoRoot = resolve(import.meta.dirname, '../../..');
const cliEntry = join(import.meta.dirname, 'run-broker-cli.ts');

interface RunningCli {
  child: ChildProcess;
  stdout: () => string;
  exited: Promise<number | null>;
}

function startCli(args: string[]): RunningCli {
  const child = spawn(process.execPath, ['--import', 'tsx', cliEntry, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr!.resume();
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  return { child, stdout: () => stdout, exited };
}

function killIfRunning(cli: RunningCli): void {
  if (cli.child.exitCode === null && cli.child.signalCode === null && cli.child.pid !== undefined) process.kill(cli.child.pid, 'SIGKILL');
}

test('ferry broker: prints one ready line, serves the signed exit list from its file, stops on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-broker-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const listFile = join(dir, 'exit-list.json');
  await writeFile(listFile, JSON.stringify(TEST_EXIT_LIST));

  const cli = startCli(['--host', '127.0.0.1', '--port', '0', '--exit-list', listFile, '--exit-list-key', TEST_OPERATOR.exitListKey]);
  t.after(() => killIfRunning(cli));
  const readyLine = await withTimeout(
    new Promise<string>((resolveLine, reject) => {
      const check = (): void => {
        const line = /^ferry broker: http:\/\/127\.0\.0\.1:(\d+) ready \(pid (\d+)\)$/m.exec(cli.stdout());
        if (line) resolveLine(line[0]);
      };
      cli.child.stdout!.on('data', check);
      void cli.exited.then((code) => reject(new Error(`the broker exited early with ${code}`)));
    }),
    'the ready line',
    CLI_WAIT_MS,
  );
  const [, port, pid] = /:(\d+) ready \(pid (\d+)\)/.exec(readyLine)!;
  assert.equal(Number(pid), cli.child.pid);

  const response = await fetch(`http://127.0.0.1:${port}/v1/exits`, { signal: AbortSignal.timeout(WAIT_MS) });
  assert.deepEqual(await response.json(), TEST_EXIT_LIST);

  cli.child.kill('SIGTERM');
  assert.equal(await withTimeout(cli.exited, 'the broker to exit', CLI_WAIT_MS), 0);
  assert.equal(cli.stdout().trim().split('\n').length, 1, 'exactly one line on stdout');
});

test('ferry broker --help prints usage and exits 0', async (t) => {
  const cli = startCli(['--help']);
  t.after(() => killIfRunning(cli));
  assert.equal(await withTimeout(cli.exited, 'the help to print', CLI_WAIT_MS), 0);
  assert.match(cli.stdout(), /Usage: ferry broker/);
  assert.match(cli.stdout(), /--exit-list FILE/);
});

test('bad flags are refused before anything listens', async () => {
  await assert.rejects(runBroker(['--bogus']), BrokerUsageError);
  await assert.rejects(runBroker(['--port', '99999']), /--port/);
  await assert.rejects(runBroker(['--port', 'http']), /--port/);
  await assert.rejects(runBroker(['--exit-list', '/nonexistent/ferry-exit-list.json']), /cannot read --exit-list/);
  await assert.rejects(runBroker(['--exit-list-key', 'AAAA']), /--exit-list-key: .*32 bytes/);
});

test('a wrong exit list file is refused before anything listens: not JSON, unsigned, foreign key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-broker-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const write = async (name: string, text: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  await assert.rejects(runBroker(['--exit-list', await write('junk.json', '<html>')]), /not valid JSON/);
  await assert.rejects(runBroker(['--exit-list', await write('old.json', JSON.stringify({ exits: [TEST_EXIT] }))]), /--exit-list .*malformed/);
  const foreign = await write('foreign.json', JSON.stringify(new LocalOperator().signExitList([TEST_EXIT])));
  await assert.rejects(runBroker(['--exit-list', foreign, '--exit-list-key', TEST_OPERATOR.exitListKey]), BrokerConfigError);
});
