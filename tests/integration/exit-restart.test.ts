// The exit crashes and restarts mid-download: the affected SOCKS stream fails within seconds (it cannot be resumed:
// the new exit process has no such session), and the next request works again through a fresh session.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { LocalOperator } from '../../harness/operator.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { spawnFerry } from '../../harness/servers.ts';
import { startSocksDownload } from '../../harness/socks-download.ts';
import { waitFor, withTimeout } from '../../harness/wait.ts';
import { type HelperCore, startHelperCore } from '../../native-helper/helper-core.ts';
import { createBroker } from '../../signaling-server/broker.ts';
import { EXTENSION_ORIGIN, NodeClient } from './support/node-client.ts';

const keyDir = mkdtempSync(join(tmpdir(), 'ferry-exit-key-'));
const keyFile = join(keyDir, 'exit.key');
const children = new Set<ChildProcess>();
let origin: OriginServer;

async function spawnTracked(args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const started = await spawnFerry(args, ready);
  children.add(started.child);
  started.child.once('exit', () => children.delete(started.child));
  return started;
}

const startExit = (port: number) =>
  spawnTracked(
    ['exit', '--port', String(port), '--allow-loopback', '--key-file', keyFile],
    /ferry exit: (ws:\/\/127\.0\.0\.1:(\d+)\/v1\/relay) ready, public key (\S+)/,
  );

before(async () => {
  origin = await startOriginServer(64 * 1024 * 1024);
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await origin.close();
  rmSync(keyDir, { recursive: true, force: true });
  nodeDataChannel.cleanup();
});

test('an exit crash fails the affected SOCKS stream within seconds of its restart, and the next request works', async () => {
  const firstExit = await startExit(0);
  const [, url = '', portText = '', publicKey = ''] = firstExit.match;
  const exitInfo = { id: 'local', url, publicKey };
  const operator = new LocalOperator();
  const broker = createBroker({ port: 0, exitList: operator.signExitList([exitInfo]) });
  const brokerUrl = `http://127.0.0.1:${(await broker.listen()).port}`;
  await spawnTracked(['volunteer', '--engine', 'node-datachannel', '--broker', brokerUrl, '--exit-list-key', operator.exitListKey], /ferry volunteer: waiting/);
  let helper: HelperCore | undefined;
  let client: NodeClient | undefined;
  try {
    helper = await startHelperCore({ exit: exitInfo, allowedOrigin: EXTENSION_ORIGIN, socksPort: 0, httpPort: 0 });
    client = new NodeClient({ pipeUrl: helper.pipeUrl, token: helper.issueToken(), brokerUrl, exit: exitInfo });
    await client.waitForEvent((event) => event.kind === 'up', 'the first path');

    const download = await startSocksDownload(helper.socksPort, 'localhost', origin.port, '/file');
    const outcome = download.done.then(
      (result) => ({ failed: result.bytes < origin.file.length, detail: `ended after ${result.bytes} bytes`, at: Date.now() }),
      (error: Error) => ({ failed: true, detail: error.message, at: Date.now() }),
    );
    await waitFor(() => download.received() >= 4 * 1024 * 1024, 'the download to get going', { timeoutMs: 30_000 });
    // The same port is taken again only once the killed exit has released it.
    const killed = new Promise<void>((resolve) => firstExit.child.once('exit', () => resolve()));
    firstExit.child.kill('SIGKILL');
    await withTimeout(killed, 'the killed exit to end', 10_000);
    await startExit(Number(portText));
    const restartedAt = Date.now();
    const result = await withTimeout(outcome, 'the cut stream to end, one way or the other', 30_000);
    assert.ok(result.failed, `the stream must fail, not hang or pretend: ${result.detail}`);
    assert.ok(result.at - restartedAt < 5_000, `failed ${result.at - restartedAt} ms after the restart`);
    assert.match(helper.tunnel.status.lastPathError ?? '', /could not continue the session: this exit has no such session/);

    const next = await startSocksDownload(helper.socksPort, 'localhost', origin.port, '/page.html');
    const page = await withTimeout(next.done, 'the next request through a fresh session', 30_000);
    assert.ok(page.bytes > 0, 'the next request works again');
  } finally {
    client?.stop();
    await helper?.close();
    await broker.close();
  }
});
