// Session continuity without browsers: headless volunteers (`ferry volunteer`, own processes) are killed with
// SIGKILL while a download runs through them; the helper resumes the session through the next one, or, with a
// standby, carries on through it at once. The same with both volunteers striping.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { ExitServer } from '../../exit-server/exit-server.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { startSocksDownload } from '../../harness/socks-download.ts';
import { waitFor } from '../../harness/wait.ts';
import { type HelperCore, startHelperCore } from '../../native-helper/helper-core.ts';
import { generateKeyPair } from '../../protocol/index.ts';
import { createBroker } from '../../signaling-server/broker.ts';
import { EXTENSION_ORIGIN, NodeClient } from './support/node-client.ts';

let origin: OriginServer;
let exit: ExitServer;
let broker: ReturnType<typeof createBroker>;
let brokerUrl: string;
let exitInfo: { id: string; url: string; publicKey: string };
const operator = new LocalOperator();
const volunteers: ChildProcess[] = [];

before(async () => {
  origin = await startOriginServer(32 * 1024 * 1024);
  exit = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true } });
  const { url } = await exit.listen();
  exitInfo = { id: 'local', url, publicKey: exit.publicKey };
  broker = createBroker({ port: 0, exitList: operator.signExitList([exitInfo]) });
  brokerUrl = `http://127.0.0.1:${(await broker.listen()).port}`;
});

after(async () => {
  for (const child of volunteers) child.kill('SIGKILL');
  await broker.close();
  await exit.close();
  await origin.close();
  nodeDataChannel.cleanup();
});

async function startVolunteer(): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'bin', 'ferry.js'),
      'volunteer',
      '--engine',
      'node-datachannel',
      '--broker',
      brokerUrl,
      '--exit-list-key',
      operator.exitListKey,
      '--max-clients',
      '1',
    ],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  volunteers.push(child);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the volunteer did not reach the broker')), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ferry volunteer: waiting')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return child;
}

/**
 * Ends every volunteer this file started and waits until the broker has let them all go: one left waiting at the
 * broker would be matched by the next test's client before that test's own volunteers.
 */
async function endVolunteers(): Promise<void> {
  const children = volunteers.splice(0);
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }),
  );
  await waitFor(async () => (await broker.metrics()).volunteersConnected === 0, 'the broker to let the ended volunteers go');
}

test('three downloads, each surviving the SIGKILL of the volunteer carrying it: every byte arrives, in order, once', async () => {
  let helper: HelperCore | undefined;
  let client: NodeClient | undefined;
  try {
    let carrier = await startVolunteer();
    helper = await startHelperCore({ exit: exitInfo, allowedOrigin: EXTENSION_ORIGIN, socksPort: 0, httpPort: 0 });
    // The extension's client path gets a path, and replaces it whenever it breaks or the helper finds it silent.
    client = new NodeClient({ pipeUrl: helper.pipeUrl, token: helper.issueToken(), brokerUrl, exit: exitInfo });
    await client.waitForEvent((event) => event.kind === 'up', 'the first path');
    const tunnel = helper.tunnel;
    await waitFor(() => tunnel.status.state === 'connected', 'the session to connect');
    for (let kill = 1; kill <= 3; kill++) {
      // The next volunteer waits at the broker; the carrier dies without a goodbye once the download is under way.
      const next = await startVolunteer();
      const download = await startSocksDownload(helper.socksPort, 'localhost', origin.port, '/file');
      let failure: unknown;
      download.done.catch((error: unknown) => (failure = error));
      await waitFor(
        () => {
          if (failure !== undefined)
            throw new Error(`round ${kill}: the download failed at ${download.received()} bytes (${String(failure)}); ${JSON.stringify(tunnel.status)}`);
          return download.received() >= 4 * 1024 * 1024;
        },
        `round ${kill}: 4 MiB of the download`,
        { timeoutMs: 30_000 },
      );
      carrier.kill('SIGKILL');
      carrier = next;
      const result = await download.done;
      assert.equal(result.bytes, origin.file.length, `round ${kill}: every byte`);
      assert.equal(result.sha256, origin.sha256, `round ${kill}: the same SHA-256`);
      assert.equal(tunnel.status.pathChanges, kill, `round ${kill}: the session moved, it did not restart`);
    }
  } finally {
    client?.stop();
    await helper?.close();
    await endVolunteers();
  }
});

for (const stripe of [false, true]) {
  test(`two volunteers at once (${stripe ? 'striping' : 'one standing by'}): the carrying one is SIGKILLed mid-download; the other carries on with no resume, and a third takes the free place`, async () => {
    let helper: HelperCore | undefined;
    let client: NodeClient | undefined;
    try {
      assert.equal((await broker.metrics()).volunteersConnected, 0, 'no volunteer is left at the broker from an earlier test');
      const first = await startVolunteer();
      helper = await startHelperCore({ exit: exitInfo, allowedOrigin: EXTENSION_ORIGIN, socksPort: 0, httpPort: 0 });
      client = new NodeClient({ pipeUrl: helper.pipeUrl, token: helper.issueToken(), brokerUrl, exit: exitInfo, pathCount: 2, stripe });
      const tunnel = helper.tunnel;
      await waitFor(() => tunnel.status.state === 'connected', 'the session to connect');
      // Only now a second volunteer: the first path went through `first`, so it carries (or carries first).
      const second = await startVolunteer();
      await waitFor(() => tunnel.status.paths === 2, 'the second volunteer to join the session', { timeoutMs: 30_000 });
      const download = await startSocksDownload(helper.socksPort, 'localhost', origin.port, '/file');
      await waitFor(() => download.received() >= 4 * 1024 * 1024, '4 MiB of the download', { timeoutMs: 30_000 });
      const third = startVolunteer();
      const resumesBefore = exit.snapshot().resumes;
      first.kill('SIGKILL');
      const result = await download.done;
      assert.equal(result.bytes, origin.file.length, 'every byte');
      assert.equal(result.sha256, origin.sha256, 'the same SHA-256');
      assert.equal(exit.snapshot().resumes, resumesBefore, 'the session carried on over the other path: no RESUME');
      // Counted when this end lets the dead path go: at once if the exit's resends reach it on a standby, else when
      // the dead path's silence or its closed data channel is noticed, which may come after the last byte.
      await waitFor(() => tunnel.status.pathChanges >= 1, 'the popup to count the volunteer change', { timeoutMs: 15_000 });
      await third;
      await waitFor(() => tunnel.status.paths === 2, 'a third volunteer to take the free place', { timeoutMs: 30_000 });
      second.kill('SIGKILL');
      const again = await startSocksDownload(helper.socksPort, 'localhost', origin.port, '/file');
      const through = await again.done;
      assert.equal(through.sha256, origin.sha256, 'the next download, through the third, is whole too');
    } finally {
      client?.stop();
      await helper?.close();
      await endVolunteers();
    }
  });
}
