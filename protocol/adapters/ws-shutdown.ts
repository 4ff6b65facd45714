/**
 * @module adapters/ws-shutdown
 * Closing a Node `ws` WebSocket on shutdown: politely, so what was sent last (a GOAWAY, an error message) reaches the
 * peer, and for sure, cut after a grace period if the peer never finishes the close handshake. The broker and the
 * exit both use it.
 */
import type { WebSocket } from 'ws';

/** Closes `socket` with `code` and `reason` (unless it is closing already); resolves once closed, cutting it after graceMs. */
export function closeOrCut(socket: WebSocket, code: number, reason: string, graceMs: number): Promise<void> {
  if (socket.readyState === socket.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => socket.terminate(), graceMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (socket.readyState === socket.OPEN) socket.close(code, reason);
  });
}
