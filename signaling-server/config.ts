/**
 * @module broker-config
 * Every tunable of the broker, with its unit and default, validated once up front by verifyBrokerConfig().
 *
 * How the timeouts relate:
 * - clientAnswerTimeoutMs bounds the whole wait of one client for an answer, across every volunteer tried. Snowflake
 *   keeps it at 5 s so a client behind a CDN (whose own timeouts are short) still gets a reply. A volunteer's own
 *   answer timeout (relay-worker) should be shorter than this, or its answers arrive after the client gave up.
 * - requestHeadersTimeoutMs + bodyReadTimeoutMs bound how long a slow client may hold a connection before its request
 *   is even complete (slow-loris); the answer wait starts only after that.
 * - volunteerHeartbeatMs: a volunteer that misses one whole interval without a pong is cut off, so a dead volunteer
 *   holds its store entry for at most two intervals.
 */

import type { ExitInfo } from '../protocol/signaling.ts';
import { DEFAULT_BROKER_PORT, MAX_SIGNALING_MESSAGE_BYTES, MAX_VOLUNTEER_SLOTS, parseExitInfo, SignalingFormatError } from '../protocol/signaling.ts';
import { requireIntegerFields } from '../protocol/validate.ts';
import type { VolunteerStore } from './store.ts';

/** One line the broker would like logged. Never carries an IP address or any client/volunteer identity. */
export interface BrokerLogEvent {
  level: 'info' | 'warn' | 'error';
  message: string;
}

export interface BrokerConfig {
  /** Address to listen on. Default '127.0.0.1'. */
  host: string;
  /** TCP port; 0 picks a free one. Default 8787. */
  port: number;
  /** Exits that clients may choose and volunteers may relay to. Default: none. */
  exits: ExitInfo[];
  /** Longest a client waits for an answer, across all volunteers tried (ms). Default 5_000. */
  clientAnswerTimeoutMs: number;
  /** Largest client request body and largest volunteer WebSocket message (bytes). Default 64 KiB. */
  maxBodyBytes: number;
  /** Longest the request headers may take to arrive (ms). Default 10_000. */
  requestHeadersTimeoutMs: number;
  /** Longest the request body may take to arrive once headers are in (ms): an offer is a few KB. Default 5_000. */
  bodyReadTimeoutMs: number;
  /** After refusing an oversize body, how long the broker discards the rest so the client can read the 413 (ms). Default 2_000. */
  rejectedBodyDrainMs: number;
  /** Most volunteer WebSockets open at once on this broker. Default 10_000. */
  maxVolunteers: number;
  /** Most clients waiting for an answer at once (their body complete); more get 503 at once. Default 1_000. */
  maxPendingClients: number;
  /** Most client requests still sending their body, in all; more get 503 at once. Default 2_000. */
  maxBodiesReading: number;
  /** Most client requests one address may have still sending their body; more get 429. Default 16. */
  maxBodiesReadingPerAddress: number;
  /** Most client offers one address may make per minute; more get 429 with Retry-After. Default 120. */
  maxOffersPerAddressPerMinute: number;
  /** Most volunteer sockets one address may hold open; more get 429. Default 64. */
  maxVolunteersPerAddress: number;
  /** Ping interval for volunteer WebSockets; no pong within one interval closes the socket (ms). Default 20_000. */
  volunteerHeartbeatMs: number;
  /** Longest a new volunteer socket may stay without sending `hello` (ms). Default 10_000. */
  volunteerHelloTimeoutMs: number;
  /** Offers a volunteer may hold unanswered at once. Default 1. */
  maxOffersPerVolunteerPending: number;
  /** Where log events go. Default: nowhere (the broker logs nothing per request). */
  log: ((event: BrokerLogEvent) => void) | undefined;
  /** Volunteer state. Default: a new MemoryVolunteerStore. close() closes only a store the broker made itself. */
  store: VolunteerStore | undefined;
}

export const DEFAULT_BROKER_CONFIG: Readonly<BrokerConfig> = Object.freeze({
  host: '127.0.0.1',
  port: DEFAULT_BROKER_PORT,
  exits: [],
  clientAnswerTimeoutMs: 5_000,
  maxBodyBytes: MAX_SIGNALING_MESSAGE_BYTES,
  requestHeadersTimeoutMs: 10_000,
  bodyReadTimeoutMs: 5_000,
  rejectedBodyDrainMs: 2_000,
  maxVolunteers: 10_000,
  maxPendingClients: 1_000,
  maxBodiesReading: 2_000,
  maxBodiesReadingPerAddress: 16,
  maxOffersPerAddressPerMinute: 120,
  maxVolunteersPerAddress: 64,
  volunteerHeartbeatMs: 20_000,
  volunteerHelloTimeoutMs: 10_000,
  maxOffersPerVolunteerPending: 1,
  log: undefined,
  store: undefined,
});

/** The largest timer value setTimeout honours (about 24.8 days); longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;
/** A base64url X25519 key: 32 bytes are 43 characters, with at most one '=' of padding. */
const PUBLIC_KEY_PATTERN = /^[A-Za-z0-9_-]{43}=?$/;

export class BrokerConfigError extends Error {
  override readonly name = 'BrokerConfigError';
  readonly code = 'BROKER_CONFIG_INVALID';
}

/** Checks one exit: an id, a ws:// or wss:// URL, and a 32-byte base64url public key. */
export function verifyExitInfo(value: unknown): ExitInfo {
  let exit: ExitInfo;
  try {
    exit = parseExitInfo(value);
  } catch (error) {
    if (error instanceof SignalingFormatError) throw new BrokerConfigError(`invalid exit: ${error.message}`);
    throw error;
  }
  let url: URL;
  try {
    url = new URL(exit.url);
  } catch {
    throw new BrokerConfigError(`exit "${exit.id}": url "${exit.url}" is not a valid URL`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new BrokerConfigError(`exit "${exit.id}": url must start with ws:// or wss:// (got ${url.protocol}//)`);
  }
  if (!PUBLIC_KEY_PATTERN.test(exit.publicKey)) {
    throw new BrokerConfigError(`exit "${exit.id}": publicKey must be a 32-byte key in base64url (43 characters)`);
  }
  return exit;
}

/** Fills defaults into `overrides` and validates every field; throws BrokerConfigError naming the bad field. */
export function verifyBrokerConfig(overrides: Partial<BrokerConfig> = {}): BrokerConfig {
  const config: BrokerConfig = { ...DEFAULT_BROKER_CONFIG, ...overrides };
  if (typeof config.host !== 'string' || config.host.length === 0) throw new BrokerConfigError('broker config "host" must be a non-empty string');
  requireIntegerFields(
    config,
    {
      port: [0, 65_535],
      clientAnswerTimeoutMs: [1, MAX_TIMER_MS],
      maxBodyBytes: [1_024, 16 * 1024 * 1024],
      requestHeadersTimeoutMs: [1, MAX_TIMER_MS],
      bodyReadTimeoutMs: [1, MAX_TIMER_MS],
      rejectedBodyDrainMs: [0, MAX_TIMER_MS],
      maxVolunteers: [1, 10_000_000],
      maxPendingClients: [1, 10_000_000],
      maxBodiesReading: [1, 10_000_000],
      maxBodiesReadingPerAddress: [1, 10_000_000],
      maxOffersPerAddressPerMinute: [1, 10_000_000],
      maxVolunteersPerAddress: [1, 10_000_000],
      volunteerHeartbeatMs: [1, MAX_TIMER_MS],
      volunteerHelloTimeoutMs: [1, MAX_TIMER_MS],
      maxOffersPerVolunteerPending: [1, MAX_VOLUNTEER_SLOTS],
    },
    (_field, message) => new BrokerConfigError(message),
    (field) => `broker config "${field}"`,
  );
  if (config.log !== undefined && typeof config.log !== 'function') throw new BrokerConfigError('broker config "log" must be a function');
  if (!Array.isArray(config.exits)) throw new BrokerConfigError('broker config "exits" must be an array');
  const exits = config.exits.map(verifyExitInfo);
  const ids = new Set<string>();
  for (const exit of exits) {
    if (ids.has(exit.id)) throw new BrokerConfigError(`broker config "exits" lists exit id "${exit.id}" twice`);
    ids.add(exit.id);
  }
  return { ...config, exits };
}
