// Pairing links end to end in real Chromium: a volunteer browser makes a link on its options page; the client
// browser opens it (the extension keeps it); Proxy me then connects through that friend's volunteer, although
// another volunteer arrived first and would otherwise be offered first. Revoking the link refuses its holder with
// words that say so.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PAIRINGS_STORAGE_KEY } from '../../extension/pairings.ts';
import { LocalNetwork } from '../../harness/local-network.ts';
import { startServersInProcess } from '../../harness/servers.ts';
import { waitFor } from '../../harness/wait.ts';

const OPTIONS_PATH = 'extension/options/options.html';
let servers: Awaited<ReturnType<typeof startServersInProcess>>;
let network: LocalNetwork;

before(async () => {
  servers = await startServersInProcess();
  // volunteers[0] (the stranger) says hello first, so without a pairing it would get the client.
  network = await LocalNetwork.start({ servers, volunteers: 2, headless: true, clientBypassList: ['<-loopback>'], connectClient: false });
});

after(async () => {
  await network?.stop();
  await servers?.stop();
});

test("a friend's link: the client connects through that friend's volunteer; once revoked, it is refused, saying why", async () => {
  const [stranger, friend] = network.volunteers;
  assert.ok(stranger && friend);
  const options = await friend.browser.openExtensionPage(OPTIONS_PATH);
  await options.locator('#make-link').click();
  const link = await options.locator('#made-links input').first().inputValue({ timeout: 10_000 });
  assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/pair#[A-Za-z0-9_-]{43}$/);

  const page = await network.client.browser.context.newPage();
  await page.goto(link);
  assert.match((await page.locator('#ferry-pairing-result').textContent({ timeout: 15_000 })) ?? '', /Ferry keeps this pairing/);
  assert.doesNotMatch(page.url(), /#/, 'the token left the address bar');
  await page.close();
  const held = await network.client.popup.evaluate(async (key) => (await chrome.storage.local.get(key))[key], PAIRINGS_STORAGE_KEY);
  assert.equal((held as { held?: { token?: string } }).held?.token, link.split('#')[1]);

  await network.client.setSwitch('proxy-me', true);
  await network.client.waitForProxyMe(['connected']);
  assert.match((await network.client.popup.locator('#held-pairing').textContent()) ?? '', /friend's volunteer/);
  await waitFor(async () => (await friend.state()).helpOthers.clientsNow === 1, 'the friend to carry the client', { timeoutMs: 20_000 });
  assert.equal((await stranger.state()).helpOthers.clientsTotal, 0, 'the stranger, first in line, was never offered this client');
  // The toolbar badge counts the people helped right now.
  await waitFor(async () => (await friend.popup.evaluate(() => chrome.action.getBadgeText({}))) === '1', "the friend's toolbar badge to show 1", {
    timeoutMs: 10_000,
  });
  assert.equal(await stranger.popup.evaluate(() => chrome.action.getBadgeText({})), '', 'no badge while helping nobody');

  // Revoked: the friend's relay drops the link at the broker; the next connection of its holder is refused, in words.
  await options.locator('.revoke').first().click();
  await waitFor(async () => (await options.locator('#made-links li').count()) === 0, 'the link to disappear from the list', { timeoutMs: 10_000 });
  await network.client.setSwitch('proxy-me', false);
  await network.client.waitForProxyMe(['off']);
  await network.client.setSwitch('proxy-me', true);
  await waitFor(async () => /pairing link/.test((await network.client.state()).proxyMe.detail), 'the client to say its pairing link is refused', {
    timeoutMs: 60_000,
  });
  assert.equal((await stranger.state()).helpOthers.clientsTotal, 0, 'a revoked link never falls back to a stranger');
  await network.client.setSwitch('proxy-me', false);
  await options.close();
});
