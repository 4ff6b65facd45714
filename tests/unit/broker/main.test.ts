import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { LocalOperator } from '../../../harness/operator.ts';
import { withTimeout } from '../../../harness/wait.ts';
import { BrokerConfigError } from '../../../signaling-server/config.ts';
import { BrokerUsageError, runBroker } from '../../../signaling-server/main.ts';
import { parsePrometheusText, sampleValue } from '../prometheus-text.ts';
import { offerBody, TEST_EXIT, TEST_EXIT_LIST, TEST_OPERATOR, TestVolunteer, WAIT_MS } from './helpers.ts';

/** Bound for each step of the broker process (spawned through tsx): this file's own, three times WAIT_MS. */
const CLI_WAIT_MS = WAIT_MS * 3;

const repoRoot = resolve(import.meta.dirname, '../../..');
const cliEntry = join(import.meta.dirname, 'run-broker-cli.ts');

interface RunningCli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startCli(args: string[]): RunningCli {
  const child = spawn(process.execPath, ['--import', 'tsx', cliEntry, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Resolves with the port of the ready line `ferry broker: http://127.0.0.1:PORT ready (pid N)`. */
function readyPort(cli: RunningCli): Promise<number> {
  return withTimeout(
    new Promise<number>((resolvePort, reject) => {
      const check = (): void => {
        const line = /^ferry broker: http:\/\/127\.0\.0\.1:(\d+) ready \(pid (\d+)\)$/m.exec(cli.stdout());
        if (line) resolvePort(Number(line[1]));
      };
      check();
      cli.child.stdout!.on('data', check);
      void cli.exited.then((code) => reject(new Error(`the broker exited early with ${code}: ${cli.stderr()}`)));
    }),
    'the ready line',
    CLI_WAIT_MS,
  );
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

/** POSTs an offer to /v1/client from `localAddress` (any of 127/8 on Linux); resolves with the status. */
function postOfferFrom(port: number, localAddress: string, body: string): Promise<number> {
  return withTimeout(
    new Promise<number>((resolveStatus, reject) => {
      const outgoing = request(
        { host: '127.0.0.1', port, localAddress, method: 'POST', path: '/v1/client', headers: { 'Content-Type': 'application/json' } },
        (response) => {
          response.resume();
          response.once('end', () => resolveStatus(response.statusCode ?? 0));
        },
      );
      outgoing.once('error', reject);
      outgoing.end(body);
    }),
    'the broker to answer a client',
    CLI_WAIT_MS,
  );
}

/** GETs `path` from `localAddress`; resolves with the body. */
function getFrom(port: number, localAddress: string, path: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolveBody, reject) => {
      const outgoing = request({ host: '127.0.0.1', port, localAddress, path }, (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk;
        });
        response.once('end', () => resolveBody(text));
      });
      outgoing.once('error', reject);
      outgoing.end();
    }),
    `GET ${path}`,
    CLI_WAIT_MS,
  );
}

/** An IPv4 address, or an IPv6 one written with "::" or in full (eight groups). */
const ANY_ADDRESS = /\b\d{1,3}(?:\.\d{1,3}){3}\b|(?:^|[^\w:])(?:[0-9a-f]{0,4}:){1,7}:[0-9a-f]{0,4}|(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}/i;

test('ferry broker logs JSON lines on stderr, and neither they nor /metrics name a client or volunteer address after matches', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-broker-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const listFile = join(dir, 'exit-list.json');
  await writeFile(listFile, JSON.stringify(TEST_EXIT_LIST));
  const cli = startCli(['--host', '127.0.0.1', '--port', '0', '--exit-list', listFile]);
  t.after(() => killIfRunning(cli));
  const port = await readyPort(cli);

  // Each peer from its own loopback address, so any of them showing up in the output is caught.
  const volunteerAddresses = ['127.0.0.2', '127.0.0.3'];
  const clientAddresses = ['127.0.0.4', '127.0.0.5', '127.0.0.6'];
  const volunteers: TestVolunteer[] = [];
  t.after(() => {
    for (const volunteer of volunteers) volunteer.socket.terminate();
  });
  for (const localAddress of volunteerAddresses) {
    const volunteer = new TestVolunteer(`ws://127.0.0.1:${port}/v1/volunteer`, { localAddress });
    volunteers.push(volunteer);
    await volunteer.opened();
    await volunteer.hello({ slots: 4 });
    volunteer.onEveryOffer((offer) => volunteer.answer(offer.matchId));
  }
  for (const localAddress of clientAddresses) assert.equal(await postOfferFrom(port, localAddress, offerBody()), 200, `the client at ${localAddress} matched`);
  assert.equal(await postOfferFrom(port, '127.0.0.7', 'not json'), 400);
  // A volunteer that breaks the protocol (a message over the size limit) is logged: the log has a library event too.
  const oversize = new TestVolunteer(`ws://127.0.0.1:${port}/v1/volunteer`, { localAddress: '127.0.0.8' });
  volunteers.push(oversize);
  await oversize.opened();
  oversize.send(JSON.stringify({ type: 'hello', padding: 'x'.repeat(1024 * 1024) }));
  await oversize.closedBy();

  const metrics = await getFrom(port, '127.0.0.9', '/metrics');
  const families = parsePrometheusText(metrics);
  assert.equal(sampleValue(families, 'ferry_broker_matches_total'), 3);
  assert.equal(sampleValue(families, 'ferry_broker_volunteers_connected'), 2);

  cli.child.kill('SIGTERM');
  assert.equal(await withTimeout(cli.exited, 'the broker to exit', CLI_WAIT_MS), 0);
  assert.equal(cli.stdout().trim().split('\n').length, 1, 'stdout still has only the ready line');

  const lines = cli.stderr().trim().split('\n');
  const records = lines.map((line) => JSON.parse(line) as { level?: unknown; time?: unknown; pid?: unknown; msg?: unknown; port?: unknown });
  for (const record of records) {
    assert.match(String(record.level), /^(debug|info|warn|error)$/);
    assert.ok(!Number.isNaN(Date.parse(String(record.time))), 'an ISO time');
    assert.equal(record.pid, cli.child.pid);
    assert.equal(typeof record.msg, 'string');
  }
  assert.ok(
    records.some((record) => record.msg === 'listening' && record.port === port),
    'the start is logged, with the port',
  );
  assert.ok(
    records.some((record) => record.level === 'info' && /volunteer socket error/.test(String(record.msg))),
    `the protocol error is logged: ${cli.stderr()}`,
  );
  assert.ok(
    records.some((record) => record.msg === 'stopped'),
    'the stop is logged',
  );
  for (const [what, output] of [
    ['the log', cli.stderr()],
    ['/metrics', metrics],
  ] as const) {
    for (const address of [...volunteerAddresses, ...clientAddresses, '127.0.0.7', '127.0.0.8', '127.0.0.9']) {
      assert.ok(!output.includes(address), `${what} names ${address}`);
    }
    assert.doesNotMatch(output, ANY_ADDRESS, `${what} names no address at all`);
  }
});
