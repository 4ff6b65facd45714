/**
 * @module messages
 * chrome.runtime messages between the popup, the service worker and the offscreen document. Every message names its
 * `target`, because chrome.runtime.sendMessage reaches every extension page at once; each receiver ignores messages
 * for others and validates its own with the parsers below before acting.
 */
import { MAX_PATHS_PER_SESSION } from '../protocol/config.ts';
import { ExitListError, type NetworkRendezvous, parseNetworkRendezvous } from '../protocol/exit-list.ts';
import {
  isTransportHostList,
  LocalChannelFormatError,
  parseSessionReport,
  type SessionReport,
  TRANSPORT_HOSTS_RULE,
  WHOLE_DEVICE_STATES,
  type WholeDeviceState,
} from '../protocol/local-channel.ts';
import { isPairingText, MAX_PAIRINGS_PER_VOLUNTEER } from '../protocol/pairing.ts';
import { parseRelayStatus, type RelayStatus, RelayStatusFormatError } from '../protocol/relay-status.ts';
import { type ExitInfo, NAT_CLASSES, type NatClass, parseExitInfo, requireStunUrls, SignalingFormatError } from '../protocol/signaling.ts';
import { type Fail, isRecord, optionalText, requireBoolean, requireCount, requireText, requireUrl } from '../protocol/validate.ts';
import type { MonthlyUsage } from '../relay-worker/monthly-cap.ts';
import type { SelfCheckResult, SelfCheckStep } from '../relay-worker/self-check.ts';
import { parseExitListKeys, SettingsError } from './settings.ts';
import type { ClientPathEvent } from './ui-state.ts';

// ---- to the service worker ----
export type BackgroundMessage =
  | { target: 'background'; type: 'get-state' }
  | { target: 'background'; type: 'set-proxy-me'; on: boolean }
  /** The popup's "Whole device" switch, under Proxy me. */
  | { target: 'background'; type: 'set-whole-device'; on: boolean }
  | { target: 'background'; type: 'set-help-others'; on: boolean }
  | { target: 'background'; type: 'relay-status'; status: RelayStatus }
  | { target: 'background'; type: 'client-path'; event: ClientPathEvent }
  | { target: 'background'; type: 'client-session'; session: SessionReport }
  /** From the content script on a pairing link page: `link` is the page's address, token in the fragment. */
  | { target: 'background'; type: 'add-pairing'; link: string }
  /** From the offscreen document: this month's count of the monthly data cap, to keep across restarts. */
  | { target: 'background'; type: 'help-usage'; usage: MonthlyUsage };

// ---- to the offscreen document ----
export interface HelpStartMessage {
  target: 'offscreen';
  type: 'help-start';
  brokerUrl: string;
  maxClients: number;
  /** The bandwidth cap (relay-worker/rate-limit.ts), bytes a second; 0 = none. */
  maxBytesPerSecond: number;
  /** The monthly data cap (relay-worker/monthly-cap.ts), bytes; 0 = none. */
  monthlyDataCapBytes: number;
  /** The count the cap kept from earlier runs (the background stores it), if any. */
  usage?: MonthlyUsage;
  /** Pause while the device runs on battery / on a metered connection, where the browser tells (device-conditions.ts). */
  pauseOnBattery: boolean;
  pauseOnMetered: boolean;
  /** The operator keys the volunteer checks the broker's exit list with (settings.ts). */
  exitListKeys: string[];
  /** Tokens of the links made for friends (pairings.ts); the relay worker registers their ids only. */
  pairingTokens: string[];
}
/** What the client path needs for a sealed rendezvous: the network's (signed) part, and what worked last. */
export interface ClientRendezvous extends NetworkRendezvous {
  lastWorked?: string;
}
export interface ClientStartMessage {
  target: 'offscreen';
  type: 'client-start';
  pipeUrl: string;
  token: string;
  brokerUrl: string;
  exit: ExitInfo;
  /** The token of the friend's link Proxy me uses, if one is held for this broker. */
  pairingToken?: string;
  /** This device's NAT class, as the helper measured it; 'unknown' when absent. */
  nat?: NatClass;
  /** The network's STUN servers, from the helper, for server-reflexive candidates. */
  stunUrls?: string[];
  /** Volunteers to keep at once (1 to MAX_PATHS_PER_SESSION); 1 when absent. */
  pathCount?: number;
  /** Whether they all carry at once, or the others stand by. */
  stripe?: boolean;
  /** The network's sealed rendezvous (from the signed list), and the channel that worked last; plain POST when absent. */
  rendezvous?: ClientRendezvous;
}
export type OffscreenMessage =
  | HelpStartMessage
  | { target: 'offscreen'; type: 'help-stop' }
  | { target: 'offscreen'; type: 'help-pairings'; pairingTokens: string[] }
  | ClientStartMessage
  | { target: 'offscreen'; type: 'client-stop' }
  /** Whole-device mode on or off through the helper; `transportHosts` are the tunnel's own hosts it keeps out. */
  | { target: 'offscreen'; type: 'client-whole-device'; on: boolean; transportHosts: string[] };

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

const fail: Fail = (message) => new MessageFormatError(message);

/** Any string (cut to MAX_TEXT_CHARS), but present: a missing reason is a malformed message. */
function text(obj: Record<string, unknown>, field: string): string {
  if (typeof obj[field] !== 'string') throw new MessageFormatError(`"${field}" must be a string`);
  return optionalText(obj[field], `"${field}"`, MAX_TEXT_CHARS, fail);
}

function nonEmptyText(obj: Record<string, unknown>, field: string, maxChars = MAX_TEXT_CHARS): string {
  return requireText(obj[field], `"${field}"`, maxChars, fail);
}

function count(obj: Record<string, unknown>, field: string): number {
  return requireCount(obj[field], `"${field}"`, fail);
}

function flag(obj: Record<string, unknown>, field: string): boolean {
  return requireBoolean(obj[field], `"${field}"`, fail);
}

function url(obj: Record<string, unknown>, field: string, schemes: readonly string[]): string {
  return requireUrl(obj[field], `"${field}"`, schemes, MAX_URL_CHARS, fail);
}

/** Runs a contract's own parser and reports its error as a malformed message for this receiver. */
function nested<T>(field: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (
      error instanceof LocalChannelFormatError ||
      error instanceof RelayStatusFormatError ||
      error instanceof SignalingFormatError ||
      error instanceof SettingsError
    ) {
      throw new MessageFormatError(`"${field}": ${error.message}`);
    }
    throw error;
  }
}

function pairingTokens(obj: Record<string, unknown>): string[] {
  const tokens = obj.pairingTokens;
  if (!Array.isArray(tokens) || tokens.length > MAX_PAIRINGS_PER_VOLUNTEER || !tokens.every(isPairingText)) {
    throw new MessageFormatError(`"pairingTokens" must be at most ${MAX_PAIRINGS_PER_VOLUNTEER} pairing tokens`);
  }
  return [...tokens];
}

/** The `target` of a message, or undefined when it is not one of ours. Receivers check this before parsing. */
export function messageTarget(value: unknown): MessageTarget | undefined {
  if (!isRecord(value)) return undefined;
  return value.target === 'background' || value.target === 'offscreen' ? value.target : undefined;
}

// ---- "Am I helping?": the popup asks whichever context runs the relay (the offscreen document; Firefox's event page) ----
export interface HelpCheckRequest {
  target: 'relay';
  type: 'help-check';
}
export const HELP_CHECK_REQUEST: HelpCheckRequest = { target: 'relay', type: 'help-check' };

export function isHelpCheckRequest(value: unknown): value is HelpCheckRequest {
  return isRecord(value) && value.target === 'relay' && value.type === 'help-check';
}

const SELF_CHECK_STEPS: readonly SelfCheckStep[] = ['broker', 'data-channel', 'exit'];
/** Longest failure detail kept from a check's reply (characters). */
const MAX_CHECK_DETAIL_CHARS = 500;

/** The relay's answer to a HelpCheckRequest. */
export function parseSelfCheckResult(value: unknown): SelfCheckResult {
  if (!isRecord(value)) throw new MessageFormatError('a self-check result must be an object');
  if (value.ok === true) return { ok: true };
  const failed = value.failed;
  if (value.ok !== false || typeof failed !== 'string' || !(SELF_CHECK_STEPS as readonly string[]).includes(failed)) {
    throw new MessageFormatError(`a failed self-check names its step: ${SELF_CHECK_STEPS.join(', ')}`);
  }
  return { ok: false, failed: failed as SelfCheckStep, detail: optionalText(value.detail, '"detail"', MAX_CHECK_DETAIL_CHARS, fail) };
}

export function parseClientPathEvent(value: unknown): ClientPathEvent {
  if (!isRecord(value)) throw new MessageFormatError('"event" must be an object');
  switch (value.kind) {
    case 'finding':
      return { kind: 'finding' };
    case 'up':
      return { kind: 'up', pathsUp: count(value, 'pathsUp') };
    case 'down':
      return { kind: 'down', reason: text(value, 'reason'), pathsUp: count(value, 'pathsUp') };
    case 'error':
      return { kind: 'error', code: nonEmptyText(value, 'code', 64), message: text(value, 'message'), retryInMs: count(value, 'retryInMs') };
    case 'pipe-closed':
      return { kind: 'pipe-closed', reason: text(value, 'reason') };
    case 'broker-reached':
      return { kind: 'broker-reached', channel: nonEmptyText(value, 'channel', MAX_CHANNEL_NAME_CHARS) };
    case 'whole-device': {
      if (!(WHOLE_DEVICE_STATES as readonly unknown[]).includes(value.state))
        throw new MessageFormatError(`"state" must be one of ${WHOLE_DEVICE_STATES.join(', ')}`);
      return { kind: 'whole-device', state: value.state as WholeDeviceState, reason: text(value, 'reason') };
    }
    default:
      throw new MessageFormatError('"event.kind" must be one of finding, up, down, error, pipe-closed, broker-reached, whole-device');
  }
}

export function parseBackgroundMessage(value: unknown): BackgroundMessage {
  if (!isRecord(value) || value.target !== 'background') throw new MessageFormatError('not a message for the service worker');
  switch (value.type) {
    case 'get-state':
      return { target: 'background', type: 'get-state' };
    case 'set-proxy-me':
      return { target: 'background', type: 'set-proxy-me', on: flag(value, 'on') };
    case 'set-whole-device':
      return { target: 'background', type: 'set-whole-device', on: flag(value, 'on') };
    case 'set-help-others':
      return { target: 'background', type: 'set-help-others', on: flag(value, 'on') };
    case 'relay-status':
      return { target: 'background', type: 'relay-status', status: nested('status', () => parseRelayStatus(value.status)) };
    case 'client-path':
      return { target: 'background', type: 'client-path', event: parseClientPathEvent(value.event) };
    case 'client-session':
      return { target: 'background', type: 'client-session', session: nested('session', () => parseSessionReport(value.session)) };
    case 'add-pairing':
      return { target: 'background', type: 'add-pairing', link: url(value, 'link', ['http:', 'https:']) };
    case 'help-usage':
      return { target: 'background', type: 'help-usage', usage: nested('usage', () => parseMonthlyUsage(value.usage)) };
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
      return {
        target: 'offscreen',
        type: 'help-start',
        brokerUrl: url(value, 'brokerUrl', ['http:', 'https:']),
        maxClients,
        maxBytesPerSecond: count(value, 'maxBytesPerSecond'),
        monthlyDataCapBytes: count(value, 'monthlyDataCapBytes'),
        pauseOnBattery: flag(value, 'pauseOnBattery'),
        pauseOnMetered: flag(value, 'pauseOnMetered'),
        ...(value.usage === undefined ? {} : { usage: nested('usage', () => parseMonthlyUsage(value.usage)) }),
        exitListKeys: nested('exitListKeys', () => parseExitListKeys(value.exitListKeys)),
        pairingTokens: pairingTokens(value),
      };
    }
    case 'help-stop':
      return { target: 'offscreen', type: 'help-stop' };
    case 'help-pairings':
      return { target: 'offscreen', type: 'help-pairings', pairingTokens: pairingTokens(value) };
    case 'client-start': {
      const exit: ExitInfo = nested('exit', () => parseExitInfo(value.exit));
      const start: ClientStartMessage = {
        target: 'offscreen',
        type: 'client-start',
        pipeUrl: url(value, 'pipeUrl', ['ws:', 'wss:']),
        token: nonEmptyText(value, 'token', 512),
        brokerUrl: url(value, 'brokerUrl', ['http:', 'https:']),
        exit,
      };
      if (value.nat !== undefined) {
        if (!(NAT_CLASSES as readonly unknown[]).includes(value.nat)) throw new MessageFormatError(`"nat" must be one of ${NAT_CLASSES.join(', ')}`);
        start.nat = value.nat as NatClass;
      }
      if (value.stunUrls !== undefined) start.stunUrls = nested('stunUrls', () => requireStunUrls(value.stunUrls));
      if (value.pathCount !== undefined) {
        const pathCount = value.pathCount;
        if (typeof pathCount !== 'number' || !Number.isInteger(pathCount) || pathCount < 1 || pathCount > MAX_PATHS_PER_SESSION) {
          throw new MessageFormatError(`"pathCount" must be an integer from 1 to ${MAX_PATHS_PER_SESSION}`);
        }
        start.pathCount = pathCount;
      }
      if (value.stripe !== undefined) {
        if (typeof value.stripe !== 'boolean') throw new MessageFormatError('"stripe" must be true or false');
        start.stripe = value.stripe;
      }
      if (value.pairingToken !== undefined) {
        if (!isPairingText(value.pairingToken)) throw new MessageFormatError('"pairingToken" must be a pairing token');
        start.pairingToken = value.pairingToken;
      }
      if (value.rendezvous !== undefined) start.rendezvous = parseClientRendezvous(value.rendezvous);
      return start;
    }
    case 'client-stop':
      return { target: 'offscreen', type: 'client-stop' };
    case 'client-whole-device': {
      if (!isTransportHostList(value.transportHosts)) throw new MessageFormatError(TRANSPORT_HOSTS_RULE);
      return { target: 'offscreen', type: 'client-whole-device', on: flag(value, 'on'), transportHosts: value.transportHosts };
    }
    default:
      throw new MessageFormatError(`unknown offscreen message type ${JSON.stringify(value.type)}`);
  }
}

/** Longest rendezvous channel name carried in an event (a kind and two host names). */
const MAX_CHANNEL_NAME_CHARS = 600;

function parseClientRendezvous(value: unknown): ClientRendezvous {
  if (!isRecord(value)) throw new MessageFormatError('"rendezvous" must be an object {brokerKey, channels, lastWorked?}');
  let network: NetworkRendezvous;
  try {
    network = parseNetworkRendezvous({ brokerKey: value.brokerKey, channels: value.channels });
  } catch (error) {
    if (error instanceof ExitListError) throw new MessageFormatError(`"rendezvous": ${error.message}`);
    throw error;
  }
  return value.lastWorked === undefined ? network : { ...network, lastWorked: nonEmptyText(value, 'lastWorked', MAX_CHANNEL_NAME_CHARS) };
}

/** A stored or reported count of the monthly data cap: {month: 'YYYY-MM', bytes}. Throws MessageFormatError. */
export function parseMonthlyUsage(value: unknown): MonthlyUsage {
  if (!isRecord(value)) throw new MessageFormatError('a monthly usage must be an object');
  if (typeof value.month !== 'string' || !/^\d{4}-(0[1-9]|1[0-2])$/.test(value.month)) throw new MessageFormatError('"month" must be YYYY-MM');
  return { month: value.month, bytes: count(value, 'bytes') };
}
