/**
 * @module status-words
 * The one-line status of a page volunteer (tab, widget), in the relay core's wording.
 */
import type { RelayStatus } from '../protocol/relay-status.ts';
import { RELAY_STATE_WORDING } from '../relay-worker/status.ts';

export function pageStatusText(status: RelayStatus | undefined): string {
  if (status === undefined) return RELAY_STATE_WORDING.stopped;
  if (status.state === 'relaying') return status.clientsNow === 1 ? 'Helping 1 person right now' : `Helping ${status.clientsNow} people right now`;
  return RELAY_STATE_WORDING[status.state];
}
