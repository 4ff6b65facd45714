// Direct tests of protocol/frame.ts: every FrameType round-trips through encodeFrame/decodeFrame, and malformed bytes fail typed.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  FRAME_HEADER_BYTES,
  FrameType,
  MAX_DATA_PAYLOAD_BYTES,
  MAX_HOST_BYTES,
  MAX_REASON_BYTES,
  SessionCloseCode,
  StreamErrorCode,
} from '../../../protocol/constants.ts';
import { MalformedInputError, OversizeError } from '../../../protocol/errors.ts';
import { decodeFrame, encodeFrame, type Frame } from '../../../protocol/frame.ts';
import { anyFrame, frameArbitraries, frameBytes, streamId, utf8ByteLength } from '../../fuzz/frame-arbitraries.ts';

const NUM_RUNS = 400;

/** decodeFrame, with the two errors it may throw on bad input turned into undefined; anything else is rethrown. */
function decodeOrReject(bytes: Uint8Array): Frame | undefined {
  try {
    return decodeFrame(bytes);
  } catch (error) {
    if (error instanceof MalformedInputError || error instanceof OversizeError) return undefined;
    throw error;
  }
}

// ---- round trips ----

for (const [name, arbitrary] of Object.entries(frameArbitraries)) {
  test(`every valid ${name} frame decodes to exactly what was encoded`, () => {
    fc.assert(
      fc.property(arbitrary, (frame) => {
        assert.deepStrictEqual(decodeFrame(encodeFrame(frame)), frame);
      }),
      { numRuns: NUM_RUNS },
    );
  });
}

test('an encoded frame starts with its type byte and (but for stream-0 frames) its stream id, big-endian', () => {
  fc.assert(
    fc.property(anyFrame, (frame) => {
      const bytes = encodeFrame(frame);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      assert.equal(bytes[0], frame.type);
      assert.equal(view.getUint32(1), 'streamId' in frame ? frame.streamId : 0);
    }),
    { numRuns: NUM_RUNS },
  );
});

test('decoding then re-encoding a valid frame gives back the same bytes', () => {
  fc.assert(
    fc.property(anyFrame, (frame) => {
      const bytes = encodeFrame(frame);
      assert.deepStrictEqual(encodeFrame(decodeFrame(bytes)), bytes);
    }),
    { numRuns: NUM_RUNS },
  );
});

test('a frame decodes the same when it sits at an offset inside a larger buffer', () => {
  fc.assert(
    fc.property(anyFrame, fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 16 }), (frame, before, after) => {
      const bytes = encodeFrame(frame);
      const buffer = new Uint8Array(before.length + bytes.length + after.length);
      buffer.set(before, 0);
      buffer.set(bytes, before.length);
      buffer.set(after, before.length + bytes.length);
      assert.deepStrictEqual(decodeFrame(buffer.subarray(before.length, before.length + bytes.length)), frame);
    }),
    { numRuns: NUM_RUNS },
  );
});

test('frames have the byte layout of docs/wire-protocol.md', () => {
  const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
  assert.equal(hex(encodeFrame({ type: FrameType.OPEN, streamId: 1, host: 'a.io', port: 443 })), '0100000001' + '01bb' + '04' + '612e696f');
  assert.equal(hex(encodeFrame({ type: FrameType.OPEN_OK, streamId: 0x01020304 })), '0201020304');
  assert.equal(
    hex(encodeFrame({ type: FrameType.OPEN_FAIL, streamId: 3, code: StreamErrorCode.CONNECTION_REFUSED, reason: 'no' })),
    '0300000003' + '05' + '6e6f',
  );
  assert.equal(hex(encodeFrame({ type: FrameType.DATA, streamId: 5, data: Uint8Array.of(0, 255) })), '0400000005' + '00ff');
  assert.equal(hex(encodeFrame({ type: FrameType.CREDIT, streamId: 0, bytes: 0x00100000 })), '0500000000' + '00100000');
  assert.equal(hex(encodeFrame({ type: FrameType.CLOSE, streamId: 7 })), '0600000007');
  assert.equal(hex(encodeFrame({ type: FrameType.RESET, streamId: 9, code: StreamErrorCode.TIMED_OUT, reason: '' })), '0700000009' + '06');
  assert.equal(hex(encodeFrame({ type: FrameType.PING, opaque: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) })), '0800000000' + '0102030405060708');
  assert.equal(hex(encodeFrame({ type: FrameType.PONG, opaque: Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1) })), '0900000000' + '0807060504030201');
  assert.equal(hex(encodeFrame({ type: FrameType.GOAWAY, code: SessionCloseCode.SHUTTING_DOWN, reason: 'bye' })), '0a00000000' + '06' + '627965');
});

test('the largest host (255 bytes, multi-byte characters included) and the largest reason (512 bytes) round-trip', () => {
  const longHost = '€'.repeat(85); // 3 bytes each
  assert.equal(utf8ByteLength(longHost), MAX_HOST_BYTES);
  assert.deepStrictEqual(decodeFrame(encodeFrame({ type: FrameType.OPEN, streamId: 1, host: longHost, port: 1 })), {
    type: FrameType.OPEN,
    streamId: 1,
    host: longHost,
    port: 1,
  });
  const longReason = 'é'.repeat(MAX_REASON_BYTES / 2);
  const reset: Frame = { type: FrameType.RESET, streamId: 1, code: StreamErrorCode.GENERAL_FAILURE, reason: longReason };
  assert.deepStrictEqual(decodeFrame(encodeFrame(reset)), reset);
});

test('the encoder cuts an ASCII reason over 512 bytes to its first 512 bytes', () => {
  const frame = decodeFrame(encodeFrame({ type: FrameType.GOAWAY, code: SessionCloseCode.NORMAL, reason: 'x'.repeat(2000) }));
  assert.equal(frame.type, FrameType.GOAWAY);
  assert.equal(frame.type === FrameType.GOAWAY ? frame.reason : '', 'x'.repeat(MAX_REASON_BYTES));
});

/** The longest prefix of `text`, in whole code points, whose UTF-8 fits in `maxBytes`. */
function fittingPrefix(text: string, maxBytes: number): string {
  let prefix = '';
  for (const character of text) {
    if (utf8ByteLength(prefix + character) > maxBytes) break;
    prefix += character;
  }
  return prefix;
}

// Regression: the encoder used to cut the UTF-8 at byte 512 even inside a character, and the decoder then rejected the
// whole frame, so a long non-ASCII RESET / OPEN_FAIL / GOAWAY reason closed the receiving session.
test('a reason of any length is cut to the longest run of whole characters within 512 bytes, and the frame decodes', () => {
  const longReason = fc.string({ unit: 'binary', minLength: 100, maxLength: 400, size: 'max' });
  fc.assert(
    fc.property(fc.constantFrom(FrameType.OPEN_FAIL, FrameType.RESET, FrameType.GOAWAY), longReason, (type, reasonText) => {
      const frame: Frame =
        type === FrameType.GOAWAY
          ? { type, code: SessionCloseCode.INTERNAL_ERROR, reason: reasonText }
          : { type, streamId: 1, code: StreamErrorCode.GENERAL_FAILURE, reason: reasonText };
      const decoded = decodeOrReject(encodeFrame(frame));
      assert.ok(decoded !== undefined, 'the encoder made a frame its own decoder rejects');
      assert.equal('reason' in decoded ? decoded.reason : undefined, fittingPrefix(reasonText, MAX_REASON_BYTES));
    }),
    { numRuns: 300 },
  );
  const cutInsideACharacter = `a${'é'.repeat(300)}`; // 601 bytes; byte 512 falls inside an 'é'
  const decoded = decodeFrame(encodeFrame({ type: FrameType.RESET, streamId: 1, code: StreamErrorCode.GENERAL_FAILURE, reason: cutInsideACharacter }));
  assert.equal(decoded.type === FrameType.RESET ? decoded.reason : '', `a${'é'.repeat(255)}`);
});

// Regression: the decoder used TextDecoder's default ignoreBOM: false and dropped a leading U+FEFF; a host of just U+FEFF
// (3 bytes on the wire) even decoded to the empty host, which the format says cannot exist.
test('a host or reason that begins with U+FEFF decodes unchanged', () => {
  const open: Frame = { type: FrameType.OPEN, streamId: 1, host: '\uFEFF', port: 80 };
  assert.deepStrictEqual(decodeFrame(encodeFrame(open)), open);
  const goaway: Frame = { type: FrameType.GOAWAY, code: SessionCloseCode.NORMAL, reason: '\uFEFFbye' };
  assert.deepStrictEqual(decodeFrame(encodeFrame(goaway)), goaway);
});

// ---- malformed input ----

test('a frame shorter than its 5-byte header is malformed', () => {
  for (let length = 0; length < FRAME_HEADER_BYTES; length++) {
    assert.throws(() => decodeFrame(new Uint8Array(length).fill(FrameType.DATA)), MalformedInputError);
  }
});

test('every unknown type byte is malformed', () => {
  const known = new Set<number>(Object.values(FrameType));
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }).filter((type) => !known.has(type)),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.uint8Array({ maxLength: 64, size: 'medium' }),
      (type, id, body) => {
        assert.throws(() => decodeFrame(frameBytes(type, id, body)), MalformedInputError);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

/** Frames whose body has one valid length (OPEN's is fixed by its own length byte). */
const fixedBodyFrames = fc.oneof(
  frameArbitraries.OPEN,
  frameArbitraries.OPEN_OK,
  frameArbitraries.CREDIT,
  frameArbitraries.CLOSE,
  frameArbitraries.PING,
  frameArbitraries.PONG,
);

test('cutting bytes off a frame with a fixed-size body (OPEN, OPEN_OK, CREDIT, CLOSE, PING, PONG) makes it malformed', () => {
  fc.assert(
    fc.property(fixedBodyFrames, fc.integer({ min: 1, max: 300 }), (frame, cut) => {
      const bytes = encodeFrame(frame);
      assert.throws(() => decodeFrame(bytes.subarray(0, Math.max(0, bytes.length - cut))), MalformedInputError);
    }),
    { numRuns: NUM_RUNS },
  );
});

test('appending bytes to a frame with a fixed-size body makes it malformed', () => {
  fc.assert(
    fc.property(fixedBodyFrames, fc.uint8Array({ minLength: 1, maxLength: 32 }), (frame, extra) => {
      const bytes = encodeFrame(frame);
      const longer = new Uint8Array(bytes.length + extra.length);
      longer.set(bytes);
      longer.set(extra, bytes.length);
      assert.throws(() => decodeFrame(longer), MalformedInputError);
    }),
    { numRuns: NUM_RUNS },
  );
});

test('any prefix of any valid frame either decodes or is rejected as MalformedInputError', () => {
  fc.assert(
    fc.property(anyFrame, fc.nat(), (frame, cut) => {
      const bytes = encodeFrame(frame);
      const prefix = bytes.subarray(0, cut % (bytes.length + 1));
      try {
        decodeFrame(prefix);
      } catch (error) {
        assert.ok(error instanceof MalformedInputError, `got ${String(error)}`);
      }
    }),
    { numRuns: NUM_RUNS },
  );
});

test('stream frames on stream 0 (reserved for the session) are malformed', () => {
  const onStreamZero: Array<[string, Uint8Array]> = [
    ['OPEN', frameBytes(FrameType.OPEN, 0, [0, 80, 1, 0x61])],
    ['OPEN_OK', frameBytes(FrameType.OPEN_OK, 0)],
    ['OPEN_FAIL', frameBytes(FrameType.OPEN_FAIL, 0, [StreamErrorCode.GENERAL_FAILURE])],
    ['DATA', frameBytes(FrameType.DATA, 0, [1, 2, 3])],
    ['CLOSE', frameBytes(FrameType.CLOSE, 0)],
    ['RESET', frameBytes(FrameType.RESET, 0, [StreamErrorCode.GENERAL_FAILURE])],
  ];
  for (const [name, bytes] of onStreamZero) {
    assert.throws(() => decodeFrame(bytes), MalformedInputError, name);
    // The same bytes on stream 1 decode: stream 0 is the only fault.
    bytes[4] = 1;
    assert.doesNotThrow(() => decodeFrame(bytes), name);
  }
});

test('session frames (PING, PONG, GOAWAY) on any stream but 0 are malformed', () => {
  fc.assert(
    fc.property(fc.constantFrom(FrameType.PING, FrameType.PONG, FrameType.GOAWAY), streamId, (type, id) => {
      const body = type === FrameType.GOAWAY ? [SessionCloseCode.NORMAL] : [1, 2, 3, 4, 5, 6, 7, 8];
      assert.throws(() => decodeFrame(frameBytes(type, id, body)), MalformedInputError);
    }),
    { numRuns: NUM_RUNS },
  );
});

test('a CREDIT of zero bytes is malformed, on a stream and on the session', () => {
  assert.throws(() => decodeFrame(frameBytes(FrameType.CREDIT, 0, [0, 0, 0, 0])), MalformedInputError);
  assert.throws(() => decodeFrame(frameBytes(FrameType.CREDIT, 7, [0, 0, 0, 0])), MalformedInputError);
  assert.deepStrictEqual(decodeFrame(frameBytes(FrameType.CREDIT, 0, [0, 0, 0, 1])), { type: FrameType.CREDIT, streamId: 0, bytes: 1 });
});

test('PING and PONG carry exactly 8 bytes; any other length is malformed', () => {
  for (const type of [FrameType.PING, FrameType.PONG]) {
    for (const length of [0, 1, 7, 9, 16]) {
      assert.throws(() => decodeFrame(frameBytes(type, 0, new Uint8Array(length))), MalformedInputError, `${type}/${length}`);
    }
  }
});

test('DATA with no bytes is malformed, 64 KiB is accepted, and one byte more is oversize', () => {
  assert.throws(() => decodeFrame(frameBytes(FrameType.DATA, 1)), MalformedInputError);
  const full = decodeFrame(frameBytes(FrameType.DATA, 1, new Uint8Array(MAX_DATA_PAYLOAD_BYTES)));
  assert.equal(full.type === FrameType.DATA ? full.data.length : -1, MAX_DATA_PAYLOAD_BYTES);
  assert.throws(() => decodeFrame(frameBytes(FrameType.DATA, 1, new Uint8Array(MAX_DATA_PAYLOAD_BYTES + 1))), OversizeError);
});

test('OPEN with port 0, an empty host, a host length that disagrees with the body, or a body under 4 bytes is malformed', () => {
  assert.throws(() => decodeFrame(frameBytes(FrameType.OPEN, 1, [0, 0, 1, 0x61])), MalformedInputError, 'port 0');
  assert.throws(() => decodeFrame(frameBytes(FrameType.OPEN, 1, [0, 80, 0, 0x61])), MalformedInputError, 'host length 0');
  assert.throws(() => decodeFrame(frameBytes(FrameType.OPEN, 1, [0, 80, 0])), MalformedInputError, 'body of 3 bytes');
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 255 }), fc.integer({ min: 1, max: 255 }), (declared, actual) => {
      fc.pre(declared !== actual);
      const body = [0, 80, declared, ...new Array<number>(actual).fill(0x61)];
      assert.throws(() => decodeFrame(frameBytes(FrameType.OPEN, 1, body)), MalformedInputError);
    }),
    { numRuns: NUM_RUNS },
  );
});

const invalidUtf8: Array<[string, number[]]> = [
  ['a lone continuation byte', [0x80]],
  ['a truncated two-byte sequence', [0x61, 0xc3]],
  ['an overlong encoding of "/"', [0xc0, 0xaf]],
  ['an encoded surrogate', [0xed, 0xa0, 0x80]],
  ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ['the byte 0xff', [0xff]],
];

test('an OPEN host that is not valid UTF-8 is malformed', () => {
  for (const [name, bytes] of invalidUtf8) {
    assert.throws(() => decodeFrame(frameBytes(FrameType.OPEN, 1, [0, 80, bytes.length, ...bytes])), MalformedInputError, name);
  }
});

test('a reason that is not valid UTF-8 is malformed in OPEN_FAIL, RESET and GOAWAY', () => {
  for (const [name, bytes] of invalidUtf8) {
    assert.throws(() => decodeFrame(frameBytes(FrameType.OPEN_FAIL, 1, [StreamErrorCode.GENERAL_FAILURE, ...bytes])), MalformedInputError, name);
    assert.throws(() => decodeFrame(frameBytes(FrameType.RESET, 1, [StreamErrorCode.GENERAL_FAILURE, ...bytes])), MalformedInputError, name);
    assert.throws(() => decodeFrame(frameBytes(FrameType.GOAWAY, 0, [SessionCloseCode.NORMAL, ...bytes])), MalformedInputError, name);
  }
});

test('a reason of 512 bytes is accepted and one of 513 bytes is oversize', () => {
  for (const [type, id, code] of [
    [FrameType.OPEN_FAIL, 1, StreamErrorCode.GENERAL_FAILURE],
    [FrameType.RESET, 1, StreamErrorCode.GENERAL_FAILURE],
    [FrameType.GOAWAY, 0, SessionCloseCode.NORMAL],
  ] as const) {
    assert.doesNotThrow(() => decodeFrame(frameBytes(type, id, [code, ...new Array<number>(MAX_REASON_BYTES).fill(0x61)])));
    assert.throws(() => decodeFrame(frameBytes(type, id, [code, ...new Array<number>(MAX_REASON_BYTES + 1).fill(0x61)])), OversizeError);
  }
});

test('OPEN_FAIL and RESET with no code or an unknown stream error code are malformed', () => {
  const known = new Set<number>(Object.values(StreamErrorCode));
  for (const type of [FrameType.OPEN_FAIL, FrameType.RESET]) {
    assert.throws(() => decodeFrame(frameBytes(type, 1)), MalformedInputError);
    for (let code = 0; code < 256; code++) {
      if (known.has(code)) assert.doesNotThrow(() => decodeFrame(frameBytes(type, 1, [code])));
      else assert.throws(() => decodeFrame(frameBytes(type, 1, [code])), MalformedInputError, `code ${code}`);
    }
  }
  assert.throws(() => decodeFrame(frameBytes(FrameType.GOAWAY, 0)), MalformedInputError);
});

test('the encoder refuses an OPEN host that is empty or over 255 bytes', () => {
  assert.throws(() => encodeFrame({ type: FrameType.OPEN, streamId: 1, host: '', port: 80 }), OversizeError);
  assert.throws(() => encodeFrame({ type: FrameType.OPEN, streamId: 1, host: 'a'.repeat(MAX_HOST_BYTES + 1), port: 80 }), OversizeError);
  assert.throws(() => encodeFrame({ type: FrameType.OPEN, streamId: 1, host: 'é'.repeat(128), port: 80 }), OversizeError); // 256 bytes
});

test('arbitrary bytes either decode to a frame that re-encodes to the same bytes, or fail as MalformedInputError / OversizeError', () => {
  const anyType = fc.oneof(fc.integer({ min: 0, max: 0x0c }), fc.integer({ min: 0, max: 255 }));
  const smallStream = fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 0xffff_ffff }));
  const shaped = fc.tuple(anyType, smallStream, fc.uint8Array({ maxLength: 96, size: 'medium' })).map(([type, id, body]) => frameBytes(type, id, body));
  const mutated = fc.tuple(anyFrame, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([frame, at, value]) => {
    const bytes = encodeFrame(frame).slice();
    bytes[at % bytes.length] = value;
    return bytes;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 96, size: 'medium' }), shaped, mutated), (bytes) => {
      const frame = decodeOrReject(bytes);
      if (frame !== undefined) assert.deepStrictEqual(encodeFrame(frame), bytes);
    }),
    { numRuns: 1000 },
  );
});
