/**
 * @module bench/raw-datachannel
 * The baseline: raw RTCDataChannel throughput between two Chromium processes on this machine, with the plain
 * standard API (no extension, no protocol). Everything else is reported as a ratio to this figure.
 *
 * The same transfer runs in two kinds of document, through one `evaluate` function each: plain web pages (here), and
 * the Ferry extension's offscreen documents (bench/extension-datachannel.ts), which is where Ferry's own data channels
 * live. A pair stays open across rounds, so the bench can alternate raw and Ferry transfers.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FerryBrowser } from '../harness/chromium.ts';

/** Chromium's flags for both ends: host candidates with real loopback addresses, not mDNS names, so ICE connects here. */
export const RAW_DATACHANNEL_CHROMIUM_ARGS = ['--disable-features=WebRtcHideLocalIpsWithMdns'];

/** Defines `pc` and `waitForGathering` in a document (a plain page's script, or evaluated in an offscreen document). */
export const SETUP_SCRIPT = `
window.pc = new RTCPeerConnection({ iceServers: [] });
window.waitForGathering = () => new Promise((resolve) => {
  if (pc.iceGatheringState === 'complete') return resolve();
  pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
});
`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>bench</title><script>${SETUP_SCRIPT}</script>`;

/** The document-side code, as strings evaluated in each document (so every kind of document runs the same thing). */
const OFFER = `(async () => {
  window.dc = pc.createDataChannel('bench', { ordered: true });
  dc.binaryType = 'arraybuffer';
  await pc.setLocalDescription(await pc.createOffer());
  await waitForGathering();
  return JSON.stringify(pc.localDescription);
})()`;

const answerScript = (offer: string): string => `(async () => {
  window.received = 0;
  pc.ondatachannel = (event) => {
    const channel = event.channel;
    channel.binaryType = 'arraybuffer';
    channel.onmessage = (message) => { window.received += message.data.byteLength; };
  };
  await pc.setRemoteDescription(${offer});
  await pc.setLocalDescription(await pc.createAnswer());
  await waitForGathering();
  return JSON.stringify(pc.localDescription);
})()`;

const sendScript = (totalBytes: number, messageBytes: number): string => `(async () => {
  if (dc.readyState !== 'open') await new Promise((resolve) => (dc.onopen = resolve));
  const chunk = new Uint8Array(${messageBytes});
  dc.bufferedAmountLowThreshold = 1 << 20;
  let sent = 0;
  while (sent < ${totalBytes}) {
    if (dc.bufferedAmount > (4 << 20)) await new Promise((resolve) => (dc.onbufferedamountlow = resolve));
    dc.send(chunk);
    sent += ${messageBytes};
  }
})()`;

/** Resolves (in the receiving document) once `bytes` have arrived in all, or rejects after `timeoutMs`. */
const receivedScript = (bytes: number, timeoutMs: number): string => `new Promise((resolve, reject) => {
  const deadline = performance.now() + ${timeoutMs};
  const check = () => {
    if (window.received >= ${bytes}) return resolve(window.received);
    if (performance.now() > deadline) return reject(new Error('only ' + window.received + ' of ${bytes} bytes arrived'));
    setTimeout(check, 10);
  };
  check();
})`;

/** Runs a script in one document and returns its (awaited, JSON-able) value. */
export type EvaluateInDocument = (expression: string) => Promise<unknown>;

export interface RawDataChannelResult {
  bytes: number;
  seconds: number;
  megabytesPerSecond: number;
}

/** Two documents joined by one open data channel; `measure` may be called any number of times. */
export interface RawDataChannelPair {
  measure(totalBytes: number): Promise<RawDataChannelResult>;
  /** The sending and the receiving browser's processes (each the root of its tree), for CPU readings. */
  readonly browserPids: readonly [number, number];
  close(): Promise<void>;
}

/** Bytes sent once before the first measurement: SCTP's slow start and the JIT are not what is measured. */
const WARMUP_BYTES = 4 * 1024 * 1024;
/** The message size: what Ferry's records are at most is larger, but 64 KiB is the portable data-channel limit. */
const MESSAGE_BYTES = 64 * 1024;
/** Longest one measured transfer may take. */
const TRANSFER_TIMEOUT_MS = 300_000;

/** Joins `sender` to `receiver` by a data channel, warms it up, and returns a pair that measures transfers. */
export async function connectRawDataChannel(
  sender: EvaluateInDocument,
  receiver: EvaluateInDocument,
  browserPids: readonly [number, number],
  close: () => Promise<void>,
): Promise<RawDataChannelPair> {
  const offer = (await sender(OFFER)) as string;
  const answer = (await receiver(answerScript(offer))) as string;
  await sender(`pc.setRemoteDescription(${answer})`);
  let receivedInAll = 0;
  const transfer = async (bytes: number): Promise<number> => {
    const started = performance.now();
    await sender(sendScript(bytes, MESSAGE_BYTES));
    receivedInAll += bytes;
    await receiver(receivedScript(receivedInAll, TRANSFER_TIMEOUT_MS));
    return (performance.now() - started) / 1000;
  };
  await transfer(WARMUP_BYTES);
  return {
    measure: async (totalBytes) => {
      const seconds = await transfer(totalBytes);
      return { bytes: totalBytes, seconds, megabytesPerSecond: totalBytes / 1e6 / seconds };
    },
    browserPids,
    close,
  };
}

/** Two plain Chromium processes (no extension), each with one plain web page, joined by a data channel. */
export async function openPlainPagePair(): Promise<RawDataChannelPair> {
  const server = createServer((_, response) => response.writeHead(200, { 'content-type': 'text/html' }).end(PAGE));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browsers: FerryBrowser[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(browsers.map((browser) => browser.close()));
    await new Promise((resolve) => server.close(resolve));
  };
  try {
    const extraArgs = RAW_DATACHANNEL_CHROMIUM_ARGS;
    const [sender, receiver] = await Promise.all([FerryBrowser.launch({ headless: true, extraArgs }), FerryBrowser.launch({ headless: true, extraArgs })]);
    browsers.push(sender, receiver);
    const senderPage = await sender.context.newPage();
    const receiverPage = await receiver.context.newPage();
    await Promise.all([senderPage.goto(url), receiverPage.goto(url)]);
    return await connectRawDataChannel(
      (expression) => senderPage.evaluate(expression),
      (expression) => receiverPage.evaluate(expression),
      [sender.pid, receiver.pid],
      close,
    );
  } catch (error) {
    await close();
    throw error;
  }
}
