/**
 * @module offscreen
 * Offscreen document entry: wiring only. Runs the volunteer relay (Help others) and the client path (Proxy me), and
 * reports to the service worker. This document has chrome.runtime messaging only (no chrome.storage).
 */
import type { RelayStatus } from '../../relay-worker/index.ts';
import type { SelfCheckResult } from '../../relay-worker/self-check.ts';
import { type BackgroundMessage, isHelpCheckRequest, messageTarget, type OffscreenMessage, type OffscreenReply, parseOffscreenMessage } from '../messages.ts';
import { ClientPath } from './client-path.ts';
import { applyHelpOthersCommand, HelpOthersRunner } from './help-others-runner.ts';

function report(message: BackgroundMessage): void {
  // The service worker wakes up for it; if it cannot be reached there is nobody to tell.
  chrome.runtime.sendMessage(message).catch(() => undefined);
}

const helpOthers = new HelpOthersRunner(
  (status: RelayStatus) => report({ target: 'background', type: 'relay-status', status }),
  (usage) => report({ target: 'background', type: 'help-usage', usage }),
);
let clientPath: ClientPath | undefined;

function handle(message: OffscreenMessage): void {
  switch (message.type) {
    case 'help-start':
    case 'help-pairings':
    case 'help-stop':
      applyHelpOthersCommand(helpOthers, message);
      return;
    case 'client-start': {
      clientPath?.stop();
      const path = new ClientPath(
        {
          pipeUrl: message.pipeUrl,
          token: message.token,
          brokerUrl: message.brokerUrl,
          exit: message.exit,
          ...(message.pairingToken === undefined ? {} : { pairingToken: message.pairingToken }),
          ...(message.nat === undefined ? {} : { nat: message.nat }),
          ...(message.stunUrls === undefined ? {} : { stunUrls: message.stunUrls }),
          ...(message.pathCount === undefined ? {} : { pathCount: message.pathCount }),
          ...(message.stripe === undefined ? {} : { stripe: message.stripe }),
          ...(message.rendezvous === undefined ? {} : { rendezvous: message.rendezvous }),
        },
        {
          createPeerConnection: (config) => new RTCPeerConnection(config),
          createWebSocket: (url) => new WebSocket(url),
          fetch: (input, init) => fetch(input, init),
        },
        {
          onPathEvent: (event) => {
            if (path === clientPath) report({ target: 'background', type: 'client-path', event });
          },
          onSession: (session) => {
            if (path === clientPath) report({ target: 'background', type: 'client-session', session });
          },
          onWholeDevice: (state) => {
            if (path === clientPath) {
              report({ target: 'background', type: 'client-path', event: { kind: 'whole-device', state: state.state, reason: state.reason ?? '' } });
            }
          },
        },
      );
      clientPath = path;
      path.start();
      return;
    }
    case 'client-stop':
      clientPath?.stop();
      clientPath = undefined;
      return;
    case 'client-whole-device':
      clientPath?.setWholeDevice(message.on, message.transportHosts);
      return;
  }
}

// "Am I helping?" from the popup: answered when the check is done (up to about half a minute).
chrome.runtime.onMessage.addListener((raw: unknown, sender, sendResponse: (result: SelfCheckResult) => void) => {
  if (!isHelpCheckRequest(raw) || sender.id !== chrome.runtime.id) return false;
  void helpOthers.selfCheck().then(sendResponse, (error: unknown) => sendResponse({ ok: false, failed: 'data-channel', detail: String(error) }));
  return true;
});

chrome.runtime.onMessage.addListener((raw: unknown, sender, sendResponse: (reply: OffscreenReply) => void) => {
  if (messageTarget(raw) !== 'offscreen' || sender.id !== chrome.runtime.id) return false;
  try {
    handle(parseOffscreenMessage(raw));
    sendResponse({ ok: true });
  } catch (error) {
    sendResponse({ ok: false, error: error instanceof Error ? error.message : String(error) });
  }
  return false;
});
