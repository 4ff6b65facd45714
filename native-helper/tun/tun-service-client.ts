/**
 * @module tun/tun-service-client
 * The helper's side of the privileged service's socket: one request, one answer, bounded in time. A service that is
 * not there (not installed, not running) is a TunServiceUnavailableError saying how to install it.
 */
import { connect } from 'node:net';
import type { TunServiceReply, TunServiceRequest } from './tun-service-protocol.ts';

/** Longest wait for an answer (ms): `up` runs a dozen ip and nft commands. */
export const TUN_SERVICE_REPLY_TIMEOUT_MS = 30_000;
/** Longest answer accepted (bytes). */
const MAX_REPLY_BYTES = 64 * 1024;

export class TunServiceUnavailableError extends Error {
  override readonly name = 'TunServiceUnavailableError';
  readonly code = 'TUN_SERVICE_UNAVAILABLE';
}

export function askTunService(socketPath: string, request: TunServiceRequest, timeoutMs = TUN_SERVICE_REPLY_TIMEOUT_MS): Promise<TunServiceReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TunServiceUnavailableError(`the whole-device service at ${socketPath} did not answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (text: string) => {
      answer += text;
      const end = answer.indexOf('\n');
      if (end === -1 && answer.length <= MAX_REPLY_BYTES) return;
      clearTimeout(timer);
      socket.destroy();
      try {
        resolve(JSON.parse(answer.slice(0, end === -1 ? undefined : end)) as TunServiceReply);
      } catch {
        reject(new TunServiceUnavailableError(`the whole-device service at ${socketPath} answered something that is not JSON`));
      }
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why =
        error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
          ? 'is not running: install it once with "sudo ferry helper --install-service --user YOU"'
          : error.code === 'EACCES'
            ? 'belongs to another user'
            : `cannot be reached (${error.message})`;
      reject(new TunServiceUnavailableError(`the whole-device service at ${socketPath} ${why}`));
    });
  });
}
