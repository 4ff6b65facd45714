/**
 * @module background/firefox
 * Firefox's background (an MV3 event page): wiring only, like index.ts is for Chromium's service worker, and the only
 * file of this background that touches the browser's API (through webextension-polyfill's `browser.*`). A Firefox
 * background page has RTCPeerConnection, so Help others' relay runs right here (in-page-relay.ts) instead of in an
 * offscreen document. Proxy me is not part of the Firefox build yet: its popup says so, and this page refuses it.
 */
import browser, { type Runtime } from 'webextension-polyfill';
import { type BackgroundMessage, isHelpCheckRequest } from '../messages.ts';
import { HelpOthersRunner } from '../offscreen/help-others-runner.ts';
import { logToConsole as log } from './console-log.ts';
import { answerBackgroundMessage, changedPairings } from './events.ts';
import { extensionStorage } from './extension-storage.ts';
import { HelpOthers } from './help-others.ts';
import { inPageRelayHost } from './in-page-relay.ts';
import { UiStateStore } from './state.ts';
import { showHelpingOnBadge } from './toolbar-badge.ts';

const store = new UiStateStore(browser.storage.session);
const storage = extensionStorage(browser.storage.local);

// The relay reports straight to HelpOthers: no message crosses between documents here.
const runner = new HelpOthersRunner(
  (status) => void helpOthers.onRelayStatus(status).catch((error) => log('could not show the relay status', error)),
  (usage) => void helpOthers.onUsage(usage),
);

const helpOthers = new HelpOthers({
  loadSettings: storage.loadSettings,
  loadPairings: storage.loadPairings,
  loadUsage: storage.loadUsage,
  saveUsage: storage.saveUsage,
  rememberSwitch: storage.rememberHelpOthersOn,
  offscreen: inPageRelayHost(runner, { keepAwake: () => browser.runtime.getPlatformInfo(), log }),
  updateState: (change) => store.update((state) => ({ ...state, helpOthers: change(state.helpOthers) })),
  showHelping: showHelpingOnBadge(browser.action),
  log,
});

/**
 * After the event page was unloaded and woken again, or the add-on reloaded: a relay that was on runs again. In a
 * new browser session (session storage is empty) Help others comes back on if the person left it on.
 */
const reconciled = store
  .load()
  .then(async ({ state, fresh }) => {
    if (fresh && (await storage.wasHelpOthersOn())) await helpOthers.switchOn();
    else await helpOthers.resumeIfOn(state.helpOthers);
  })
  .catch((error) => log('could not restore the state after a restart', error));

async function handle(message: BackgroundMessage): Promise<void> {
  await reconciled;
  switch (message.type) {
    case 'get-state':
      return;
    case 'set-help-others':
      return message.on ? helpOthers.switchOn() : helpOthers.switchOff();
    case 'set-proxy-me':
    case 'set-whole-device':
    case 'client-path':
    case 'client-session':
    case 'add-pairing':
      log(`${message.type} ignored: Proxy me is not available in Firefox yet`);
      return;
    case 'relay-status':
    case 'help-usage':
      // Only Chromium's offscreen document sends these; here the relay reports in place.
      log(`${message.type} ignored: the relay runs in this page`);
      return;
  }
}

// Links for friends made or revoked (the options page writes them): a running relay registers the new set.
browser.storage.onChanged.addListener((changes, areaName) => {
  const pairings = changedPairings(changes, areaName);
  if (pairings === undefined) return;
  void reconciled.then(() => helpOthers.onPairingsChanged(pairings)).catch((error) => log('could not pass on the changed pairing links', error));
});

// "Am I helping?" from the popup: the relay runs in this page, so this page answers (a promise: the polyfill's reply).
browser.runtime.onMessage.addListener((raw: unknown, sender: Runtime.MessageSender) => {
  if (!isHelpCheckRequest(raw) || sender.id !== browser.runtime.id) return undefined;
  return reconciled.then(() => runner.selfCheck());
});

// Registered synchronously at the top level, so a message that wakes the event page is not lost.
browser.runtime.onMessage.addListener((raw: unknown, sender: Runtime.MessageSender) =>
  answerBackgroundMessage(raw, sender, { extensionId: browser.runtime.id, handle, state: () => store.get(), log }),
);
