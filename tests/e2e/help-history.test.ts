// Help others in real Chromium keeps its week across a browser restart: a volunteer serves a real client, its popup
// counts the person in "Helped today" and the 7-day chart (IndexedDB of the extension, written by the offscreen
// document), and after the browser is closed and started again on the same profile, Help others is on again and the
// popup still shows that person.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { FerryUser } from '../../harness/ferry-user.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { startServersInProcess } from '../../harness/servers.ts';
import { waitFor } from '../../harness/wait.ts';
import { serveOneClient } from '../integration/support/served-client.ts';

let servers: Awaited<ReturnType<typeof startServersInProcess>>;
let origin: OriginServer;
const profile = mkdtempSync(join(tmpdir(), 'ferry-restart-profile-'));
const users: FerryUser[] = [];

before(async () => {
  servers = await startServersInProcess();
  origin = await startOriginServer(128 * 1024);
});

after(async () => {
  for (const user of users) await user.close();
  await servers?.stop();
  await origin?.close();
  nodeDataChannel.cleanup();
  rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

async function launchVolunteer(): Promise<FerryUser> {
  const user = await FerryUser.launch({ brokerUrl: servers.brokerUrl, exitListKey: servers.exitListKey, headless: true, userDataDir: profile });
  users.push(user);
  return user;
}

const helpedToday = async (user: FerryUser): Promise<string> => (await user.popup.locator('#helped-today').textContent({ timeout: 10_000 })) ?? '';

test('the week of Help others survives a browser restart, and Help others comes back on', async () => {
  const first = await launchVolunteer();
  await first.setSwitch('help-others', true);
  await first.waitForHelpOthers(['waiting']);
  assert.match(await helpedToday(first), /Helped today: 0 people/);

  const client = await serveOneClient({ brokerUrl: servers.brokerUrl, exit: servers.exit, origin });
  try {
    await waitFor(async () => /Helped today: 1 person/.test(await helpedToday(first)), 'the popup to count the person helped', { timeoutMs: 15_000 });
    assert.equal(await first.popup.locator('.history-chart rect').count(), 7, 'seven days in the chart');
  } finally {
    await client.stop();
  }
  await first.close();

  const second = await launchVolunteer();
  await second.waitForHelpOthers(['waiting']);
  await waitFor(async () => /Helped today: 1 person/.test(await helpedToday(second)), 'the restarted popup to show the person', { timeoutMs: 15_000 });
  assert.match((await second.popup.locator('#helped-week').textContent()) ?? '', /^This week: 1 person$/);
});
