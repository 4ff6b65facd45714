/**
 * @module hello
 * The payloads inside the two handshake messages. Each side announces its receive windows, so neither has to
 * guess the other's configuration.
 *
 *   ClientHello: [version u8 = 1][stream window u32][session window u32]
 *   ServerHello: [version u8 = 1][session id (16)][stream window u32][session window u32]
 */

import { viewOf } from './bytes.ts';
import { SESSION_ID_BYTES } from './constants.ts';
import { MalformedInputError } from './errors.ts';

export const PROTOCOL_VERSION = 1;

export interface ReceiveWindows {
  streamWindowBytes: number;
  sessionWindowBytes: number;
}

export interface ServerHello extends ReceiveWindows {
  sessionId: Uint8Array;
}

const CLIENT_HELLO_BYTES = 9;
const SERVER_HELLO_BYTES = 1 + SESSION_ID_BYTES + 8;

export function encodeClientHello(windows: ReceiveWindows): Uint8Array {
  const out = new Uint8Array(CLIENT_HELLO_BYTES);
  const view = viewOf(out);
  out[0] = PROTOCOL_VERSION;
  view.setUint32(1, windows.streamWindowBytes);
  view.setUint32(5, windows.sessionWindowBytes);
  return out;
}

function checkVersion(bytes: Uint8Array, expectedLength: number, what: string): void {
  if (bytes[0] !== PROTOCOL_VERSION) throw new MalformedInputError(`${what} has protocol version ${bytes[0] ?? 'none'}; this build speaks ${PROTOCOL_VERSION}`);
  if (bytes.length !== expectedLength) throw new MalformedInputError(`${what} must be ${expectedLength} bytes, got ${bytes.length}`);
}

function readWindows(view: DataView, offset: number, what: string): ReceiveWindows {
  const streamWindowBytes = view.getUint32(offset);
  const sessionWindowBytes = view.getUint32(offset + 4);
  if (streamWindowBytes === 0 || sessionWindowBytes === 0) throw new MalformedInputError(`${what} announces a zero receive window`);
  return { streamWindowBytes, sessionWindowBytes };
}

export function decodeClientHello(bytes: Uint8Array): ReceiveWindows {
  checkVersion(bytes, CLIENT_HELLO_BYTES, 'ClientHello');
  return readWindows(viewOf(bytes), 1, 'ClientHello');
}

export function encodeServerHello(hello: ServerHello): Uint8Array {
  const out = new Uint8Array(SERVER_HELLO_BYTES);
  const view = viewOf(out);
  out[0] = PROTOCOL_VERSION;
  out.set(hello.sessionId, 1);
  view.setUint32(1 + SESSION_ID_BYTES, hello.streamWindowBytes);
  view.setUint32(5 + SESSION_ID_BYTES, hello.sessionWindowBytes);
  return out;
}

export function decodeServerHello(bytes: Uint8Array): ServerHello {
  checkVersion(bytes, SERVER_HELLO_BYTES, 'ServerHello');
  return { sessionId: bytes.slice(1, 1 + SESSION_ID_BYTES), ...readWindows(viewOf(bytes), 1 + SESSION_ID_BYTES, 'ServerHello') };
}
