/**
 * @module exit-allowlist
 * A volunteer relays only to the network's own exits. Otherwise a broker, or anyone who can send it an offer, could
 * aim thousands of volunteers at any host. An offered exit must match an exit of the broker's welcome list in id, url
 * and publicKey, and its URL must be ws: or wss:.
 */
import type { ExitInfo } from '../protocol/signaling.ts';

export type ExitRefusalCode = 'EXIT_NOT_LISTED' | 'EXIT_URL_INVALID' | 'EXIT_URL_NOT_WEBSOCKET';

/** The offered exit may not be dialled; the message is short enough to send to the broker as a decline reason. */
export class ExitRefusedError extends Error {
  override readonly name = 'ExitRefusedError';
  constructor(
    readonly code: ExitRefusalCode,
    message: string,
  ) {
    super(message);
  }
}

/** Returns the URL to dial for `offered`, or throws ExitRefusedError. */
export function verifyOfferedExit(offered: ExitInfo, allowlist: readonly ExitInfo[]): URL {
  const listed = allowlist.some((exit) => exit.id === offered.id && exit.url === offered.url && exit.publicKey === offered.publicKey);
  if (!listed) {
    throw new ExitRefusedError('EXIT_NOT_LISTED', `exit "${offered.id.slice(0, 64)}" is not on the broker's exit list`);
  }
  let url: URL;
  try {
    url = new URL(offered.url);
  } catch {
    throw new ExitRefusedError('EXIT_URL_INVALID', `exit "${offered.id.slice(0, 64)}" has no valid URL`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ExitRefusedError('EXIT_URL_NOT_WEBSOCKET', `exit URLs must be ws: or wss:, not ${url.protocol.slice(0, 16)}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ExitRefusedError('EXIT_URL_INVALID', 'exit URLs may not carry credentials');
  }
  return url;
}
