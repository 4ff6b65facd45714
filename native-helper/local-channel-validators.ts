/**
 * @module local-channel-validators
 * Turns untrusted JSON from the extension (native messaging and pipe control messages) into the typed messages of
 * protocol/local-channel.ts, or throws LocalMessageFormatError naming the offending field.
 */
import type { ExtensionToNative, ExtensionToPipe } from '../protocol/local-channel.ts';
import { SignalingFormatError, parseExitInfo } from '../protocol/signaling.ts';

/** Longest `reason`, `code` or `message` string kept from a control message, in characters. */
export const MAX_CONTROL_TEXT_CHARS = 1_000;

export class LocalMessageFormatError extends Error {
  override readonly name = 'LocalMessageFormatError';
  readonly code = 'LOCAL_BAD_MESSAGE';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalPort(obj: Record<string, unknown>, field: string): number | undefined {
  const value = obj[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65_535) {
    throw new LocalMessageFormatError(`"${field}" must be an integer port from 0 to 65535`);
  }
  return value;
}

function requireText(obj: Record<string, unknown>, field: string): string {
  const value = obj[field];
  if (typeof value !== 'string' || value.length === 0) throw new LocalMessageFormatError(`"${field}" must be a non-empty string`);
  if (value.length > MAX_CONTROL_TEXT_CHARS) throw new LocalMessageFormatError(`"${field}" is longer than ${MAX_CONTROL_TEXT_CHARS} characters`);
  return value;
}

/** Validates a native message from the extension's service worker. */
export function parseExtensionToNative(value: unknown): ExtensionToNative {
  if (!isRecord(value)) throw new LocalMessageFormatError('a native message must be a JSON object with "type"');
  switch (value.type) {
    case 'start': {
      let exit;
      try {
        exit = parseExitInfo(value.exit);
      } catch (error) {
        if (error instanceof SignalingFormatError) throw new LocalMessageFormatError(`"exit": ${error.message}`);
        throw error;
      }
      const message: ExtensionToNative = { type: 'start', exit };
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
      throw new LocalMessageFormatError('"type" must be one of start, new-token, stop');
  }
}

/** Validates a control (text) message the offscreen document sent on the pipe. */
export function parseExtensionToPipe(value: unknown): ExtensionToPipe {
  if (!isRecord(value)) throw new LocalMessageFormatError('a pipe control message must be a JSON object with "type"');
  switch (value.type) {
    case 'path-up':
      return { type: 'path-up' };
    case 'path-down':
      return { type: 'path-down', reason: requireText(value, 'reason') };
    case 'path-error':
      return { type: 'path-error', code: requireText(value, 'code'), message: requireText(value, 'message') };
    default:
      throw new LocalMessageFormatError('"type" must be one of path-up, path-down, path-error');
  }
}
