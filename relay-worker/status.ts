/**
 * @module status
 * What a volunteer's UI shows. Wording is honest on purpose: volunteers who see "connecting" and never "connected"
 * think the product is broken, while in fact supply often exceeds demand and they are simply waiting.
 */

export type RelayState =
  /** Starting: the first connection to the broker is being made. */
  | 'connecting'
  /** Connected to the broker, waiting for someone who needs help. */
  | 'waiting'
  /** Relaying for at least one person right now. */
  | 'relaying'
  /** The broker cannot be reached; retrying with growing delays. */
  | 'broker-unreachable'
  /** Not relaying and not connected; start() was not called or stop() was. */
  | 'stopped';

export interface RelayStatus {
  state: RelayState;
  /** People whose data channel is open right now. */
  clientsNow: number;
  /** People helped since this worker was created (data channel opened). */
  clientsTotal: number;
  /** Bytes passed from clients to exits since this worker was created. */
  bytesClientToExit: number;
  /** Bytes passed from exits to clients since this worker was created. */
  bytesExitToClient: number;
  /** The most recent problem, in words a volunteer can act on. */
  lastError?: string;
}

/** Default wording for each state, for UIs that have no translation of their own. */
export const RELAY_STATE_WORDING: Readonly<Record<RelayState, string>> = {
  connecting: 'Connecting to the Ferry network…',
  waiting: 'Waiting for someone who needs help',
  relaying: 'Helping someone connect right now',
  'broker-unreachable': 'Cannot reach the Ferry network; retrying',
  stopped: 'Not helping (turned off)',
};
