/**
 * @module messages
 * chrome.runtime messages between the popup, the service worker and the offscreen document. Every message names its
 * `target`, because chrome.runtime.sendMessage reaches every extension page at once; each receiver ignores messages
 * for others and validates its own with the parsers below before acting.
 */
import { parseExitInfo, SignalingFormatError, type ExitInfo } from '../protocol/signaling.ts';
import { SESSION_STATES } from './local-channel-parsers.ts';
import type { TrafficSample } from './traffic-rate.ts';
import {
  HELP_OTHERS_PHASES,
  PROXY_ME_PHASES,
  RELAY_STATES,
  WEBRTC_GUARD_STATES,
  type ClientPathEvent,
  type RelayStatusReport,
  type SessionReport,
  type UiState,
} from './ui-state.ts';

// ---- to the service worker ----
export type BackgroundMessage =
  | { target: 'background'; type: 'get-state' }
  | { target: 'background'; type: 'set-proxy-me'; on: boolean }
  | { target: 'background'; type: 'set-help-others'; on: boolean }
  | { target: 'background'; type: 'relay-status'; status: RelayStatusReport }
  | { target: 'background'; type: 'client-path'; event: ClientPathEvent }
  | { target: 'background'; type: 'client-session'; session: SessionReport };

// ---- to the offscreen document ----
export interface HelpStartMessage {
  target: 'offscreen';
  type: 'help-start';
  brokerUrl: string;
  maxClients: number;
}
export interface ClientStartMessage {
  target: 'offscreen';
  type: 'client-start';
  pipeUrl: string;
  token: string;
  brokerUrl: string;
  exit: ExitInfo;
}
export type OffscreenMessage =
  | HelpStartMessage
  | { target: 'offscreen'; type: 'help-stop' }
  | ClientStartMessage
  | { target: 'offscreen'; type: 'client-stop' };

/** The offscreen document's reply to every OffscreenMessage. */
export type OffscreenReply = { ok: true } | { ok: false; error: string };

// The popup gets no messages: it follows the UiState in chrome.storage.session (background/state.ts).

export type MessageTarget = 'background' | 'offscreen';

/** A message for this receiver was malformed. */
export class MessageFormatError extends Error {
  override readonly name = 'MessageFormatError';
  readonly code = 'BAD_MESSAGE';
}

const MAX_TEXT_CHARS = 2000;
const MAX_URL_CHARS = 2048;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(obj: Record<string, unknown>, field: string, maxChars = MAX_TEXT_CHARS): string {
  const value = obj[field];
  if (typeof value !== 'string') throw new MessageFormatError(`"${field}" must be a string`);
  return value.slice(0, maxChars);
}

function nonEmptyText(obj: Record<string, unknown>, field: string, maxChars = MAX_TEXT_CHARS): string {
  const value = obj[field];
  if (typeof value !== 'string' || value === '' || value.length > maxChars) {
    throw new MessageFormatError(`"${field}" must be a non-empty string of at most ${maxChars} characters`);
  }
  return value;
}

function count(obj: Record<string, unknown>, field: string): number {
  const value = obj[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new MessageFormatError(`"${field}" must be a count`);
  return value;
}

function flag(obj: Record<string, unknown>, field: string): boolean {
  const value = obj[field];
  if (typeof value !== 'boolean') throw new MessageFormatError(`"${field}" must be true or false`);
  return value;
}

function url(obj: Record<string, unknown>, field: string, schemes: readonly string[]): string {
  const value = nonEmptyText(obj, field, MAX_URL_CHARS);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new MessageFormatError(`"${field}" must be a URL`);
  }
  if (!schemes.includes(parsed.protocol)) throw new MessageFormatError(`"${field}" must be a ${schemes.join(' or ')} URL`);
  return value;
}

function oneOf<T extends string>(obj: Record<string, unknown>, field: string, allowed: readonly T[]): T {
  const value = obj[field];
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new MessageFormatError(`"${field}" must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/** The `target` of a message, or undefined when it is not one of ours. Receivers check this before parsing. */
export function messageTarget(value: unknown): MessageTarget | undefined {
  if (!isRecord(value)) return undefined;
  return value.target === 'background' || value.target === 'offscreen' ? value.target : undefined;
}

export function parseRelayStatusReport(value: unknown): RelayStatusReport {
  if (!isRecord(value)) throw new MessageFormatError('"status" must be an object');
  const report: RelayStatusReport = {
    state: oneOf(value, 'state', RELAY_STATES),
    clientsNow: count(value, 'clientsNow'),
    clientsTotal: count(value, 'clientsTotal'),
    bytesClientToExit: count(value, 'bytesClientToExit'),
    bytesExitToClient: count(value, 'bytesExitToClient'),
  };
  if (value.lastError !== undefined) report.lastError = text(value, 'lastError');
  return report;
}

export function parseSessionReport(value: unknown): SessionReport {
  if (!isRecord(value)) throw new MessageFormatError('"session" must be an object');
  return {
    state: oneOf(value, 'state', SESSION_STATES),
    bytesUp: count(value, 'bytesUp'),
    bytesDown: count(value, 'bytesDown'),
    streams: count(value, 'streams'),
    pathChanges: count(value, 'pathChanges'),
  };
}

/** Most traffic samples accepted in a UiState (the service worker keeps far fewer). */
const MAX_TRAFFIC_SAMPLES_ACCEPTED = 64;

function trafficSamples(obj: Record<string, unknown>, field: string): TrafficSample[] {
  const value = obj[field];
  if (!Array.isArray(value) || value.length > MAX_TRAFFIC_SAMPLES_ACCEPTED) throw new MessageFormatError(`"${field}" must be a list of at most ${MAX_TRAFFIC_SAMPLES_ACCEPTED} samples`);
  return value.map((sample: unknown) => {
    if (!isRecord(sample)) throw new MessageFormatError(`"${field}" must hold {atMs, bytesUp, bytesDown} samples`);
    return { atMs: count(sample, 'atMs'), bytesUp: count(sample, 'bytesUp'), bytesDown: count(sample, 'bytesDown') };
  });
}

export function parseClientPathEvent(value: unknown): ClientPathEvent {
  if (!isRecord(value)) throw new MessageFormatError('"event" must be an object');
  switch (value.kind) {
    case 'finding':
      return { kind: 'finding' };
    case 'up':
      return { kind: 'up' };
    case 'down':
      return { kind: 'down', reason: text(value, 'reason') };
    case 'error':
      return { kind: 'error', code: nonEmptyText(value, 'code', 64), message: text(value, 'message'), retryInMs: count(value, 'retryInMs') };
    case 'pipe-closed':
      return { kind: 'pipe-closed', reason: text(value, 'reason') };
    default:
      throw new MessageFormatError('"event.kind" must be one of finding, up, down, error, pipe-closed');
  }
}

export function parseBackgroundMessage(value: unknown): BackgroundMessage {
  if (!isRecord(value) || value.target !== 'background') throw new MessageFormatError('not a message for the service worker');
  switch (value.type) {
    case 'get-state':
      return { target: 'background', type: 'get-state' };
    case 'set-proxy-me':
      return { target: 'background', type: 'set-proxy-me', on: flag(value, 'on') };
    case 'set-help-others':
      return { target: 'background', type: 'set-help-others', on: flag(value, 'on') };
    case 'relay-status':
      return { target: 'background', type: 'relay-status', status: parseRelayStatusReport(value.status) };
    case 'client-path':
      return { target: 'background', type: 'client-path', event: parseClientPathEvent(value.event) };
    case 'client-session':
      return { target: 'background', type: 'client-session', session: parseSessionReport(value.session) };
    default:
      throw new MessageFormatError(`unknown service worker message type ${JSON.stringify(value.type)}`);
  }
}

export function parseOffscreenMessage(value: unknown): OffscreenMessage {
  if (!isRecord(value) || value.target !== 'offscreen') throw new MessageFormatError('not a message for the offscreen document');
  switch (value.type) {
    case 'help-start': {
      const maxClients = count(value, 'maxClients');
      if (maxClients < 1) throw new MessageFormatError('"maxClients" must be at least 1');
      return { target: 'offscreen', type: 'help-start', brokerUrl: url(value, 'brokerUrl', ['http:', 'https:']), maxClients };
    }
    case 'help-stop':
      return { target: 'offscreen', type: 'help-stop' };
    case 'client-start': {
      let exit: ExitInfo;
      try {
        exit = parseExitInfo(value.exit);
      } catch (error) {
        if (error instanceof SignalingFormatError) throw new MessageFormatError(`"exit": ${error.message}`);
        throw error;
      }
      return {
        target: 'offscreen',
        type: 'client-start',
        pipeUrl: url(value, 'pipeUrl', ['ws:', 'wss:']),
        token: nonEmptyText(value, 'token', 512),
        brokerUrl: url(value, 'brokerUrl', ['http:', 'https:']),
        exit,
      };
    }
    case 'client-stop':
      return { target: 'offscreen', type: 'client-stop' };
    default:
      throw new MessageFormatError(`unknown offscreen message type ${JSON.stringify(value.type)}`);
  }
}

/** Validates a UiState: the stored one the popup follows, and the service worker's reply to every BackgroundMessage. */
export function parseUiState(value: unknown): UiState {
  if (!isRecord(value) || !isRecord(value.proxyMe) || !isRecord(value.helpOthers)) throw new MessageFormatError('"state" must be {proxyMe, helpOthers}');
  const proxyMe = value.proxyMe;
  const helpOthers = value.helpOthers;
  return {
    proxyMe: {
      on: flag(proxyMe, 'on'),
      phase: oneOf(proxyMe, 'phase', PROXY_ME_PHASES),
      detail: text(proxyMe, 'detail'),
      bytesUp: count(proxyMe, 'bytesUp'),
      bytesDown: count(proxyMe, 'bytesDown'),
      streams: count(proxyMe, 'streams'),
      socksPort: count(proxyMe, 'socksPort'),
      httpPort: count(proxyMe, 'httpPort'),
      helperPid: count(proxyMe, 'helperPid'),
      exitId: text(proxyMe, 'exitId'),
      session: oneOf(proxyMe, 'session', SESSION_STATES),
      pathUp: flag(proxyMe, 'pathUp'),
      pathChanges: count(proxyMe, 'pathChanges'),
      connectedSinceMs: count(proxyMe, 'connectedSinceMs'),
      traffic: trafficSamples(proxyMe, 'traffic'),
      webRtcGuard: oneOf(proxyMe, 'webRtcGuard', WEBRTC_GUARD_STATES),
    },
    helpOthers: {
      on: flag(helpOthers, 'on'),
      phase: oneOf(helpOthers, 'phase', HELP_OTHERS_PHASES),
      clientsNow: count(helpOthers, 'clientsNow'),
      clientsTotal: count(helpOthers, 'clientsTotal'),
      bytesClientToExit: count(helpOthers, 'bytesClientToExit'),
      bytesExitToClient: count(helpOthers, 'bytesExitToClient'),
      lastError: text(helpOthers, 'lastError'),
    },
  };
}
