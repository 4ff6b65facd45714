/**
 * @module status-words
 * The one-line status of a page volunteer (tab, widget), in the relay core's wording.
 */
import type { RelayStatus } from '../protocol/relay-status.ts';
import { RELAY_STATE_WORDING, secondsUntil } from '../relay-worker/status.ts';

/** `now` (ms since the epoch) counts down the broker's retry. */
export function pageStatusText(status: RelayStatus | undefined, now = Date.now()): string {
  if (status === undefined) return RELAY_STATE_WORDING.stopped;
  if (status.state === 'broker-unreachable' && status.retryAt !== undefined)
    return `Cannot reach the Ferry network; retrying in ${secondsUntil(status.retryAt, now)} s`;
  if (status.state === 'relaying') return status.clientsNow === 1 ? 'Helping 1 person right now' : `Helping ${status.clientsNow} people right now`;
  return RELAY_STATE_WORDING[status.state];
}
