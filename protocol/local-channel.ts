/**
 * @module local-channel
 * Messages between the extension and the native helper on the user's own machine: both directions' types and the
 * validators that turn untrusted JSON into them. The helper and the extension use these same definitions.
 *
 * Two channels:
 * - Native messaging (service worker <-> helper stdio): starts the helper and hands the extension the pipe address
 *   and a one-time token. Small JSON messages only.
 * - The pipe: a WebSocket `ws://127.0.0.1:PORT/pipe?token=TOKEN` from the offscreen document to the helper, accepted
 *   only with the token and the extension's Origin. Binary messages are `[path id u8][tunnel record]`: the record
 *   passed verbatim to and from the data channel to one volunteer, the id naming which (a session may hold several
 *   paths). Text messages are the JSON control messages below.
 *
 * Runtime-neutral: types, limits and validators only.
 */
import { ExitListError, MAX_EXIT_ID_CHARS, parseSignedExitList, type SignedExitList } from './exit-list.ts';
import { parseRendezvousChannel, type RendezvousChannel, RendezvousConfigError } from './rendezvous.ts';
import { MAX_ENVELOPE_CHARS } from './rendezvous-envelope.ts';
import { NAT_CLASSES, type NatClass, requireStunUrls, SignalingFormatError, WebSocketCloseCode } from './signaling.ts';
import { type Fail, isHostName, isIpv4Literal, isRecord, optionalText, requireCount, requireInteger, requireOneOf, requireText } from './validate.ts';

/** Name of the native messaging host, as written in its manifest and passed to connectNative. */
export const NATIVE_HOST_NAME = 'org.ferry.helper';
/** Path of the pipe on the helper's loopback WebSocket server. */
export const PIPE_PATH = '/pipe';
/**
 * Largest pipe control (text) message, in bytes (UTF-8) and so also in characters. Most are tiny; the largest is a
 * sealed rendezvous reply (MAX_ENVELOPE_CHARS, about 22 KB) with its channel around it.
 */
export const MAX_PIPE_CONTROL_BYTES = 32 * 1024;
/** Rendezvous requests the helper carries at once for the extension; more are refused with BUSY. */
export const MAX_RENDEZVOUS_IN_FLIGHT = 4;
/** Longest text field (a reason, a code, a message, a token) kept from a local-channel message, in characters. */
export const MAX_LOCAL_TEXT_CHARS = 2_048;

/** Path ids on the pipe: the extension numbers its data channels 1..255 and reuses a number only once it is down. */
export const MIN_PIPE_PATH_ID = 1;
export const MAX_PIPE_PATH_ID = 255;

/** `[path id][record]`, as the pipe carries it. */
export function framePipeRecord(pathId: number, record: Uint8Array): Uint8Array {
  const framed = new Uint8Array(record.length + 1);
  framed[0] = pathId;
  framed.set(record, 1);
  return framed;
}

/** The path id and the record of a pipe binary message; undefined when it has no record or an id out of range. */
export function unframePipeRecord(message: Uint8Array): { pathId: number; record: Uint8Array } | undefined {
  const pathId = message[0];
  if (message.length < 2 || pathId === undefined || pathId < MIN_PIPE_PATH_ID) return undefined;
  return { pathId, record: message.subarray(1) };
}

/** What a path through a volunteer is for: carrying records (several stripe), or standing by (pings only). */
export const PATH_ROLES = ['carry', 'standby'] as const;
export type PipePathRole = (typeof PATH_ROLES)[number];

/** WebSocket close codes on the pipe: RFC 6455's normal closure, and the helper's own (4000-4999 are for applications). */
export const PipeCloseCode = {
  NORMAL: WebSocketCloseCode.NORMAL,
  /** A newer pipe connection took over. */
  REPLACED: 4000,
  /** The helper is shutting down. */
  SERVER_CLOSING: 4001,
  /** The helper closed this pipe; the reason says why. */
  CLOSED_BY_HELPER: 4002,
} as const;
export type PipeCloseCode = (typeof PipeCloseCode)[keyof typeof PipeCloseCode];

/**
 * What the helper's client session is doing:
 * - waiting-for-path: no session, waiting for the extension to find a volunteer;
 * - handshaking: a path is up and the handshake with the exit is under way;
 * - connected: the session is open over the current path;
 * - resuming: the path broke; the session (and every open stream) waits for a new volunteer and will carry on;
 * - closed: the helper has stopped.
 */
export const SESSION_STATES = ['waiting-for-path', 'handshaking', 'connected', 'resuming', 'closed'] as const;
export type SessionState = (typeof SESSION_STATES)[number];

/** The helper's session as it reports it (native `status`, pipe `session`), and as the popup shows it. */
export interface SessionReport {
  state: SessionState;
  /** Payload bytes sent and received through the tunnel since the helper started. */
  bytesUp: number;
  bytesDown: number;
  /** Streams open now. */
  streams: number;
  /** How many times the session moved to another volunteer and carried on (resumed). */
  pathChanges: number;
  /** Volunteers carrying or standing by for the session now. */
  paths: number;
}

// ---- native messaging: extension -> helper ----
export interface NativeStart {
  type: 'start';
  /**
   * The broker's signed exit list as the extension received it, and the id of the exit to use. The helper checks
   * the signature against its own pinned operator keys: it holds the session's keys, so it trusts no exit on the
   * extension's word alone.
   */
  exitList: SignedExitList;
  exitId: string;
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
  /**
   * The NAT class the helper measured at start (RFC 5780, when it was given a STUN server), for the `nat` of the
   * client's offers; absent from helpers that do not measure. docs/wire-protocol.md, "NAT classes".
   */
  nat?: NatClass;
  /**
   * The network's STUN servers the helper was installed with (stun: URLs): the client path gathers server-reflexive
   * candidates with them, without which two NATs that could connect (port-restricted with port-restricted) do not.
   */
  stunUrls?: string[];
}
export interface NativeToken {
  type: 'token';
  token: string;
}
export type NativeStatus = { type: 'status' } & SessionReport;
export interface NativeError {
  type: 'error';
  code: string;
  message: string;
}
export type NativeToExtension = NativeReady | NativeToken | NativeStatus | NativeError;

// ---- pipe control (text messages): extension -> helper ----
/** A data channel to a volunteer is open; binary messages with its id now flow to the exit. */
export interface PipePathUp {
  type: 'path-up';
  pathId: number;
  role: PipePathRole;
  /**
   * The volunteer's address on the selected ICE candidate pair (IPv4 only), when the browser reports it: in
   * whole-device mode the helper keeps it out of the device while the path lives, so the path cannot route into itself.
   */
  peerAddress?: string;
}
/**
 * About to connect to a volunteer whose answer names these IPv4 addresses (its candidates): in whole-device mode the
 * helper lets them bypass the device for PEER_CONNECTING_BYPASS_MS, so the ICE checks reach them.
 */
export interface PipePathConnecting {
  type: 'path-connecting';
  addresses: string[];
}
/** Most addresses one path-connecting names (a volunteer's host and reflexive candidates). */
export const MAX_PEER_ADDRESSES = 16;
/** That data channel closed or failed. */
export interface PipePathDown {
  type: 'path-down';
  pathId: number;
  reason: string;
}
/** The broker could not give a path (no volunteers, timed out, unreachable). */
export interface PipePathError {
  type: 'path-error';
  code: string;
  message: string;
}
/**
 * Carry a sealed rendezvous request over `channel` (one the extension cannot carry itself: fronted, or any channel
 * when the browser's own request failed) and answer with rendezvous-reply or rendezvous-failed under the same `id`.
 */
export interface PipeRendezvous {
  type: 'rendezvous';
  id: number;
  channel: RendezvousChannel;
  envelope: string;
}
/**
 * Whole-device mode on or off (the helper asks its privileged service). `transportHosts` are the names or IPv4
 * addresses of the tunnel's own transport the helper cannot know (the broker, STUN servers, fronts, caches): it
 * resolves them before the device takes the routes, and keeps them out of it.
 */
export interface PipeWholeDevice {
  type: 'whole-device';
  on: boolean;
  transportHosts: string[];
}
/** Most hosts one whole-device message names. */
export const MAX_TRANSPORT_HOSTS = 16;
/** A whole-device message's `transportHosts`: a list of at most MAX_TRANSPORT_HOSTS host names or IPv4 literals. */
export function isTransportHostList(value: unknown): value is string[] {
  return Array.isArray(value) && value.length <= MAX_TRANSPORT_HOSTS && value.every(isHostName);
}
/** What a malformed `transportHosts` is told, on the pipe and between the extension's parts alike. */
export const TRANSPORT_HOSTS_RULE = `"transportHosts" must be a list of at most ${MAX_TRANSPORT_HOSTS} host names`;
export type ExtensionToPipe = PipePathUp | PipePathConnecting | PipePathDown | PipePathError | PipeRendezvous | PipeWholeDevice;

// ---- pipe control (text messages): helper -> extension ----
/**
 * The helper gave up path `pathId` (silent for too long, or hostile): the extension closes it and gets another
 * volunteer. Without a `pathId`: get one.
 */
export interface PipeNeedPath {
  type: 'need-path';
  reason: string;
  pathId?: number;
}
export type PipeSession = { type: 'session' } & SessionReport;
/** The broker's sealed reply to rendezvous `id`. */
export interface PipeRendezvousReply {
  type: 'rendezvous-reply';
  id: number;
  reply: string;
}
/** Rendezvous `id` failed on its channel; `code` as protocol/rendezvous.ts ChannelFailure (TIMEOUT, HTTP_404, ...). */
export interface PipeRendezvousFailed {
  type: 'rendezvous-failed';
  id: number;
  code: string;
  message: string;
}
/**
 * Where whole-device mode stands; `reason` says why it is not on. 'unavailable': it cannot be used on this device as
 * things are (not Linux, the service not installed or another user's); the helper says so as soon as the pipe opens,
 * before anyone asks. 'failed': it was asked for and did not come on, or was left on by a helper that stopped.
 */
export const WHOLE_DEVICE_STATES = ['off', 'starting', 'on', 'failed', 'unavailable'] as const;
export type WholeDeviceState = (typeof WHOLE_DEVICE_STATES)[number];
export interface PipeWholeDeviceState {
  type: 'whole-device-state';
  state: WholeDeviceState;
  reason?: string;
}
export type HelperToPipe = PipeNeedPath | PipeSession | PipeRendezvousReply | PipeRendezvousFailed | PipeWholeDeviceState;

// ---- validators ----

/** A message on the local channel (either way) is not one of the messages above; `message` names the field. */
export class LocalChannelFormatError extends Error {
  override readonly name = 'LocalChannelFormatError';
  readonly code = 'LOCAL_BAD_MESSAGE';
}

const fail: Fail = (message) => new LocalChannelFormatError(message);

function text(obj: Record<string, unknown>, field: string): string {
  return requireText(obj[field], `"${field}"`, MAX_LOCAL_TEXT_CHARS, fail);
}

function port(obj: Record<string, unknown>, field: string, min: number): number {
  return requireInteger(obj[field], `"${field}"`, min, 65_535, fail);
}

function rendezvousId(obj: Record<string, unknown>): number {
  return requireInteger(obj.id, '"id"', 0, Number.MAX_SAFE_INTEGER, fail);
}

/** A sealed envelope's text: base64url, bounded (its contents are the broker's and the client's to check). */
function envelopeText(obj: Record<string, unknown>, field: string): string {
  const value = requireText(obj[field], `"${field}"`, MAX_ENVELOPE_CHARS, fail);
  if (!/^[A-Za-z0-9_-]+$/.test(value)) throw new LocalChannelFormatError(`"${field}" must be base64url`);
  return value;
}

/** An IPv4 address in dotted form, each part 0..255; refused otherwise. */
function ipv4Literal(value: unknown, name: string): string {
  if (!isIpv4Literal(value)) {
    throw new LocalChannelFormatError(`${name} must hold IPv4 addresses, got ${JSON.stringify(value)}`);
  }
  return value;
}

function pathId(obj: Record<string, unknown>): number {
  return requireInteger(obj.pathId, '"pathId"', MIN_PIPE_PATH_ID, MAX_PIPE_PATH_ID, fail);
}

function optionalPort(obj: Record<string, unknown>, field: string): number | undefined {
  return obj[field] === undefined ? undefined : port(obj, field, 0);
}

function signedExitList(value: unknown): SignedExitList {
  try {
    return parseSignedExitList(value);
  } catch (error) {
    if (error instanceof ExitListError) throw new LocalChannelFormatError(`"exitList": ${error.message}`);
    throw error;
  }
}

/** The pipe carries the user's traffic: its address must be a ws:// URL on this machine. */
function loopbackWebSocketUrl(obj: Record<string, unknown>, field: string): string {
  const value = text(obj, field);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new LocalChannelFormatError(`"${field}" must be a URL`);
  }
  if (url.protocol !== 'ws:' || !['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)) {
    throw new LocalChannelFormatError(`"${field}" must be a ws:// URL on 127.0.0.1`);
  }
  return value;
}

/** Reads the SessionReport fields of a `status` or `session` message. */
export function parseSessionReport(value: unknown): SessionReport {
  if (!isRecord(value)) throw new LocalChannelFormatError('a session report must be a JSON object');
  return {
    state: requireOneOf(value.state, '"state"', SESSION_STATES, fail),
    bytesUp: requireCount(value.bytesUp, '"bytesUp"', fail),
    bytesDown: requireCount(value.bytesDown, '"bytesDown"', fail),
    streams: requireCount(value.streams, '"streams"', fail),
    pathChanges: requireCount(value.pathChanges, '"pathChanges"', fail),
    paths: requireCount(value.paths, '"paths"', fail),
  };
}

/** Helper side: a native message from the extension's service worker. */
export function parseExtensionToNative(value: unknown): ExtensionToNative {
  if (!isRecord(value)) throw new LocalChannelFormatError('a native message must be a JSON object with "type"');
  switch (value.type) {
    case 'start': {
      const message: NativeStart = {
        type: 'start',
        exitList: signedExitList(value.exitList),
        exitId: requireText(value.exitId, '"exitId"', MAX_EXIT_ID_CHARS, fail),
      };
      const socksPort = optionalPort(value, 'socksPort');
      const httpPort = optionalPort(value, 'httpPort');
      if (socksPort !== undefined) message.socksPort = socksPort;
      if (httpPort !== undefined) message.httpPort = httpPort;
      return message;
    }
    case 'new-token':
      return { type: 'new-token' };
    case 'stop':
      return { type: 'stop' };
    default:
      throw new LocalChannelFormatError('"type" must be one of start, new-token, stop');
  }
}

/** Extension side: a native message from the helper. */
export function parseNativeToExtension(value: unknown): NativeToExtension {
  if (!isRecord(value)) throw new LocalChannelFormatError('a helper message must be a JSON object with "type"');
  switch (value.type) {
    case 'ready': {
      const ready: NativeReady = {
        type: 'ready',
        version: text(value, 'version'),
        pid: requireCount(value.pid, '"pid"', fail),
        socksPort: port(value, 'socksPort', 1),
        httpPort: port(value, 'httpPort', 0),
        pipeUrl: loopbackWebSocketUrl(value, 'pipeUrl'),
        token: text(value, 'token'),
      };
      // A class this extension does not know (a newer helper) is 'unknown', not a reason to refuse the helper.
      if (value.nat !== undefined) ready.nat = (NAT_CLASSES as readonly unknown[]).includes(value.nat) ? (value.nat as NatClass) : 'unknown';
      if (value.stunUrls !== undefined) {
        try {
          ready.stunUrls = requireStunUrls(value.stunUrls);
        } catch (error) {
          if (error instanceof SignalingFormatError) throw new LocalChannelFormatError(`"ready": ${error.message}`);
          throw error;
        }
      }
      return ready;
    }
    case 'token':
      return { type: 'token', token: text(value, 'token') };
    case 'status':
      return { type: 'status', ...parseSessionReport(value) };
    case 'error':
      return { type: 'error', code: text(value, 'code'), message: text(value, 'message') };
    default:
      throw new LocalChannelFormatError('"type" must be one of ready, token, status, error');
  }
}

/** Either side: a pipe text message as JSON, refused when it is over MAX_PIPE_CONTROL_BYTES or not JSON. */
export function decodePipeControl(textMessage: string): unknown {
  // A character is at least one byte of UTF-8: over the limit in characters is over it in bytes.
  if (textMessage.length > MAX_PIPE_CONTROL_BYTES) throw new LocalChannelFormatError(`a pipe control message is longer than ${MAX_PIPE_CONTROL_BYTES} bytes`);
  try {
    return JSON.parse(textMessage) as unknown;
  } catch {
    throw new LocalChannelFormatError('a pipe control message is not JSON');
  }
}

/** Helper side: a pipe control message from the offscreen document. */
export function parseExtensionToPipe(value: unknown): ExtensionToPipe {
  if (!isRecord(value)) throw new LocalChannelFormatError('a pipe control message must be a JSON object with "type"');
  switch (value.type) {
    case 'path-up': {
      const up: PipePathUp = { type: 'path-up', pathId: pathId(value), role: requireOneOf(value.role, '"role"', PATH_ROLES, fail) };
      if (value.peerAddress !== undefined) up.peerAddress = ipv4Literal(value.peerAddress, '"peerAddress"');
      return up;
    }
    case 'path-connecting': {
      if (!Array.isArray(value.addresses) || value.addresses.length > MAX_PEER_ADDRESSES) {
        throw new LocalChannelFormatError(`"addresses" must be a list of at most ${MAX_PEER_ADDRESSES} IPv4 addresses`);
      }
      return { type: 'path-connecting', addresses: value.addresses.map((address) => ipv4Literal(address, '"addresses"')) };
    }
    case 'path-down':
      return { type: 'path-down', pathId: pathId(value), reason: text(value, 'reason') };
    case 'path-error':
      return { type: 'path-error', code: text(value, 'code'), message: text(value, 'message') };
    case 'rendezvous': {
      let channel: RendezvousChannel;
      try {
        channel = parseRendezvousChannel(value.channel);
      } catch (error) {
        if (error instanceof RendezvousConfigError) throw new LocalChannelFormatError(`"channel": ${error.message}`);
        throw error;
      }
      return { type: 'rendezvous', id: rendezvousId(value), channel, envelope: envelopeText(value, 'envelope') };
    }
    case 'whole-device': {
      if (typeof value.on !== 'boolean') throw new LocalChannelFormatError('"on" must be true or false');
      if (!isTransportHostList(value.transportHosts)) throw new LocalChannelFormatError(TRANSPORT_HOSTS_RULE);
      return { type: 'whole-device', on: value.on, transportHosts: value.transportHosts };
    }
    default:
      throw new LocalChannelFormatError('"type" must be one of path-up, path-connecting, path-down, path-error, rendezvous, whole-device');
  }
}

/** Extension side: a pipe control message from the helper. */
export function parseHelperToPipe(value: unknown): HelperToPipe {
  if (!isRecord(value)) throw new LocalChannelFormatError('a pipe control message must be a JSON object with "type"');
  switch (value.type) {
    case 'need-path': {
      const message: PipeNeedPath = { type: 'need-path', reason: optionalText(value.reason, '"reason"', MAX_LOCAL_TEXT_CHARS, fail) };
      if (value.pathId !== undefined) message.pathId = pathId(value);
      return message;
    }
    case 'session':
      return { type: 'session', ...parseSessionReport(value) };
    case 'rendezvous-reply':
      return { type: 'rendezvous-reply', id: rendezvousId(value), reply: envelopeText(value, 'reply') };
    case 'rendezvous-failed':
      return { type: 'rendezvous-failed', id: rendezvousId(value), code: text(value, 'code'), message: text(value, 'message') };
    case 'whole-device-state': {
      const message: PipeWholeDeviceState = { type: 'whole-device-state', state: requireOneOf(value.state, '"state"', WHOLE_DEVICE_STATES, fail) };
      if (value.reason !== undefined) message.reason = optionalText(value.reason, '"reason"', MAX_LOCAL_TEXT_CHARS, fail);
      return message;
    }
    default:
      throw new LocalChannelFormatError('"type" must be one of need-path, session, rendezvous-reply, rendezvous-failed, whole-device-state');
  }
}

/**
 * The extension's ID, pinned by the public "key" in manifest.json. The native host manifest allows only this origin
 * by default, and the helper's pipe accepts only `chrome-extension://<this id>` as Origin.
 */
export const FERRY_EXTENSION_ID = 'iicjeojiegedfieohhglnafgfieegdoe';
/** The matching public key (base64 DER SubjectPublicKeyInfo) for manifest.json's "key". Public by design. */
export const FERRY_EXTENSION_PUBLIC_KEY =
  'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvwUdlRsw4/lt0UXi0uuRp/kHho7z5FwqpY5IE1dviZ+1CG7hTme9b1fZbukjJXix/imwveiXzhiZE+irI4WDEGH+tRhUc9hI26nEtaTzT6olXUL6p6GG/48ttXwHc4elWNX406drw4KkvunQxq2DSsjzwKT07RsZrRWI89ZOoTdis5kRQArgpd1YRKJ80gbxUFbw2e2Fj7VsjgNFmvVqcXBweT7HNTWIhzVSNpZUgHGOhlLfgTxorTT/Os7NFLtupllzyjRhnggjwr/9a6x/qqTc9/Jsvzn+ga8MxJcRkSuX8zq4b4lhfaI99JC5tjj0g4lQClSKKK80A4PXtWtIIQIDAQAB';
