// The service worker's side of Help others with its chrome.* parts replaced by recorders: the limits in the settings
// and the kept monthly count reach the offscreen document's help-start, and the count the relay reports is kept.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HelpOthers } from '../../../extension/background/help-others.ts';
import type { OffscreenMessage } from '../../../extension/messages.ts';
import { DEFAULT_SETTINGS } from '../../../extension/settings.ts';
import { badgeText, initialHelpOthersState } from '../../../extension/ui-state.ts';
import type { HelpOthersState } from '../../../protocol/extension-state.ts';
import type { MonthlyUsage } from '../../../relay-worker/monthly-cap.ts';

function helpOthersWith(stored: MonthlyUsage | undefined) {
  const sent: OffscreenMessage[] = [];
  const saved: MonthlyUsage[] = [];
  const badges: number[] = [];
  const switches: boolean[] = [];
  const watching: boolean[] = [];
  const documentOpen = { value: true };
  let state: HelpOthersState = initialHelpOthersState();
  const helpOthers = new HelpOthers({
    loadSettings: async () => ({ ...DEFAULT_SETTINGS, maxClients: 3, maxMbps: 4, monthlyCapGb: 50 }),
    loadPairings: async () => ({ made: [], held: undefined }),
    loadUsage: async () => stored,
    saveUsage: async (usage) => {
      saved.push(usage);
    },
    offscreen: {
      acquire: async () => undefined,
      release: async () => undefined,
      send: async (message) => void sent.push(message),
      isOpen: async () => documentOpen.value,
    },
    watchRelay: async (on) => void watching.push(on),
    updateState: async (change) => {
      state = change(state);
    },
    rememberSwitch: async (on) => {
      switches.push(on);
    },
    showHelping: async (clientsNow) => {
      badges.push(clientsNow);
    },
    log: () => undefined,
  });
  return { helpOthers, sent, saved, badges, switches, watching, documentOpen, state: () => state };
}

test('help-start carries the caps from the settings and the monthly count kept from earlier runs', async () => {
  const kept = { month: '2026-11', bytes: 123_456_789 };
  const { helpOthers, sent, saved } = helpOthersWith(kept);
  await helpOthers.switchOn();
  const start = sent.find((message) => message.type === 'help-start');
  assert.ok(start && start.type === 'help-start');
  assert.equal(start.maxClients, 3);
  assert.equal(start.maxBytesPerSecond, 500_000, '4 Mbit/s');
  assert.equal(start.monthlyDataCapBytes, 50_000_000_000, '50 GB');
  assert.deepEqual(start.usage, kept);
  assert.equal(start.pauseOnBattery, true, 'the default: pause on battery');
  assert.equal(start.pauseOnMetered, true);

  await helpOthers.onUsage({ month: '2026-11', bytes: 200_000_000 });
  assert.deepEqual(saved, [{ month: '2026-11', bytes: 200_000_000 }]);
});

test('without a kept count help-start has none, and the relay counts from zero', async () => {
  const { helpOthers, sent } = helpOthersWith(undefined);
  await helpOthers.switchOn();
  const start = sent.find((message) => message.type === 'help-start');
  assert.ok(start && start.type === 'help-start');
  assert.equal('usage' in start, false);
});

test('the toolbar badge shows how many people are helped right now, and nothing once Help others is off', async () => {
  const { helpOthers, badges } = helpOthersWith(undefined);
  await helpOthers.switchOn();
  const report = (clientsNow: number) =>
    helpOthers.onRelayStatus({ state: clientsNow > 0 ? 'relaying' : 'waiting', clientsNow, clientsTotal: 5, bytesClientToExit: 0, bytesExitToClient: 0 });
  await report(2);
  await report(0);
  await helpOthers.switchOff();
  await report(1); // a report that was on its way when the switch went off
  assert.deepEqual(badges, [2, 0, 0, 0]);
  assert.deepEqual([0, 1, 9, 99, 100, 2500].map(badgeText), ['', '1', '9', '99', '99+', '99+']);
});

test('the switch is kept for the next browser session: on when switched on, off when switched off', async () => {
  const { helpOthers, switches } = helpOthersWith(undefined);
  await helpOthers.switchOn();
  await helpOthers.switchOff();
  assert.deepEqual(switches, [true, false]);
});

test('Chromium closed the offscreen document while Help others was on: it is opened again and the relay restarted', async () => {
  const { helpOthers, sent, watching, documentOpen } = helpOthersWith(undefined);
  await helpOthers.reviveIfClosed();
  assert.equal(sent.length, 0, 'off: nothing to revive');
  await helpOthers.switchOn();
  assert.equal(sent.filter((message) => message.type === 'help-start').length, 1);
  await helpOthers.reviveIfClosed();
  assert.equal(sent.filter((message) => message.type === 'help-start').length, 1, 'the document is there: nothing to do');
  documentOpen.value = false;
  await helpOthers.reviveIfClosed();
  assert.equal(sent.filter((message) => message.type === 'help-start').length, 2, 'closed: started again');
  await helpOthers.switchOff();
  assert.deepEqual(watching.at(-1), false, 'no more looking once off');
  assert.ok(watching.includes(true), 'looked after while on');
});
