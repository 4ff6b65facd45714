/**
 * @module extension-state
 * What the extension shows: the one UiState the service worker keeps in chrome.storage.session under
 * UI_STATE_STORAGE_KEY. The popup renders it and follows its changes; the local-network harness (`ferry demo`, the
 * benchmarks, the end-to-end tests) reads it to know what a person would see. This file is that contract: the
 * phases, the state's shape, and its validator. The rules that compute the state live in extension/ui-state.ts.
 * Runtime-neutral.
 */
import type { SessionState, WholeDeviceState } from './local-channel.ts';
import { SESSION_STATES, WHOLE_DEVICE_STATES } from './local-channel.ts';
import { PAUSE_REASONS, type PauseReason, RELAY_STATES } from './relay-status.ts';
import { type Fail, isRecord, optionalText, requireBoolean, requireCount, requireOneOf } from './validate.ts';

/** The chrome.storage.session key under which the service worker keeps the UiState. */
export const UI_STATE_STORAGE_KEY = 'uiState';

/**
 * The last signed exit list that verified (as served), in chrome.storage.local: Proxy me can start from it while the
 * broker's own address is blocked, since it names the rendezvous channels that reach the broker another way. Verified
 * again on every use. A harness may put one there, as a list brought from elsewhere would be.
 */
export const KNOWN_EXIT_LIST_STORAGE_KEY = 'knownExitList';

/** The rendezvous channel that reached the broker last (protocol/rendezvous.ts channelName), in chrome.storage.local: tried first next time. */
export const LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY = 'lastRendezvousChannel';
/** Longest text field (detail, exit id, last error) kept from a stored state (characters). */
export const MAX_STATE_TEXT_CHARS = 2_000;
/** Most traffic samples accepted in a UiState (the service worker keeps far fewer). */
export const MAX_TRAFFIC_SAMPLES_ACCEPTED = 64;

/** One reading of the helper's cumulative byte counters, for the current throughput. */
export interface TrafficSample {
  /** When the sample was taken (milliseconds since the epoch). */
  atMs: number;
  bytesUp: number;
  bytesDown: number;
}

export const PROXY_ME_PHASES = [
  'off',
  'starting-helper',
  'finding-volunteer',
  'connected',
  'switching-volunteer',
  'no-volunteers',
  'broker-unreachable',
  'path-error',
  'helper-not-installed',
  'helper-stopped',
  'failed',
] as const;
export type ProxyMePhase = (typeof PROXY_ME_PHASES)[number];

/** What Proxy me did to the browser's WebRTC IP handling (background/webrtc-policy.ts). */
export const WEBRTC_GUARD_STATES = ['untouched', 'restricted', 'not-controllable'] as const;
export type WebRtcGuardState = (typeof WEBRTC_GUARD_STATES)[number];

export interface ProxyMeState {
  /** The switch: what the user asked for. */
  on: boolean;
  phase: ProxyMePhase;
  /** Reason or error message for broker-unreachable, path-error, helper-stopped and failed. */
  detail: string;
  bytesUp: number;
  bytesDown: number;
  streams: number;
  /** The helper's local ports once it is ready; 0 before. */
  socksPort: number;
  httpPort: number;
  /** The helper's process id once it is ready (shown to people debugging; `ferry demo` prints it); 0 before. */
  helperPid: number;
  exitId: string;
  /** The helper's session as it last reported it ('closed' before the helper runs). */
  session: SessionState;
  /** A data channel to a volunteer is open (the offscreen document's last path report). */
  pathUp: boolean;
  /** The rendezvous channel that last reached the broker (protocol/rendezvous.ts channelName); '' when unknown. */
  brokerChannel: string;
  /** Whole-device mode as the helper last reported it, and why it is not on when it failed ('' otherwise). */
  wholeDevice: WholeDeviceState;
  wholeDeviceReason: string;
  /** How many times the helper's session moved to another volunteer and carried on. */
  pathChanges: number;
  /** Volunteers carrying or standing by for the session now (the helper's last report). */
  volunteers: number;
  /** When this switch-on first became connected (milliseconds since the epoch); 0 until then. */
  connectedSinceMs: number;
  /** Recent byte counters, for the current throughput (traffic-rate.ts). */
  traffic: TrafficSample[];
  webRtcGuard: WebRtcGuardState;
}

export const HELP_OTHERS_PHASES = ['off', 'failed', ...RELAY_STATES] as const;
export type HelpOthersPhase = (typeof HELP_OTHERS_PHASES)[number];

export interface HelpOthersState {
  on: boolean;
  /** 'off' while the switch is off; 'failed' when it could not start (see lastError); the relay's own state otherwise. */
  phase: HelpOthersPhase;
  clientsNow: number;
  clientsTotal: number;
  bytesClientToExit: number;
  bytesExitToClient: number;
  lastError: string;
  /** While broker-unreachable: when the relay tries again (ms since the epoch); 0 otherwise. */
  retryAt: number;
  /** While paused: why (relay-status.ts PAUSE_REASONS); '' otherwise. */
  pauseReason: PauseReason | '';
}

export interface UiState {
  proxyMe: ProxyMeState;
  helpOthers: HelpOthersState;
}

/** A stored or reported UiState is malformed; `message` names the field. */
export class ExtensionStateFormatError extends Error {
  override readonly name = 'ExtensionStateFormatError';
  readonly code = 'EXTENSION_STATE_BAD';
}

const fail: Fail = (message) => new ExtensionStateFormatError(message);

function trafficSamples(value: unknown): TrafficSample[] {
  if (!Array.isArray(value) || value.length > MAX_TRAFFIC_SAMPLES_ACCEPTED) {
    throw new ExtensionStateFormatError(`"traffic" must be a list of at most ${MAX_TRAFFIC_SAMPLES_ACCEPTED} samples`);
  }
  return value.map((sample: unknown) => {
    if (!isRecord(sample)) throw new ExtensionStateFormatError('"traffic" must hold {atMs, bytesUp, bytesDown} samples');
    return {
      atMs: requireCount(sample.atMs, '"atMs"', fail),
      bytesUp: requireCount(sample.bytesUp, '"bytesUp"', fail),
      bytesDown: requireCount(sample.bytesDown, '"bytesDown"', fail),
    };
  });
}

/** Validates a UiState: the stored one the popup and the harness follow, and the service worker's reply to every message. */
export function parseUiState(value: unknown): UiState {
  if (!isRecord(value) || !isRecord(value.proxyMe) || !isRecord(value.helpOthers)) throw new ExtensionStateFormatError('"state" must be {proxyMe, helpOthers}');
  const proxyMe = value.proxyMe;
  const helpOthers = value.helpOthers;
  return {
    proxyMe: {
      on: requireBoolean(proxyMe.on, '"on"', fail),
      phase: requireOneOf(proxyMe.phase, '"phase"', PROXY_ME_PHASES, fail),
      detail: optionalText(proxyMe.detail, '"detail"', MAX_STATE_TEXT_CHARS, fail),
      bytesUp: requireCount(proxyMe.bytesUp, '"bytesUp"', fail),
      bytesDown: requireCount(proxyMe.bytesDown, '"bytesDown"', fail),
      streams: requireCount(proxyMe.streams, '"streams"', fail),
      socksPort: requireCount(proxyMe.socksPort, '"socksPort"', fail),
      httpPort: requireCount(proxyMe.httpPort, '"httpPort"', fail),
      helperPid: requireCount(proxyMe.helperPid, '"helperPid"', fail),
      exitId: optionalText(proxyMe.exitId, '"exitId"', MAX_STATE_TEXT_CHARS, fail),
      session: requireOneOf(proxyMe.session, '"session"', SESSION_STATES, fail),
      pathUp: requireBoolean(proxyMe.pathUp, '"pathUp"', fail),
      brokerChannel: optionalText(proxyMe.brokerChannel, '"brokerChannel"', MAX_STATE_TEXT_CHARS, fail),
      wholeDevice: requireOneOf(proxyMe.wholeDevice, '"wholeDevice"', WHOLE_DEVICE_STATES, fail),
      wholeDeviceReason: optionalText(proxyMe.wholeDeviceReason, '"wholeDeviceReason"', MAX_STATE_TEXT_CHARS, fail),
      pathChanges: requireCount(proxyMe.pathChanges, '"pathChanges"', fail),
      volunteers: requireCount(proxyMe.volunteers, '"volunteers"', fail),
      connectedSinceMs: requireCount(proxyMe.connectedSinceMs, '"connectedSinceMs"', fail),
      traffic: trafficSamples(proxyMe.traffic),
      webRtcGuard: requireOneOf(proxyMe.webRtcGuard, '"webRtcGuard"', WEBRTC_GUARD_STATES, fail),
    },
    helpOthers: {
      on: requireBoolean(helpOthers.on, '"on"', fail),
      phase: requireOneOf(helpOthers.phase, '"phase"', HELP_OTHERS_PHASES, fail),
      clientsNow: requireCount(helpOthers.clientsNow, '"clientsNow"', fail),
      clientsTotal: requireCount(helpOthers.clientsTotal, '"clientsTotal"', fail),
      bytesClientToExit: requireCount(helpOthers.bytesClientToExit, '"bytesClientToExit"', fail),
      bytesExitToClient: requireCount(helpOthers.bytesExitToClient, '"bytesExitToClient"', fail),
      lastError: optionalText(helpOthers.lastError, '"lastError"', MAX_STATE_TEXT_CHARS, fail),
      retryAt: helpOthers.retryAt === undefined ? 0 : requireCount(helpOthers.retryAt, '"retryAt"', fail),
      pauseReason:
        helpOthers.pauseReason === undefined || helpOthers.pauseReason === '' ? '' : requireOneOf(helpOthers.pauseReason, '"pauseReason"', PAUSE_REASONS, fail),
    },
  };
}
