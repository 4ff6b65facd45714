// "Am I helping?" in real Chromium: the popup's button asks the offscreen document's relay to check itself end to
// end (its own one-off link at the real broker, a real data channel through itself, the real exit's answer), and
// says what it found in words: yes; no, the exit did not answer; switch Help others on first.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FerryUser } from '../../harness/ferry-user.ts';
import { startServersInProcess } from '../../harness/servers.ts';
import { readCatalog } from '../unit/support/translators.ts';

const english = readCatalog('en');
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

async function check(): Promise<string> {
  const popup = volunteer.popup;
  await popup.locator('#am-i-helping').click();
  await popup.locator('#am-i-helping:not([disabled])').waitFor({ timeout: 45_000 });
  return (await popup.locator('#check-result').textContent({ timeout: 5_000 })) ?? '';
}

test('off: it asks to switch Help others on first', async () => {
  assert.equal(await check(), english.checkNotOn?.message);
});

test('on: yes, the whole path works, and the check is not counted as someone helped', async () => {
  await volunteer.setSwitch('help-others', true);
  await volunteer.waitForHelpOthers(['waiting']);
  assert.equal(await check(), english.checkOk?.message);
  assert.equal((await volunteer.state()).helpOthers.clientsTotal, 0);
});

test('the exit gone: no, and it says the exit did not answer', async () => {
  await servers.exitServer.close();
  assert.match(await check(), /^No: a connection through your browser opened, but the exit did not answer/);
});
