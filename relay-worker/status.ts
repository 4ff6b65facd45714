/**
 * @module status
 * What a volunteer's UI shows: the status contract is protocol/relay-status.ts; this adds its default wording.
 */
import type { RelayState } from '../protocol/relay-status.ts';

/** Default wording for each state, for UIs that have no translation of their own. */
export const RELAY_STATE_WORDING: Readonly<Record<RelayState, string>> = {
  connecting: 'Connecting to the Ferry network…',
  waiting: 'Waiting for someone who needs help',
  relaying: 'Helping someone connect right now',
  'broker-unreachable': 'Cannot reach the Ferry network; retrying',
  stopped: 'Not helping (turned off)',
};
