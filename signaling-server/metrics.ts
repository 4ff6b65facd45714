/**
 * @module broker-metrics
 * Counters of what the broker did, and the snapshot of them and the store's counts that /metrics shows
 * (prometheus.ts). Counts only: no addresses, no ids.
 */
import { Histogram } from 'prom-client';
import type { VolunteerStoreCounts } from './store.ts';

/** Upper bounds of the client-wait histogram's buckets (seconds): a match takes milliseconds, a client waits at most 5 s. */
export const CLIENT_WAIT_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5] as const;

/** How a client's wait ended, as the client-wait histogram labels it. */
export type ClientWaitOutcome = 'answered' | 'no_volunteers' | 'timed_out' | 'gone';

/**
 * How long clients waited, from their complete request to the broker's reply, by outcome: the queue's effect shows
 * here. A prom-client histogram (registered in this broker's own registry by prometheus.ts): one bucket search per
 * client, not per scrape.
 */
export function createClientWaitHistogram(): Histogram<'outcome'> {
  return new Histogram({
    name: 'ferry_broker_client_wait_seconds',
    help: 'Time from a client request being complete to its answer or refusal, by outcome.',
    labelNames: ['outcome'],
    buckets: [...CLIENT_WAIT_BUCKETS_S],
    registers: [],
  });
}

/** Event counters since the broker started. Plain fields, bumped by the parts of the broker that see the events. */
export class BrokerCounters {
  /** Observed once per client whose request was complete; not a plain field, so prometheus.ts registers it as is. */
  readonly clientWaitSeconds = createClientWaitHistogram();
  /** POST /v1/client requests received. */
  clientRequests = 0;
  /** Clients that got an answer. */
  matches = 0;
  /** Clients that got 504 TIMED_OUT. */
  timeouts = 0;
  /** Clients that got 503 NO_VOLUNTEERS. */
  noVolunteers = 0;
  /** Client requests refused as malformed: BAD_REQUEST, BODY_TOO_LARGE, UNKNOWN_EXIT. */
  badRequests = 0;
  /** Offers a volunteer declined. */
  declines = 0;
  /** Offers a volunteer left unanswered for its whole volunteerAnswerTimeoutMs (the client moved on). */
  volunteerAnswerTimeouts = 0;
  /** Offers sent to a second or later volunteer for the same client, after a decline, a timeout or a disconnect. */
  offerFallbacks = 0;
  /** Volunteers disconnected after maxConsecutiveAnswerFailures timeouts or declines in a row. */
  volunteersBenched = 0;
  /** Client requests and volunteer sockets refused with 429: one address asked too much or too fast. */
  rateLimited = 0;
  /** Volunteer sockets closed for breaking the protocol (bad JSON or shape, binary, oversize, no hello). */
  volunteerProtocolErrors = 0;
  /** Clients that had to wait in the queue for a volunteer to free up (each time they joined it). */
  clientsQueued = 0;
}

export interface BrokerMetricsSnapshot {
  volunteersConnected: number;
  volunteerSlotsFree: number;
  volunteerSlotsReserved: number;
  clientsPending: number;
  /** Of clientsPending, those queued until a volunteer frees up. */
  clientsWaiting: number;
  clientsQueuedTotal: number;
  clientRequestsTotal: number;
  matchesTotal: number;
  timeoutsTotal: number;
  noVolunteersTotal: number;
  badRequestsTotal: number;
  declinesTotal: number;
  volunteerAnswerTimeoutsTotal: number;
  offerFallbacksTotal: number;
  volunteersBenchedTotal: number;
  rateLimitedTotal: number;
  volunteerProtocolErrorsTotal: number;
}

export function snapshotMetrics(
  counters: BrokerCounters,
  storeCounts: VolunteerStoreCounts,
  clientsPending: number,
  clientsWaiting: number,
): BrokerMetricsSnapshot {
  return {
    volunteersConnected: storeCounts.volunteers,
    volunteerSlotsFree: storeCounts.freeSlots,
    volunteerSlotsReserved: storeCounts.reservedSlots,
    clientsPending,
    clientsWaiting,
    clientsQueuedTotal: counters.clientsQueued,
    clientRequestsTotal: counters.clientRequests,
    matchesTotal: counters.matches,
    timeoutsTotal: counters.timeouts,
    noVolunteersTotal: counters.noVolunteers,
    badRequestsTotal: counters.badRequests,
    declinesTotal: counters.declines,
    volunteerAnswerTimeoutsTotal: counters.volunteerAnswerTimeouts,
    offerFallbacksTotal: counters.offerFallbacks,
    volunteersBenchedTotal: counters.volunteersBenched,
    rateLimitedTotal: counters.rateLimited,
    volunteerProtocolErrorsTotal: counters.volunteerProtocolErrors,
  };
}
