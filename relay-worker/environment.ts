/**
 * @module environment
 * What the relay core needs from its runtime, injected so that one core runs unchanged in the extension's offscreen
 * document, a plain tab, an embeddable widget and headless Node. Both factories return the standard web API objects;
 * the adapters (browser.ts, node.ts) are the only files that know where those come from.
 */

export interface RelayEnvironment {
  /** A standard WebRTC peer connection. */
  createPeerConnection(config: RTCConfiguration): RTCPeerConnection;
  /** A standard WebSocket, already connecting to `url`. May throw (SyntaxError) for a URL it cannot use. */
  createWebSocket(url: string): WebSocket;
  /** The standard fetch (the NAT probe's one request). */
  fetch: typeof fetch;
}

/** The standard value of WebSocket.OPEN; a constant so the core needs no WebSocket global to compare readyState. */
export const WEBSOCKET_OPEN = 1;

/** The runtime lacks an API the relay needs; the message says where the relay can run instead. */
export class RelayEnvironmentError extends Error {
  override readonly name = 'RelayEnvironmentError';
  readonly code = 'RELAY_ENVIRONMENT_UNSUPPORTED';
}
