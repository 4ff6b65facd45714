// Chromium may close the offscreen document that runs Help others' relay (memory pressure, a renderer crash). The
// service worker notices, when the popup opens or at its next look (an alarm), opens the document again and restarts
// the relay: the volunteer is back at the broker without the person doing anything.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FerryUser } from '../../harness/ferry-user.ts';
import { startServersInProcess } from '../../harness/servers.ts';
import { waitFor } from '../../harness/wait.ts';

let servers: Awaited<ReturnType<typeof startServersInProcess>>;
let volunteer: FerryUser;

before(async () => {
  servers = await startServersInProcess();
  volunteer = await FerryUser.launch({ brokerUrl: servers.brokerUrl, exitListKey: servers.exitListKey, headless: true });
});

after(async () => {
  await volunteer?.close();
  await servers?.stop();
});

const atBroker = async (): Promise<number> => (await servers.brokerMetrics()).volunteersConnected;

test('the offscreen document closed under a running relay is opened again, and the volunteer is back at the broker', async () => {
  await volunteer.setSwitch('help-others', true);
  await volunteer.waitForHelpOthers(['waiting']);
  assert.equal(await atBroker(), 1);
  assert.deepEqual(await volunteer.popup.evaluate(async () => (await chrome.alarms.getAll()).map((alarm) => alarm.name)), ['ferry-relay-watch']);

  // As Chromium would: the document goes, and the relay in it.
  await volunteer.popup.evaluate(() => chrome.offscreen.closeDocument());
  await waitFor(async () => (await atBroker()) === 0, 'the relay to leave the broker with its document', { timeoutMs: 10_000 });

  // The person opens the popup: the worker looks, finds the document gone, and opens it again.
  await volunteer.popup.reload();
  await waitFor(async () => (await atBroker()) === 1, 'the volunteer to be back at the broker', { timeoutMs: 20_000 });
  await volunteer.waitForHelpOthers(['waiting']);

  await volunteer.setSwitch('help-others', false);
  await volunteer.waitForHelpOthers(['off']);
  assert.deepEqual(await volunteer.popup.evaluate(async () => (await chrome.alarms.getAll()).length), 0, 'nothing wakes the worker once off');
});
