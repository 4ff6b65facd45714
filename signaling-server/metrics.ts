/**
 * @module broker-metrics
 * Counters of what the broker did, and their Prometheus text rendering. Counts only: no addresses, no ids.
 */
import type { VolunteerStoreCounts } from './store.ts';

/** Event counters since the broker started. Plain fields, bumped by the parts of the broker that see the events. */
export class BrokerCounters {
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
}

export interface BrokerMetricsSnapshot {
  volunteersConnected: number;
  volunteerSlotsFree: number;
  volunteerSlotsReserved: number;
  clientsPending: number;
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

export function snapshotMetrics(counters: BrokerCounters, storeCounts: VolunteerStoreCounts, clientsPending: number): BrokerMetricsSnapshot {
  return {
    volunteersConnected: storeCounts.volunteers,
    volunteerSlotsFree: storeCounts.freeSlots,
    volunteerSlotsReserved: storeCounts.reservedSlots,
    clientsPending,
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

interface MetricLine {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  value: number;
}

/** Prometheus text exposition format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function renderPrometheus(snapshot: BrokerMetricsSnapshot): string {
  const lines: MetricLine[] = [
    { name: 'ferry_broker_volunteers_connected', type: 'gauge', help: 'Volunteers connected that said hello.', value: snapshot.volunteersConnected },
    {
      name: 'ferry_broker_volunteer_slots_free',
      type: 'gauge',
      help: 'Free volunteer slots, not counting offers in flight.',
      value: snapshot.volunteerSlotsFree,
    },
    {
      name: 'ferry_broker_volunteer_slots_reserved',
      type: 'gauge',
      help: 'Volunteer slots held by offers awaiting an answer.',
      value: snapshot.volunteerSlotsReserved,
    },
    { name: 'ferry_broker_clients_pending', type: 'gauge', help: 'Clients waiting for an answer (their body complete).', value: snapshot.clientsPending },
    { name: 'ferry_broker_client_requests_total', type: 'counter', help: 'Client offer requests received.', value: snapshot.clientRequestsTotal },
    { name: 'ferry_broker_matches_total', type: 'counter', help: 'Clients that received an answer.', value: snapshot.matchesTotal },
    { name: 'ferry_broker_timeouts_total', type: 'counter', help: 'Clients answered 504 TIMED_OUT.', value: snapshot.timeoutsTotal },
    { name: 'ferry_broker_no_volunteers_total', type: 'counter', help: 'Clients answered 503 NO_VOLUNTEERS.', value: snapshot.noVolunteersTotal },
    {
      name: 'ferry_broker_bad_requests_total',
      type: 'counter',
      help: 'Client requests refused as malformed, oversize or for an unknown exit.',
      value: snapshot.badRequestsTotal,
    },
    { name: 'ferry_broker_declines_total', type: 'counter', help: 'Offers declined by volunteers.', value: snapshot.declinesTotal },
    {
      name: 'ferry_broker_volunteer_answer_timeouts_total',
      type: 'counter',
      help: 'Offers a volunteer did not answer within the per-volunteer answer timeout.',
      value: snapshot.volunteerAnswerTimeoutsTotal,
    },
    {
      name: 'ferry_broker_offer_fallbacks_total',
      type: 'counter',
      help: 'Offers passed on to another volunteer for the same client after a decline, timeout or disconnect.',
      value: snapshot.offerFallbacksTotal,
    },
    {
      name: 'ferry_broker_volunteers_benched_total',
      type: 'counter',
      help: 'Volunteers disconnected for timing out or declining too many offers in a row.',
      value: snapshot.volunteersBenchedTotal,
    },
    {
      name: 'ferry_broker_rate_limited_total',
      type: 'counter',
      help: 'Client requests and volunteer sockets refused with 429 (one address, too much or too fast).',
      value: snapshot.rateLimitedTotal,
    },
    {
      name: 'ferry_broker_volunteer_protocol_errors_total',
      type: 'counter',
      help: 'Volunteer sockets closed for protocol errors.',
      value: snapshot.volunteerProtocolErrorsTotal,
    },
  ];
  return lines.map((line) => `# HELP ${line.name} ${line.help}\n# TYPE ${line.name} ${line.type}\n${line.name} ${line.value}\n`).join('');
}
