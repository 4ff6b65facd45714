// The Firefox build end to end in a real Firefox (Debian's firefox-esr, headless, driven over WebDriver BiDi): the
// add-on from dist-firefox/ is installed unpacked, its settings typed into its settings page, Help others switched on
// in its popup, and real clients are served through it: first SOCKS5 -> helper -> the extension's client path (in
// Node, on node-datachannel) -> WebRTC -> the Firefox volunteer's background page -> WebSocket -> exit -> an origin on
// 127.0.0.1, and back; then a Chromium browser with the Chromium build and Proxy me on (Chromium's WebRTC talking to
// Firefox's). The popup follows: "Helping 1 person", and the toolbar badge says 1. Firefox unloads an idle event
// page: the relay must stay at the broker past that idle time (shortened here from 30 s to IDLE_TIMEOUT_MS) while
// nobody touches the add-on. A link for a friend made on the settings page reaches the running relay.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { FerryUser } from '../../harness/ferry-user.ts';
import { FirefoxVolunteer } from '../../harness/firefox.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { startServersInProcess } from '../../harness/servers.ts';
import { socksFetch } from '../../harness/socks-fetch.ts';
import { waitFor } from '../../harness/wait.ts';
import { type HelperCore, startHelperCore } from '../../native-helper/helper-core.ts';
import { EXTENSION_ORIGIN, NodeClient } from '../integration/support/node-client.ts';
import { containsAnyRunOf, containsText } from '../integration/support/wire-check.ts';

/** The file fetched through the volunteer: several MiB, so it takes many data-channel messages each way. */
const FILE_BYTES = 4 * 1024 * 1024;
/**
 * Firefox's idle timeout for event pages in this profile (extensions.background.idle.timeout; 30 s by default),
 * shorter so the test can wait past it; still above the add-on's keep-awake interval (KEEP_AWAKE_INTERVAL_MS, 10 s).
 */
const IDLE_TIMEOUT_MS = 15_000;
/** How long the relay is left alone: past the idle timeout with room to spare. */
const LEFT_ALONE_MS = IDLE_TIMEOUT_MS + 7_000;

const captured: Uint8Array[] = [];
let origin: OriginServer;
let servers: Awaited<ReturnType<typeof startServersInProcess>>;
let volunteer: FirefoxVolunteer;

before(async () => {
  origin = await startOriginServer(FILE_BYTES);
  servers = await startServersInProcess({ wireTap: (_direction, record) => captured.push(new Uint8Array(record)) });
  volunteer = await FirefoxVolunteer.launch({
    headless: true,
    prefs: { 'extensions.background.idle.timeout': IDLE_TIMEOUT_MS },
    settings: { brokerUrl: servers.brokerUrl, exitListKeys: [servers.exitListKey] },
  });
});

after(async () => {
  await volunteer?.close();
  await servers?.stop();
  await origin?.close();
  // node-datachannel keeps native threads alive until told to stop.
  nodeDataChannel.cleanup();
});

test('the settings page saved what was typed into it, without the fields of Proxy me', async () => {
  const stored = await volunteer.storedSettings();
  assert.equal(stored.brokerUrl, servers.brokerUrl);
  assert.deepEqual(stored.exitListKeys, [servers.exitListKey]);
  const settingsPage = await volunteer.firefox.openExtensionPage('extension/options/options.html');
  try {
    assert.notEqual(await settingsPage.$('#maxClients'), null, 'the limits of Help others are there');
    assert.equal(await settingsPage.$('#socksPort'), null, 'no SOCKS port: that is Proxy me');
  } finally {
    await settingsPage.close();
  }
});

test('the Firefox popup says plainly that Proxy me is not available, and Help others switches on from it', async () => {
  assert.match(await volunteer.statusText('proxy-me'), /Not available in Firefox yet/);
  assert.equal(await volunteer.popup.$('#proxy-me'), null, 'no Proxy me switch to flip in Firefox');
  assert.equal(await volunteer.statusText('help-others'), 'Off');

  await volunteer.setHelpOthers(true);
  await volunteer.waitForHelpOthers(['waiting']);
  await waitFor(async () => (await volunteer.statusText('help-others')) === 'Waiting for someone who needs help', 'the popup to say it is waiting');
  assert.equal(await volunteer.badgeText(), '', 'no badge while helping nobody');
});

test("left alone past Firefox's idle timeout, the relay stays at the broker (the event page is not unloaded under it)", async () => {
  const deadline = Date.now() + LEFT_ALONE_MS;
  while (Date.now() < deadline) {
    // Only the broker is asked: nothing here touches the add-on, which would count as activity.
    assert.equal((await servers.brokerMetrics()).volunteersConnected, 1, `the volunteer left the broker after ${LEFT_ALONE_MS - (deadline - Date.now())} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
});

test('a client is served through the Firefox volunteer: a file from the origin arrives byte for byte, and the popup says "Helping 1 person"', async () => {
  let helper: HelperCore | undefined;
  let client: NodeClient | undefined;
  try {
    helper = await startHelperCore({
      exit: servers.exit,
      allowedOrigin: EXTENSION_ORIGIN,
      socksPort: 0,
      httpPort: 0,
      tunnel: { sessionWaitMs: 3_000 },
    });
    client = new NodeClient({ pipeUrl: helper.pipeUrl, token: helper.issueToken(), brokerUrl: servers.brokerUrl, exit: servers.exit });
    await client.waitForEvent((event) => event.kind === 'up', 'a path through the Firefox volunteer', { timeoutMs: 60_000 });
    const tunnel = helper.tunnel;
    await waitFor(() => tunnel.status.state === 'connected', 'the client session to connect through the volunteer', { timeoutMs: 30_000 });

    captured.length = 0;
    const connectionsBefore = origin.connections;
    const result = await socksFetch(helper.socksPort, `http://localhost:${origin.port}/file`, { timeoutSeconds: 120 });
    assert.ok(result.ok, `curl failed: ${result.stderr}`);
    assert.equal(result.bytes, origin.file.length);
    assert.equal(result.sha256, origin.sha256);
    assert.equal(origin.connections, connectionsBefore + 1, 'the exit, not the client, reached the origin');

    // The bytes crossed the Firefox volunteer, which could read none of them.
    const wire = Buffer.concat(captured);
    assert.ok(wire.length >= origin.file.length, `the exit's tap saw ${wire.length} bytes from the volunteer`);
    assert.equal(containsText(wire, 'GET /file'), false, 'the request is not visible to the volunteer');
    assert.equal(containsAnyRunOf(wire, origin.file), false, 'no 16-byte run of the file is visible to the volunteer');

    const state = await volunteer.waitForHelpOthers(['relaying']);
    assert.equal(state.helpOthers.clientsNow, 1);
    await waitFor(async () => (await volunteer.state()).helpOthers.bytesExitToClient >= origin.file.length, 'the volunteer to count the bytes it carried');
    await waitFor(async () => (await volunteer.statusText('help-others')) === 'Helping 1 person', 'the popup to say "Helping 1 person"');
    await waitFor(async () => (await volunteer.badgeText()) === '1', 'the toolbar badge to show 1', { timeoutMs: 10_000 });
  } finally {
    client?.stop();
    await helper?.close();
  }
});

test('a Chromium client with Proxy me on (the Chromium build, its helper started by the browser) is served through the Firefox volunteer', async () => {
  const helpedBefore = (await volunteer.state()).helpOthers.clientsTotal;
  const client = await FerryUser.launch({
    brokerUrl: servers.brokerUrl,
    exitListKey: servers.exitListKey,
    headless: true,
    installHelper: true,
    // The origin is on loopback, which Chromium never proxies unless told: '<-loopback>' (tests only).
    settings: { bypassList: ['<-loopback>'] },
  });
  let helperPid = 0;
  try {
    await client.setSwitch('proxy-me', true);
    const connected = await client.waitForProxyMe(['connected']);
    helperPid = connected.proxyMe.helperPid;
    const result = await socksFetch(connected.proxyMe.socksPort, `http://localhost:${origin.port}/file`, { timeoutSeconds: 120 });
    assert.ok(result.ok, `curl failed: ${result.stderr}`);
    assert.equal(result.sha256, origin.sha256);
    // A page opened in the client browser goes the same way.
    const page = await client.browser.context.newPage();
    await page.goto(`http://localhost:${origin.port}/page.html`);
    assert.equal(await page.locator('#hello').textContent(), 'Hello through Ferry');
    await page.close();
    await waitFor(async () => (await volunteer.state()).helpOthers.clientsTotal === helpedBefore + 1, 'the Firefox volunteer to count one more person helped');
    await waitFor(async () => (await volunteer.statusText('help-others')) === 'Helping 1 person', 'the Firefox popup to say "Helping 1 person"');
  } finally {
    helperPid ||= (await client.state().catch(() => undefined))?.proxyMe.helperPid ?? 0;
    await client.close();
    // Closing the browser ends its helper; a helper that outlived it is ended by its pid.
    if (helperPid > 0) {
      try {
        process.kill(helperPid, 'SIGTERM');
      } catch {
        // already gone, as it should be
      }
    }
  }
});

test('a link for a friend made on the Firefox settings page reaches the running relay: a client holding it is matched to this volunteer', async () => {
  const settingsPage = await volunteer.firefox.openExtensionPage('extension/options/options.html');
  let helper: HelperCore | undefined;
  let client: NodeClient | undefined;
  try {
    await settingsPage.click('#make-link');
    const linkField = await settingsPage.waitForSelector('#made-links input', { timeout: 10_000 });
    const link = (await linkField?.evaluate((input) => (input as HTMLInputElement).value)) ?? '';
    assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/pair#[A-Za-z0-9_-]{43}$/);
    const pairingToken = link.split('#')[1] ?? '';
    const helpedBefore = (await volunteer.state()).helpOthers.clientsTotal;

    // The broker matches a client holding a pairing link only with the volunteer that registered it: this one, if
    // the background passed the new link on to the relay while it ran.
    helper = await startHelperCore({ exit: servers.exit, allowedOrigin: EXTENSION_ORIGIN, socksPort: 0, httpPort: 0, tunnel: { sessionWaitMs: 3_000 } });
    client = new NodeClient({ pipeUrl: helper.pipeUrl, token: helper.issueToken(), brokerUrl: servers.brokerUrl, exit: servers.exit, pairingToken });
    await client.waitForEvent((event) => event.kind === 'up', "a path through the friend's Firefox volunteer", { timeoutMs: 30_000 });
    await waitFor(async () => (await volunteer.state()).helpOthers.clientsTotal === helpedBefore + 1, 'the Firefox volunteer to count its friend');
  } finally {
    client?.stop();
    await helper?.close();
    await settingsPage.close();
  }
});

test('switching Help others off in the popup stops the relay and clears the badge', async () => {
  await volunteer.setHelpOthers(false);
  const state = await volunteer.waitForHelpOthers(['off']);
  assert.equal(state.helpOthers.on, false);
  await waitFor(async () => (await volunteer.statusText('help-others')) === 'Off', 'the popup to say Off');
  assert.equal(await volunteer.badgeText(), '');
});
