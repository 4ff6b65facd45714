/**
 * @module local-channel-parsers
 * Validators for what the native helper sends the extension: native messages (to the service worker) and the pipe's
 * text control messages (to the offscreen document). The types are protocol/local-channel.ts's.
 */
import type { HelperToPipe, NativeToExtension, SessionState } from '../protocol/local-channel.ts';

/** The helper sent something that is not a valid local-channel message. */
export class LocalChannelFormatError extends Error {
  override readonly name = 'LocalChannelFormatError';
  readonly code = 'BAD_HELPER_MESSAGE';
}

/** Longest pipe control message read (characters); control messages are tiny. */
export const MAX_PIPE_CONTROL_CHARS = 4096;
const MAX_FIELD_CHARS = 2048;
/** Every SessionState; typed as a record so a state added to protocol/local-channel.ts fails type-check here until listed. */
const SESSION_STATE_SET: Record<SessionState, true> = { 'waiting-for-path': true, handshaking: true, connected: true, resuming: true, closed: true };
export const SESSION_STATES = Object.keys(SESSION_STATE_SET) as readonly SessionState[];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(obj: Record<string, unknown>, field: string): string {
  const value = obj[field];
  if (typeof value !== 'string' || value === '' || value.length > MAX_FIELD_CHARS) {
    throw new LocalChannelFormatError(`helper message field "${field}" must be a non-empty string`);
  }
  return value;
}

/** A reason for people: any text, cut to MAX_FIELD_CHARS; missing means none given. */
function optionalText(obj: Record<string, unknown>, field: string): string {
  const value = obj[field];
  if (value === undefined) return '';
  if (typeof value !== 'string') throw new LocalChannelFormatError(`helper message field "${field}" must be a string`);
  return value.slice(0, MAX_FIELD_CHARS);
}

function int(obj: Record<string, unknown>, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = obj[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new LocalChannelFormatError(`helper message field "${field}" must be an integer from 0 to ${max}`);
  }
  return value;
}

function port(obj: Record<string, unknown>, field: string): number {
  const value = int(obj, field, 65535);
  if (value === 0) throw new LocalChannelFormatError(`helper message field "${field}" must be a port from 1 to 65535`);
  return value;
}

function sessionState(obj: Record<string, unknown>, field: string): SessionState {
  const value = obj[field];
  if (typeof value !== 'string' || !(SESSION_STATES as readonly string[]).includes(value)) {
    throw new LocalChannelFormatError(`helper message field "${field}" must be one of ${SESSION_STATES.join(', ')}`);
  }
  return value as SessionState;
}

function loopbackWebSocketUrl(obj: Record<string, unknown>, field: string): string {
  const value = str(obj, field);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new LocalChannelFormatError(`helper message field "${field}" must be a URL`);
  }
  // The pipe carries the user's traffic: it must stay on this machine.
  if (url.protocol !== 'ws:' || !['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)) {
    throw new LocalChannelFormatError(`helper message field "${field}" must be a ws:// URL on 127.0.0.1`);
  }
  return value;
}

export function parseNativeMessage(value: unknown): NativeToExtension {
  if (!isRecord(value)) throw new LocalChannelFormatError('a helper message must be a JSON object with "type"');
  switch (value.type) {
    case 'ready':
      return {
        type: 'ready',
        version: str(value, 'version'),
        pid: int(value, 'pid'),
        socksPort: port(value, 'socksPort'),
        httpPort: int(value, 'httpPort', 65535),
        pipeUrl: loopbackWebSocketUrl(value, 'pipeUrl'),
        token: str(value, 'token'),
      };
    case 'token':
      return { type: 'token', token: str(value, 'token') };
    case 'status':
      return {
        type: 'status',
        session: sessionState(value, 'session'),
        bytesUp: int(value, 'bytesUp'),
        bytesDown: int(value, 'bytesDown'),
        streams: int(value, 'streams'),
        pathChanges: int(value, 'pathChanges'),
      };
    case 'error':
      return { type: 'error', code: str(value, 'code'), message: str(value, 'message') };
    default:
      throw new LocalChannelFormatError(`unknown helper message type ${JSON.stringify(value.type)}`);
  }
}

/** Parses one pipe text message, or throws LocalChannelFormatError. */
export function parsePipeControl(text: string): HelperToPipe {
  if (text.length > MAX_PIPE_CONTROL_CHARS) throw new LocalChannelFormatError(`pipe control message longer than ${MAX_PIPE_CONTROL_CHARS} characters`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new LocalChannelFormatError('pipe control message is not JSON');
  }
  if (!isRecord(value)) throw new LocalChannelFormatError('pipe control message must be a JSON object with "type"');
  switch (value.type) {
    case 'need-path':
      return { type: 'need-path', reason: optionalText(value, 'reason') };
    case 'session':
      return {
        type: 'session',
        state: sessionState(value, 'state'),
        bytesUp: int(value, 'bytesUp'),
        bytesDown: int(value, 'bytesDown'),
        streams: int(value, 'streams'),
        pathChanges: int(value, 'pathChanges'),
      };
    default:
      throw new LocalChannelFormatError(`unknown pipe control message type ${JSON.stringify(value.type)}`);
  }
}
