// The two web shells of the volunteer, end to end in real Chromium, each serving a real client (the helper and the
// extension's client path in Node, through a real broker and exit): the Ferry tab, which relays while open and asks
// before it closes on someone; and the widget a website embeds with one line, which does nothing until the visitor
// clicks to opt in, remembers that choice for the visitor, forgets it with one click, and tells the host page only
// whether it is on and how many it helps, while the host page's script tries and fails to start it or read it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import type { Frame, Page } from 'playwright-core';
import { ExitServer } from '../../exit-server/exit-server.ts';
import { FerryBrowser } from '../../harness/chromium.ts';
import { type FerrySite, startDemoHostPage, startFerrySite } from '../../harness/ferry-site.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { waitFor } from '../../harness/wait.ts';
import { generateKeyPair } from '../../protocol/index.ts';
import { createBroker } from '../../signaling-server/broker.ts';
import { type ServedClient, serveOneClient } from '../integration/support/served-client.ts';

const FILE_BYTES = 256 * 1024;

const operator = new LocalOperator();
let origin: OriginServer;
let exit: ExitServer;
let broker: ReturnType<typeof createBroker>;
let brokerUrl: string;
let exitInfo: { id: string; url: string; publicKey: string };
let site: FerrySite;
let browser: FerryBrowser;

before(async () => {
  origin = await startOriginServer(FILE_BYTES);
  exit = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true } });
  const { url } = await exit.listen();
  exitInfo = { id: 'local', url, publicKey: exit.publicKey };
  broker = createBroker({ port: 0, exitList: operator.signExitList([exitInfo]) });
  brokerUrl = `http://127.0.0.1:${(await broker.listen()).port}`;
  site = await startFerrySite({ config: { brokerUrl, exitListKeys: [operator.exitListKey] } });
  browser = await FerryBrowser.launch({ headless: true });
});

after(async () => {
  await browser?.close();
  await site?.close();
  await broker?.close();
  await exit?.close();
  await origin?.close();
  nodeDataChannel.cleanup();
});

const volunteersAtBroker = async (): Promise<number> => (await broker.metrics()).volunteersConnected;

const serveClient = (): Promise<ServedClient> => serveOneClient({ brokerUrl, exit: exitInfo, origin });

async function text(page: Page | Frame, selector: string): Promise<string> {
  return (await page.locator(selector).textContent({ timeout: 15_000 })) ?? '';
}

test('the Ferry tab relays while open, serves a client, counts it in its history, and asks before closing on them', async () => {
  const page = await browser.context.newPage();
  let started: ServedClient | undefined;
  try {
    await page.goto(new URL('tab/', site.url).href);
    await waitFor(async () => /Waiting for someone/.test(await text(page, '#tab-status')), 'the tab to wait at the broker', { timeoutMs: 20_000 });
    assert.equal(await volunteersAtBroker(), 1);

    // "Am I helping?": the tab checks itself end to end; the check is nobody helped.
    await page.locator('#am-i-helping').click();
    await page.locator('#check-result').waitFor({ timeout: 45_000 });
    assert.match((await page.locator('#check-result').textContent()) ?? '', /^Yes: /);

    started = await serveClient();
    await waitFor(async () => /Helping 1 person/.test(await text(page, '#tab-status')), 'the tab to say it helps one person', { timeoutMs: 10_000 });
    await waitFor(async () => /Helped today: 1 person/.test(await text(page, '#helped-today')), 'the history to count the person', { timeoutMs: 10_000 });

    // Closing the tab now would drop the person: the page asks (a person has clicked on it, as browsers require).
    await page.locator('h1').click();
    const dialog = page.waitForEvent('dialog', { timeout: 10_000 });
    await page.close({ runBeforeUnload: true });
    const asked = await dialog;
    assert.equal(asked.type(), 'beforeunload');
    await asked.dismiss();
    assert.equal(page.isClosed(), false, 'the tab stays when the person says no');
    assert.equal(await volunteersAtBroker(), 1);

    // Its own history survives a reload (IndexedDB of Ferry's origin).
    await started?.stop();
    started = undefined;
    await waitFor(async () => /Waiting for someone/.test(await text(page, '#tab-status')), 'the tab to wait again', { timeoutMs: 20_000 });
    await page.reload();
    await waitFor(async () => /Helped today: 1 person/.test(await text(page, '#helped-today')), 'the history after a reload', { timeoutMs: 10_000 });
  } finally {
    await started?.stop();
    if (!page.isClosed()) await page.close();
  }
  await waitFor(async () => (await volunteersAtBroker()) === 0, 'the closed tab to leave the broker', { timeoutMs: 10_000 });
});

/** Has the host page's own script put the tab page in a frame, and returns that frame once it has loaded. */
async function frameTabPage(page: Page, siteUrl: string): Promise<Frame | undefined> {
  const tabUrl = new URL('tab/', siteUrl).href;
  await page.evaluate(
    (url) =>
      new Promise<void>((resolve) => {
        const frame = document.createElement('iframe');
        frame.addEventListener('load', () => resolve(), { once: true });
        frame.src = url;
        document.body.append(frame);
      }),
    tabUrl,
  );
  return page.frames().find((frame) => frame.url() === tabUrl);
}

test('the tab page never relays inside another site’s frame: the server forbids it, and the page refuses on its own', async () => {
  const host = await startDemoHostPage({ ferrySiteUrl: site.url });
  // The same pages from a server that forgot the frame rules.
  const careless = await startFerrySite({ config: { brokerUrl, exitListKeys: [operator.exitListKey] }, omitFramingHeaders: true });
  const page = await browser.context.newPage();
  try {
    await page.goto(host.url);
    // With the rules (frame-ancestors 'none'), Chromium does not render the page in the frame at all.
    const blocked = await frameTabPage(page, site.url);
    assert.equal(blocked, undefined, 'Chromium left the framed tab page unrendered');

    // Without them, the page renders and refuses, saying why.
    const framed = await frameTabPage(page, careless.url);
    assert.ok(framed, 'the careless server’s page rendered in the frame');
    await waitFor(async () => /only when opened in its own tab/.test(await text(framed, '#tab-status')), 'the framed page to refuse', { timeoutMs: 10_000 });
    assert.equal(await volunteersAtBroker(), 0, 'nothing relays from a framed tab page');
  } finally {
    await page.close();
    await careless.close();
    await host.close();
  }
});

test('the widget relays only after the visitor’s click, tells its host two figures, and its host cannot start or read it', async () => {
  const host = await startDemoHostPage({ ferrySiteUrl: site.url });
  const page = await browser.context.newPage();
  let started: ServedClient | undefined;
  try {
    await page.goto(host.url);
    const widget = page.frameLocator('iframe.ferry-widget');
    await widget.locator('#widget-opt-in').waitFor({ timeout: 15_000 });
    assert.equal(await volunteersAtBroker(), 0, 'before the click the broker sees no volunteer from the widget');

    // The host page's script tries everything it can reach.
    // (No named functions inside: the test runner's compiler would wrap them in a helper the page does not have.)
    const attempts = await page.evaluate(() => {
      const frame = document.querySelector('iframe.ferry-widget') as HTMLIFrameElement;
      const actions: Array<[string, () => unknown]> = [
        ['document', () => frame.contentDocument?.body.innerHTML ?? 'null'],
        ['storage', () => (frame.contentWindow as Window).localStorage.getItem('ferry-widget-consent')],
        ['click', () => ((frame.contentWindow as Window).document.querySelector('button') as HTMLButtonElement).click()],
      ];
      const results: Record<string, string> = {};
      for (const [name, action] of actions) {
        try {
          results[name] = `allowed: ${String(action())}`;
        } catch (error) {
          results[name] = `refused: ${(error as Error).name}`;
        }
      }
      for (const message of [{ type: 'ferry-widget', on: true, helping: 0 }, { type: 'start' }, 'start', { consent: true }]) {
        frame.contentWindow?.postMessage(message, '*');
      }
      return results;
    });
    assert.equal(attempts.document, 'allowed: null', 'the host cannot see the frame’s document');
    assert.match(attempts.storage ?? '', /^refused: SecurityError/);
    assert.match(attempts.click ?? '', /^refused: SecurityError/);
    assert.equal(await widget.locator('#widget-opt-in').count(), 1, 'the widget still asks');
    assert.equal(await volunteersAtBroker(), 0, 'and nothing relays');
    assert.equal(await text(page, '#widget-events'), '{"on":false,"helping":0}', 'all the host heard: off, helping nobody');

    // The visitor's own click.
    await widget.locator('#widget-opt-in').click();
    await waitFor(async () => (await volunteersAtBroker()) === 1, 'the widget to wait at the broker', { timeoutMs: 20_000 });
    await waitFor(async () => /"on":true/.test(await text(page, '#widget-events')), 'the host to hear the widget is on', { timeoutMs: 10_000 });

    started = await serveClient();
    await waitFor(async () => (await text(page, '#widget-events')) === '{"on":true,"helping":1}', 'the host to hear one person is helped', {
      timeoutMs: 10_000,
    });
    assert.match((await widget.locator('#widget-status').textContent()) ?? '', /Helping 1 person/);
    await started?.stop();
    started = undefined;

    // Remembered for this visitor: a reload starts without a click.
    await page.reload();
    await page.frameLocator('iframe.ferry-widget').locator('#widget-opt-out').waitFor({ timeout: 15_000 });
    await waitFor(async () => (await volunteersAtBroker()) === 1, 'the remembered widget to wait at the broker', { timeoutMs: 20_000 });

    // One click withdraws it: the relay stops and the next visit asks again.
    await page.frameLocator('iframe.ferry-widget').locator('#widget-opt-out').click();
    await waitFor(async () => (await volunteersAtBroker()) === 0, 'the widget to leave the broker', { timeoutMs: 10_000 });
    await waitFor(async () => (await text(page, '#widget-events')) === '{"on":false,"helping":0}', 'the host to hear it is off', { timeoutMs: 10_000 });
    await page.reload();
    await page.frameLocator('iframe.ferry-widget').locator('#widget-opt-in').waitFor({ timeout: 15_000 });
    assert.equal(await volunteersAtBroker(), 0);
  } finally {
    await started?.stop();
    await page.close();
    await host.close();
  }
});
