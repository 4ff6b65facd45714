/**
 * @module relay-status
 * What a volunteer reports to the UI that hosts it: the extension's popup (through the service worker), a Ferry tab,
 * an embedded widget's frame. The relay core (relay-worker/) produces it; every shell validates it with
 * parseRelayStatus before showing it. Wording is honest on purpose: volunteers who see "connecting" and never
 * "connected" think the product is broken, while in fact supply often exceeds demand and they are simply waiting.
 * Runtime-neutral.
 */
import { type Fail, isRecord, optionalText, requireCount, requireOneOf } from './validate.ts';

/**
 * - connecting: the first connection to the broker is being made;
 * - waiting: connected to the broker, waiting for someone who needs help;
 * - relaying: relaying for at least one person right now;
 * - broker-unreachable: the broker cannot be reached; retrying with growing delays;
 * - paused: a limit the volunteer set holds it (the monthly data cap): not connected, until `pausedUntil`;
 * - stopped: not relaying and not connected (never started, or stopped).
 */
export const RELAY_STATES = ['connecting', 'waiting', 'relaying', 'broker-unreachable', 'paused', 'stopped'] as const;
export type RelayState = (typeof RELAY_STATES)[number];

/** Why a volunteer is paused: its monthly data cap is used up, or the device runs on battery or a metered connection. */
export const PAUSE_REASONS = ['monthly-cap', 'battery', 'metered'] as const;
export type PauseReason = (typeof PAUSE_REASONS)[number];

export interface RelayStatus {
  state: RelayState;
  /** People whose data channel is open right now. */
  clientsNow: number;
  /** People helped since this worker was created (data channel opened). */
  clientsTotal: number;
  /** Bytes passed from clients to exits since this worker was created. */
  bytesClientToExit: number;
  /** Bytes passed from exits to clients since this worker was created. */
  bytesExitToClient: number;
  /** The most recent problem, in words a volunteer can act on. */
  lastError?: string;
  /** While paused: which limit, in words, and when it lifts (ms since the epoch; absent when the device decides). */
  pausedBy?: string;
  pauseReason?: PauseReason;
  pausedUntil?: number;
  /** While broker-unreachable: when the next attempt starts (ms since the epoch), for "retrying in N s". */
  retryAt?: number;
}

/** A status with nothing counted yet, in `state`: before a worker reports, or for one that never ran. */
export function idleRelayStatus(state: RelayState): RelayStatus {
  return { state, clientsNow: 0, clientsTotal: 0, bytesClientToExit: 0, bytesExitToClient: 0 };
}

/** Longest lastError kept from a report (characters). */
export const MAX_RELAY_ERROR_CHARS = 2_000;

/** A relay status report is malformed; `message` names the field. */
export class RelayStatusFormatError extends Error {
  override readonly name = 'RelayStatusFormatError';
  readonly code = 'RELAY_STATUS_BAD';
}

const fail: Fail = (message) => new RelayStatusFormatError(message);

export function parseRelayStatus(value: unknown): RelayStatus {
  if (!isRecord(value)) throw new RelayStatusFormatError('a relay status must be a JSON object');
  const status: RelayStatus = {
    state: requireOneOf(value.state, '"state"', RELAY_STATES, fail),
    clientsNow: requireCount(value.clientsNow, '"clientsNow"', fail),
    clientsTotal: requireCount(value.clientsTotal, '"clientsTotal"', fail),
    bytesClientToExit: requireCount(value.bytesClientToExit, '"bytesClientToExit"', fail),
    bytesExitToClient: requireCount(value.bytesExitToClient, '"bytesExitToClient"', fail),
  };
  if (value.lastError !== undefined) status.lastError = optionalText(value.lastError, '"lastError"', MAX_RELAY_ERROR_CHARS, fail);
  if (value.pausedBy !== undefined) status.pausedBy = optionalText(value.pausedBy, '"pausedBy"', MAX_RELAY_ERROR_CHARS, fail);
  if (value.pausedUntil !== undefined) status.pausedUntil = requireCount(value.pausedUntil, '"pausedUntil"', fail);
  if (value.pauseReason !== undefined) status.pauseReason = requireOneOf(value.pauseReason, '"pauseReason"', PAUSE_REASONS, fail);
  if (value.retryAt !== undefined) status.retryAt = requireCount(value.retryAt, '"retryAt"', fail);
  return status;
}
