/**
 * @module config
 * Every tunable of a volunteer, with its unit and default, validated once up front. How they depend on each other:
 * - answerTimeoutMs bounds ICE gathering before the answer goes to the broker; it must stay below the time the broker
 *   holds a client's request, or the client gets "timed out" although a volunteer was answering.
 * - dataChannelOpenTimeoutMs must be larger than answerTimeoutMs: the client needs the answer before it can connect.
 * - maxBufferedBytes must hold at least one tunnel record (256 KiB). The tunnel's end-to-end credit flow control keeps
 *   honest peers far below it; browser WebSocket and RTCDataChannel cannot pause reading, so a peer that goes above
 *   it is misbehaving and its pair is closed.
 */
import { MAX_RECORD_BYTES } from '../protocol/constants.ts';
import { OperatorKeyError, parseOperatorPublicKeys } from '../protocol/exit-list.ts';
import { isPairingText, MAX_PAIRINGS_PER_VOLUNTEER } from '../protocol/pairing.ts';
import { BrokerRoute, MAX_VOLUNTEER_SLOTS, NAT_CLASSES, type NatClass, VOLUNTEER_KINDS, type VolunteerKind } from '../protocol/signaling.ts';
import { requireIntegerFields } from '../protocol/validate.ts';
import { MIN_MONTHLY_DATA_CAP_BYTES } from './monthly-cap.ts';
import { MIN_RATE_LIMIT_BYTES_PER_SECOND } from './rate-limit.ts';

/** Upper bound for every timeout and delay below: anything longer is a typo, not a choice. */
export const MAX_CONFIG_DELAY_MS = 10 * 60_000;
/** Upper bound for maxBufferedBytes, so a typo cannot let one pair hold gigabytes. */
export const MAX_BUFFERED_BYTES_LIMIT = 256 * 1024 * 1024;

export interface RelayWorkerConfig {
  /** The broker's http(s) base URL; the volunteer socket is ws(s)://same-host/v1/volunteer. */
  brokerUrl: string;
  /**
   * The network operator's exit-list keys (Ed25519, base64url). The volunteer takes exits only from a broker list
   * signed by one of them, so a broker cannot aim it at an address of its choosing. At least one.
   */
  exitListKeys: readonly string[];
  /** Which surface this volunteer runs in, as announced to the broker. */
  kind: VolunteerKind;
  /** This volunteer's NAT class, as announced to the broker. Default 'unknown'. */
  nat: NatClass;
  /** Most clients relayed at once. Default 2 (Psiphon Conduit's default); at most MAX_VOLUNTEER_SLOTS. */
  maxClients: number;
  /**
   * Most clients relayed at once for holders of this volunteer's pairing links, on top of maxClients (personal slots
   * nobody else is given). Default 2; 0 turns them off.
   */
  maxPersonalClients: number;
  /** Tokens of this volunteer's pairing links (protocol/pairing.ts); only their ids go to the broker. Default []. */
  pairingTokens: readonly string[];
  /** STUN/TURN servers for ICE. Default [] (host candidates only). */
  iceServers: RTCIceServer[];
  /**
   * Longest wait for ICE gathering before answering with the candidates gathered so far (ms). Default 1_500: the
   * broker gives each volunteer 2 s to answer before the offer goes to another, and benches volunteers that miss it.
   */
  answerTimeoutMs: number;
  /** Longest wait from an offer until the client's data channel is open; then the slot is freed (ms). Default 20_000. */
  dataChannelOpenTimeoutMs: number;
  /** Longest wait for the exit's WebSocket to open once the client is connected (ms). Default 10_000. */
  exitOpenTimeoutMs: number;
  /** Most bytes waiting per direction per pair (queued or in a socket's send buffer); above it the pair is closed. Default 16 MiB. */
  maxBufferedBytes: number;
  /**
   * The bandwidth cap: most bytes a second relayed for all clients together, both directions (rate-limit.ts). 0, the
   * default, is no cap; otherwise at least MIN_RATE_LIMIT_BYTES_PER_SECOND (256 kbit/s).
   */
  maxBytesPerSecond: number;
  /**
   * The monthly data cap: bytes relayed (both directions) per calendar month, UTC (monthly-cap.ts); at it the
   * volunteer pauses until the month ends. 0, the default, is no cap; otherwise at least MIN_MONTHLY_DATA_CAP_BYTES.
   */
  monthlyDataCapBytes: number;
  /** Longest wait for the broker's welcome after starting to connect (ms). Default 10_000. */
  brokerConnectTimeoutMs: number;
  /** First delay before reconnecting to the broker (ms); doubles after each failure. Default 1_000. */
  brokerReconnectDelayMs: number;
  /** Largest delay between reconnection attempts (ms). Default 60_000. */
  brokerReconnectMaxDelayMs: number;
}

/** What a caller must give; everything else has a default. */
export type RelayWorkerOptions = Partial<RelayWorkerConfig> & Pick<RelayWorkerConfig, 'brokerUrl' | 'kind' | 'exitListKeys'>;

export const DEFAULT_RELAY_WORKER_CONFIG = {
  nat: 'unknown',
  maxClients: 2,
  maxPersonalClients: 2,
  pairingTokens: [],
  iceServers: [],
  answerTimeoutMs: 1_500,
  dataChannelOpenTimeoutMs: 20_000,
  exitOpenTimeoutMs: 10_000,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxBytesPerSecond: 0,
  monthlyDataCapBytes: 0,
  brokerConnectTimeoutMs: 10_000,
  brokerReconnectDelayMs: 1_000,
  brokerReconnectMaxDelayMs: 60_000,
} as const satisfies Omit<RelayWorkerConfig, 'brokerUrl' | 'kind' | 'exitListKeys'>;

/** A configuration value is unusable; `field` names it and the message says what would be accepted. */
export class RelayWorkerConfigError extends Error {
  override readonly name = 'RelayWorkerConfigError';
  readonly code = 'RELAY_CONFIG_INVALID';
  constructor(
    readonly field: keyof RelayWorkerConfig,
    message: string,
  ) {
    super(`relay worker config "${field}": ${message}`);
  }
}

/** The unit each integer field is counted in, for error messages. */
const FIELD_UNITS: Partial<Record<keyof RelayWorkerConfig, string>> = {
  maxClients: 'clients',
  maxPersonalClients: 'clients',
  maxBufferedBytes: 'bytes',
  maxBytesPerSecond: 'bytes a second',
  monthlyDataCapBytes: 'bytes',
  answerTimeoutMs: 'ms',
  dataChannelOpenTimeoutMs: 'ms',
  exitOpenTimeoutMs: 'ms',
  brokerConnectTimeoutMs: 'ms',
  brokerReconnectDelayMs: 'ms',
  brokerReconnectMaxDelayMs: 'ms',
};

/** Fills in defaults, validates, and returns a frozen config. Throws RelayWorkerConfigError. */
export function createRelayWorkerConfig(options: RelayWorkerOptions): Readonly<RelayWorkerConfig> {
  const config: RelayWorkerConfig = {
    ...DEFAULT_RELAY_WORKER_CONFIG,
    iceServers: [...DEFAULT_RELAY_WORKER_CONFIG.iceServers],
    ...withoutUndefined(options),
  };
  config.exitListKeys = Array.isArray(config.exitListKeys) ? Object.freeze([...config.exitListKeys]) : config.exitListKeys;
  config.pairingTokens = Array.isArray(config.pairingTokens) ? Object.freeze([...config.pairingTokens]) : config.pairingTokens;
  verifyRelayWorkerConfig(config);
  return Object.freeze(config);
}

function withoutUndefined(options: RelayWorkerOptions): RelayWorkerOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as RelayWorkerOptions;
}

/** Throws RelayWorkerConfigError naming the first unusable field. */
export function verifyRelayWorkerConfig(config: RelayWorkerConfig): void {
  volunteerSocketUrl(config.brokerUrl);
  if (!(VOLUNTEER_KINDS as readonly string[]).includes(config.kind)) {
    throw new RelayWorkerConfigError('kind', `must be one of ${VOLUNTEER_KINDS.join(', ')}`);
  }
  if (!(NAT_CLASSES as readonly string[]).includes(config.nat)) {
    throw new RelayWorkerConfigError('nat', `must be one of ${NAT_CLASSES.join(', ')}`);
  }
  requireIntegerFields(
    config,
    {
      maxClients: [1, MAX_VOLUNTEER_SLOTS],
      maxPersonalClients: [0, MAX_VOLUNTEER_SLOTS],
      answerTimeoutMs: [1, MAX_CONFIG_DELAY_MS],
      dataChannelOpenTimeoutMs: [1, MAX_CONFIG_DELAY_MS],
      exitOpenTimeoutMs: [1, MAX_CONFIG_DELAY_MS],
      maxBufferedBytes: [MAX_RECORD_BYTES, MAX_BUFFERED_BYTES_LIMIT],
      maxBytesPerSecond: [0, Number.MAX_SAFE_INTEGER],
      monthlyDataCapBytes: [0, Number.MAX_SAFE_INTEGER],
      brokerConnectTimeoutMs: [1, MAX_CONFIG_DELAY_MS],
      brokerReconnectDelayMs: [1, MAX_CONFIG_DELAY_MS],
      brokerReconnectMaxDelayMs: [1, MAX_CONFIG_DELAY_MS],
    },
    (field, message) => new RelayWorkerConfigError(field, message),
    (field) => `the value (in ${FIELD_UNITS[field] ?? 'units'})`,
  );
  verifyIceServers(config.iceServers);
  verifyPairingTokens(config.pairingTokens);
  verifyExitListKeys(config.exitListKeys);
  if (config.dataChannelOpenTimeoutMs <= config.answerTimeoutMs) {
    throw new RelayWorkerConfigError('dataChannelOpenTimeoutMs', 'must be larger than answerTimeoutMs: the client needs the answer before it can connect');
  }
  if (config.maxBytesPerSecond !== 0 && config.maxBytesPerSecond < MIN_RATE_LIMIT_BYTES_PER_SECOND) {
    throw new RelayWorkerConfigError(
      'maxBytesPerSecond',
      `must be 0 (no cap) or at least ${MIN_RATE_LIMIT_BYTES_PER_SECOND} bytes a second (256 kbit/s): below it one full tunnel record would take over 8 s`,
    );
  }
  if (config.monthlyDataCapBytes !== 0 && config.monthlyDataCapBytes < MIN_MONTHLY_DATA_CAP_BYTES) {
    throw new RelayWorkerConfigError('monthlyDataCapBytes', `must be 0 (no cap) or at least 1 MiB (${MIN_MONTHLY_DATA_CAP_BYTES} bytes)`);
  }
  if (config.brokerReconnectMaxDelayMs < config.brokerReconnectDelayMs) {
    throw new RelayWorkerConfigError('brokerReconnectMaxDelayMs', 'must be at least brokerReconnectDelayMs');
  }
}

function verifyPairingTokens(tokens: unknown): void {
  if (!Array.isArray(tokens) || tokens.length > MAX_PAIRINGS_PER_VOLUNTEER || !tokens.every(isPairingText)) {
    throw new RelayWorkerConfigError(
      'pairingTokens',
      `must be at most ${MAX_PAIRINGS_PER_VOLUNTEER} pairing tokens (43 base64url characters each, as "ferry pairing new" prints)`,
    );
  }
}

function verifyExitListKeys(keys: unknown): void {
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new RelayWorkerConfigError('exitListKeys', "must hold the network operator's exit-list key (ask the operator of your broker)");
  }
  try {
    parseOperatorPublicKeys(keys);
  } catch (error) {
    if (error instanceof OperatorKeyError) throw new RelayWorkerConfigError('exitListKeys', error.message);
    throw error;
  }
}

function verifyIceServers(iceServers: unknown): void {
  if (!Array.isArray(iceServers)) throw new RelayWorkerConfigError('iceServers', 'must be an array of {urls}');
  for (const server of iceServers) {
    const urls: unknown = typeof server === 'object' && server !== null ? (server as { urls?: unknown }).urls : undefined;
    const list = typeof urls === 'string' ? [urls] : urls;
    if (!Array.isArray(list) || list.length === 0 || !list.every((url) => typeof url === 'string' && /^(stun|stuns|turn|turns):/.test(url))) {
      throw new RelayWorkerConfigError('iceServers', 'each server needs "urls": stun:, stuns:, turn: or turns: URLs');
    }
  }
}

/** The broker's volunteer socket URL for an http(s) broker base URL. Throws RelayWorkerConfigError. */
export function volunteerSocketUrl(brokerUrl: string): string {
  let url: URL;
  try {
    url = new URL(brokerUrl);
  } catch {
    throw new RelayWorkerConfigError('brokerUrl', `"${brokerUrl}" is not a URL; use e.g. https://broker.example.org`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RelayWorkerConfigError('brokerUrl', `must start with http:// or https://, got ${url.protocol}`);
  }
  const socketUrl = new URL(BrokerRoute.VOLUNTEER, url);
  socketUrl.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return socketUrl.href;
}
