// End to end in real Chromium: a client browser and a volunteer browser, each with the built extension, switched on
// through their popups; the client's helper started by the browser through native messaging; a real exit and broker.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LocalNetwork } from '../../harness/local-network.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { startServersInProcess } from '../../harness/servers.ts';
import { socksFetch } from '../../harness/socks-fetch.ts';
import { waitFor } from '../../harness/wait.ts';
import { UI_STATE_STORAGE_KEY } from '../../protocol/extension-state.ts';
import { containsAnyRunOf, containsText } from '../integration/support/wire-check.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-results', 'e2e');
const captured: Uint8Array[] = [];
/** Destination hosts exactly as the exit received them from the client. */
const requestedHosts: string[] = [];
let origin: OriginServer;
let servers: Awaited<ReturnType<typeof startServersInProcess>>;
let network: LocalNetwork;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  origin = await startOriginServer(20 * 1024 * 1024);
  servers = await startServersInProcess({
    wireTap: (_direction, record) => captured.push(new Uint8Array(record)),
    onStreamRequest: (target) => requestedHosts.push(target.host),
  });
  // The origin is on loopback, which Chromium never proxies unless told: '<-loopback>' (tests only).
  network = await LocalNetwork.start({ servers, volunteers: 1, headless: true, clientBypassList: ['<-loopback>'] });
});

after(async () => {
  await network?.stop();
  await servers?.stop();
  await origin?.close();
});

test('both popups show their switches on, in plain words', async () => {
  assert.equal(await network.client.statusText('proxy-me'), 'Connected through a volunteer');
  assert.match((await network.volunteers[0]?.statusText('help-others')) ?? '', /Waiting for someone who needs help|Helping 1/);
  await network.client.popup.screenshot({ path: join(ARTIFACTS, 'client-popup-connected.png') });
  await network.volunteers[0]?.popup.screenshot({ path: join(ARTIFACTS, 'volunteer-popup.png') });
});

test("a 20 MiB file fetched through the helper's SOCKS5 port is byte-identical, and the volunteer could read none of it", async () => {
  captured.length = 0;
  const result = await socksFetch(await network.socksPort(), `http://localhost:${origin.port}/file`, { timeoutSeconds: 300 });
  assert.ok(result.ok, `curl failed: ${result.stderr}`);
  assert.equal(result.bytes, origin.file.length);
  assert.equal(result.sha256, origin.sha256);
  // What crossed the volunteer, exactly as its WebSocket to the exit carried it.
  const wire = Buffer.concat(captured);
  assert.ok(wire.length >= origin.file.length, `the tap saw ${wire.length} bytes`);
  assert.equal(containsText(wire, 'localhost'), false, 'the destination host name is not visible to the volunteer');
  assert.equal(containsText(wire, 'GET /file'), false, 'the request is not visible to the volunteer');
  assert.equal(containsAnyRunOf(wire, origin.file), false, 'no 16-byte run of the file is visible to the volunteer');
  const volunteerState = await network.volunteers[0]?.state();
  assert.ok((volunteerState?.helpOthers.bytesExitToClient ?? 0) >= origin.file.length, 'the volunteer carried the bytes');
});

test('a page loads in the client browser itself through the proxy setting that Proxy me made', async () => {
  const streamsBefore = servers.exitServer.snapshot().streamsTotal;
  const page = await network.client.browser.context.newPage();
  try {
    requestedHosts.length = 0;
    await page.goto(`http://localhost:${origin.port}/page.html`, { timeout: 30_000 });
    assert.equal(await page.locator('#hello').textContent(), 'Hello through Ferry');
    // DNS happens at the exit: the browser handed the name over unresolved (SOCKS5 remote DNS).
    assert.ok(requestedHosts.includes('localhost'), `the exit got the name, not an address: ${requestedHosts.join(', ')}`);
    assert.ok(servers.exitServer.snapshot().streamsTotal > streamsBefore, 'the page came through the exit');
    const proxy = await network.client.popup.evaluate(async () => chrome.proxy.settings.get({ incognito: false }));
    assert.equal(proxy.levelOfControl, 'controlled_by_this_extension');
  } finally {
    await page.close();
  }
});

test('the Whole device switch says why it cannot be on here (no service installed) before it is flipped, and again after', async () => {
  const popup = network.client.popup;
  const toggle = popup.locator('#whole-device');
  await toggle.waitFor({ timeout: 10_000 });
  // The helper of this test points at a socket nobody serves (harness/ferry-user.ts): the machine is never rerouted.
  // It asked the service when the pipe opened, so the popup says so before anyone flips the switch.
  const checked = await network.client.waitFor((ui) => ui.proxyMe.wholeDevice === 'unavailable', "the helper's availability check", 20_000);
  const notRunning = /whole-device service at .* is not running: install it once with "sudo ferry helper --install-service --user YOU"/;
  assert.match(checked.proxyMe.wholeDeviceReason, notRunning);
  await waitFor(
    async () =>
      /Not available here: the whole-device service at .* is not running/.test((await popup.locator('#whole-device-status').textContent()) ?? '') || undefined,
    'the popup to show the reason',
    { timeoutMs: 10_000 },
  );
  assert.equal(await toggle.isChecked(), false);
  // Flipped anyway (the service might have been installed meanwhile): the helper asks again and says the same.
  // Every state the extension publishes from here on, in order (a poll could miss the short "starting").
  await popup.evaluate((key) => {
    const seen: string[] = [];
    (globalThis as { wholeDeviceStates?: string[] }).wholeDeviceStates = seen;
    chrome.storage.session.onChanged.addListener((changes) => {
      const next = changes[key]?.newValue as { proxyMe?: { wholeDevice?: string } } | undefined;
      const state = next?.proxyMe?.wholeDevice;
      if (state !== undefined && state !== seen.at(-1)) seen.push(state);
    });
  }, UI_STATE_STORAGE_KEY);
  await toggle.click();
  const states = await waitFor(
    async () => {
      const seen = await popup.evaluate(() => (globalThis as { wholeDeviceStates?: string[] }).wholeDeviceStates ?? []);
      return seen.includes('starting') && seen.at(-1) === 'unavailable' ? seen : undefined;
    },
    'the helper to be asked again and answer',
    { timeoutMs: 20_000 },
  );
  assert.deepEqual(states.slice(states.indexOf('starting')), ['starting', 'unavailable']);
  assert.match((await network.client.state()).proxyMe.wholeDeviceReason, notRunning);
  assert.equal(await toggle.isChecked(), false);
  // Proxy me itself carries on (it may be between volunteers at this moment, after the earlier tests' traffic).
  const before = await network.client.state();
  await network.client.waitForProxyMe(['connected'], 30_000);
  assert.equal((await network.client.state()).proxyMe.on, true, `Proxy me stayed on (it was ${before.proxyMe.phase})`);
});
