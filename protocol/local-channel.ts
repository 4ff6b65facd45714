/**
 * @module local-channel
 * Messages between the extension and the native helper on the user's own machine.
 *
 * Two channels:
 * - Native messaging (service worker <-> helper stdio): starts the helper and hands the extension the pipe address
 *   and a one-time token. Small JSON messages only.
 * - The pipe: a WebSocket `ws://127.0.0.1:PORT/pipe?token=TOKEN` from the offscreen document to the helper, accepted
 *   only with the token and the extension's Origin. Binary messages are tunnel records, passed verbatim to and from
 *   the data channel. Text messages are the JSON control messages below.
 *
 * Runtime-neutral: types and validators only.
 */
import type { ExitInfo } from './signaling.ts';

/** Name of the native messaging host, as written in its manifest and passed to connectNative. */
export const NATIVE_HOST_NAME = 'org.ferry.helper';

// ---- native messaging: extension -> helper ----
export interface NativeStart {
  type: 'start';
  exit: ExitInfo;
  /** 0 or absent: any free port. */
  socksPort?: number;
  httpPort?: number;
}
export interface NativeNewToken {
  type: 'new-token';
}
export interface NativeStop {
  type: 'stop';
}
export type ExtensionToNative = NativeStart | NativeNewToken | NativeStop;

// ---- native messaging: helper -> extension ----
export interface NativeReady {
  type: 'ready';
  version: string;
  pid: number;
  socksPort: number;
  httpPort: number;
  pipeUrl: string;
  token: string;
}
export interface NativeToken {
  type: 'token';
  token: string;
}
export interface NativeStatus {
  type: 'status';
  session: SessionState;
  bytesUp: number;
  bytesDown: number;
  streams: number;
  /** How many times the session moved to another volunteer and carried on (resumed). */
  pathChanges: number;
}
export interface NativeError {
  type: 'error';
  code: string;
  message: string;
}
export type NativeToExtension = NativeReady | NativeToken | NativeStatus | NativeError;

/**
 * What the helper's client session is doing:
 * - waiting-for-path: no session, waiting for the extension to find a volunteer;
 * - handshaking: a path is up and the handshake with the exit is under way;
 * - connected: the session is open over the current path;
 * - resuming: the path broke; the session (and every open stream) waits for a new volunteer and will carry on;
 * - closed: the helper has stopped.
 */
export type SessionState = 'waiting-for-path' | 'handshaking' | 'connected' | 'resuming' | 'closed';

// ---- pipe control (text messages): extension -> helper ----
/** The data channel to a volunteer is open; binary messages now flow to the exit. */
export interface PipePathUp {
  type: 'path-up';
}
/** The data channel closed or failed. */
export interface PipePathDown {
  type: 'path-down';
  reason: string;
}
/** The broker could not give a path (no volunteers, timed out, unreachable). */
export interface PipePathError {
  type: 'path-error';
  code: string;
  message: string;
}
export type ExtensionToPipe = PipePathUp | PipePathDown | PipePathError;

// ---- pipe control (text messages): helper -> extension ----
/**
 * The helper wants a new path to the exit: if a path is up, it is broken (e.g. silent for too long), so the extension
 * must close it and get another volunteer; if none is up, get one.
 */
export interface PipeNeedPath {
  type: 'need-path';
  reason: string;
}
export interface PipeSession {
  type: 'session';
  state: SessionState;
  bytesUp: number;
  bytesDown: number;
  streams: number;
  /** How many times the session moved to another volunteer and carried on (resumed). */
  pathChanges: number;
}
export type HelperToPipe = PipeNeedPath | PipeSession;

/**
 * The extension's ID, pinned by the public "key" in manifest.json. The native host manifest allows only this origin
 * by default, and the helper's pipe accepts only `chrome-extension://<this id>` as Origin.
 */
export const FERRY_EXTENSION_ID = 'iicjeojiegedfieohhglnafgfieegdoe';
/** The matching public key (base64 DER SubjectPublicKeyInfo) for manifest.json's "key". Public by design. */
export const FERRY_EXTENSION_PUBLIC_KEY =
  'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvwUdlRsw4/lt0UXi0uuRp/kHho7z5FwqpY5IE1dviZ+1CG7hTme9b1fZbukjJXix/imwveiXzhiZE+irI4WDEGH+tRhUc9hI26nEtaTzT6olXUL6p6GG/48ttXwHc4elWNX406drw4KkvunQxq2DSsjzwKT07RsZrRWI89ZOoTdis5kRQArgpd1YRKJ80gbxUFbw2e2Fj7VsjgNFmvVqcXBweT7HNTWIhzVSNpZUgHGOhlLfgTxorTT/Os7NFLtupllzyjRhnggjwr/9a6x/qqTc9/Jsvzn+ga8MxJcRkSuX8zq4b4lhfaI99JC5tjj0g4lQClSKKK80A4PXtWtIIQIDAQAB';
