/**
 * @module background
 * Service worker entry: wiring only. chrome.* stays in this file and the small adapters it passes in.
 */

import { fetchExitList } from '../broker-exits.ts';
import type { BackgroundMessage } from '../messages.ts';
import { initialProxyMeState, isProxyMeStopped } from '../ui-state.ts';
import { logToConsole } from './console-log.ts';
import { answerBackgroundMessage, changedPairings } from './events.ts';
import { extensionStorage } from './extension-storage.ts';
import { HelpOthers } from './help-others.ts';
import { connectChromeNative } from './native-port.ts';
import { OffscreenDocument } from './offscreen-document.ts';
import { PairingLinks } from './pairing-links.ts';
import { ProxyMe } from './proxy-me.ts';
import { chromeBrowserProxy } from './proxy-settings.ts';
import { UiStateStore } from './state.ts';
import { showHelpingOnBadge } from './toolbar-badge.ts';
import { chromeWebRtcPolicy } from './webrtc-policy.ts';

const store = new UiStateStore(chrome.storage.session);
const storage = extensionStorage(chrome.storage.local);
const offscreen = new OffscreenDocument();

const log = logToConsole;

const pairingLinks = new PairingLinks({
  loadSettings: storage.loadSettings,
  loadPairings: storage.loadPairings,
  savePairings: storage.savePairings,
  now: () => Date.now(),
});

const proxyMe = new ProxyMe({
  loadSettings: storage.loadSettings,
  loadPairings: storage.loadPairings,
  fetchExits: fetchExitList,
  connectNative: connectChromeNative,
  browserProxy: chromeBrowserProxy,
  webRtcPolicy: chromeWebRtcPolicy,
  offscreen: {
    acquire: () => offscreen.acquire('proxy-me'),
    release: () => offscreen.release('proxy-me'),
    send: (message) => offscreen.send(message),
  },
  updateState: (change) => store.update((state) => ({ ...state, proxyMe: change(state.proxyMe) })),
  log,
  networkMemory: storage.networkMemory,
});

/**
 * While Help others is on, the service worker looks this often whether Chromium closed the offscreen document (the
 * shortest alarm period Chromium allows); opening the popup looks at once.
 */
const RELAY_WATCH_ALARM = 'ferry-relay-watch';
const RELAY_WATCH_PERIOD_MINUTES = 0.5;

const helpOthers = new HelpOthers({
  loadSettings: storage.loadSettings,
  loadPairings: storage.loadPairings,
  loadUsage: storage.loadUsage,
  saveUsage: storage.saveUsage,
  rememberSwitch: storage.rememberHelpOthersOn,
  offscreen: {
    acquire: () => offscreen.acquire('help-others'),
    release: () => offscreen.release('help-others'),
    send: (message) => offscreen.send(message),
    isOpen: () => offscreen.exists(),
  },
  watchRelay: async (on) => {
    if (on) await chrome.alarms.create(RELAY_WATCH_ALARM, { periodInMinutes: RELAY_WATCH_PERIOD_MINUTES });
    else await chrome.alarms.clear(RELAY_WATCH_ALARM);
  },
  updateState: (change) => store.update((state) => ({ ...state, helpOthers: change(state.helpOthers) })),
  showHelping: showHelpingOnBadge(chrome.action),
  log,
});

/** After a browser or service worker restart, make the stored state true again before handling anything. */
async function reconcile(): Promise<void> {
  const { state, fresh } = await store.load();
  if (fresh) {
    // chrome.proxy settings outlive the browser session; session storage does not.
    const leftBehind = await chromeBrowserProxy.isControlledByUs().catch(() => false);
    // Proxy me is off: a WebRTC policy left by a crash goes too. With the proxy left behind both stay (fail closed)
    // until the user switches off.
    if (!leftBehind) await chromeWebRtcPolicy.restore().catch((error) => log('could not clear a WebRTC policy left behind', error));
    if (leftBehind) {
      await store.update((current) => ({
        ...current,
        proxyMe: {
          ...initialProxyMeState(),
          on: true,
          phase: 'helper-stopped',
          detail: 'the browser restarted while Proxy me was on. Switch it off to browse directly, or off and on to reconnect.',
        },
      }));
    }
    // A new browser session: Help others comes back on if the person left it on.
    if (await storage.wasHelpOthersOn()) await helpOthers.switchOn();
    return;
  }
  if (state.proxyMe.on && !isProxyMeStopped(state.proxyMe) && !proxyMe.isRunning) {
    chrome.runtime.sendMessage({ target: 'offscreen', type: 'client-stop' }).catch(() => undefined);
    await store.update((current) => ({
      ...current,
      proxyMe: { ...current.proxyMe, phase: 'helper-stopped', detail: 'the extension restarted. Switch Proxy me off and on to reconnect.' },
    }));
  }
  await helpOthers.resumeIfOn(state.helpOthers);
}

const reconciled = reconcile().catch((error) => log('could not restore the state after a restart', error));
// A listener for the browser's start makes Chromium wake this worker then, so Help others resumes without a click.
chrome.runtime.onStartup.addListener(() => void reconciled);
// Registered at the top level, so the alarm wakes the worker.
chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name !== RELAY_WATCH_ALARM) return;
  void reconciled.then(() => helpOthers.reviveIfClosed()).catch((error) => log('could not look after the relay', error));
});

async function handle(message: BackgroundMessage): Promise<void> {
  await reconciled;
  switch (message.type) {
    case 'get-state':
      // The popup opened: a good moment to make sure the relay still runs.
      return helpOthers.reviveIfClosed();
    case 'set-proxy-me':
      return message.on ? proxyMe.switchOn() : proxyMe.switchOff();
    case 'set-whole-device':
      return proxyMe.setWholeDevice(message.on);
    case 'set-help-others':
      return message.on ? helpOthers.switchOn() : helpOthers.switchOff();
    case 'relay-status':
      return helpOthers.onRelayStatus(message.status);
    case 'client-path':
      return proxyMe.onClientPathEvent(message.event);
    case 'client-session':
      return proxyMe.onClientSession(message.session);
    case 'add-pairing':
      return pairingLinks.add(message.link);
    case 'help-usage':
      return helpOthers.onUsage(message.usage);
  }
}

// Links for friends made or revoked (the options page writes them): a running relay registers the new set.
chrome.storage.onChanged.addListener((changes, areaName) => {
  const pairings = changedPairings(changes, areaName);
  if (pairings === undefined) return;
  void reconciled.then(() => helpOthers.onPairingsChanged(pairings)).catch((error) => log('could not pass on the changed pairing links', error));
});

// Registered synchronously at the top level, so a message that wakes the worker is not lost.
chrome.runtime.onMessage.addListener((raw: unknown, sender, sendResponse) => {
  const reply = answerBackgroundMessage(raw, sender, { extensionId: chrome.runtime.id, handle, state: () => store.get(), log });
  if (reply === undefined) return false;
  void reply.then(sendResponse);
  return true;
});
