/**
 * @module broker-config
 * Every tunable of the broker, with its unit and default, validated once up front by verifyBrokerConfig().
 *
 * How the timeouts relate:
 * - clientAnswerTimeoutMs bounds the whole wait of one client for an answer, across every volunteer tried. Snowflake
 *   keeps it at 5 s so a client behind a CDN (whose own timeouts are short) still gets a reply.
 * - volunteerAnswerTimeoutMs bounds one volunteer's turn inside that wait: a volunteer silent that long loses the
 *   offer to the next one, so a volunteer that never answers cannot spend a client's whole wait. It must be shorter
 *   than clientAnswerTimeoutMs (at most half leaves room for a second volunteer). A volunteer's own answer timeout
 *   (relay-worker answerTimeoutMs, its ICE-gathering limit) must be shorter still, or an honest volunteer's answers
 *   count as failures and it is benched.
 * - requestHeadersTimeoutMs + bodyReadTimeoutMs bound how long a slow client may hold a connection before its request
 *   is even complete (slow-loris); the answer wait starts only after that.
 * - volunteerHeartbeatMs: a volunteer that misses one whole interval without a pong is cut off, so a dead volunteer
 *   holds its store entry for at most two intervals.
 */

import type { KeyPair } from '../protocol/crypto.ts';
import { type ExitInfo, ExitListError, parseSignedExitList, readExitListContents, type SignedExitList, verifyExitList } from '../protocol/exit-list.ts';
import { DEFAULT_BROKER_PORT, MAX_SIGNALING_MESSAGE_BYTES, MAX_VOLUNTEER_SLOTS, requireStunUrls, SignalingFormatError } from '../protocol/signaling.ts';
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
  /**
   * The operator-signed exit list (protocol/exit-list.ts) the broker serves and picks exits from. Default: none
   * (GET /v1/exits answers 503 NO_EXIT_LIST, and volunteers take no offers).
   */
  exitList: SignedExitList | undefined;
  /** Operator keys to check exitList's signature with at start-up. Default: none (only its form is checked). */
  exitListKeys: readonly string[];
  /** Longest a client waits for an answer, across all volunteers tried (ms). Default 5_000. */
  clientAnswerTimeoutMs: number;
  /**
   * Longest one volunteer may take to answer an offer before the offer goes to the next volunteer (ms); its late
   * answer is dropped. Must be less than clientAnswerTimeoutMs. Default 2_000.
   */
  volunteerAnswerTimeoutMs: number;
  /**
   * Offers in a row a volunteer may leave unanswered (volunteerAnswerTimeoutMs) or decline before it is benched: told
   * why and disconnected. This also bounds how many clients' offers (SDP with their addresses) a volunteer that never
   * answers can collect on one connection. Default 3.
   */
  maxConsecutiveAnswerFailures: number;
  /**
   * After a volunteer is benched, how long its address may open no new volunteer socket (429 with Retry-After), so a
   * benched volunteer cannot reconnect at once with a clean record (ms). 0 turns this off. Default 60_000.
   */
  benchedAddressCooldownMs: number;
  /** Largest client request body and largest volunteer WebSocket message (bytes). Default 64 KiB. */
  maxBodyBytes: number;
  /** Longest the request headers may take to arrive (ms). Default 10_000. */
  requestHeadersTimeoutMs: number;
  /** Longest the request body may take to arrive once headers are in (ms): an offer is a few KB. Default 5_000. */
  bodyReadTimeoutMs: number;
  /** After refusing an oversize body, how long the broker discards the rest so the client can read the 413 (ms). Default 2_000. */
  rejectedBodyDrainMs: number;
  /**
   * Most volunteer WebSockets open at once on this broker. Default 20_000: an idle volunteer costs the broker about
   * 5 KiB (`npm run bench:network`, docs/benchmarks.md), so the default bounds idle volunteers to about 100 MiB. Each
   * socket is a file descriptor: the process needs an open-file limit above this (LimitNOFILE= or `ulimit -n`).
   */
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
  /**
   * Whether the same-network rule (a client is never matched to a volunteer on its own /24 or /48, network-key.ts)
   * applies to loopback peers too. Off by default: on one machine (the demo, the tests) every peer is on loopback.
   */
  sameNetworkRuleOnLoopback: boolean;
  /**
   * Whether a client may never be matched to a volunteer on its own /24 or /48 at all. On by default; off only for a
   * lab whose peers all sit in one documentation /24 (the NAT lab of the tests).
   */
  sameNetworkRule: boolean;
  /**
   * Redis to share volunteers with other broker instances (redis://[:password@]host:port[/db]): pools in Redis, offers
   * between instances over pub/sub (broker-mesh.ts). Default: none (this instance keeps everything in memory).
   */
  redisUrl: string | undefined;
  /** Prepended to every Redis key and channel, so several networks can share one Redis. Default 'ferry:'. */
  redisKeyPrefix: string;
  /**
   * The NAT probe server (`ferry nat-probe`, run behind a symmetric NAT) that volunteers without a measured NAT class
   * probe, named in every welcome. Default: none (such volunteers stay 'unknown').
   */
  natProbeUrl: string | undefined;
  /** The network's STUN servers (stun: URLs), named in every welcome. Default: none. */
  stunUrls: readonly string[];
  /**
   * The broker's static X25519 key pair for sealed offers (POST and GET /v1/rendezvous): clients find its public key
   * in the signed exit list. Default: none (only the plain POST /v1/client is served).
   */
  rendezvousKeyPair: KeyPair | undefined;
  /** Where log events go. Default: nowhere (the broker logs nothing per request). */
  log: ((event: BrokerLogEvent) => void) | undefined;
  /**
   * Volunteer state. Default: a new MemoryVolunteerStore. A store given here must hold at most
   * maxOffersPerVolunteerPending offers per volunteer itself. close() closes only a store the broker made itself.
   */
  store: VolunteerStore | undefined;
}

export const DEFAULT_BROKER_CONFIG: Readonly<BrokerConfig> = Object.freeze({
  host: '127.0.0.1',
  port: DEFAULT_BROKER_PORT,
  exitList: undefined,
  exitListKeys: [],
  clientAnswerTimeoutMs: 5_000,
  volunteerAnswerTimeoutMs: 2_000,
  maxConsecutiveAnswerFailures: 3,
  benchedAddressCooldownMs: 60_000,
  maxBodyBytes: MAX_SIGNALING_MESSAGE_BYTES,
  requestHeadersTimeoutMs: 10_000,
  bodyReadTimeoutMs: 5_000,
  rejectedBodyDrainMs: 2_000,
  maxVolunteers: 20_000,
  maxPendingClients: 1_000,
  maxBodiesReading: 2_000,
  maxBodiesReadingPerAddress: 16,
  maxOffersPerAddressPerMinute: 120,
  maxVolunteersPerAddress: 64,
  volunteerHeartbeatMs: 20_000,
  volunteerHelloTimeoutMs: 10_000,
  maxOffersPerVolunteerPending: 1,
  sameNetworkRuleOnLoopback: false,
  sameNetworkRule: true,
  redisUrl: undefined,
  redisKeyPrefix: 'ferry:',
  natProbeUrl: undefined,
  stunUrls: [],
  rendezvousKeyPair: undefined,
  log: undefined,
  store: undefined,
});

/** The largest timer value setTimeout honours (about 24.8 days); longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;
export class BrokerConfigError extends Error {
  override readonly name = 'BrokerConfigError';
  readonly code = 'BROKER_CONFIG_INVALID';
}

/**
 * Reads the exits of an operator-signed list the broker will serve. The broker does not rely on the signature (its
 * readers check it), but refuses a malformed or expired list at start-up, and with `exitListKeys` checks the signature
 * too, so a wrong file is caught before every user refuses it.
 */
export function readServedExitList(exitList: SignedExitList, exitListKeys: readonly string[], now: number): readonly ExitInfo[] {
  try {
    if (exitListKeys.length > 0) return verifyExitList(exitList, exitListKeys, now).exits;
    const contents = readExitListContents(parseSignedExitList(exitList));
    if (contents.expiresAt < now) {
      throw new ExitListError('EXIT_LIST_EXPIRED', `The exit list expired on ${new Date(contents.expiresAt).toISOString()}; sign a new one.`);
    }
    return contents.exits;
  } catch (error) {
    if (error instanceof ExitListError) throw new BrokerConfigError(`broker config "exitList": ${error.message} (${error.code})`);
    throw error;
  }
}

/** A checked config, with the exits of its list. */
export interface VerifiedBrokerConfig extends BrokerConfig {
  exits: readonly ExitInfo[];
}

/** Fills defaults into `overrides` and validates every field; throws BrokerConfigError naming the bad field. */
export function verifyBrokerConfig(overrides: Partial<BrokerConfig> = {}): VerifiedBrokerConfig {
  const config: BrokerConfig = { ...DEFAULT_BROKER_CONFIG, ...overrides };
  if (typeof config.host !== 'string' || config.host.length === 0) throw new BrokerConfigError('broker config "host" must be a non-empty string');
  requireIntegerFields(
    config,
    {
      port: [0, 65_535],
      clientAnswerTimeoutMs: [1, MAX_TIMER_MS],
      volunteerAnswerTimeoutMs: [1, MAX_TIMER_MS],
      maxConsecutiveAnswerFailures: [1, 1_000],
      benchedAddressCooldownMs: [0, MAX_TIMER_MS],
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
  if (config.volunteerAnswerTimeoutMs >= config.clientAnswerTimeoutMs) {
    throw new BrokerConfigError(
      `broker config "volunteerAnswerTimeoutMs" (${config.volunteerAnswerTimeoutMs} ms) must be less than "clientAnswerTimeoutMs" (${config.clientAnswerTimeoutMs} ms), so a silent volunteer cannot hold a client for its whole wait; at most half leaves room for a second volunteer`,
    );
  }
  if (config.redisUrl !== undefined && (typeof config.redisUrl !== 'string' || !/^rediss?:\/\/./.test(config.redisUrl))) {
    throw new BrokerConfigError('broker config "redisUrl" must be a redis:// or rediss:// URL, such as redis://127.0.0.1:6379');
  }
  if (typeof config.redisKeyPrefix !== 'string' || config.redisKeyPrefix.length > 64 || /\s/.test(config.redisKeyPrefix)) {
    throw new BrokerConfigError('broker config "redisKeyPrefix" must be a string of at most 64 characters without spaces');
  }
  if (config.natProbeUrl !== undefined && (typeof config.natProbeUrl !== 'string' || !/^https?:\/\/./.test(config.natProbeUrl))) {
    throw new BrokerConfigError('broker config "natProbeUrl" must be an http:// or https:// URL of a NAT probe server');
  }
  try {
    requireStunUrls(config.stunUrls);
  } catch (error) {
    if (error instanceof SignalingFormatError) throw new BrokerConfigError(`broker config ${error.message}`);
    throw error;
  }
  if (typeof config.sameNetworkRule !== 'boolean') throw new BrokerConfigError('broker config "sameNetworkRule" must be true or false');
  if (typeof config.sameNetworkRuleOnLoopback !== 'boolean') throw new BrokerConfigError('broker config "sameNetworkRuleOnLoopback" must be true or false');
  const keyPair = config.rendezvousKeyPair;
  if (keyPair !== undefined && (!(keyPair.secretKey instanceof Uint8Array) || keyPair.secretKey.length !== 32 || keyPair.publicKey.length !== 32)) {
    throw new BrokerConfigError('broker config "rendezvousKeyPair" must be an X25519 key pair (32-byte secret and public keys)');
  }
  if (config.log !== undefined && typeof config.log !== 'function') throw new BrokerConfigError('broker config "log" must be a function');
  if (!Array.isArray(config.exitListKeys)) throw new BrokerConfigError('broker config "exitListKeys" must be an array of operator keys');
  if (config.exitList === undefined) return { ...config, exits: [] };
  let exitList: SignedExitList;
  try {
    exitList = parseSignedExitList(config.exitList); // only its two fields are kept and served
  } catch (error) {
    if (error instanceof ExitListError) throw new BrokerConfigError(`broker config "exitList": ${error.message}`);
    throw error;
  }
  return { ...config, exitList, exits: readServedExitList(exitList, config.exitListKeys, Date.now()) };
}
