/**
 * Fuzz target: mux frames (protocol/frame.ts), what every authenticated SEALED record carries.
 *
 * Properties: decodeFrame() on any bytes returns a frame or throws MalformedInputError / OversizeError, never any
 * other error; a decoded frame re-encodes to exactly the bytes it came from; every valid frame survives
 * encodeFrame then decodeFrame unchanged.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameType, MAX_DATA_PAYLOAD_BYTES } from '../../../protocol/constants.ts';
import { MalformedInputError, OversizeError } from '../../../protocol/errors.ts';
import { decodeFrame, encodeFrame, type Frame } from '../../../protocol/frame.ts';
import { anyFrame, frameBytes } from '../frame-arbitraries.ts';
import type { FuzzTarget } from '../target.ts';

export type FrameInput = { kind: 'valid'; frame: Frame } | { kind: 'bytes'; bytes: Uint8Array };

const anyTypeByte = fc.oneof(fc.integer({ min: 0, max: 0x0c }), fc.integer({ min: 0, max: 255 }));
const likelyStreamId = fc.oneof(fc.constantFrom(0, 1, 2, 0xffff_ffff), fc.integer({ min: 0, max: 0xffff_ffff }));

/** Header-shaped bytes with any body; a valid frame with one byte changed, cut or lengthened; or plain bytes. */
const frameLikeBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 96 }),
  fc.tuple(anyTypeByte, likelyStreamId, fc.uint8Array({ maxLength: 96 })).map(([type, id, body]) => frameBytes(type, id, body)),
  fc
    .tuple(anyTypeByte, likelyStreamId, fc.integer({ min: MAX_DATA_PAYLOAD_BYTES - 2, max: MAX_DATA_PAYLOAD_BYTES + 2 }))
    .map(([type, id, length]) => frameBytes(type, id, new Uint8Array(length))),
  fc.tuple(anyFrame, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'cut', 'grow')).map(([frame, at, value, how]) => {
    const bytes = encodeFrame(frame);
    if (how === 'cut') return bytes.subarray(0, at % (bytes.length + 1));
    if (how === 'grow') {
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      longer[bytes.length] = value;
      return longer;
    }
    const changed = bytes.slice();
    changed[at % changed.length] = value;
    return changed;
  }),
);

const input: fc.Arbitrary<FrameInput> = fc.oneof(
  { weight: 1, arbitrary: anyFrame.map((frame): FrameInput => ({ kind: 'valid', frame })) },
  { weight: 3, arbitrary: frameLikeBytes.map((bytes): FrameInput => ({ kind: 'bytes', bytes })) },
);

function checkBytes(bytes: Uint8Array): void {
  let frame: Frame;
  try {
    frame = decodeFrame(bytes);
  } catch (error) {
    if (error instanceof MalformedInputError || error instanceof OversizeError) return;
    throw new assert.AssertionError({ message: `decodeFrame threw ${String(error)}, not MalformedInputError or OversizeError`, actual: error });
  }
  assert.deepEqual(encodeFrame(frame), bytes, 'a decoded frame re-encodes to the bytes it came from');
}

function checkFrame(input: FrameInput): void {
  if (input.kind === 'bytes') {
    checkBytes(input.bytes);
    return;
  }
  const bytes = encodeFrame(input.frame);
  assert.deepStrictEqual(decodeFrame(bytes), input.frame, 'a valid frame survives encodeFrame then decodeFrame');
  checkBytes(bytes);
}

export const muxFramesTarget: FuzzTarget<FrameInput> = {
  name: 'mux-frames',
  description: 'decodeFrame on arbitrary and damaged frames: typed errors only; decode then encode gives the same bytes, encode then decode the same frame',
  input,
  async start() {
    return {
      check: async (frameInput) => checkFrame(frameInput),
      checkStillServing: async () => checkFrame({ kind: 'valid', frame: { type: FrameType.OPEN_OK, streamId: 1 } }),
      close: async () => {},
      toleratedBugs: new Map(),
    };
  },
};
