/**
 * @module ui-state
 * What the popup shows, and the pure rules that turn events (helper messages, offscreen reports, relay status) into
 * it. The service worker keeps one UiState in chrome.storage.session (background/state.ts) and broadcasts it.
 */
import type { SessionState } from '../protocol/local-channel.ts';

export const PROXY_ME_PHASES = [
  'off',
  'starting-helper',
  'finding-volunteer',
  'connected',
  'no-volunteers',
  'broker-unreachable',
  'path-error',
  'helper-not-installed',
  'helper-stopped',
  'failed',
] as const;
export type ProxyMePhase = (typeof PROXY_ME_PHASES)[number];

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
}

/** What the offscreen relay reports; mirrors relay-worker's RelayStatus. */
export const RELAY_STATES = ['connecting', 'waiting', 'relaying', 'broker-unreachable', 'stopped'] as const;
export type RelayState = (typeof RELAY_STATES)[number];

export interface RelayStatusReport {
  state: RelayState;
  clientsNow: number;
  clientsTotal: number;
  bytesClientToExit: number;
  bytesExitToClient: number;
  lastError?: string;
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
}

export interface UiState {
  proxyMe: ProxyMeState;
  helpOthers: HelpOthersState;
}

export function initialProxyMeState(): ProxyMeState {
  return { on: false, phase: 'off', detail: '', bytesUp: 0, bytesDown: 0, streams: 0, socksPort: 0, httpPort: 0, helperPid: 0, exitId: '' };
}

export function initialHelpOthersState(): HelpOthersState {
  return { on: false, phase: 'off', clientsNow: 0, clientsTotal: 0, bytesClientToExit: 0, bytesExitToClient: 0, lastError: '' };
}

export function initialUiState(): UiState {
  return { proxyMe: initialProxyMeState(), helpOthers: initialHelpOthersState() };
}

/** What the offscreen client path reports about getting a path to a volunteer. */
export type ClientPathEvent =
  | { kind: 'finding' }
  | { kind: 'up' }
  | { kind: 'down'; reason: string }
  | { kind: 'error'; code: string; message: string; retryInMs: number }
  | { kind: 'pipe-closed'; reason: string };

export interface SessionReport {
  state: SessionState;
  bytesUp: number;
  bytesDown: number;
  streams: number;
}

/** Phases in which Proxy me has given up until the user switches it off (or off and on). */
const STOPPED_PHASES: readonly ProxyMePhase[] = ['off', 'helper-not-installed', 'helper-stopped', 'failed'];

/** Phases that show a failed attempt while the next one is waited for. */
const RETRYING_PHASES: readonly ProxyMePhase[] = ['no-volunteers', 'broker-unreachable', 'path-error'];

/** Path error codes that mean the broker itself could not be reached (broker-offer.ts). */
export const BROKER_UNREACHABLE_CODES: readonly string[] = ['BROKER_UNREACHABLE', 'BROKER_TIMEOUT'];

export function phaseForPathError(code: string): ProxyMePhase {
  if (code === 'NO_VOLUNTEERS') return 'no-volunteers';
  return BROKER_UNREACHABLE_CODES.includes(code) ? 'broker-unreachable' : 'path-error';
}

export function isProxyMeStopped(state: ProxyMeState): boolean {
  return STOPPED_PHASES.includes(state.phase);
}

/** Applies an offscreen path report. Ignored once Proxy me has stopped, so a late report cannot hide the reason. */
export function applyClientPathEvent(state: ProxyMeState, event: ClientPathEvent): ProxyMeState {
  if (isProxyMeStopped(state)) return state;
  switch (event.kind) {
    case 'finding':
      // Keep showing "no volunteers" during the retry; the next result replaces it.
      return RETRYING_PHASES.includes(state.phase) ? state : { ...state, phase: 'finding-volunteer', detail: '' };
    case 'up':
      return { ...state, phase: 'connected', detail: '' };
    case 'down':
      return { ...state, phase: 'finding-volunteer', detail: event.reason };
    case 'error':
      return { ...state, phase: phaseForPathError(event.code), detail: event.message };
    case 'pipe-closed':
      return { ...state, phase: 'starting-helper', detail: event.reason };
  }
}

/** Applies the helper's session statistics (from NativeStatus or the pipe's `session` message). */
export function applySessionReport(state: ProxyMeState, report: SessionReport): ProxyMeState {
  if (isProxyMeStopped(state)) return state;
  const counters = { bytesUp: report.bytesUp, bytesDown: report.bytesDown, streams: report.streams };
  if (report.state === 'connected' && state.phase === 'finding-volunteer') return { ...state, ...counters, phase: 'connected', detail: '' };
  if (report.state === 'waiting-for-path' && state.phase === 'connected') return { ...state, ...counters, phase: 'finding-volunteer' };
  return { ...state, ...counters };
}

/** Applies the relay's status. Ignored while the switch is off, so a late report cannot turn it back on. */
export function applyRelayStatus(state: HelpOthersState, status: RelayStatusReport): HelpOthersState {
  if (!state.on || state.phase === 'failed') return state;
  return {
    ...state,
    phase: status.state,
    clientsNow: status.clientsNow,
    clientsTotal: status.clientsTotal,
    bytesClientToExit: status.bytesClientToExit,
    bytesExitToClient: status.bytesExitToClient,
    lastError: status.lastError ?? '',
  };
}
