/**
 * @module exit-server/config
 * Tunables of an exit, with defaults and one up-front check. How they relate:
 * - streams per session x streamReceiveWindowBytes is capped by sessionReceiveWindowBytes, so one session buffers at
 *   most sessionReceiveWindowBytes from its client, and maxSessions x that bounds the whole exit.
 * - connectTimeoutMs should stay below the helper's open timeout, so the client hears why rather than "timed out".
 * - sessionSilenceTimeoutMs must leave room for the client's heartbeat (500 ms) and its own silence limit (5 s): an
 *   honest client that lost its volunteer resumes through another long before the exit calls its path silent.
 * - maxDetachedSessions is at most maxSessions; maxPathsPerAddress bounds what one volunteer address can hold (a
 *   volunteer carries at most 32 clients, protocol/signaling.ts MAX_VOLUNTEER_SLOTS).
 * - Outbound (destination -> client) bytes are budgeted (outbound-budget.ts): stream bytes waiting for the client's
 *   credit plus sealed records waiting for its ACK. Without a budget, one session that never returns credit held
 *   about 100 MiB: 256 streams x (256 KiB stream queue + a read in the stream adapter + up to 80 KiB of socket
 *   read-ahead), plus up to 21 MiB sent and unacknowledged. With the defaults one session holds at most
 *   maxQueuedBytesPerSession (16 MiB: an honest client's whole 8 MiB session window in flight, as much again queued
 *   behind it), and all sessions together at most maxQueuedBytesTotal (256 MiB): 1,000 reserves of 192 KiB
 *   (187.5 MiB; every session keeps two 64 KiB reads in flight however full the exit is) plus a 68.5 MiB pool shared
 *   first come first served (four sessions at their full budget). The per-session budget stays below
 *   session.maxReplayBufferBytes, so a client that stops acknowledging pauses its destinations before its replay
 *   buffer can fill and close the session. Raising maxSessions means raising maxQueuedBytesTotal with it.
 */
import { InvalidConfigError, MAX_RECORD_BYTES, type SessionConfig, verifySessionConfig } from '../protocol/index.ts';
import { EXIT_RELAY_PATH } from '../protocol/signaling.ts';
import { requireIntegerFields } from '../protocol/validate.ts';
import { parseRange } from './egress-policy.ts';
import { READ_COST_BYTES } from './outbound-budget.ts';

/** Smallest per-session outbound budget (bytes): room for a few full records in flight. */
const MIN_QUEUED_BYTES_PER_SESSION = 4 * MAX_RECORD_BYTES;

export interface ExitConfig {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** WebSocket path volunteers connect to. */
  path: string;
  /** Allows loopback destinations (127.0.0.0/8, ::1): for tests and the local demo only. */
  allowLoopback: boolean;
  /** Destination ports refused whatever the address (SMTP: abuse magnet). */
  blockedPorts: readonly number[];
  /** The operator's own refused ranges (CIDR), on top of the built-in ones; also applied to embedded IPv4. */
  deniedRanges: readonly string[];
  /**
   * Ranges (CIDR) taken out of the built-in refusals: a lab network on documentation addresses, a private network
   * the exit is meant to serve. The operator's deniedRanges and the exit's own addresses still apply.
   */
  allowedRanges: readonly string[];
  /** Most client sessions at once, detached ones included; further volunteers get a REFUSED record. */
  maxSessions: number;
  /** Most sessions kept without a path, waiting for a resume; beyond it the longest-waiting one is freed. */
  maxDetachedSessions: number;
  /** A session that sends nothing on its path for this long loses the path (a silent attacker holds no slot). */
  sessionSilenceTimeoutMs: number;
  /** Most WebSocket paths one volunteer address may hold open. */
  maxPathsPerAddress: number;
  /** Most new sessions one volunteer address may start per minute. */
  maxHandshakesPerAddressPerMinute: number;
  /** Time to resolve and connect to a destination. */
  connectTimeoutMs: number;
  /** Time a stream may pass no bytes either way before it is closed. */
  streamIdleTimeoutMs: number;
  /**
   * Most bytes the exit holds for one session toward its client (bytes): stream bytes waiting for the client's credit
   * plus sealed records waiting for its ACK. At this budget the session's destinations are no longer read, until the
   * client drains it to three quarters. At least 1 MiB, and at least 256 KiB below session.maxReplayBufferBytes.
   */
  maxQueuedBytesPerSession: number;
  /**
   * Most bytes the exit holds for all sessions together (same count). Must hold every session's reserve
   * (maxSessions x reservedQueuedBytesPerSession) plus one whole maxQueuedBytesPerSession; the rest is a pool shared
   * first come first served, and sessions above their reserve stop reading while it is full.
   */
  maxQueuedBytesTotal: number;
  /**
   * Bytes every session may hold however full the exit is (bytes), set aside out of maxQueuedBytesTotal for each of
   * maxSessions: sessions that never return credit cannot starve an honest one. At least one read (65 KiB).
   */
  reservedQueuedBytesPerSession: number;
  /** Session tunables (streams per session, receive windows, handshake timeout). */
  session: Partial<SessionConfig>;
}

export const defaultExitConfig: Readonly<ExitConfig> = Object.freeze({
  host: '127.0.0.1',
  port: 8788,
  path: EXIT_RELAY_PATH,
  allowLoopback: false,
  blockedPorts: [25],
  deniedRanges: [],
  allowedRanges: [],
  maxSessions: 1_000,
  maxDetachedSessions: 250,
  sessionSilenceTimeoutMs: 30_000,
  maxPathsPerAddress: 64,
  maxHandshakesPerAddressPerMinute: 120,
  connectTimeoutMs: 8_000,
  streamIdleTimeoutMs: 5 * 60_000,
  maxQueuedBytesPerSession: 16 * 1024 * 1024,
  maxQueuedBytesTotal: 256 * 1024 * 1024,
  reservedQueuedBytesPerSession: 192 * 1024,
  session: {},
});

export function verifyExitConfig(partial: Partial<ExitConfig> = {}): ExitConfig {
  const config: ExitConfig = { ...defaultExitConfig, ...partial };
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65_535) throw new InvalidConfigError(`port must be 0..65535, got ${config.port}`);
  if (!config.path.startsWith('/')) throw new InvalidConfigError(`path must start with "/", got ${config.path}`);
  requireIntegerFields(
    config,
    {
      maxSessions: [1, 10_000_000],
      maxDetachedSessions: [1, config.maxSessions],
      sessionSilenceTimeoutMs: [100, 3_600_000],
      maxPathsPerAddress: [1, 1_000_000],
      maxHandshakesPerAddressPerMinute: [1, 1_000_000],
    },
    (_field, message) => new InvalidConfigError(message),
  );
  if (!Number.isInteger(config.connectTimeoutMs) || config.connectTimeoutMs < 100) throw new InvalidConfigError('connectTimeoutMs must be at least 100');
  if (!Number.isInteger(config.streamIdleTimeoutMs) || config.streamIdleTimeoutMs < 1_000)
    throw new InvalidConfigError('streamIdleTimeoutMs must be at least 1000');
  for (const port of config.blockedPorts) {
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new InvalidConfigError(`blockedPorts has an invalid port ${port}`);
  }
  for (const range of [...config.deniedRanges, ...config.allowedRanges]) parseRange(range);
  const session = verifySessionConfig(config.session);
  verifyOutboundBudget(config, session);
  return config;
}

/** The outbound budgets: each in range, and fitting together and with the session's replay buffer. */
function verifyOutboundBudget(config: ExitConfig, session: SessionConfig): void {
  requireIntegerFields(
    config,
    {
      maxQueuedBytesPerSession: [MIN_QUEUED_BYTES_PER_SESSION, Number.MAX_SAFE_INTEGER],
      // One read must fit the reserve, or a session at it could never move.
      reservedQueuedBytesPerSession: [READ_COST_BYTES, config.maxQueuedBytesPerSession],
      maxQueuedBytesTotal: [config.maxQueuedBytesPerSession, Number.MAX_SAFE_INTEGER],
    },
    (_field, message) => new InvalidConfigError(message),
  );
  const replayRoomBytes = session.maxReplayBufferBytes - MAX_RECORD_BYTES;
  if (config.maxQueuedBytesPerSession > replayRoomBytes) {
    throw new InvalidConfigError(
      `maxQueuedBytesPerSession (${config.maxQueuedBytesPerSession}) must be at most session.maxReplayBufferBytes - ${MAX_RECORD_BYTES} ` +
        `(${replayRoomBytes}): the replay buffer holds part of what the budget counts, and one that filled first would close the session ` +
        'instead of pausing its destinations. Lower maxQueuedBytesPerSession or raise session.maxReplayBufferBytes.',
    );
  }
  const reservesBytes = config.maxSessions * config.reservedQueuedBytesPerSession;
  if (config.maxQueuedBytesTotal < reservesBytes + config.maxQueuedBytesPerSession) {
    throw new InvalidConfigError(
      `maxQueuedBytesTotal (${config.maxQueuedBytesTotal}) must hold every session's reserve (maxSessions ${config.maxSessions} x ` +
        `reservedQueuedBytesPerSession ${config.reservedQueuedBytesPerSession} = ${reservesBytes}) plus one whole maxQueuedBytesPerSession ` +
        `(${config.maxQueuedBytesPerSession}): at least ${reservesBytes + config.maxQueuedBytesPerSession}. Raise it, or lower maxSessions or ` +
        'reservedQueuedBytesPerSession.',
    );
  }
}
