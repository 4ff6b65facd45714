/**
 * @module ui-state
 * What the popup shows, and the pure rules that turn events (helper messages, offscreen reports, relay status) into
 * it. The service worker keeps one UiState in chrome.storage.session (background/state.ts) and broadcasts it.
 */
import type { HelpOthersState, ProxyMePhase, ProxyMeState, UiState } from '../protocol/extension-state.ts';
import type { SessionReport, WholeDeviceState } from '../protocol/local-channel.ts';
import type { RelayStatus } from '../protocol/relay-status.ts';
import { addTrafficSample } from './traffic-rate.ts';

export function initialProxyMeState(): ProxyMeState {
  return {
    on: false,
    phase: 'off',
    detail: '',
    bytesUp: 0,
    bytesDown: 0,
    streams: 0,
    socksPort: 0,
    httpPort: 0,
    helperPid: 0,
    exitId: '',
    session: 'closed',
    pathUp: false,
    pathChanges: 0,
    volunteers: 0,
    connectedSinceMs: 0,
    traffic: [],
    webRtcGuard: 'untouched',
    brokerChannel: '',
    wholeDevice: 'off',
    wholeDeviceReason: '',
  };
}

export function initialHelpOthersState(): HelpOthersState {
  return { on: false, phase: 'off', clientsNow: 0, clientsTotal: 0, bytesClientToExit: 0, bytesExitToClient: 0, lastError: '', retryAt: 0, pauseReason: '' };
}

export function initialUiState(): UiState {
  return { proxyMe: initialProxyMeState(), helpOthers: initialHelpOthersState() };
}

/** What the offscreen client path reports about getting paths to volunteers; `pathsUp` counts those still up. */
export type ClientPathEvent =
  | { kind: 'finding' }
  | { kind: 'up'; pathsUp: number }
  | { kind: 'down'; reason: string; pathsUp: number }
  | { kind: 'error'; code: string; message: string; retryInMs: number }
  | { kind: 'pipe-closed'; reason: string }
  /** A sealed rendezvous reached the broker through `channel` (protocol/rendezvous.ts channelName). */
  | { kind: 'broker-reached'; channel: string }
  /** The helper's whole-device mode changed (`reason` says why when it failed; '' otherwise). */
  | { kind: 'whole-device'; state: WholeDeviceState; reason: string };

/** Phases in which Proxy me has given up until the user switches it off (or off and on). */
const STOPPED_PHASES: readonly ProxyMePhase[] = ['off', 'helper-not-installed', 'helper-stopped', 'failed'];

/** Phases that show a failed attempt while the next one is waited for. */
const RETRYING_PHASES: readonly ProxyMePhase[] = ['no-volunteers', 'broker-unreachable', 'path-error'];

/** Phases that say a volunteer is being looked for. */
const LOOKING_PHASES: readonly ProxyMePhase[] = ['finding-volunteer', 'switching-volunteer'];

/** Path error codes that mean the broker itself could not be reached (broker-offer.ts). */
export const BROKER_UNREACHABLE_CODES: readonly string[] = ['BROKER_UNREACHABLE', 'BROKER_TIMEOUT'];

export function phaseForPathError(code: string): ProxyMePhase {
  if (code === 'NO_VOLUNTEERS') return 'no-volunteers';
  return BROKER_UNREACHABLE_CODES.includes(code) ? 'broker-unreachable' : 'path-error';
}

export function isProxyMeStopped(state: ProxyMeState): boolean {
  return STOPPED_PHASES.includes(state.phase);
}

/**
 * Looking for a volunteer: "switching" while the helper's session from an earlier connection is still alive (its
 * streams wait for the new path and carry on), "finding" when there is nothing to carry on.
 */
function lookingPhase(state: ProxyMeState): ProxyMePhase {
  const sessionAlive = state.connectedSinceMs > 0 && (state.session === 'connected' || state.session === 'resuming');
  return sessionAlive ? 'switching-volunteer' : 'finding-volunteer';
}

/** Connected: the helper's session said so while a path is up. The clock starts at the first connection. */
function connected(state: ProxyMeState, nowMs: number): ProxyMeState {
  return { ...state, phase: 'connected', detail: '', connectedSinceMs: state.connectedSinceMs || nowMs };
}

/**
 * The path is gone: the helper is about to move a connected session to the next path ('resuming'), so a
 * 'connected' it reported before the path broke is no longer taken as true for the next path.
 */
function withoutPath(state: ProxyMeState): ProxyMeState {
  return { ...state, pathUp: false, session: state.session === 'connected' ? 'resuming' : state.session };
}

/** Applies an offscreen path report. Ignored once Proxy me has stopped, so a late report cannot hide the reason. */
export function applyClientPathEvent(state: ProxyMeState, event: ClientPathEvent, nowMs: number): ProxyMeState {
  if (isProxyMeStopped(state)) return state;
  switch (event.kind) {
    case 'finding':
      // Keep showing "no volunteers" during the retry; the next result replaces it.
      if (RETRYING_PHASES.includes(state.phase) || LOOKING_PHASES.includes(state.phase)) return state;
      return { ...withoutPath(state), phase: lookingPhase(state), detail: '' };
    case 'up': {
      // A data channel alone is not "connected": the helper's session must say so over it.
      const next = { ...state, pathUp: true };
      if (state.session === 'connected') return connected(next, nowMs);
      return LOOKING_PHASES.includes(state.phase) ? next : { ...next, phase: lookingPhase(state), detail: '' };
    }
    case 'down':
      // Another volunteer still carries the session: nothing the person needs to see, the helper carries on.
      if (event.pathsUp > 0) return state;
      return { ...withoutPath(state), phase: lookingPhase(state), detail: event.reason };
    case 'error':
      return { ...withoutPath(state), phase: phaseForPathError(event.code), detail: event.message };
    case 'pipe-closed':
      return { ...withoutPath(state), phase: 'starting-helper', detail: event.reason };
    case 'broker-reached':
      return { ...state, brokerChannel: event.channel };
    case 'whole-device':
      return { ...state, wholeDevice: event.state, wholeDeviceReason: event.reason };
  }
}

/** Applies the helper's session report (from NativeStatus or the pipe's `session` message), taken at `nowMs`. */
export function applySessionReport(state: ProxyMeState, report: SessionReport, nowMs: number): ProxyMeState {
  if (isProxyMeStopped(state)) return state;
  const next: ProxyMeState = {
    ...state,
    session: report.state,
    bytesUp: report.bytesUp,
    bytesDown: report.bytesDown,
    streams: report.streams,
    pathChanges: report.pathChanges,
    volunteers: report.paths,
    traffic: addTrafficSample(state.traffic, { atMs: nowMs, bytesUp: report.bytesUp, bytesDown: report.bytesDown }),
  };
  if (report.state === 'connected' && state.pathUp) return connected(next, nowMs);
  if (report.state === 'resuming' && state.phase === 'connected') return { ...next, phase: 'switching-volunteer' };
  // The session is gone (nothing to carry on): a new one starts over the next path.
  if (report.state === 'waiting-for-path' && (state.phase === 'connected' || state.phase === 'switching-volunteer'))
    return { ...next, phase: 'finding-volunteer' };
  return next;
}

/** Applies the relay's status. Ignored while the switch is off, so a late report cannot turn it back on. */
export function applyRelayStatus(state: HelpOthersState, status: RelayStatus): HelpOthersState {
  if (!state.on || state.phase === 'failed') return state;
  return {
    ...state,
    phase: status.state,
    clientsNow: status.clientsNow,
    clientsTotal: status.clientsTotal,
    bytesClientToExit: status.bytesClientToExit,
    bytesExitToClient: status.bytesExitToClient,
    lastError: status.lastError ?? '',
    retryAt: status.retryAt ?? 0,
    pauseReason: status.pauseReason ?? '',
  };
}

/** The toolbar badge for people helped right now: empty when none, "99+" past two digits (the badge has room for 4). */
export function badgeText(clientsNow: number): string {
  if (!Number.isFinite(clientsNow) || clientsNow <= 0) return '';
  return clientsNow > 99 ? '99+' : String(Math.floor(clientsNow));
}
