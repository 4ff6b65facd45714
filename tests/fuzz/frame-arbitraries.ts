/**
 * @module fuzz/frame-arbitraries
 * fast-check arbitraries of valid mux frames (protocol/frame.ts), one per FrameType, and a builder of raw frame
 * bytes. Shared by the frame tests (tests/unit/protocol/frame.test.ts) and the fuzz targets for frames and the muxer.
 */
import fc from 'fast-check';
import {
  FRAME_HEADER_BYTES,
  FrameType,
  MAX_DATA_PAYLOAD_BYTES,
  MAX_HOST_BYTES,
  MAX_REASON_BYTES,
  SessionCloseCode,
  StreamErrorCode,
} from '../../protocol/constants.ts';
import type { Frame } from '../../protocol/frame.ts';

const encoder = new TextEncoder();
export const utf8ByteLength = (text: string): number => encoder.encode(text).length;

export const streamId = fc.integer({ min: 1, max: 0xffff_ffff });
export const port = fc.integer({ min: 1, max: 0xffff });
export const streamCode = fc.constantFrom(...Object.values(StreamErrorCode));
export const sessionCode = fc.constantFrom(...Object.values(SessionCloseCode));

/** Text of minBytes..maxBytes UTF-8 bytes: ASCII, any code point, or starting with U+FEFF (which must not be taken for a BOM). */
export function text(minBytes: number, maxBytes: number): fc.Arbitrary<string> {
  return fc
    .oneof(
      fc.string({ unit: 'grapheme-ascii', minLength: minBytes, maxLength: maxBytes, size: 'max' }),
      fc.string({ unit: 'binary', minLength: minBytes, maxLength: Math.floor(maxBytes / 4), size: 'max' }),
      fc.string({ unit: 'binary', maxLength: Math.floor(maxBytes / 4) - 1, size: 'max' }).map((rest) => `\uFEFF${rest}`),
    )
    .filter((value) => utf8ByteLength(value) >= minBytes && utf8ByteLength(value) <= maxBytes);
}

export const host = fc.oneof(fc.domain(), text(1, MAX_HOST_BYTES));
export const reason = text(0, MAX_REASON_BYTES);
export const payload = fc.oneof(
  { weight: 9, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 2048, size: 'max' }) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_DATA_PAYLOAD_BYTES - 16, max: MAX_DATA_PAYLOAD_BYTES }).map((n) => new Uint8Array(n).fill(0xa5)) },
);
export const opaque = fc.uint8Array({ minLength: 8, maxLength: 8 });

export const frameArbitraries: Record<keyof typeof FrameType, fc.Arbitrary<Frame>> = {
  OPEN: fc.tuple(streamId, host, port).map(([id, name, number]): Frame => ({ type: FrameType.OPEN, streamId: id, host: name, port: number })),
  OPEN_OK: streamId.map((id): Frame => ({ type: FrameType.OPEN_OK, streamId: id })),
  OPEN_FAIL: fc.tuple(streamId, streamCode, reason).map(([id, code, why]): Frame => ({ type: FrameType.OPEN_FAIL, streamId: id, code, reason: why })),
  DATA: fc.tuple(streamId, payload).map(([id, data]): Frame => ({ type: FrameType.DATA, streamId: id, data })),
  CREDIT: fc
    .tuple(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 1, max: 0xffff_ffff }))
    .map(([id, bytes]): Frame => ({ type: FrameType.CREDIT, streamId: id, bytes })),
  CLOSE: streamId.map((id): Frame => ({ type: FrameType.CLOSE, streamId: id })),
  RESET: fc.tuple(streamId, streamCode, reason).map(([id, code, why]): Frame => ({ type: FrameType.RESET, streamId: id, code, reason: why })),
  PING: opaque.map((bytes): Frame => ({ type: FrameType.PING, opaque: bytes })),
  PONG: opaque.map((bytes): Frame => ({ type: FrameType.PONG, opaque: bytes })),
  GOAWAY: fc.tuple(sessionCode, reason).map(([code, why]): Frame => ({ type: FrameType.GOAWAY, code, reason: why })),
};
export const anyFrame = fc.oneof(...Object.values(frameArbitraries));

/** The bytes of a frame with any type byte, stream id and body, valid or not. */
export function frameBytes(type: number, id: number, body: ArrayLike<number> = []): Uint8Array {
  const bytes = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  bytes[0] = type;
  new DataView(bytes.buffer).setUint32(1, id);
  bytes.set(body, FRAME_HEADER_BYTES);
  return bytes;
}
