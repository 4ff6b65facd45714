/**
 * @module exit-server/config
 * Tunables of an exit, with defaults and one up-front check. How they relate:
 * - streams per session x streamReceiveWindowBytes is capped by sessionReceiveWindowBytes, so one session buffers at
 *   most sessionReceiveWindowBytes from its client, and maxSessions x that bounds the whole exit.
 * - connectTimeoutMs should stay below the helper's open timeout, so the client hears why rather than "timed out".
 */
import { InvalidConfigError, type SessionConfig, verifySessionConfig } from '../protocol/index.ts';
import { EXIT_RELAY_PATH } from '../protocol/signaling.ts';
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
  /** Most client sessions at once; further volunteers get a REFUSED record. */
  maxSessions: number;
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
  connectTimeoutMs: 8_000,
  streamIdleTimeoutMs: 5 * 60_000,
  session: {},
});

export function verifyExitConfig(partial: Partial<ExitConfig> = {}): ExitConfig {
  const config: ExitConfig = { ...defaultExitConfig, ...partial };
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65_535) throw new InvalidConfigError(`port must be 0..65535, got ${config.port}`);
  if (!config.path.startsWith('/')) throw new InvalidConfigError(`path must start with "/", got ${config.path}`);
  if (!Number.isInteger(config.maxSessions) || config.maxSessions < 1) throw new InvalidConfigError('maxSessions must be a positive integer');
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
