/**
 * @module exit-server/config
 * Tunables of an exit, with defaults and one up-front check. How they relate:
 * - streams per session x streamReceiveWindowBytes is capped by sessionReceiveWindowBytes, so one session buffers at
 *   most sessionReceiveWindowBytes from its client, and maxSessions x that bounds the whole exit.
 * - connectTimeoutMs should stay below the helper's open timeout, so the client hears why rather than "timed out".
 * - sessionSilenceTimeoutMs must leave room for the client's heartbeat (1 s) and its own silence limit (5 s): an
 *   honest client that lost its volunteer resumes through another long before the exit calls its path silent.
 * - maxDetachedSessions is at most maxSessions; maxPathsPerAddress bounds what one volunteer address can hold (a
 *   volunteer carries at most 32 clients, protocol/signaling.ts MAX_VOLUNTEER_SLOTS).
 */
import { InvalidConfigError, type SessionConfig, verifySessionConfig } from '../protocol/index.ts';
import { EXIT_RELAY_PATH } from '../protocol/signaling.ts';
import { requireIntegerFields } from '../protocol/validate.ts';
import { parseRange } from './egress-policy.ts';

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
  maxSessions: 1_000,
  maxDetachedSessions: 250,
  sessionSilenceTimeoutMs: 30_000,
  maxPathsPerAddress: 64,
  maxHandshakesPerAddressPerMinute: 120,
  connectTimeoutMs: 8_000,
  streamIdleTimeoutMs: 5 * 60_000,
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
  for (const range of config.deniedRanges) parseRange(range);
  verifySessionConfig(config.session);
  return config;
}
