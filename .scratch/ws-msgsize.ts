// Scratch: Chromium's CPU per MiB received over a loopback WebSocket, by message size (both directions).
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';
import { WebSocketServer } from 'ws';
import { readProcessTreeCpuSeconds } from '../bench/process-stats.ts';

const TOTAL = 256 * 1024 * 1024;
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 1 << 20 });
await new Promise((r) => wss.once('listening', r));
const port = (wss.address() as { port: number }).port;
let mode: { size: number; dir: 'down' | 'up' } = { size: 65536, dir: 'down' };
wss.on('connection', (ws) => {
  if (mode.dir === 'up') { let got = 0; ws.on('message', (d: Buffer) => { got += d.length; if (got >= TOTAL) ws.send('done'); }); return; }
  const chunk = Buffer.alloc(mode.size, 7);
  let sent = 0;
  const pump = () => {
    while (sent < TOTAL && ws.bufferedAmount < 4 * 1024 * 1024) { ws.send(chunk); sent += chunk.length; }
    if (sent < TOTAL) setTimeout(pump, 1);
  };
  pump();
});
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage();
const pid = (browser as unknown as { process?: () => { pid: number } }).process?.()?.pid;
// find chromium root pid: parent is this node process
const { execSync } = await import('node:child_process');
const root = Number(execSync(`pgrep -P ${process.pid} -f chromium | head -1`).toString().trim());
for (let round = 0; round < 3; round++) {
  for (const dir of ['down', 'up'] as const) for (const size of [65536, 262144 - 64]) {
    mode = { size, dir };
    const cpu0 = readProcessTreeCpuSeconds(root);
    const t0 = performance.now();
    await page.evaluate(async ({ port, total, dir, size }) => new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`);
      ws.binaryType = 'arraybuffer';
      let got = 0;
      ws.onmessage = (e) => { if (typeof e.data === 'string') { ws.close(); resolve(); return; } got += (e.data as ArrayBuffer).byteLength; if (got >= total) { ws.close(); resolve(); } };
      if (dir === 'up') ws.onopen = async () => { const c = new Uint8Array(size); let sent = 0; while (sent < total) { while (ws.bufferedAmount > 4 * 1024 * 1024) await new Promise((r) => setTimeout(r, 1)); ws.send(c); sent += size; } };
    }), { port, total: TOTAL, dir, size });
    const s = (performance.now() - t0) / 1000;
    const cpu = readProcessTreeCpuSeconds(root) - cpu0;
    console.log(`${dir} ${size}: ${(TOTAL / s / 1e6).toFixed(0)} MB/s, chromium ${(cpu * 1000 / 256).toFixed(1)} CPU ms/MiB`);
  }
}
await browser.close();
wss.close();
process.exit(0);
