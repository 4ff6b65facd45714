/**
 * @module frame
 * Mux frames: what a SEALED record carries, one frame per record. Layout: [type u8][stream id u32 BE][body].
 *
 *   OPEN       body: [port u16][host length u8][host UTF-8]
 *   OPEN_OK    body: empty
 *   OPEN_FAIL  body: [code u8][reason UTF-8]
 *   DATA       body: the bytes (1 .. MAX_DATA_PAYLOAD_BYTES)
 *   CREDIT     body: [bytes u32]         stream 0 = session-wide
 *   CLOSE      body: empty               half-close
 *   RESET      body: [code u8][reason UTF-8]
 *   PING/PONG  body: [8 opaque bytes]    stream 0
 *   GOAWAY     body: [code u8][reason UTF-8]   stream 0
 */

import { fromUtf8, utf8, utf8Prefix, viewOf } from './bytes.ts';
import {
  FRAME_HEADER_BYTES,
  FrameType,
  MAX_DATA_PAYLOAD_BYTES,
  MAX_HOST_BYTES,
  MAX_REASON_BYTES,
  SESSION_STREAM_ID,
  type SessionCloseCode,
  StreamErrorCode,
} from './constants.ts';
import { MalformedInputError, OversizeError } from './errors.ts';

export type Frame =
  | { type: typeof FrameType.OPEN; streamId: number; host: string; port: number }
  | { type: typeof FrameType.OPEN_OK; streamId: number }
  | { type: typeof FrameType.OPEN_FAIL; streamId: number; code: StreamErrorCode; reason: string }
  | { type: typeof FrameType.DATA; streamId: number; data: Uint8Array }
  | { type: typeof FrameType.CREDIT; streamId: number; bytes: number }
  | { type: typeof FrameType.CLOSE; streamId: number }
  | { type: typeof FrameType.RESET; streamId: number; code: StreamErrorCode; reason: string }
  | { type: typeof FrameType.PING; opaque: Uint8Array }
  | { type: typeof FrameType.PONG; opaque: Uint8Array }
  | { type: typeof FrameType.GOAWAY; code: SessionCloseCode; reason: string };

const PING_OPAQUE_BYTES = 8;
const STREAM_ERROR_CODES = new Set<number>(Object.values(StreamErrorCode));

function header(type: FrameType, streamId: number, bodyLength: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(FRAME_HEADER_BYTES + bodyLength);
  const view = viewOf(bytes);
  bytes[0] = type;
  view.setUint32(1, streamId);
  return { bytes, view };
}

function coded(type: FrameType, streamId: number, code: number, reason: string): Uint8Array {
  const text = utf8Prefix(reason, MAX_REASON_BYTES);
  const { bytes } = header(type, streamId, 1 + text.length);
  bytes[FRAME_HEADER_BYTES] = code;
  bytes.set(text, FRAME_HEADER_BYTES + 1);
  return bytes;
}

/**
 * The frame's bytes as pieces to seal one after another: a DATA frame is its header and its data as they are (no copy
 * of the data: the exit seals hundreds of MB a second), any other frame one piece. Their concatenation is encodeFrame.
 */
export function encodeFrameParts(frame: Frame): Uint8Array[] {
  if (frame.type !== FrameType.DATA) return [encodeFrame(frame)];
  return [header(frame.type, frame.streamId, 0).bytes, frame.data];
}

export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case FrameType.OPEN: {
      const host = utf8(frame.host);
      if (host.length === 0 || host.length > MAX_HOST_BYTES) throw new OversizeError(`host name must be 1 to ${MAX_HOST_BYTES} bytes`);
      const { bytes, view } = header(frame.type, frame.streamId, 3 + host.length);
      view.setUint16(FRAME_HEADER_BYTES, frame.port);
      bytes[FRAME_HEADER_BYTES + 2] = host.length;
      bytes.set(host, FRAME_HEADER_BYTES + 3);
      return bytes;
    }
    case FrameType.OPEN_OK:
    case FrameType.CLOSE:
      return header(frame.type, frame.streamId, 0).bytes;
    case FrameType.OPEN_FAIL:
    case FrameType.RESET:
      return coded(frame.type, frame.streamId, frame.code, frame.reason);
    case FrameType.DATA: {
      const { bytes } = header(frame.type, frame.streamId, frame.data.length);
      bytes.set(frame.data, FRAME_HEADER_BYTES);
      return bytes;
    }
    case FrameType.CREDIT: {
      const { bytes, view } = header(frame.type, frame.streamId, 4);
      view.setUint32(FRAME_HEADER_BYTES, frame.bytes);
      return bytes;
    }
    case FrameType.PING:
    case FrameType.PONG: {
      const { bytes } = header(frame.type, SESSION_STREAM_ID, PING_OPAQUE_BYTES);
      bytes.set(frame.opaque.subarray(0, PING_OPAQUE_BYTES), FRAME_HEADER_BYTES);
      return bytes;
    }
    case FrameType.GOAWAY:
      return coded(frame.type, SESSION_STREAM_ID, frame.code, frame.reason);
  }
}

function readReason(body: Uint8Array): string {
  if (body.length > MAX_REASON_BYTES) throw new OversizeError(`a reason text over ${MAX_REASON_BYTES} bytes`);
  try {
    return fromUtf8(body);
  } catch {
    throw new MalformedInputError('a reason text is not valid UTF-8');
  }
}

function requireStream(type: string, streamId: number): void {
  if (streamId === SESSION_STREAM_ID) throw new MalformedInputError(`${type} on stream 0, which is reserved for the session`);
}

function requireBodyLength(type: string, body: Uint8Array, expected: number): void {
  if (body.length !== expected) throw new MalformedInputError(`${type} body must be ${expected} bytes, got ${body.length}`);
}

export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length < FRAME_HEADER_BYTES)
    throw new MalformedInputError(`a frame of ${bytes.length} bytes is shorter than its ${FRAME_HEADER_BYTES}-byte header`);
  const view = viewOf(bytes);
  const type = bytes[0];
  const streamId = view.getUint32(1);
  const body = bytes.subarray(FRAME_HEADER_BYTES);
  switch (type) {
    case FrameType.OPEN: {
      requireStream('OPEN', streamId);
      if (body.length < 4) throw new MalformedInputError('OPEN body is truncated');
      const port = viewOf(body).getUint16(0);
      const hostLength = body[2] ?? 0;
      if (hostLength === 0 || body.length !== 3 + hostLength) throw new MalformedInputError('OPEN host length does not match the body');
      if (port === 0) throw new MalformedInputError('OPEN port 0 is not a valid destination');
      let host: string;
      try {
        host = fromUtf8(body.subarray(3));
      } catch {
        throw new MalformedInputError('OPEN host is not valid UTF-8');
      }
      return { type, streamId, host, port };
    }
    case FrameType.OPEN_OK:
      requireStream('OPEN_OK', streamId);
      requireBodyLength('OPEN_OK', body, 0);
      return { type, streamId };
    case FrameType.CLOSE:
      requireStream('CLOSE', streamId);
      requireBodyLength('CLOSE', body, 0);
      return { type, streamId };
    case FrameType.OPEN_FAIL:
    case FrameType.RESET: {
      requireStream(type === FrameType.RESET ? 'RESET' : 'OPEN_FAIL', streamId);
      if (body.length < 1) throw new MalformedInputError('a failure frame has no code');
      const code = body[0] ?? 0;
      if (!STREAM_ERROR_CODES.has(code)) throw new MalformedInputError(`unknown stream error code ${code}`);
      return { type, streamId, code: code as StreamErrorCode, reason: readReason(body.subarray(1)) };
    }
    case FrameType.DATA:
      requireStream('DATA', streamId);
      if (body.length === 0) throw new MalformedInputError('DATA frame with no bytes');
      if (body.length > MAX_DATA_PAYLOAD_BYTES) throw new OversizeError(`DATA of ${body.length} bytes exceeds ${MAX_DATA_PAYLOAD_BYTES}`);
      return { type, streamId, data: body };
    case FrameType.CREDIT: {
      requireBodyLength('CREDIT', body, 4);
      const credit = viewOf(body).getUint32(0);
      if (credit === 0) throw new MalformedInputError('CREDIT of 0 bytes');
      return { type, streamId, bytes: credit };
    }
    case FrameType.PING:
    case FrameType.PONG:
      if (streamId !== SESSION_STREAM_ID) throw new MalformedInputError('PING/PONG must use stream 0');
      requireBodyLength('PING/PONG', body, PING_OPAQUE_BYTES);
      return { type, opaque: body.slice() };
    case FrameType.GOAWAY:
      if (streamId !== SESSION_STREAM_ID) throw new MalformedInputError('GOAWAY must use stream 0');
      if (body.length < 1) throw new MalformedInputError('GOAWAY has no code');
      return { type, code: (body[0] ?? 0) as SessionCloseCode, reason: readReason(body.subarray(1)) };
    default:
      throw new MalformedInputError(`unknown frame type 0x${(type ?? 0).toString(16).padStart(2, '0')}`);
  }
}
