// `ferry volunteer`'s default engine: the relay runs in a page of its own headless Chromium (real Chromium, real
// WebRTC against a node-datachannel client, a real broker and exit stand-in on loopback). What an operator relies on:
// the same ready line, hello, metrics and state file as the Node engine; Chromium's whole process group and profile
// gone after SIGTERM; Chromium ending by itself when `ferry volunteer` is killed; and a clear exit when Chromium dies
// under it or cannot be found.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { WebSocket } from 'ws';
import { REPO_ROOT } from '../../harness/paths.ts';
import { waitFor, withTimeout } from '../../harness/wait.ts';
import { ChromiumEngine, type ChromiumEngineError } from '../../relay-worker/chromium-engine.ts';
import { createRelayWorkerConfig } from '../../relay-worker/config.ts';
import { closeAllClientPeers, connectTestClient, TestBroker, type TestClient, TestExit } from '../unit/relay/helpers.ts';

const FERRY = join(REPO_ROOT, 'bin', 'ferry.js');
/** Chromium's cold start on a loaded machine, and the page's first broker connection. */
const READY_TIMEOUT_MS = 45_000;
const PROFILE_PREFIX = 'ferry-volunteer-chromium-';
const children = new Set<ChildProcess>();
/** Chromium process ids the tests learned: ended by group in after(), whatever happened. */
const chromiumPids = new Set<number>();
let exit: TestExit;
let broker: TestBroker;

before(async () => {
  exit = await TestExit.echo();
  broker = await TestBroker.start([exit.info()]);
});

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of chromiumPids) if (alive(pid)) process.kill(-pid, 'SIGKILL');
  closeAllClientPeers();
  await broker.close();
  await exit.close();
  nodeDataChannel.cleanup();
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function ferryVolunteer(args: string[]): Run {
  const child = spawn(process.execPath, [FERRY, 'volunteer', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether any process of the group `pid` leads is still there. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for the ready line and returns Chromium's pid from the engine's line. */
async function untilReady(run: Run): Promise<number> {
  await waitFor(
    () => {
      if (run.child.exitCode !== null) throw new Error(`ferry volunteer exited: ${run.stderr()}`);
      return /ferry volunteer: waiting at/.test(run.stdout()) || undefined;
    },
    'the ready line',
    { timeoutMs: READY_TIMEOUT_MS },
  );
  const pid = Number(/relaying in Chromium \(pid (\d+), .*HeadlessChrome\/\d+/.exec(run.stderr())?.[1]);
  assert.ok(Number.isInteger(pid) && pid > 0, `the engine line names Chromium's pid and version: ${run.stderr()}`);
  chromiumPids.add(pid);
  return pid;
}

function profiles(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith(PROFILE_PREFIX));
}

test('the default engine relays from its own headless Chromium; SIGTERM ends its whole process group and removes its profile', {
  timeout: 120_000,
}, async () => {
  const stateDirectory = mkdtempSync(join(tmpdir(), 'ferry-engine-state-'));
  const stateFile = join(stateDirectory, 'usage.json');
  const profilesBefore = new Set(profiles());
  const run = ferryVolunteer([
    '--broker',
    broker.url,
    '--exit-list-key',
    broker.exitListKey,
    '--max-clients',
    '3',
    '--metrics-port',
    '0',
    '--monthly-cap-gb',
    '1',
    '--state-file',
    stateFile,
  ]);
  let client: TestClient | undefined;
  try {
    const chromiumPid = await untilReady(run);
    assert.notEqual(chromiumPid, run.child.pid, 'the relay runs in Chromium, not in the Node process');
    assert.equal(readFileSync(`/proc/${chromiumPid}/comm`, 'utf8').trim().startsWith('chromium'), true, 'that pid is Chromium');
    const hello = await broker.next((message) => message.type === 'hello', 'hello');
    assert.deepEqual(hello, { type: 'hello', version: 1, kind: 'headless', slots: 3, nat: 'unknown' });

    client = await connectTestClient(broker, exit.info());
    client.channel.send(new Uint8Array([1, 2, 3, 4, 5]).buffer);
    const echoClient = client;
    await client.until(() => echoClient.received.length === 1, 'the echo through the Chromium volunteer');
    assert.deepEqual([...new Uint8Array(echoClient.received[0] as ArrayBuffer)], [1, 2, 3, 4, 5]);

    const metricsUrl = /metrics at (\S+)/.exec(run.stdout())?.[1] ?? '';
    const relayed = await waitFor(async () => {
      const text = await (await fetch(metricsUrl)).text();
      const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      return value('ferry_volunteer_relayed_bytes_total{direction="to_client"}') === 5 ? text : undefined;
    }, "the page's byte counts in the Node side's metrics");
    assert.match(relayed, /^ferry_volunteer_clients 1$/m);

    const profilesDuring = profiles().filter((name) => !profilesBefore.has(name));
    assert.equal(profilesDuring.length, 1, 'one throwaway profile while it runs');
    run.child.kill('SIGTERM');
    assert.equal(await withTimeout(run.exited, 'ferry volunteer to exit after SIGTERM', 15_000), 0, run.stderr());
    assert.match(run.stderr(), /stopped after helping 1 people \(5 bytes up, 5 bytes down\)/);
    assert.equal(alive(chromiumPid), false, "Chromium's browser process is gone");
    // Its group was sent SIGKILL last; the kernel takes a moment to reap what it killed.
    await waitFor(() => !groupAlive(chromiumPid) || undefined, 'every process of its group (renderers, utilities) to end', { timeoutMs: 5_000 });
    assert.equal(existsSync(join(tmpdir(), profilesDuring[0] as string)), false, 'its profile is removed');
    // The page keeps nothing: the month's count reached the state file through the Node side.
    const usage = JSON.parse(readFileSync(stateFile, 'utf8')) as { month: string; bytes: number };
    assert.equal(usage.month, new Date().toISOString().slice(0, 7));
    assert.equal(usage.bytes, 10);
    await exit.until(() => exit.closed >= 1, 'the exit socket to close');
  } finally {
    client?.close();
    rmSync(stateDirectory, { recursive: true, force: true });
  }
});

test('ferry volunteer SIGKILLed: its Chromium notices the closed DevTools pipe and ends by itself', { timeout: 90_000 }, async () => {
  const profilesBefore = new Set(profiles());
  const run = ferryVolunteer(['--broker', broker.url, '--exit-list-key', broker.exitListKey]);
  const chromiumPid = await untilReady(run);
  const profile = profiles().find((name) => !profilesBefore.has(name));
  try {
    run.child.kill('SIGKILL');
    await run.exited;
    await waitFor(() => !groupAlive(chromiumPid) || undefined, 'Chromium and its group to end with the process that started it', { timeoutMs: 20_000 });
  } finally {
    // A killed process cannot remove its profile: that is left to the temporary folder's cleaning, and to this test.
    if (profile !== undefined) rmSync(join(tmpdir(), profile), { recursive: true, force: true });
  }
});

test('Chromium killed under it: ferry volunteer says the relay stopped and exits 1, and a missing Chromium is named', { timeout: 90_000 }, async () => {
  const run = ferryVolunteer(['--broker', broker.url, '--exit-list-key', broker.exitListKey]);
  const chromiumPid = await untilReady(run);
  process.kill(chromiumPid, 'SIGKILL');
  assert.equal(await withTimeout(run.exited, 'ferry volunteer to exit after its Chromium died', 15_000), 1, run.stderr());
  assert.match(run.stderr(), /Chromium exited \(SIGKILL\): the volunteer stopped relaying|the volunteer page closed its link/);

  const missing = ferryVolunteer(['--broker', broker.url, '--exit-list-key', broker.exitListKey, '--chromium', '/nonexistent/chromium']);
  assert.equal(await withTimeout(missing.exited, 'a missing Chromium to be refused', 15_000), 1);
  assert.match(missing.stderr(), /no Chromium at \/nonexistent\/chromium/);
});

test('the engine in process: its loopback server serves only the built site by GET and refuses a link without the key; a config the page refuses ends it with the reason', {
  timeout: 90_000,
}, async () => {
  const failures: ChromiumEngineError[] = [];
  const statuses: string[] = [];
  const engine = await ChromiumEngine.start({ onStatus: (status) => statuses.push(status.state), onFailure: (error) => failures.push(error) });
  try {
    const origin = engine.pageOrigin;
    assert.match(origin, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`${origin}/headless/index.html`)).status, 200);
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/headless/', '/nothing.js', '/%E0%A4%A']) {
      assert.equal((await fetch(`${origin}${path}`)).status, 404, path);
    }
    assert.equal((await fetch(`${origin}/headless/index.html`, { method: 'POST', body: 'x' })).status, 405);
    for (const key of ['', 'AAAA', Buffer.alloc(32).toString('base64url')]) {
      const refused = await new Promise<string>((resolveOutcome) => {
        const socket = new WebSocket(`${origin.replace('http', 'ws')}/link?key=${key}`);
        socket.on('unexpected-response', (_request, response) => resolveOutcome(`refused ${response.statusCode}`));
        socket.on('error', () => resolveOutcome('error'));
        socket.on('open', () => resolveOutcome('opened'));
      });
      assert.equal(refused, 'refused 403', `a link with key "${key}"`);
    }
    // The page checks the config again: a bad one is reported, and the engine stops with the page's reason.
    const config = createRelayWorkerConfig({ brokerUrl: broker.url, kind: 'headless', exitListKeys: [broker.exitListKey] });
    engine.run({ ...config, maxClients: 99 }, undefined);
    await waitFor(() => failures[0], "the page's refusal", { timeoutMs: 15_000 });
    assert.match(failures[0]?.message ?? '', /the volunteer page could not relay: RelayWorkerConfigError: .*"maxClients".*from 1 to 32, got 99/);
    assert.deepEqual(statuses, [], 'it never relayed');
  } finally {
    const pid = engine.pid;
    await engine.stop();
    if (pid !== undefined) await waitFor(() => !groupAlive(pid) || undefined, 'its Chromium to end', { timeoutMs: 5_000 });
  }
});
