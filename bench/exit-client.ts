/**
 * @module bench/exit-client
 * Client sessions to an exit as a volunteer would carry them: one WebSocket per session from the volunteer's source
 * address, a ClientSession (Noise NK HELLO, WELCOME, then sealed records and heartbeats) with node:crypto's
 * ChaCha20-Poly1305, as the native helper runs it. Opening many at once gives idle sessions; a stream on one moves
 * bytes to or from an origin.
 */
import { WebSocket } from 'ws';
import { nodeChaCha20Poly1305 } from '../protocol/adapters/node-aead.ts';
import { ClientSession, fromBase64Url, type MuxStream } from '../protocol/index.ts';
import type { SourceAddresses } from './source-addresses.ts';

export interface ExitTarget {
  /** ws://HOST:PORT/v1/relay */
  url: string;
  /** The exit's public key (base64url). */
  publicKey: string;
}

export interface OpenSession {
  session: ClientSession;
  socket: WebSocket;
  /** Ends the session (GOAWAY) and closes its socket with a close handshake, so the exit frees it at once. */
  close(): void;
}

/** Opens one session from `localAddress` and resolves once the exit has welcomed it (or rejects). */
export async function openExitSession(exit: ExitTarget, localAddress: string, timeoutMs: number): Promise<OpenSession> {
  const socket = new WebSocket(exit.url, { localAddress, perMessageDeflate: false, handshakeTimeout: timeoutMs });
  socket.binaryType = 'nodebuffer';
  const close = (): void => {
    session.close();
    if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
    else socket.close(1000);
  };
  const session = new ClientSession({
    exitPublicKey: fromBase64Url(exit.publicKey),
    aead: nodeChaCha20Poly1305,
    sendRecord: (record) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(record);
    },
  });
  socket.on('error', () => {});
  socket.on('message', (data: Buffer) => session.receiveRecord(new Uint8Array(data.buffer, data.byteOffset, data.length)));
  socket.on('close', () => session.transportLost('the bench closed the socket'));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no WELCOME within ${timeoutMs} ms`)), timeoutMs);
      socket.once('open', () => {
        session.start();
        session.whenOpen().then(resolve, reject);
      });
      socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
      socket.once('error', reject);
    });
  } catch (error) {
    close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return { session, socket, close };
}

/**
 * Opens `count` sessions, `perAddress` per source address (under the exit's per-address path and handshake limits),
 * at most `concurrency` handshakes at a time. Failures are counted by message, not thrown.
 */
export async function openExitSessions(
  exit: ExitTarget,
  options: { count: number; perAddress: number; concurrency: number; addresses: SourceAddresses; timeoutMs: number },
): Promise<{ sessions: OpenSession[]; failed: Map<string, number> }> {
  const addressOf = options.addresses.takeShared(options.count, options.perAddress);
  const sessions: OpenSession[] = [];
  const failed = new Map<string, number>();
  let next = 0;
  const openOne = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      if (index >= options.count) return;
      try {
        sessions.push(await openExitSession(exit, addressOf(index), options.timeoutMs));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        failed.set(reason, (failed.get(reason) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, openOne));
  return { sessions, failed };
}

/** Reads a stream to its end, granting credit for every byte at once; resolves with the bytes read. */
export function drainStream(stream: MuxStream): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    stream.ondata = (chunk) => {
      bytes += chunk.length;
      stream.consumed(chunk.length);
    };
    stream.onend = () => resolve(bytes);
    stream.onclose = (error) => {
      if (error) reject(error);
      else resolve(bytes);
    };
  });
}

/** Writes `totalBytes` (copies of `chunk`) into a stream as fast as its credit allows, then ends it. */
export function fillStream(stream: MuxStream, chunk: Uint8Array, totalBytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let left = totalBytes;
    stream.onclose = (error) => {
      if (error) reject(error);
    };
    const pump = (): void => {
      while (left > 0) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        if (!stream.write(piece)) {
          stream.ondrain = pump;
          return;
        }
      }
      stream.end();
      resolve();
    };
    if (stream.isOpen) pump();
    else stream.onopen = pump;
  });
}
