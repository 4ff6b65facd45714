/**
 * @module background
 * Service worker entry: wiring only. chrome.* stays in this file and the small adapters it passes in.
 */

import type { UiState } from '../../protocol/extension-state.ts';
import type { MonthlyUsage } from '../../relay-worker/monthly-cap.ts';
import { fetchExitList } from '../broker-exits.ts';
import { type BackgroundMessage, messageTarget, parseBackgroundMessage, parseMonthlyUsage } from '../messages.ts';
import { PAIRINGS_STORAGE_KEY, type Pairings, parseStoredPairings } from '../pairings.ts';
import { parseStoredSettings, SETTINGS_KEYS, type Settings } from '../settings.ts';
import { badgeText, initialProxyMeState, isProxyMeStopped } from '../ui-state.ts';
import { HelpOthers } from './help-others.ts';
import { connectChromeNative } from './native-port.ts';
import { OffscreenDocument } from './offscreen-document.ts';
import { PairingLinks } from './pairing-links.ts';
import { ProxyMe } from './proxy-me.ts';
import { chromeBrowserProxy } from './proxy-settings.ts';
import { UiStateStore } from './state.ts';
import { chromeWebRtcPolicy } from './webrtc-policy.ts';

const store = new UiStateStore();
const offscreen = new OffscreenDocument();

function log(message: string, error?: unknown): void {
  if (error === undefined) console.info(`[ferry] ${message}`);
  else console.warn(`[ferry] ${message}:`, error);
}

async function loadSettings(): Promise<Settings> {
  return parseStoredSettings(await chrome.storage.local.get([...SETTINGS_KEYS]));
}

/** The toolbar badge's colour while helping: the icon's sail yellow is too light behind white digits. */
const BADGE_COLOR = '#0f5e73';

/** Where the Help others switch is kept between browser runs (chrome.storage.local): a volunteer stays one. */
const HELP_OTHERS_ON_STORAGE_KEY = 'helpOthersOn';

/** Where the monthly data cap's count of Help others is kept between runs (chrome.storage.local). */
const HELP_USAGE_STORAGE_KEY = 'helpOthersUsage';

async function loadUsage(): Promise<MonthlyUsage | undefined> {
  const stored: unknown = (await chrome.storage.local.get(HELP_USAGE_STORAGE_KEY))[HELP_USAGE_STORAGE_KEY];
  if (stored === undefined) return undefined;
  try {
    return parseMonthlyUsage(stored);
  } catch {
    return undefined; // an unreadable count starts afresh
  }
}

async function loadPairings(): Promise<Pairings> {
  return parseStoredPairings((await chrome.storage.local.get(PAIRINGS_STORAGE_KEY))[PAIRINGS_STORAGE_KEY]);
}

const pairingLinks = new PairingLinks({
  loadSettings,
  loadPairings,
  savePairings: (pairings) => chrome.storage.local.set({ [PAIRINGS_STORAGE_KEY]: pairings }),
  now: () => Date.now(),
});

const proxyMe = new ProxyMe({
  loadSettings,
  loadPairings,
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
});

const helpOthers = new HelpOthers({
  loadSettings,
  loadPairings,
  loadUsage,
  saveUsage: (usage) => chrome.storage.local.set({ [HELP_USAGE_STORAGE_KEY]: usage }),
  rememberSwitch: (on) => chrome.storage.local.set({ [HELP_OTHERS_ON_STORAGE_KEY]: on }),
  offscreen: {
    acquire: () => offscreen.acquire('help-others'),
    release: () => offscreen.release('help-others'),
    send: (message) => offscreen.send(message),
  },
  updateState: (change) => store.update((state) => ({ ...state, helpOthers: change(state.helpOthers) })),
  showHelping: async (clientsNow) => {
    await chrome.action.setBadgeText({ text: badgeText(clientsNow) });
    if (clientsNow > 0) await chrome.action.setBadgeBackgroundColor({ color: BADGE_COLOR });
  },
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
    const remembered: unknown = (await chrome.storage.local.get(HELP_OTHERS_ON_STORAGE_KEY))[HELP_OTHERS_ON_STORAGE_KEY];
    if (remembered === true) await helpOthers.switchOn();
    return;
  }
  if (state.proxyMe.on && !isProxyMeStopped(state.proxyMe) && !proxyMe.isRunning) {
    chrome.runtime.sendMessage({ target: 'offscreen', type: 'client-stop' }).catch(() => undefined);
    await store.update((current) => ({
      ...current,
      proxyMe: { ...current.proxyMe, phase: 'helper-stopped', detail: 'the extension restarted. Switch Proxy me off and on to reconnect.' },
    }));
  }
  if (state.helpOthers.on && state.helpOthers.phase !== 'failed') await helpOthers.resume();
}

const reconciled = reconcile().catch((error) => log('could not restore the state after a restart', error));
// A listener for the browser's start makes Chromium wake this worker then, so Help others resumes without a click.
chrome.runtime.onStartup.addListener(() => void reconciled);

async function handle(message: BackgroundMessage): Promise<void> {
  await reconciled;
  switch (message.type) {
    case 'get-state':
      return;
    case 'set-proxy-me':
      return message.on ? proxyMe.switchOn() : proxyMe.switchOff();
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
chrome.storage.onChanged.addListener((changes, area) => {
  if (area !== 'local' || changes[PAIRINGS_STORAGE_KEY] === undefined) return;
  void reconciled
    .then(() => helpOthers.onPairingsChanged(parseStoredPairings(changes[PAIRINGS_STORAGE_KEY]?.newValue)))
    .catch((error) => log('could not pass on the changed pairing links', error));
});

// Registered synchronously at the top level, so a message that wakes the worker is not lost.
chrome.runtime.onMessage.addListener((raw: unknown, sender, sendResponse: (state: UiState | undefined) => void) => {
  if (messageTarget(raw) !== 'background' || sender.id !== chrome.runtime.id) return false;
  let message: BackgroundMessage;
  try {
    message = parseBackgroundMessage(raw);
  } catch (error) {
    log('ignored a malformed message', error);
    return false;
  }
  handle(message)
    .catch((error) => log(`handling ${message.type} failed`, error))
    .then(() => store.get())
    .then(sendResponse, () => sendResponse(undefined));
  return true;
});
