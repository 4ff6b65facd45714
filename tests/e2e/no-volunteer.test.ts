// With "Help others" off everywhere, "Proxy me" must say so, and nothing may go out directly.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LocalNetwork } from '../../harness/local-network.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { startServersInProcess } from '../../harness/servers.ts';
import { socksFetch } from '../../harness/socks-fetch.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-results', 'e2e');
let origin: OriginServer;
let servers: Awaited<ReturnType<typeof startServersInProcess>>;
let network: LocalNetwork;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  origin = await startOriginServer(1024 * 1024);
  servers = await startServersInProcess();
  network = await LocalNetwork.start({ servers, volunteers: 0, headless: true, clientBypassList: ['<-loopback>'], connectClient: false });
});

after(async () => {
  await network?.stop();
  await servers?.stop();
  await origin?.close();
});

test('Proxy me reports that no volunteer is available, and a SOCKS request fails with a SOCKS error within 10 s', async () => {
  await network.client.setSwitch('proxy-me', true);
  await network.client.waitForProxyMe(['no-volunteers']);
  assert.match(await network.client.statusText('proxy-me'), /No volunteers available/);
  await network.client.popup.screenshot({ path: join(ARTIFACTS, 'client-popup-no-volunteers.png') });

  const result = await socksFetch(await network.socksPort(), `http://localhost:${origin.port}/file`, { timeoutSeconds: 30 });
  assert.equal(result.ok, false);
  assert.equal(result.exitCode, 97, `curl must see a SOCKS5 error reply: ${result.stderr}`);
  assert.ok(result.elapsedMs < 10_000, `the SOCKS error came after ${Math.round(result.elapsedMs)} ms`);

  // The browser itself fails closed too: the page load gets the helper's SOCKS refusal (not a time-out, not a direct
  // connection).
  const page = await network.client.browser.context.newPage();
  try {
    const failure = await page.goto(`http://localhost:${origin.port}/page.html`, { timeout: 30_000 }).then(
      () => undefined,
      (error: Error) => error,
    );
    assert.ok(failure, 'the page load must fail');
    assert.match(failure.message, /net::ERR_SOCKS_CONNECTION_FAILED/, `the load fails on the SOCKS reply: ${failure.message}`);
  } finally {
    await page.close();
  }
  assert.equal(origin.connections, 0, 'no direct connection reached the origin');
});
