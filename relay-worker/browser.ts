/**
 * @module browser
 * The browser adapter: the standard RTCPeerConnection and WebSocket of the page, offscreen document or widget.
 */
import { type RelayEnvironment, RelayEnvironmentError } from './environment.ts';

export function browserRelayEnvironment(): RelayEnvironment {
  const PeerConnection = globalThis.RTCPeerConnection as typeof RTCPeerConnection | undefined;
  const Socket = globalThis.WebSocket as typeof WebSocket | undefined;
  if (typeof PeerConnection !== 'function') {
    throw new RelayEnvironmentError(
      'this context has no RTCPeerConnection: an extension must relay from its offscreen document (or a page), not its service worker',
    );
  }
  if (typeof Socket !== 'function') throw new RelayEnvironmentError('this context has no WebSocket');
  return {
    createPeerConnection: (config) => new PeerConnection(config),
    createWebSocket: (url) => new Socket(url),
    fetch: (input, init) => globalThis.fetch(input, init),
  };
}
