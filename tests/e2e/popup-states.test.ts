// The Proxy me popup, state by state, in real Chromium with the built extension. Each state a person can meet is
// driven for real where that is cheap and deterministic (helper not installed, no volunteers, connected, helper
// stopped, off again); the transient ones (starting the helper, switching volunteer) are written into the popup's
// stored UiState, which checks how they render, not how they are reached (unit tests cover that). Screenshots go to
// test-results/e2e/popup-<state>.png.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FerryUser } from '../../harness/ferry-user.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { startServersInProcess } from '../../harness/servers.ts';
import { socksFetch } from '../../harness/socks-fetch.ts';
import type { ProxyMeState, UiState } from '../../protocol/extension-state.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-results', 'e2e');
/** Longest wait for a state to show on screen (ms). */
const SCREEN_TIMEOUT_MS = 20_000;
/** Longest wait for ICE gathering in a page (ms). */
const GATHERING_TIMEOUT_MS = 5_000;
const FILE_BYTES = 2 * 1024 * 1024;

let origin: OriginServer;
let servers: Awaited<ReturnType<typeof startServersInProcess>>;
let noHelper: FerryUser | undefined;
let client: FerryUser | undefined;
let volunteer: FerryUser | undefined;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  origin = await startOriginServer(FILE_BYTES);
  servers = await startServersInProcess();
});

after(async () => {
  const helperPid = client ? ((await client.state().catch(() => undefined))?.proxyMe.helperPid ?? 0) : 0;
  await Promise.all([noHelper?.close(), client?.close(), volunteer?.close()]);
  if (helperPid > 0) {
    try {
      process.kill(helperPid, 'SIGTERM');
    } catch {
      // already gone with its browser, as it should be
    }
  }
  await servers?.stop();
  await origin?.close();
});

function required(user: FerryUser | undefined): FerryUser {
  assert.ok(user, 'an earlier test did not start this browser');
  return user;
}

/** Waits until the element shows `text` (a regex, or exact text). */
async function shows(user: FerryUser, id: string, text: RegExp | string): Promise<void> {
  const pattern = typeof text === 'string' ? new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : text;
  await user.popup.locator(`#${id}`, { hasText: pattern }).waitFor({ timeout: SCREEN_TIMEOUT_MS });
}

async function screenshot(user: FerryUser, state: string): Promise<void> {
  await user.popup.locator('main').screenshot({ path: join(ARTIFACTS, `popup-${state}.png`) });
}

/** Overwrites part of the stored Proxy me state, as the service worker would store it; the popup follows storage. */
async function storeProxyMe(user: FerryUser, change: Partial<ProxyMeState>): Promise<void> {
  await user.popup.evaluate(async (proxyMe) => {
    const stored = (await chrome.storage.session.get('uiState')).uiState as UiState;
    await chrome.storage.session.set({ uiState: { ...stored, proxyMe: { ...stored.proxyMe, ...proxyMe } } });
  }, change);
}

async function browserSettings(user: FerryUser): Promise<{ proxy: string; webRtc: string; webRtcValue: string }> {
  return user.popup.evaluate(async () => {
    const proxy = await chrome.proxy.settings.get({ incognito: false });
    const webRtc = await chrome.privacy.network.webRTCIPHandlingPolicy.get({});
    return { proxy: proxy.levelOfControl, webRtc: webRtc.levelOfControl, webRtcValue: webRtc.value };
  });
}

/** How many ICE candidates a fresh RTCPeerConnection gathers in `page` (no STUN: host candidates only). */
async function candidatesGathered(page: FerryUser['popup'], timeoutMs: number): Promise<number> {
  return page.evaluate(async (limitMs) => {
    const pc = new RTCPeerConnection({ iceServers: [] });
    pc.createDataChannel('probe');
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, limitMs);
      pc.onicegatheringstatechange = () => {
        if (pc.iceGatheringState === 'complete') {
          clearTimeout(timer);
          resolve();
        }
      };
      if (pc.iceGatheringState === 'complete') resolve();
    });
    const count = (pc.localDescription?.sdp ?? '').split('\n').filter((line) => line.startsWith('a=candidate:')).length;
    pc.close();
    return count;
  }, timeoutMs);
}

test('helper not installed: said in plain words, with the install command selectable and copyable', { timeout: 60_000 }, async () => {
  noHelper = await FerryUser.launch({ brokerUrl: servers.brokerUrl, exitListKey: servers.exitListKey, headless: true, installHelper: false });
  await noHelper.setSwitch('proxy-me', true);
  await noHelper.waitForProxyMe(['helper-not-installed'], SCREEN_TIMEOUT_MS);
  await shows(noHelper, 'proxy-me-status', 'Helper not installed: run npx ferry helper --install');
  const command = noHelper.popup.locator('#helper-install-command');
  assert.equal(await command.textContent(), 'npx ferry helper --install');
  assert.equal(await command.evaluate((element) => getComputedStyle(element).userSelect), 'all', 'one click selects the whole command');
  assert.equal(await noHelper.popup.locator('#copy-install-command').isVisible(), true);
  await screenshot(noHelper, 'helper-not-installed');
});

test('transient states render in plain words: starting the helper, switching volunteer (written into the stored state)', { timeout: 30_000 }, async () => {
  const user = required(noHelper);
  await storeProxyMe(user, { on: true, phase: 'starting-helper', detail: '' });
  await shows(user, 'proxy-me-status', 'Starting the helper…');
  assert.equal(await user.popup.locator('#proxy-me-stats').count(), 0, 'no statistics before the first connection');
  await screenshot(user, 'starting-helper');

  const now = Date.now();
  await storeProxyMe(user, {
    phase: 'switching-volunteer',
    detail: 'the data channel to the volunteer closed',
    session: 'resuming',
    pathUp: false,
    pathChanges: 2,
    connectedSinceMs: now - 3_723_000,
    bytesUp: 3 * 1024 * 1024,
    bytesDown: 48 * 1024 * 1024,
    traffic: [
      { atMs: now - 4_000, bytesUp: 0, bytesDown: 0 },
      { atMs: now - 1_000, bytesUp: 3 * 1024 * 1024, bytesDown: 48 * 1024 * 1024 },
    ],
  });
  await shows(user, 'proxy-me-status', 'Switching volunteer…');
  await shows(user, 'proxy-me-duration', /^1:02:0\d$/);
  await shows(user, 'proxy-me-path-changes', 'Volunteer changed 2 times');
  await shows(user, 'proxy-me-received', /^48 MB · \d+(\.\d)? MB\/s now$/);
  await shows(user, 'proxy-me-sent', /^3\.0 MB · \d+(\.\d)? (KB|MB)\/s now$/);
  await screenshot(user, 'switching-volunteer');
  await user.close();
  noHelper = undefined;
});

test('a broker list not signed by the pinned key: said so; no volunteers: said so while retrying; switching off gives the proxy and WebRTC settings back', {
  timeout: 90_000,
}, async () => {
  client = await FerryUser.launch({ brokerUrl: servers.brokerUrl, exitListKey: servers.exitListKey, headless: true, installHelper: true });
  // First the extension pins a key that did not sign the broker's list (a hostile broker, as this browser sees it).
  await client.popup.evaluate(async (keys) => chrome.storage.local.set({ exitListKeys: keys }), [new LocalOperator().exitListKey]);
  await client.setSwitch('proxy-me', true);
  await client.waitForProxyMe(['failed']);
  await shows(client, 'proxy-me-status', /^Could not start: The broker's exit list is not signed by the network operator's key/);
  await screenshot(client, 'exit-list-not-signed');
  await client.setSwitch('proxy-me', false);
  await client.waitForProxyMe(['off']);
  await client.popup.evaluate(async (keys) => chrome.storage.local.set({ exitListKeys: keys }), [servers.exitListKey]);

  await client.setSwitch('proxy-me', true);
  await client.waitForProxyMe(['no-volunteers']);
  await shows(client, 'proxy-me-status', 'No volunteers available right now, retrying…');
  await screenshot(client, 'no-volunteers');
  assert.deepEqual(await browserSettings(client), {
    proxy: 'controlled_by_this_extension',
    webRtc: 'controlled_by_this_extension',
    webRtcValue: 'disable_non_proxied_udp',
  });

  await client.setSwitch('proxy-me', false);
  await client.waitForProxyMe(['off']);
  await shows(client, 'proxy-me-status', 'Off');
  const settings = await browserSettings(client);
  assert.notEqual(settings.proxy, 'controlled_by_this_extension');
  assert.notEqual(settings.webRtc, 'controlled_by_this_extension');
});

test('connected through a volunteer: time, traffic, speed and volunteer changes shown; pages get no direct WebRTC path', { timeout: 90_000 }, async () => {
  const user = required(client);
  volunteer = await FerryUser.launch({ brokerUrl: servers.brokerUrl, exitListKey: servers.exitListKey, headless: true });
  await volunteer.setSwitch('help-others', true);
  await volunteer.waitForHelpOthers(['waiting']);

  await user.setSwitch('proxy-me', true);
  const connected = await user.waitForProxyMe(['connected']);
  assert.equal(connected.proxyMe.session, 'connected', '"connected" comes from the helper session, not just the data channel');
  await shows(user, 'proxy-me-status', 'Connected through a volunteer');

  const fetched = await socksFetch(connected.proxyMe.socksPort, `http://localhost:${origin.port}/file`, { timeoutSeconds: 60 });
  assert.ok(fetched.ok, `curl failed: ${fetched.stderr}`);
  assert.equal(fetched.sha256, origin.sha256);
  await shows(user, 'proxy-me-received', /^2\.\d MB · [1-9][\d.]* (KB|MB)\/s now$/);
  await shows(user, 'proxy-me-sent', /^\d+(\.\d)? (B|KB)( · \d+(\.\d)? (B|KB)\/s now)?$/);
  await shows(user, 'proxy-me-duration', /^0:0\d:\d\d$/);
  const shown = (await user.popup.locator('#proxy-me-duration').textContent()) ?? '';
  await user.popup.locator('#proxy-me-duration', { hasNotText: shown }).waitFor({ timeout: SCREEN_TIMEOUT_MS });
  await shows(user, 'proxy-me-path-changes', 'Volunteer changed 0 times');
  // The only volunteer there is: the second place Proxy me keeps for a standby stays empty.
  await shows(user, 'proxy-me-volunteers', 'Through 1 volunteer');
  await screenshot(user, 'connected');

  // The WebRTC policy keeps pages off the direct route, while Ferry's own extension document is exempt from it.
  assert.equal((await browserSettings(user)).webRtcValue, 'disable_non_proxied_udp');
  const page = await user.browser.context.newPage();
  try {
    assert.equal(await candidatesGathered(page, GATHERING_TIMEOUT_MS), 0, 'a web page gathers no direct (non-proxied) candidates');
  } finally {
    await page.close();
  }
  assert.ok((await candidatesGathered(user.popup, GATHERING_TIMEOUT_MS)) > 0, "an extension page still gathers candidates (Ferry's transport relies on it)");
});

test('helper stopped: the reason is shown; switching off clears the proxy setting again', { timeout: 60_000 }, async () => {
  const user = required(client);
  const { helperPid } = (await user.state()).proxyMe;
  assert.ok(helperPid > 0);
  process.kill(helperPid, 'SIGTERM');
  await user.waitForProxyMe(['helper-stopped']);
  await shows(user, 'proxy-me-status', /^Helper stopped: .+/);
  await shows(user, 'proxy-me-hint', /^Pages stay blocked until you switch Proxy me off\./);
  await screenshot(user, 'helper-stopped');
  // Fail closed: the proxy setting stays while the switch is on.
  assert.equal((await browserSettings(user)).proxy, 'controlled_by_this_extension');

  await user.setSwitch('proxy-me', false);
  await user.waitForProxyMe(['off']);
  await shows(user, 'proxy-me-status', 'Off');
  await screenshot(user, 'off');
  const settings = await browserSettings(user);
  assert.notEqual(settings.proxy, 'controlled_by_this_extension');
  assert.notEqual(settings.webRtc, 'controlled_by_this_extension');
});
