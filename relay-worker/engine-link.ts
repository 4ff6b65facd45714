/**
 * @module engine-link
 * The messages between `ferry volunteer` and the page it runs its relay in, inside its own headless Chromium (the
 * default engine, chromium-engine.ts; the page's side is engine-page.ts). They travel as JSON text over one WebSocket
 * on loopback. The page relays with the browser's own WebRTC, so the DTLS handshake that crosses a border is
 * Chromium's; the Node process keeps what a browser page cannot do: flags, the NAT measurement, the state file, the
 * metrics server and the service manager's signals.
 * Runtime-neutral.
 */
import { parseRelayStatus, type RelayStatus } from '../protocol/relay-status.ts';
import { isRecord, requireCount, requireText } from '../protocol/validate.ts';
import type { RelayWorkerConfig } from './config.ts';
import type { MonthlyUsage } from './monthly-cap.ts';

/** Largest link message either side accepts (bytes of JSON): a config with its pairing tokens, or a status. */
export const MAX_ENGINE_LINK_MESSAGE_BYTES = 64 * 1024;
/** The link's path on the engine's loopback server; the page adds `?key=` (the secret it was opened with). */
export const ENGINE_LINK_PATH = '/link';

/** `ferry volunteer` to its page. */
export type EngineCommand =
  /** Relay with this configuration (already validated by the command line); `usage` is the month's count so far. */
  | { type: 'start'; config: RelayWorkerConfig; usage?: MonthlyUsage }
  /** Stop relaying: close the broker connection and every pair, then answer `stopped`. */
  | { type: 'stop' };

/** The page to `ferry volunteer`. */
export type EngineReport =
  /** The page is loaded and has the browser APIs the relay needs; it waits for `start`. */
  | { type: 'ready'; userAgent: string }
  | { type: 'status'; status: RelayStatus }
  /** The monthly count changed: the Node side keeps it in the state file. */
  | { type: 'usage'; usage: MonthlyUsage }
  /** The relay stopped after a `stop`; `status` is its last. */
  | { type: 'stopped'; status: RelayStatus }
  /** The page could not relay (a bad config, a missing browser API): the command says this and ends. */
  | { type: 'failed'; message: string };

/** A link message is malformed or too large; the message says which part. */
export class EngineLinkError extends Error {
  override readonly name = 'EngineLinkError';
  readonly code = 'ENGINE_LINK_BAD';
}

const fail = (message: string): Error => new EngineLinkError(message);

/** The page's reading of a command; the config is checked again by createRelayWorkerConfig where it is used. */
export function parseEngineCommand(text: string): EngineCommand {
  const value = parseLinkJson(text);
  switch (value.type) {
    case 'start': {
      if (!isRecord(value.config)) throw fail('"start" needs a "config" object');
      const command: EngineCommand = { type: 'start', config: value.config as unknown as RelayWorkerConfig };
      if (value.usage !== undefined) command.usage = parseUsage(value.usage);
      return command;
    }
    case 'stop':
      return { type: 'stop' };
    default:
      throw fail(`unknown command type ${JSON.stringify(value.type)}`);
  }
}

/** `ferry volunteer`'s reading of a report. */
export function parseEngineReport(text: string): EngineReport {
  const value = parseLinkJson(text);
  switch (value.type) {
    case 'ready':
      return { type: 'ready', userAgent: requireText(value.userAgent, '"userAgent"', 1_000, fail) };
    case 'status':
      return { type: 'status', status: parseRelayStatus(value.status) };
    case 'usage':
      return { type: 'usage', usage: parseUsage(value.usage) };
    case 'stopped':
      return { type: 'stopped', status: parseRelayStatus(value.status) };
    case 'failed':
      return { type: 'failed', message: requireText(value.message, '"message"', 2_000, fail) };
    default:
      throw fail(`unknown report type ${JSON.stringify(value.type)}`);
  }
}

function parseLinkJson(text: string): Record<string, unknown> {
  if (text.length > MAX_ENGINE_LINK_MESSAGE_BYTES) throw fail(`a link message of ${text.length} characters is over ${MAX_ENGINE_LINK_MESSAGE_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw fail('a link message is not JSON');
  }
  if (!isRecord(value)) throw fail('a link message must be a JSON object');
  return value;
}

function parseUsage(value: unknown): MonthlyUsage {
  if (!isRecord(value)) throw fail('"usage" must be an object');
  const month = requireText(value.month, '"usage.month"', 7, fail);
  if (!/^\d{4}-\d{2}$/.test(month)) throw fail(`"usage.month" must be YYYY-MM, got ${JSON.stringify(month)}`);
  return { month, bytes: requireCount(value.bytes, '"usage.bytes"', fail) };
}
