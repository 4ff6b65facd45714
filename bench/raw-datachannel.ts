/**
 * @module bench/raw-datachannel
 * The baseline: raw RTCDataChannel throughput between two Chromium processes on this machine, with the plain
 * standard API (no extension, no protocol). Everything else is reported as a ratio to this figure.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { FerryBrowser } from '../harness/chromium.ts';

const PAGE = `<!doctype html><meta charset="utf-8"><title>bench</title><script>
window.pc = new RTCPeerConnection({ iceServers: [] });
window.waitForGathering = () => new Promise((resolve) => {
  if (pc.iceGatheringState === 'complete') return resolve();
  pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
});
</script>`;

/** The page-side code, as strings evaluated by Playwright (kept here so both browsers run the same thing). */
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

export interface RawDataChannelResult {
  bytes: number;
  seconds: number;
  megabytesPerSecond: number;
}

async function waitForReceived(page: Page, bytes: number, timeoutMs: number): Promise<void> {
  await page.waitForFunction(`window.received >= ${bytes}`, undefined, { timeout: timeoutMs, polling: 20 });
}

/** Sends `totalBytes` in `messageBytes` messages from one Chromium process to another. */
export async function measureRawDataChannel(totalBytes = 64 * 1024 * 1024, messageBytes = 64 * 1024): Promise<RawDataChannelResult> {
  const server = createServer((_, response) => response.writeHead(200, { 'content-type': 'text/html' }).end(PAGE));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browsers: FerryBrowser[] = [];
  try {
    const extraArgs = ['--disable-features=WebRtcHideLocalIpsWithMdns'];
    const [sender, receiver] = await Promise.all([FerryBrowser.launch({ headless: true, extraArgs }), FerryBrowser.launch({ headless: true, extraArgs })]);
    browsers.push(sender, receiver);
    const senderPage = await sender.context.newPage();
    const receiverPage = await receiver.context.newPage();
    await Promise.all([senderPage.goto(url), receiverPage.goto(url)]);
    const offer = (await senderPage.evaluate(OFFER)) as string;
    const answer = (await receiverPage.evaluate(answerScript(offer))) as string;
    await senderPage.evaluate(`pc.setRemoteDescription(${answer})`);
    // Warm up (SCTP slow start, JIT), then measure.
    const warmup = 4 * 1024 * 1024;
    await senderPage.evaluate(sendScript(warmup, messageBytes));
    await waitForReceived(receiverPage, warmup, 60_000);
    const started = performance.now();
    await senderPage.evaluate(sendScript(totalBytes, messageBytes));
    await waitForReceived(receiverPage, warmup + totalBytes, 300_000);
    const seconds = (performance.now() - started) / 1000;
    return { bytes: totalBytes, seconds, megabytesPerSecond: totalBytes / 1e6 / seconds };
  } finally {
    await Promise.all(browsers.map((browser) => browser.close()));
    await new Promise((resolve) => server.close(resolve));
  }
}
