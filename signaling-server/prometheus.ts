/**
 * @module broker-prometheus
 * GET /metrics for one broker: its counters and store counts (metrics.ts) as Prometheus text through prom-client,
 * plus the process metrics operators expect. Each broker has its own registry (several brokers run in one process in
 * the tests), never prom-client's global one. Values are read once per scrape, so counting stays plain field
 * increments on BrokerCounters. Counts and NAT classes only: no addresses, no ids.
 */
import { Counter, Gauge, type Histogram, Registry } from 'prom-client';
import { processMetricsRegistry } from '../protocol/adapters/process-metrics.ts';
import type { NatClass, VolunteerKind } from '../protocol/signaling.ts';
import type { BrokerMetricsSnapshot } from './metrics.ts';

/** One pool of volunteers, those of one kind and NAT class, as the store counts it. */
export interface VolunteerPoolCount {
  kind: VolunteerKind;
  nat: NatClass;
  volunteers: number;
  freeSlots: number;
}

interface MetricSpec {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
}

type NumericField = { [K in keyof BrokerMetricsSnapshot]: BrokerMetricsSnapshot[K] extends number ? K : never }[keyof BrokerMetricsSnapshot];

/**
 * Every number of the snapshot and the metric that shows it, in /metrics order. Keyed by the snapshot's fields, so a
 * field added there does not type-check until it has a name and HELP text here.
 */
const SNAPSHOT_METRICS: { readonly [K in NumericField]: MetricSpec } = {
  volunteersConnected: { name: 'ferry_broker_volunteers_connected', type: 'gauge', help: 'Volunteers connected that said hello.' },
  volunteerSlotsFree: { name: 'ferry_broker_volunteer_slots_free', type: 'gauge', help: 'Free volunteer slots, not counting offers in flight.' },
  volunteerSlotsReserved: { name: 'ferry_broker_volunteer_slots_reserved', type: 'gauge', help: 'Volunteer slots held by offers awaiting an answer.' },
  clientsPending: { name: 'ferry_broker_clients_pending', type: 'gauge', help: 'Clients waiting for an answer (their body complete).' },
  clientsWaiting: { name: 'ferry_broker_clients_waiting', type: 'gauge', help: 'Clients queued until a volunteer that suits them frees up.' },
  clientsQueuedTotal: {
    name: 'ferry_broker_clients_queued_total',
    type: 'counter',
    help: 'Times a client joined the queue because every volunteer that suits it was busy.',
  },
  clientRequestsTotal: { name: 'ferry_broker_client_requests_total', type: 'counter', help: 'Client offer requests received.' },
  matchesTotal: { name: 'ferry_broker_matches_total', type: 'counter', help: 'Clients that received an answer.' },
  timeoutsTotal: { name: 'ferry_broker_timeouts_total', type: 'counter', help: 'Clients answered 504 TIMED_OUT.' },
  noVolunteersTotal: {
    name: 'ferry_broker_no_volunteers_total',
    type: 'counter',
    help: 'Clients answered 503 NO_VOLUNTEERS: none suited them, or the broker was too busy (load shed).',
  },
  badRequestsTotal: {
    name: 'ferry_broker_bad_requests_total',
    type: 'counter',
    help: 'Client requests refused as malformed, oversize or for an unknown exit.',
  },
  declinesTotal: { name: 'ferry_broker_declines_total', type: 'counter', help: 'Offers declined by volunteers.' },
  volunteerAnswerTimeoutsTotal: {
    name: 'ferry_broker_volunteer_answer_timeouts_total',
    type: 'counter',
    help: 'Offers a volunteer did not answer within the per-volunteer answer timeout.',
  },
  offerFallbacksTotal: {
    name: 'ferry_broker_offer_fallbacks_total',
    type: 'counter',
    help: 'Offers passed on to another volunteer for the same client after a decline, timeout or disconnect.',
  },
  volunteersBenchedTotal: {
    name: 'ferry_broker_volunteers_benched_total',
    type: 'counter',
    help: 'Volunteers disconnected for timing out or declining too many offers in a row.',
  },
  rateLimitedTotal: {
    name: 'ferry_broker_rate_limited_total',
    type: 'counter',
    help: 'Client requests and volunteer sockets refused with 429 (one address, too much or too fast).',
  },
  volunteerProtocolErrorsTotal: {
    name: 'ferry_broker_volunteer_protocol_errors_total',
    type: 'counter',
    help: 'Volunteer sockets closed for protocol errors.',
  },
};

const POOL_LABELS = ['kind', 'nat'] as const;
type PoolLabel = (typeof POOL_LABELS)[number];

export interface BrokerPrometheusOptions {
  /** Histograms observed elsewhere (BrokerCounters.clientWaitSeconds), shown as they are. */
  histograms?: readonly Histogram<string>[];
  /** The broker's counters and store counts now; called once per scrape. */
  snapshot: () => Promise<BrokerMetricsSnapshot>;
  /** Volunteers and free slots per kind and NAT class now; without it the per-pool metrics are left out. */
  volunteerPools?: (() => Promise<readonly VolunteerPoolCount[]>) | undefined;
}

/** The /metrics of one broker. */
export class BrokerPrometheus {
  readonly #options: BrokerPrometheusOptions;
  readonly #registry: Registry;
  readonly #gauges = new Map<NumericField, Gauge>();
  readonly #counters = new Map<NumericField, Counter>();
  readonly #poolVolunteers: Gauge<PoolLabel> | undefined;
  readonly #poolSlotsFree: Gauge<PoolLabel> | undefined;

  constructor(options: BrokerPrometheusOptions) {
    this.#options = options;
    const own = new Registry();
    for (const [field, spec] of Object.entries(SNAPSHOT_METRICS) as Array<[NumericField, MetricSpec]>) {
      const config = { name: spec.name, help: spec.help, registers: [own] };
      if (spec.type === 'gauge') this.#gauges.set(field, new Gauge(config));
      else this.#counters.set(field, new Counter(config));
    }
    if (options.volunteerPools !== undefined) {
      this.#poolVolunteers = new Gauge({
        name: 'ferry_broker_volunteers',
        help: 'Volunteers connected that said hello, by volunteer kind and NAT class.',
        labelNames: POOL_LABELS,
        registers: [own],
      });
      this.#poolSlotsFree = new Gauge({
        name: 'ferry_broker_pool_slots_free',
        help: 'Free volunteer slots, not counting offers in flight, by volunteer kind and NAT class.',
        labelNames: POOL_LABELS,
        registers: [own],
      });
    }
    for (const histogram of options.histograms ?? []) own.registerMetric(histogram);
    this.#registry = Registry.merge([own, processMetricsRegistry()]);
  }

  /** The Content-Type of render()'s text. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** The Prometheus text of everything, read now. */
  async render(): Promise<string> {
    const [snapshot, pools] = await Promise.all([this.#options.snapshot(), this.#options.volunteerPools?.()]);
    for (const [field, gauge] of this.#gauges) gauge.set(snapshot[field]);
    // prom-client counters only go up by inc(); these mirror totals counted elsewhere, so each scrape starts over.
    for (const [field, counter] of this.#counters) {
      counter.reset();
      counter.inc(snapshot[field]);
    }
    if (pools !== undefined) {
      // Start over too, so a pool that emptied since the last scrape is gone rather than stuck at its last value.
      this.#poolVolunteers?.reset();
      this.#poolSlotsFree?.reset();
      for (const pool of pools) {
        this.#poolVolunteers?.set({ kind: pool.kind, nat: pool.nat }, pool.volunteers);
        this.#poolSlotsFree?.set({ kind: pool.kind, nat: pool.nat }, pool.freeSlots);
      }
    }
    return await this.#registry.metrics();
  }
}
