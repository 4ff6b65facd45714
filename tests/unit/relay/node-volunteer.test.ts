import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { LocalOperator } from '../../../harness/operator.ts';
import { withTimeout } from '../../../harness/wait.ts';
import { closeAllClientPeers, connectTestClient, STEP_TIMEOUT_MS, TestBroker, type TestClient, TestExit } from './helpers.ts';

const fixture = resolve(import.meta.dirname, 'fixtures/run-volunteer.ts');
const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  closeAllClientPeers();
  nodeDataChannel.cleanup();
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function runVolunteerProcess(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function untilOutput(run: Run, pattern: RegExp, what: string): Promise<void> {
  await withTimeout(
    new Promise<void>((resolveFound, reject) => {
      const check = () => {
        if (pattern.test(run.stdout())) resolveFound();
      };
      run.child.stdout?.on('data', check);
      run.child.once('exit', () => reject(new Error(`the volunteer exited before ${what}: ${run.stderr()}`)));
      check();
    }),
    what,
    20_000,
  );
}

describe('ferry volunteer --engine node-datachannel (own process)', () => {
  test('prints its ready line, relays a client, and stops on SIGTERM', async () => {
    const exit = await TestExit.echo();
    const broker = await TestBroker.start([exit.info()]);
    let client: TestClient | undefined;
    const run = runVolunteerProcess(['--engine', 'node-datachannel', '--broker', broker.url, '--exit-list-key', broker.exitListKey, '--max-clients', '3']);
    try {
      await untilOutput(run, /ferry volunteer: waiting at http:\/\/127\.0\.0\.1:\d+ \(pid \d+\)/, 'the ready line');
      assert.match(run.stdout(), new RegExp(`\\(pid ${run.child.pid}\\)`));
      const hello = await broker.next((m) => m.type === 'hello', 'hello');
      assert.deepEqual(hello, { type: 'hello', version: 1, kind: 'headless', slots: 3, nat: 'unknown' });

      client = await connectTestClient(broker, exit.info());
      client.channel.send(new Uint8Array([7, 7, 7]).buffer);
      const echoClient = client;
      await client.until(() => echoClient.received.length === 1, 'the echo through the volunteer process');
      assert.deepEqual([...new Uint8Array(client.received[0] as ArrayBuffer)], [7, 7, 7]);

      run.child.kill('SIGTERM');
      assert.equal(await withTimeout(run.exited, 'the volunteer to exit after SIGTERM', STEP_TIMEOUT_MS), 0, `stderr: ${run.stderr()}`);
      await exit.until(() => exit.closed === 1, 'the exit socket to close');
      assert.match(run.stderr(), /stopped after helping 1 people/, `stderr: ${run.stderr()}`);
    } finally {
      client?.close();
      if (run.child.exitCode === null && run.child.pid !== undefined) process.kill(run.child.pid, 'SIGKILL');
      await broker.close();
      await exit.close();
    }
  });

  test('--help prints the usage; a bad --max-clients is refused with a clear message', async () => {
    const help = runVolunteerProcess(['--help']);
    assert.equal(await withTimeout(help.exited, '--help to exit', STEP_TIMEOUT_MS), 0);
    assert.match(help.stdout(), /Usage: ferry volunteer --broker URL/);

    const key = new LocalOperator().exitListKey;
    const bad = runVolunteerProcess(['--broker', 'http://127.0.0.1:9', '--exit-list-key', key, '--max-clients', '99']);
    assert.equal(await withTimeout(bad.exited, 'the bad command line to exit', STEP_TIMEOUT_MS), 2);
    assert.match(bad.stderr(), /maxClients.*from 1 to 32/);

    const missing = runVolunteerProcess([]);
    assert.equal(await withTimeout(missing.exited, 'the missing broker to exit', STEP_TIMEOUT_MS), 2);
    assert.match(missing.stderr(), /--broker URL is required/);

    const keyless = runVolunteerProcess(['--broker', 'http://127.0.0.1:9']);
    assert.equal(await withTimeout(keyless.exited, 'the missing key to exit', STEP_TIMEOUT_MS), 2);
    assert.match(keyless.stderr(), /--exit-list-key KEY is required/);

    const badKey = runVolunteerProcess(['--broker', 'http://127.0.0.1:9', '--exit-list-key', 'AAAA']);
    assert.equal(await withTimeout(badKey.exited, 'the bad key to exit', STEP_TIMEOUT_MS), 2);
    assert.match(badKey.stderr(), /exitListKeys.*32 bytes/);

    for (const [flags, message] of [
      [['--max-mbps', 'fast'], /--max-mbps must be a number of megabits a second/],
      [['--max-mbps', '0.1'], /--max-mbps must be at least 0\.262144/],
      [['--summary-every', 'often'], /--summary-every must be a whole number from 0/],
      [['--metrics-port', '70000'], /--metrics-port must be a whole number from 0 to 65535/],
      [['--engine', 'firefox'], /--engine must be one of chromium, node-datachannel, got "firefox"/],
      [['--engine', 'node-datachannel', '--chromium', '/usr/bin/chromium'], /--chromium goes with --engine chromium only/],
    ] as const) {
      const refused = runVolunteerProcess(['--broker', 'http://127.0.0.1:9', '--exit-list-key', key, ...flags]);
      assert.equal(await withTimeout(refused.exited, `${flags.join(' ')} to be refused`, STEP_TIMEOUT_MS), 2);
      assert.match(refused.stderr(), message);
    }
    assert.match(help.stdout(), /--max-mbps R/);
  });

  test('serves its numbers as Prometheus metrics and prints a one-line summary as often as asked', async () => {
    const exit = await TestExit.echo();
    const broker = await TestBroker.start([exit.info()]);
    let client: TestClient | undefined;
    const run = runVolunteerProcess([
      '--engine',
      'node-datachannel',
      '--broker',
      broker.url,
      '--exit-list-key',
      broker.exitListKey,
      '--max-mbps',
      '8',
      '--metrics-port',
      '0',
      '--summary-every',
      '1',
    ]);
    try {
      await untilOutput(run, /ferry volunteer: waiting at/, 'the ready line');
      await untilOutput(run, /ferry volunteer: metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/, 'the metrics line');
      const metricsUrl = /metrics at (\S+)/.exec(run.stdout())?.[1] ?? '';
      client = await connectTestClient(broker, exit.info());
      client.channel.send(new Uint8Array(1000).buffer);
      const echoClient = client;
      await client.until(() => echoClient.received.length === 1, 'the echo through the volunteer process');

      const text = await (await fetch(metricsUrl)).text();
      const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      assert.equal(value('ferry_volunteer_clients'), 1);
      assert.equal(value('ferry_volunteer_clients_total'), 1);
      assert.equal(value('ferry_volunteer_broker_connected'), 1);
      assert.equal(value('ferry_volunteer_rate_limit_bytes_per_second'), 1_000_000);
      assert.equal(value('ferry_volunteer_relayed_bytes_total{direction="to_exit"}'), 1000);
      assert.equal(value('ferry_volunteer_relayed_bytes_total{direction="to_client"}'), 1000);
      assert.match(text, /^process_cpu_seconds_total /m, 'the process metrics too');
      assert.doesNotMatch(text, /127\.0\.0\.1/, 'no address in the metrics');

      await withTimeout(
        new Promise<void>((resolveSeen) => {
          const check = (): void => {
            if (/helping 1 of at most 2 now, 1 since start; relayed 2\.00 kB/.test(run.stderr())) resolveSeen();
          };
          run.child.stderr?.on('data', check);
          check();
        }),
        'a summary line naming the client and the bytes',
        STEP_TIMEOUT_MS,
      );
      assert.match(run.stderr(), /capped at 8\.00 Mbit\/s/);
      run.child.kill('SIGTERM');
      assert.equal(await withTimeout(run.exited, 'the volunteer to exit after SIGTERM', STEP_TIMEOUT_MS), 0, `stderr: ${run.stderr()}`);
    } finally {
      client?.close();
      if (run.child.exitCode === null && run.child.pid !== undefined) process.kill(run.child.pid, 'SIGKILL');
      await broker.close();
      await exit.close();
    }
  });
});
