// The background modules both browsers' init files share (Chromium's index.ts, Firefox's firefox.ts): answering the
// popup's messages, the storage they read, and Firefox's in-page relay host with its keep-awake calls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerBackgroundMessage, type BackgroundMessageHandling, changedPairings } from '../../../extension/background/events.ts';
import { extensionStorage, HELP_USAGE_STORAGE_KEY, type StorageArea } from '../../../extension/background/extension-storage.ts';
import { InPageRelayCommandError, inPageRelayHost } from '../../../extension/background/in-page-relay.ts';
import type { BackgroundMessage } from '../../../extension/messages.ts';
import { HelpOthersRunner } from '../../../extension/offscreen/help-others-runner.ts';
import { PAIRINGS_STORAGE_KEY } from '../../../extension/pairings.ts';
import { DEFAULT_SETTINGS } from '../../../extension/settings.ts';
import { initialUiState } from '../../../extension/ui-state.ts';

const EXTENSION_ID = 'ferry@test.invalid';

function handling(): { handled: BackgroundMessage[]; logged: string[]; handling: BackgroundMessageHandling } {
  const handled: BackgroundMessage[] = [];
  const logged: string[] = [];
  return {
    handled,
    logged,
    handling: {
      extensionId: EXTENSION_ID,
      handle: async (message) => void handled.push(message),
      state: async () => initialUiState(),
      log: (message) => void logged.push(message),
    },
  };
}

test("a background message from this extension is handled and answered with the state; others' are left alone", async () => {
  const { handled, logged, handling: h } = handling();
  const reply = answerBackgroundMessage({ target: 'background', type: 'set-help-others', on: true }, { id: EXTENSION_ID }, h);
  assert.deepEqual(await reply, initialUiState());
  assert.deepEqual(handled, [{ target: 'background', type: 'set-help-others', on: true }]);

  assert.equal(answerBackgroundMessage({ target: 'offscreen', type: 'help-stop' }, { id: EXTENSION_ID }, h), undefined, 'not for the background');
  assert.equal(answerBackgroundMessage({ target: 'background', type: 'get-state' }, { id: 'someone@else' }, h), undefined, 'another extension');
  assert.equal(answerBackgroundMessage({ target: 'background', type: 'set-help-others', on: 'yes' }, { id: EXTENSION_ID }, h), undefined, 'malformed');
  assert.equal(handled.length, 1);
  assert.deepEqual(logged, ['ignored a malformed message']);
});

test('a message whose handling fails is still answered with the state, and the failure is logged', async () => {
  const { logged, handling: h } = handling();
  const reply = answerBackgroundMessage(
    { target: 'background', type: 'get-state' },
    { id: EXTENSION_ID },
    { ...h, handle: async () => Promise.reject(new Error('boom')) },
  );
  assert.deepEqual(await reply, initialUiState());
  assert.deepEqual(logged, ['handling get-state failed']);
});

test('only a change of the local pairing links is passed on', () => {
  const made = { made: [{ token: 'A'.repeat(43), createdAt: 1 }], held: undefined };
  assert.deepEqual(changedPairings({ [PAIRINGS_STORAGE_KEY]: { newValue: made } }, 'local'), made);
  assert.equal(changedPairings({ [PAIRINGS_STORAGE_KEY]: { newValue: made } }, 'session'), undefined);
  assert.equal(changedPairings({ brokerUrl: { newValue: 'http://127.0.0.1:1' } }, 'local'), undefined);
});

test('the stored settings, pairing links and monthly count are read from the given storage area; an unreadable count starts afresh', async () => {
  const items: Record<string, unknown> = { maxClients: 5, [HELP_USAGE_STORAGE_KEY]: { month: '2026-11', bytes: 42 } };
  const area: StorageArea = {
    get: async (keys) => Object.fromEntries((Array.isArray(keys) ? keys : [keys]).filter((key) => key in items).map((key) => [key, items[key]])),
    set: async (more) => void Object.assign(items, more),
  };
  const storage = extensionStorage(area);
  assert.deepEqual(await storage.loadSettings(), { ...DEFAULT_SETTINGS, maxClients: 5 });
  assert.deepEqual(await storage.loadUsage(), { month: '2026-11', bytes: 42 });
  assert.deepEqual(await storage.loadPairings(), { made: [], held: undefined });
  await storage.saveUsage({ month: '2026-12', bytes: 7 });
  assert.deepEqual(items[HELP_USAGE_STORAGE_KEY], { month: '2026-12', bytes: 7 });
  items[HELP_USAGE_STORAGE_KEY] = { month: 'last month', bytes: -1 };
  assert.equal(await storage.loadUsage(), undefined);
});

test("Firefox's in-page relay host keeps the page awake only while the relay is acquired, and refuses Proxy me's commands", async () => {
  let calls = 0;
  const host = inPageRelayHost(
    new HelpOthersRunner(
      () => undefined,
      () => undefined,
    ),
    {
      keepAwake: async () => {
        calls += 1;
      },
      keepAwakeIntervalMs: 10,
      log: () => undefined,
    },
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(calls, 0, 'nothing before the relay is acquired');
  await host.acquire();
  await host.acquire(); // a second acquire adds no second timer
  await new Promise((resolve) => setTimeout(resolve, 105));
  // Timers run late on a loaded machine, never early: at least a few calls, never more than one per 10 ms.
  assert.ok(calls >= 2 && calls <= 11, `about one call every 10 ms while acquired (${calls})`);
  await host.release();
  const afterRelease = calls;
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(calls, afterRelease, 'no calls once released');

  await host.send({ target: 'offscreen', type: 'help-stop' });
  await assert.rejects(host.send({ target: 'offscreen', type: 'client-stop' }), InPageRelayCommandError);
});
