/**
 * @module bench/extension-datachannel
 * The raw data-channel baseline where Ferry's own data channels live: two Chromium processes with the built extension,
 * each with its offscreen document open (nothing switched on), joined by a plain RTCDataChannel created inside those
 * offscreen documents. Playwright does not attach to offscreen documents (Chromium lists them as "background_page"
 * targets), so the scripts go through the DevTools protocol directly: Runtime.evaluate on the target's own socket.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { FerryBrowser } from '../harness/chromium.ts';
import { EXTENSION_DIR } from '../harness/paths.ts';
import { waitFor } from '../harness/wait.ts';
import { connectRawDataChannel, type EvaluateInDocument, RAW_DATACHANNEL_CHROMIUM_ARGS, type RawDataChannelPair, SETUP_SCRIPT } from './raw-datachannel.ts';

/** The extension's offscreen document (manifest path, as the service worker opens it). */
const OFFSCREEN_PATH = 'extension/offscreen/offscreen.html';

interface DevToolsTarget {
  type: string;
  url: string;
  webSocketDebuggerUrl?: string;
}

interface RuntimeEvaluateReply {
  id: number;
  result?: { result?: { value?: unknown }; exceptionDetails?: { text?: string; exception?: { description?: string } } };
  error?: { message: string };
}

/** The DevTools port Chromium wrote into its profile (first line of DevToolsActivePort). */
function devToolsPort(browser: FerryBrowser): number {
  const port = Number(readFileSync(join(browser.userDataDir, 'DevToolsActivePort'), 'utf8').split('\n')[0]);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no DevTools port in ${browser.userDataDir}/DevToolsActivePort`);
  return port;
}

/** Opens the extension's offscreen document (as its service worker would) and returns a way to run scripts in it. */
async function offscreenDocument(browser: FerryBrowser): Promise<{ evaluate: EvaluateInDocument; socket: WebSocket }> {
  const worker = browser.serviceWorker;
  if (worker === undefined) throw new Error('the extension has no service worker');
  await worker.evaluate(async (url) => {
    // The extension opens it itself only when a switch is on; here nothing is.
    if (!(await chrome.offscreen.hasDocument())) {
      await chrome.offscreen.createDocument({ url, reasons: [chrome.offscreen.Reason.WEB_RTC], justification: 'benchmark' });
    }
  }, OFFSCREEN_PATH);
  const port = devToolsPort(browser);
  const target = await waitFor(
    async () => {
      const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as DevToolsTarget[];
      return targets.find((candidate) => candidate.url.endsWith(OFFSCREEN_PATH) && candidate.webSocketDebuggerUrl !== undefined);
    },
    'the offscreen document to be listed by DevTools',
    { timeoutMs: 10_000, intervalMs: 100 },
  );
  const socket = new WebSocket(target.webSocketDebuggerUrl ?? '', { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const pending = new Map<number, (reply: RuntimeEvaluateReply) => void>();
  socket.on('message', (data: Buffer) => {
    const reply = JSON.parse(data.toString()) as RuntimeEvaluateReply;
    pending.get(reply.id)?.(reply);
    pending.delete(reply.id);
  });
  let nextId = 1;
  const evaluate: EvaluateInDocument = (expression) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, (reply) => {
        const exception = reply.result?.exceptionDetails;
        if (reply.error) reject(new Error(reply.error.message));
        else if (exception) reject(new Error(exception.exception?.description ?? exception.text ?? 'the script threw'));
        else resolve(reply.result?.result?.value);
      });
      socket.send(JSON.stringify({ id, method: 'Runtime.evaluate', params: { expression, awaitPromise: true, returnByValue: true } }));
    });
  await evaluate(SETUP_SCRIPT);
  return { evaluate, socket };
}

/** Two Chromium processes with the Ferry extension, joined by a data channel between their offscreen documents. */
export async function openExtensionOffscreenPair(): Promise<RawDataChannelPair> {
  const browsers: FerryBrowser[] = [];
  const sockets: WebSocket[] = [];
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.close();
    await Promise.all(browsers.map((browser) => browser.close()));
  };
  try {
    // One at a time: each start is a Chromium process on a two-core machine.
    for (let index = 0; index < 2; index++) {
      browsers.push(await FerryBrowser.launch({ extensionDir: EXTENSION_DIR, headless: true, extraArgs: RAW_DATACHANNEL_CHROMIUM_ARGS }));
    }
    const [sender, receiver] = await Promise.all(browsers.map((browser) => offscreenDocument(browser)));
    if (sender === undefined || receiver === undefined) throw new Error('two offscreen documents expected');
    sockets.push(sender.socket, receiver.socket);
    const [senderBrowser, receiverBrowser] = browsers as [FerryBrowser, FerryBrowser];
    return await connectRawDataChannel(sender.evaluate, receiver.evaluate, [senderBrowser.pid, receiverBrowser.pid], close);
  } catch (error) {
    await close();
    throw error;
  }
}
