/**
 * @module exit-server/metrics
 * What the exit counts (ExitMetrics, plain fields bumped by exit-server.ts) and GET /metrics for one exit: those
 * numbers as Prometheus text through prom-client, plus the process metrics operators expect. Each exit has its own
 * registry (tests run several exits and brokers in one process), never prom-client's global one. Values are read
 * once per scrape. Counts only: no addresses, no destinations, no session ids.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { processMetricsRegistry } from '../protocol/adapters/process-metrics.ts';
import { StreamErrorCode } from '../protocol/index.ts';

/** Why the exit refused a stream, as the `reason` label of ferry_exit_streams_refused_total: the code the client got. */
export type StreamRefusalReason = 'general_failure' | 'not_allowed' | 'network_unreachable' | 'host_unreachable' | 'connection_refused' | 'timed_out';

const REFUSAL_REASON_OF: Readonly<Record<StreamErrorCode, StreamRefusalReason>> = {
  [StreamErrorCode.GENERAL_FAILURE]: 'general_failure',
  [StreamErrorCode.NOT_ALLOWED]: 'not_allowed',
  [StreamErrorCode.NETWORK_UNREACHABLE]: 'network_unreachable',
  [StreamErrorCode.HOST_UNREACHABLE]: 'host_unreachable',
  [StreamErrorCode.CONNECTION_REFUSED]: 'connection_refused',
  [StreamErrorCode.TIMED_OUT]: 'timed_out',
};

export function streamRefusalReason(code: StreamErrorCode): StreamRefusalReason {
  return REFUSAL_REASON_OF[code];
}

/** Stream refusals per reason, all zero. */
export function noStreamRefusals(): Record<StreamRefusalReason, number> {
  return { general_failure: 0, not_allowed: 0, network_unreachable: 0, host_unreachable: 0, connection_refused: 0, timed_out: 0 };
}

export interface ExitMetrics {
  sessionsOpen: number;
  sessionsTotal: number;
  /** HELLOs refused because the exit already held maxSessions sessions. */
  sessionsRefusedFull: number;
  streamsOpen: number;
  streamsTotal: number;
  /** Stream requests refused by the egress policy or failed to connect, by the code the client got. */
  streamsRefused: Record<StreamRefusalReason, number>;
  /** Bytes clients sent to destinations, added when each stream ends. */
  bytesToDestinations: number;
  /** Bytes destinations sent to clients, added when each stream ends. */
  bytesFromDestinations: number;
  /** Bytes read from destination sockets so far (live; bytesFromDestinations is added when a stream finishes). */
  bytesReadFromDestinations: number;
  /** Bytes held now for all sessions toward their clients: queued for credit plus sent and unacknowledged. */
  outboundQueuedBytes: number;
  /** The same, for the session that holds the most. */
  largestSessionQueuedBytes: number;
  /** The shared part of maxQueuedBytesTotal is full: sessions above their reserve read nothing until it drains. */
  outboundSharedPoolFull: boolean;
  /** Sessions whose destinations are paused by an outbound budget now. */
  sessionsPausedByBudget: number;
  /** Destination connections paused by an outbound budget now. */
  destinationsPausedByBudget: number;
  sessionErrors: number;
  resumes: number;
  resumesRefused: number;
  /** Paths added to a session beside others (JOIN). */
  pathsJoined: number;
  /** JOIN records refused (unknown session, forged, replayed, or the session already at maxPathsPerSession). */
  joinsRefused: number;
  /** Paths dropped because they delivered a record that failed its checks, replayed or lost one. */
  pathsFailed: number;
  /** Records that arrived on a path after its session had left it (dropped, the socket terminated). */
  recordsFromOldPaths: number;
  /** Paths closed because nothing arrived on them for sessionSilenceTimeoutMs. */
  pathsSilent: number;
  /** Detached sessions freed early because more than maxDetachedSessions waited for a resume. */
  detachedEvicted: number;
  /** Paths refused because their volunteer address already held maxPathsPerAddress. */
  pathsRefused: number;
  /** HELLOs refused because their volunteer address started sessions too fast. */
  handshakesRefused: number;
}

interface MetricSpec {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
}

/** The fields shown as one unlabelled number each (a boolean as 1 or 0). */
type ScalarField = { [K in keyof ExitMetrics]: ExitMetrics[K] extends number | boolean ? K : never }[keyof ExitMetrics];

/**
 * Every scalar of ExitMetrics and the metric that shows it, in /metrics order. Keyed by the fields, so a field added to
 * ExitMetrics does not type-check until it has a name and HELP text here.
 */
const SCALAR_METRICS: { readonly [K in ScalarField]: MetricSpec } = {
  sessionsOpen: { name: 'ferry_exit_sessions_open', type: 'gauge', help: 'Client sessions open now, detached ones included.' },
  sessionsTotal: { name: 'ferry_exit_sessions_total', type: 'counter', help: 'Client sessions accepted.' },
  sessionsRefusedFull: {
    name: 'ferry_exit_sessions_refused_full_total',
    type: 'counter',
    help: 'New sessions refused because the exit held its maximum of sessions.',
  },
  streamsOpen: { name: 'ferry_exit_streams_open', type: 'gauge', help: 'Destination connections open now.' },
  streamsTotal: { name: 'ferry_exit_streams_total', type: 'counter', help: 'Destination connections opened.' },
  bytesToDestinations: {
    name: 'ferry_exit_bytes_to_destinations_total',
    type: 'counter',
    help: 'Bytes clients sent to destinations (upload), added when each stream ends.',
  },
  bytesFromDestinations: {
    name: 'ferry_exit_bytes_from_destinations_total',
    type: 'counter',
    help: 'Bytes destinations sent to clients (download), added when each stream ends.',
  },
  bytesReadFromDestinations: {
    name: 'ferry_exit_destination_read_bytes_total',
    type: 'counter',
    help: 'Bytes read from destinations, counted as they arrive.',
  },
  outboundQueuedBytes: {
    name: 'ferry_exit_outbound_queued_bytes',
    type: 'gauge',
    help: 'Bytes held for clients: queued for their credit plus sent and unacknowledged.',
  },
  largestSessionQueuedBytes: {
    name: 'ferry_exit_outbound_largest_session_queued_bytes',
    type: 'gauge',
    help: 'Bytes held for the client session holding the most.',
  },
  outboundSharedPoolFull: { name: 'ferry_exit_outbound_shared_pool_full', type: 'gauge', help: '1 while the shared outbound budget is full.' },
  sessionsPausedByBudget: {
    name: 'ferry_exit_sessions_paused',
    type: 'gauge',
    help: 'Sessions whose destinations are not read because of an outbound budget.',
  },
  destinationsPausedByBudget: {
    name: 'ferry_exit_destinations_paused',
    type: 'gauge',
    help: 'Destination connections not read because of an outbound budget.',
  },
  sessionErrors: { name: 'ferry_exit_session_errors_total', type: 'counter', help: 'Sessions closed by a protocol error.' },
  resumes: { name: 'ferry_exit_resumes_total', type: 'counter', help: 'Sessions moved to a new path.' },
  resumesRefused: { name: 'ferry_exit_resumes_refused_total', type: 'counter', help: 'RESUME records refused (unknown, expired, forged or replayed).' },
  pathsJoined: { name: 'ferry_exit_paths_joined_total', type: 'counter', help: 'Volunteer paths added to a session beside others.' },
  joinsRefused: {
    name: 'ferry_exit_joins_refused_total',
    type: 'counter',
    help: 'JOIN records refused (unknown, forged, replayed, or the session already at its path limit).',
  },
  pathsFailed: {
    name: 'ferry_exit_paths_failed_total',
    type: 'counter',
    help: 'Volunteer paths dropped for a record that failed its checks, was replayed or was lost.',
  },
  recordsFromOldPaths: {
    name: 'ferry_exit_old_path_records_total',
    type: 'counter',
    help: 'Records dropped because they came on a path the session had left.',
  },
  pathsSilent: { name: 'ferry_exit_silent_paths_total', type: 'counter', help: 'Volunteer paths closed because nothing arrived on them for too long.' },
  detachedEvicted: {
    name: 'ferry_exit_detached_evicted_total',
    type: 'counter',
    help: 'Sessions waiting for a resume freed early because too many were waiting.',
  },
  pathsRefused: { name: 'ferry_exit_paths_refused_total', type: 'counter', help: 'Volunteer paths refused because their address held too many.' },
  handshakesRefused: {
    name: 'ferry_exit_handshakes_refused_total',
    type: 'counter',
    help: 'New sessions refused because their volunteer address started sessions too fast.',
  },
};

/** The /metrics of one exit. */
export class ExitPrometheus {
  readonly #snapshot: () => ExitMetrics;
  readonly #registry: Registry;
  readonly #gauges = new Map<ScalarField, Gauge>();
  readonly #counters = new Map<ScalarField, Counter>();
  readonly #streamsRefused: Counter<'reason'>;

  /** @param snapshot the exit's numbers now; called once per scrape */
  constructor(snapshot: () => ExitMetrics) {
    this.#snapshot = snapshot;
    const own = new Registry();
    for (const [field, spec] of Object.entries(SCALAR_METRICS) as Array<[ScalarField, MetricSpec]>) {
      const config = { name: spec.name, help: spec.help, registers: [own] };
      if (spec.type === 'gauge') this.#gauges.set(field, new Gauge(config));
      else this.#counters.set(field, new Counter(config));
    }
    this.#streamsRefused = new Counter({
      name: 'ferry_exit_streams_refused_total',
      help: 'Stream requests refused or failed, by the reason the client was given.',
      labelNames: ['reason'],
      registers: [own],
    });
    this.#registry = Registry.merge([own, processMetricsRegistry()]);
  }

  /** The Content-Type of render()'s text. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** The Prometheus text of everything, read now. */
  async render(): Promise<string> {
    const metrics = this.#snapshot();
    for (const [field, gauge] of this.#gauges) gauge.set(Number(metrics[field]));
    // prom-client counters only go up by inc(); these mirror totals counted elsewhere, so each scrape starts over.
    for (const [field, counter] of this.#counters) {
      counter.reset();
      counter.inc(Number(metrics[field]));
    }
    this.#streamsRefused.reset();
    for (const [reason, count] of Object.entries(metrics.streamsRefused)) this.#streamsRefused.inc({ reason }, count);
    return await this.#registry.metrics();
  }
}
