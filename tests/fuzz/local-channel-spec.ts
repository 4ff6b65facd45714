/**
 * @module fuzz/local-channel-spec
 * The local-channel message formats (protocol/local-channel.ts) written down a second time, from their documentation
 * rather than their code, as the fuzz targets' oracle: which JSON values are well-formed messages, and what a
 * validator must return for them. Shared by the local-channel and native-messaging targets.
 *
 * `start` carries the extension's exit choice, whose own format (the exit list) has its own validator and tests; here
 * only its ports are judged, and an accepted `start` must be drawn from its input (see isDrawnFrom).
 */
import { MAX_LOCAL_TEXT_CHARS, SESSION_STATES } from '../../protocol/local-channel.ts';
import { NAT_CLASSES } from '../../protocol/signaling.ts';
import { isJsonObject } from './json-mutations.ts';

/** A validator must return `value`, must throw, or (`either`) may do both, with `accepted` checking what it returns. */
export type SpecVerdict =
  | { kind: 'valid'; value: unknown }
  | { kind: 'invalid'; why: string }
  | { kind: 'either'; why: string; accepted: (result: unknown) => string | undefined };

const valid = (value: unknown): SpecVerdict => ({ kind: 'valid', value });
const invalid = (why: string): SpecVerdict => ({ kind: 'invalid', why });

/** Text fields: a string of 1 to MAX_LOCAL_TEXT_CHARS characters. */
const isText = (value: unknown): value is string => typeof value === 'string' && value.length >= 1 && value.length <= MAX_LOCAL_TEXT_CHARS;
/** Counters: a safe integer, 0 or more. */
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isPort = (value: unknown, min: number): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= 65_535;

/** The pipe carries the user's traffic: a ws:// URL on this machine only. */
function isLoopbackWebSocketUrl(value: unknown): value is string {
  if (!isText(value)) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return url.protocol === 'ws:' && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
}

/** A path id on the pipe: an integer 1..255. */
function isPathId(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 255;
}

function sessionReport(value: Record<string, unknown>): Record<string, unknown> | undefined {
  const { state, bytesUp, bytesDown, streams, pathChanges, paths } = value;
  if (typeof state !== 'string' || !(SESSION_STATES as readonly string[]).includes(state)) return undefined;
  if (![bytesUp, bytesDown, streams, pathChanges, paths].every(isCount)) return undefined;
  return { state, bytesUp, bytesDown, streams, pathChanges, paths };
}

/**
 * Whether `result` holds only what `input` held: each of its fields equal to the same field of the input (objects
 * compared field by field the same way). A validator may drop unknown fields but never invent or change one.
 */
export function isDrawnFrom(result: unknown, input: unknown): boolean {
  if (typeof result !== 'object' || result === null) return Object.is(result, input);
  if (typeof input !== 'object' || input === null || Array.isArray(input) !== Array.isArray(result)) return false;
  return Object.entries(result).every(([key, field]) => Object.hasOwn(input, key) && isDrawnFrom(field, (input as Record<string, unknown>)[key]));
}

/** Helper side: a native message from the extension's service worker. */
export function specExtensionToNative(value: unknown): SpecVerdict {
  if (!isJsonObject(value)) return invalid('not a JSON object');
  const message: Record<string, unknown> = value;
  switch (message.type) {
    case 'new-token':
    case 'stop':
      return valid({ type: message.type });
    case 'start': {
      for (const field of ['socksPort', 'httpPort']) {
        if (message[field] !== undefined && !isPort(message[field], 0)) return invalid(`"${field}" is not a port`);
      }
      return {
        kind: 'either',
        why: 'the exit choice is judged by its own validator',
        accepted: (result) => {
          if (!isDrawnFrom(result, message)) return 'the accepted start holds a field its input did not';
          const fields = result as Record<string, unknown>;
          if (fields.type !== 'start') return 'the accepted start is not of type "start"';
          for (const field of ['socksPort', 'httpPort']) {
            if (Object.hasOwn(fields, field) !== (message[field] !== undefined)) return `"${field}" was added or lost`;
          }
          return Object.keys(fields).length > 1 + ['socksPort', 'httpPort'].filter((field) => message[field] !== undefined).length
            ? undefined
            : 'the accepted start names no exit';
        },
      };
    }
    default:
      return invalid('unknown type');
  }
}

/** Extension side: a native message from the helper. */
export function specNativeToExtension(value: unknown): SpecVerdict {
  if (!isJsonObject(value)) return invalid('not a JSON object');
  const message: Record<string, unknown> = value;
  switch (message.type) {
    case 'ready': {
      const { version, pid, socksPort, httpPort, pipeUrl, token } = message;
      if (!isText(version) || !isCount(pid) || !isPort(socksPort, 1) || !isPort(httpPort, 0) || !isLoopbackWebSocketUrl(pipeUrl) || !isText(token)) {
        return invalid('a ready field is out of shape');
      }
      // `nat` is optional; any value that is not a known class reads as 'unknown' (a newer helper's class).
      const nat = message.nat === undefined ? {} : { nat: (NAT_CLASSES as readonly unknown[]).includes(message.nat) ? message.nat : 'unknown' };
      return valid({ type: 'ready', version, pid, socksPort, httpPort, pipeUrl, token, ...nat });
    }
    case 'token':
      return isText(message.token) ? valid({ type: 'token', token: message.token }) : invalid('bad token');
    case 'status': {
      const report = sessionReport(message);
      return report ? valid({ type: 'status', ...report }) : invalid('bad session report');
    }
    case 'error':
      return isText(message.code) && isText(message.message) ? valid({ type: 'error', code: message.code, message: message.message }) : invalid('bad error');
    default:
      return invalid('unknown type');
  }
}

/** Helper side: a pipe control message from the offscreen document. */
export function specExtensionToPipe(value: unknown): SpecVerdict {
  if (!isJsonObject(value)) return invalid('not a JSON object');
  const message: Record<string, unknown> = value;
  switch (message.type) {
    case 'path-up':
      if (!isPathId(message.pathId)) return invalid('bad path id');
      return message.role === 'carry' || message.role === 'standby'
        ? valid({ type: 'path-up', pathId: message.pathId, role: message.role })
        : invalid('bad role');
    case 'path-down':
      if (!isPathId(message.pathId)) return invalid('bad path id');
      return isText(message.reason) ? valid({ type: 'path-down', pathId: message.pathId, reason: message.reason }) : invalid('bad reason');
    case 'path-error':
      return isText(message.code) && isText(message.message)
        ? valid({ type: 'path-error', code: message.code, message: message.message })
        : invalid('bad path error');
    default:
      return invalid('unknown type');
  }
}

/** Extension side: a pipe control message from the helper. */
export function specHelperToPipe(value: unknown): SpecVerdict {
  if (!isJsonObject(value)) return invalid('not a JSON object');
  const message: Record<string, unknown> = value;
  switch (message.type) {
    case 'need-path': {
      // Free text for people: absent means '', longer than the limit is cut.
      const { reason, pathId } = message;
      if (pathId !== undefined && !isPathId(pathId)) return invalid('bad path id');
      const withPath = pathId === undefined ? {} : { pathId };
      if (reason === undefined) return valid({ type: 'need-path', reason: '', ...withPath });
      return typeof reason === 'string' ? valid({ type: 'need-path', reason: reason.slice(0, MAX_LOCAL_TEXT_CHARS), ...withPath }) : invalid('bad reason');
    }
    case 'session': {
      const report = sessionReport(message);
      return report ? valid({ type: 'session', ...report }) : invalid('bad session report');
    }
    default:
      return invalid('unknown type');
  }
}
