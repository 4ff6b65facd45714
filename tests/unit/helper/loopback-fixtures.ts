/**
 * Shared fixtures for the helper tests: a real HTTP origin on loopback and a raw TCP client that reads exact byte
 * counts, within a bound. Everything here closes what it opens.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { withTimeout } from '../../../harness/wait.ts';

export interface OriginServer {
  port: number;
  close(): Promise<void>;
}

/** An HTTP origin answering `origin says hello to <path>` on `host` (127.0.0.1 or ::1). */
export async function startOrigin(host: '127.0.0.1' | '::1'): Promise<OriginServer> {
  const server = http.createServer((req, res) => {
    const body = `origin says hello to ${req.url}`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A TCP origin that echoes every byte, and after the client's FIN sends "bye" and ends (tests half-close). */
export async function startEchoOrigin(): Promise<OriginServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('end', () => socket.end('bye'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 with nothing listening (bound then released). */
export async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A raw TCP client that collects everything it receives, for byte-exact protocol checks. */
export class RawClient {
  private received = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  /** Resolves when the server has finished sending (FIN) or the connection closed. */
  readonly ended: Promise<void>;
  private hasEnded = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake();
    });
    socket.on('error', () => {});
    this.ended = new Promise((resolve) => {
      const onEnd = (): void => {
        this.hasEnded = true;
        this.wake();
        resolve();
      };
      socket.once('end', onEnd);
      socket.once('close', onEnd);
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  write(bytes: Uint8Array | string): void {
    this.socket.write(bytes);
  }

  /** Resolves with exactly `count` bytes (removed from the buffer), or rejects if the socket closes first. */
  async read(count: number, ms = 5_000): Promise<Buffer> {
    await withTimeout(
      this.until(() => this.received.length >= count || this.hasEnded),
      `${count} bytes`,
      ms,
    );
    if (this.received.length < count) throw new Error(`the server closed the connection after ${this.received.length} of ${count} bytes`);
    const bytes = this.received.subarray(0, count);
    this.received = this.received.subarray(count);
    return bytes;
  }

  /** Everything received until the server closes the connection. */
  async readToClose(ms = 5_000): Promise<Buffer> {
    await withTimeout(this.ended, 'the server to close the connection', ms);
    const bytes = this.received;
    this.received = Buffer.alloc(0);
    return bytes;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private until(ready: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (ready()) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
