// A download through a SOCKS5 proxy whose progress a test can watch (to act in the middle of it): the `socks`
// package opens the tunnel, then a plain HTTP/1.1 GET; the body's SHA-256 and the longest pause are measured.
import { createHash } from 'node:crypto';
import { SocksClient } from 'socks';

export interface SocksDownload {
  /** Body bytes received so far. */
  readonly received: () => number;
  /** Resolves when the body is complete, or rejects with the error that ended it. */
  readonly done: Promise<{ sha256: string; bytes: number; longestStallMs: number }>;
}

export async function startSocksDownload(socksPort: number, host: string, port: number, path: string): Promise<SocksDownload> {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port: socksPort, type: 5 },
    command: 'connect',
    destination: { host, port },
    timeout: 30_000,
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
  const hash = createHash('sha256');
  let header = Buffer.alloc(0);
  let inBody = false;
  let bodyBytes = 0;
  let lastDataAt = performance.now();
  let longestStallMs = 0;
  const done = new Promise<{ sha256: string; bytes: number; longestStallMs: number }>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      const now = performance.now();
      longestStallMs = Math.max(longestStallMs, now - lastDataAt);
      lastDataAt = now;
      if (inBody) {
        hash.update(chunk);
        bodyBytes += chunk.length;
        return;
      }
      header = Buffer.concat([header, chunk]);
      const end = header.indexOf('\r\n\r\n');
      if (end < 0) return;
      inBody = true;
      const body = header.subarray(end + 4);
      hash.update(body);
      bodyBytes += body.length;
    });
    socket.on('end', () => resolve({ sha256: hash.digest('hex'), bytes: bodyBytes, longestStallMs }));
    socket.on('error', reject);
  });
  return { received: () => bodyBytes, done };
}
