/**
 * @module dial-with-timeout
 * The part of a proxied CONNECT that both front ends share: dial through the tunnel, give up after a time-out, and
 * abort the dial if the local client goes away meanwhile.
 *
 * While dialing, the client socket keeps being read (bytes are held, up to MAX_BYTES_HELD_WHILE_DIALING), because a
 * paused socket would never tell us that its peer left. A client whose side ends (FIN) before it got the CONNECT
 * reply is taken to have given up: real SOCKS5 and HTTP clients wait for the reply before they finish sending.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { DialTarget, TunnelDialer } from './tunnel-dialer.ts';
import { DialError, SOCKS_REPLY, toDialError } from './tunnel-dialer.ts';

/** Bytes a client may send before its CONNECT reply that we hold for the target; past this the socket is paused. */
export const MAX_BYTES_HELD_WHILE_DIALING = 64 * 1024;

export interface DialedStream {
  tunnel: Duplex;
  /** What the client sent while we dialed; write it to `tunnel` before splicing. */
  heldData: Buffer;
}

/**
 * Resolves with the tunnel stream, or rejects with a DialError: the dialer's own, one with reply code 6 (TTL expired)
 * after `dialTimeoutMs`, or code 'CLIENT_GONE' when `client` ended or closed first. Rejects at once on time-out or
 * client loss even if the dialer ignores its AbortSignal; a stream it delivers later is destroyed. On success the
 * client socket is left paused, so no byte is lost before the caller pipes it.
 */
export function dialWithTimeout(dialer: TunnelDialer, target: DialTarget, dialTimeoutMs: number, client: Socket): Promise<DialedStream> {
  const abort = new AbortController();
  const held: Buffer[] = [];
  let heldBytes = 0;
  const onClientData = (chunk: Buffer): void => {
    held.push(chunk);
    heldBytes += chunk.length;
    if (heldBytes >= MAX_BYTES_HELD_WHILE_DIALING) client.pause();
  };
  const onClientGone = (): void => {
    abort.abort(new DialError(SOCKS_REPLY.generalFailure, 'the local client disconnected while dialing', 'CLIENT_GONE'));
  };
  const timer = setTimeout(() => {
    abort.abort(new DialError(SOCKS_REPLY.ttlExpired, `the tunnel did not open ${target.host}:${target.port} within ${dialTimeoutMs} ms`, 'DIAL_TIMEOUT'));
  }, dialTimeoutMs);
  client.pause();
  client.on('data', onClientData);
  client.once('end', onClientGone);
  client.once('close', onClientGone);
  client.resume();
  const stopWatchingClient = (): void => {
    clearTimeout(timer);
    client.pause();
    client.off('data', onClientData);
    client.off('end', onClientGone);
    client.off('close', onClientGone);
  };
  return new Promise<DialedStream>((resolve, reject) => {
    const onAbort = (): void => {
      stopWatchingClient();
      reject(toDialError(abort.signal.reason));
    };
    if (client.destroyed) onClientGone();
    if (abort.signal.aborted) return onAbort();
    abort.signal.addEventListener('abort', onAbort, { once: true });
    let dialing: Promise<Duplex>;
    try {
      dialing = dialer.dial(target, abort.signal);
    } catch (error) {
      dialing = Promise.reject(error);
    }
    dialing.then(
      (tunnel) => {
        if (abort.signal.aborted) {
          tunnel.destroy();
          return;
        }
        abort.signal.removeEventListener('abort', onAbort);
        stopWatchingClient();
        resolve({ tunnel, heldData: Buffer.concat(held) });
      },
      (error: unknown) => {
        if (abort.signal.aborted) return; // already rejected with the abort's reason
        abort.signal.removeEventListener('abort', onAbort);
        stopWatchingClient();
        reject(toDialError(error));
      },
    );
  });
}
