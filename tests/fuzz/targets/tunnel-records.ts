/**
 * Fuzz target: tunnel records (protocol/record.ts) and the resume layer's tagged records (protocol/resume.ts), the
 * first bytes a volunteer or a stranger can put in front of a session.
 *
 * Properties: decodeRecord() on any bytes returns a record or throws MalformedInputError / OversizeError, never any
 * other error; a decoded record re-encodes to the same bytes (REFUSED: to its reason, cut at a character boundary);
 * decodeAck() / decodeResume() / decodeJoin() / decodePathProbe() on any ACK / RESUME / RESUMED / JOIN / JOINED /
 * PATH_PING / PATH_PONG record, forged or authentically tagged, return a value that re-encodes to the same record or
 * throw MalformedInputError / AuthenticationError.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { concatBytes, fromUtf8 } from '../../../protocol/bytes.ts';
import { AEAD_TAG_BYTES, DH_PUBLIC_KEY_BYTES, MAX_REASON_BYTES, MAX_RECORD_BYTES, RecordType, SESSION_ID_BYTES } from '../../../protocol/constants.ts';
import { hmacSha256 } from '../../../protocol/crypto.ts';
import { AuthenticationError, MalformedInputError, OversizeError } from '../../../protocol/errors.ts';
import { decodeRecord, encodeHandshakeRecord, encodeRefusedRecord, encodeSealedHeader, type TunnelRecord } from '../../../protocol/record.ts';
import {
  decodeAck,
  decodeJoin,
  decodePathPing,
  decodePathPong,
  decodeResume,
  deriveResumeKeys,
  encodeAck,
  encodeJoin,
  encodePathPing,
  encodePathPong,
  encodeResume,
  PathRole,
  peekResumeSessionId,
  RESUME_TAG_BYTES,
} from '../../../protocol/resume.ts';
import type { FuzzTarget } from '../target.ts';

/** The keys of one made-up session: the inputs are tagged with them, so some pass authentication. */
const keys = deriveResumeKeys(new Uint8Array(32).fill(0x5e));
type TaggedType = Extract<TunnelRecord, { bytes: Uint8Array }>['type'];
const KEY_OF: Record<TaggedType, Uint8Array> = {
  [RecordType.ACK]: keys.clientAck,
  [RecordType.RESUME]: keys.resume,
  [RecordType.RESUMED]: keys.resumed,
  [RecordType.PATH_PING]: keys.pingFromClient,
  [RecordType.PATH_PONG]: keys.pongFromExit,
  [RecordType.JOIN]: keys.join,
  [RecordType.JOINED]: keys.joined,
};
const keyFor = (type: TaggedType): Uint8Array => KEY_OF[type];
/** Body lengths (without type byte and tag) of the fixed-size tagged records. */
const BODY_BYTES: Record<TaggedType, number> = {
  [RecordType.ACK]: 16,
  [RecordType.RESUME]: 28,
  [RecordType.RESUMED]: 28,
  [RecordType.PATH_PING]: 8,
  [RecordType.PATH_PONG]: 24,
  [RecordType.JOIN]: 21,
  [RecordType.JOINED]: 21,
};
const TAGGED_TYPES = Object.keys(BODY_BYTES).map(Number) as TaggedType[];

export interface RecordInput {
  bytes: Uint8Array;
}

/** `body` followed by its valid tag: what the authenticated peer (or a bug in it) could send. */
function withTag(type: TaggedType, body: Uint8Array): Uint8Array {
  const untagged = concatBytes(Uint8Array.of(type), body);
  return concatBytes(untagged, hmacSha256(keyFor(type), untagged).subarray(0, RESUME_TAG_BYTES));
}

const sequence = fc.oneof(fc.integer({ min: 0, max: 1024 }), fc.maxSafeNat());
const validRecord: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc
    .tuple(fc.constantFrom(RecordType.HELLO, RecordType.WELCOME), fc.uint8Array({ minLength: DH_PUBLIC_KEY_BYTES + AEAD_TAG_BYTES, maxLength: 160 }))
    .map(([type, handshake]) => encodeHandshakeRecord(type, handshake)),
  fc.tuple(sequence, fc.uint8Array({ minLength: AEAD_TAG_BYTES, maxLength: 96 })).map(([seq, sealed]) => concatBytes(encodeSealedHeader(seq), sealed)),
  fc.string({ unit: 'binary', maxLength: 200 }).map(encodeRefusedRecord),
  fc
    .tuple(sequence, fc.nat({ max: 1024 }))
    .map(([seq, ahead]) => encodeAck(keys.clientAck, { nextExpectedSeq: seq, receivedUpToSeq: Math.min(seq + ahead, Number.MAX_SAFE_INTEGER) })),
  sequence.map((counter) => encodePathPing(keyFor(RecordType.PATH_PING), counter)),
  fc
    .tuple(sequence, sequence, fc.nat({ max: 1024 }))
    .map(([counter, seq, ahead]) =>
      encodePathPong(keyFor(RecordType.PATH_PONG), { counter, nextExpectedSeq: seq, receivedUpToSeq: Math.min(seq + ahead, Number.MAX_SAFE_INTEGER) }),
    ),
  fc
    .tuple(
      fc.constantFrom(RecordType.JOIN, RecordType.JOINED),
      fc.uint8Array({ minLength: SESSION_ID_BYTES, maxLength: SESSION_ID_BYTES }),
      fc.nat(),
      fc.constantFrom(PathRole.CARRY, PathRole.STANDBY),
    )
    .map(([type, sessionId, attempt, role]) => encodeJoin(type, keyFor(type), { sessionId, attempt, role })),
  fc
    .tuple(
      fc.constantFrom(RecordType.RESUME, RecordType.RESUMED),
      fc.uint8Array({ minLength: SESSION_ID_BYTES, maxLength: SESSION_ID_BYTES }),
      fc.nat(),
      sequence,
    )
    .map(([type, sessionId, attempt, nextExpectedSeq]) =>
      encodeResume(type, type === RecordType.RESUME ? keys.resume : keys.resumed, { sessionId, attempt, nextExpectedSeq }),
    ),
);

/** A valid record with one byte changed, or cut, or lengthened. */
const damagedRecord = fc
  .tuple(validRecord, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'cut', 'grow'))
  .map(([record, at, value, how]) => {
    if (how === 'cut') return record.subarray(0, at % (record.length + 1));
    if (how === 'grow') return concatBytes(record, Uint8Array.of(value));
    const changed = record.slice();
    changed[at % changed.length] = value;
    return changed;
  });

/** ACK / RESUME / RESUMED records of the right length and a valid tag, whatever their fields say. */
const authenticRecord = fc
  .constantFrom(...TAGGED_TYPES)
  .chain((type) => fc.uint8Array({ minLength: BODY_BYTES[type], maxLength: BODY_BYTES[type] }).map((body) => withTag(type, body)));

const input: fc.Arbitrary<RecordInput> = fc
  .oneof(
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 160 }) },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.integer({ min: 0, max: 12 }), fc.uint8Array({ maxLength: 96 })).map(([type, body]) => concatBytes(Uint8Array.of(type), body)),
    },
    { weight: 3, arbitrary: validRecord },
    { weight: 4, arbitrary: damagedRecord },
    { weight: 2, arbitrary: authenticRecord },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 64 })).map(([type, extra]) => {
        const record = new Uint8Array(MAX_RECORD_BYTES + extra);
        record[0] = type;
        return record;
      }),
    },
  )
  .map((bytes) => ({ bytes }));

function assertTyped(error: unknown, allowed: ReadonlyArray<new (...args: never[]) => Error>, what: string): void {
  if (allowed.some((type) => error instanceof type)) return;
  throw new assert.AssertionError({ message: `${what} threw ${String(error)}, not one of ${allowed.map((type) => type.name).join(', ')}`, actual: error });
}

function checkTagged(record: Extract<TunnelRecord, { bytes: Uint8Array }>): void {
  const { bytes } = record;
  const type = record.type;
  try {
    if (type === RecordType.ACK) {
      const ack = decodeAck(keys.clientAck, bytes);
      assert.ok(Number.isSafeInteger(ack.nextExpectedSeq) && ack.receivedUpToSeq >= ack.nextExpectedSeq, `decodeAck returned ${JSON.stringify(ack)}`);
      assert.deepEqual(encodeAck(keys.clientAck, ack), bytes, 'a decoded ACK re-encodes to its bytes');
    } else if (type === RecordType.PATH_PING) {
      const counter = decodePathPing(keyFor(type), bytes);
      assert.deepEqual(encodePathPing(keyFor(type), counter), bytes, 'a decoded PATH_PING re-encodes to its bytes');
    } else if (type === RecordType.PATH_PONG) {
      const pong = decodePathPong(keyFor(type), bytes);
      assert.ok(pong.receivedUpToSeq >= pong.nextExpectedSeq);
      assert.deepEqual(encodePathPong(keyFor(type), pong), bytes, 'a decoded PATH_PONG re-encodes to its bytes');
    } else if (type === RecordType.JOIN || type === RecordType.JOINED) {
      const what = type === RecordType.JOIN ? 'JOIN' : 'JOINED';
      const request = decodeJoin(keyFor(type), bytes, what);
      if (type === RecordType.JOIN) assert.deepEqual(peekResumeSessionId(bytes), request.sessionId);
      assert.deepEqual(encodeJoin(type, keyFor(type), request), bytes, `a decoded ${what} re-encodes to its bytes`);
    } else {
      const what = type === RecordType.RESUME ? 'RESUME' : 'RESUMED';
      const request = decodeResume(keyFor(type), bytes, what);
      assert.ok(Number.isSafeInteger(request.nextExpectedSeq) && request.nextExpectedSeq >= 0);
      assert.deepEqual(peekResumeSessionId(bytes), request.sessionId);
      assert.deepEqual(encodeResume(type, keyFor(type), request), bytes, `a decoded ${what} re-encodes to its bytes`);
    }
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    assertTyped(error, [MalformedInputError, AuthenticationError], 'decoding a tagged record');
  }
}

function checkRecord(bytes: Uint8Array): void {
  let record: TunnelRecord;
  try {
    record = decodeRecord(bytes);
  } catch (error) {
    assertTyped(error, [MalformedInputError, OversizeError], 'decodeRecord');
    return;
  }
  assert.equal(record.type, bytes[0], 'the record type is the first byte');
  switch (record.type) {
    case RecordType.HELLO:
    case RecordType.WELCOME:
      assert.deepEqual(encodeHandshakeRecord(record.type, record.handshake), bytes);
      return;
    case RecordType.SEALED:
      assert.ok(Number.isSafeInteger(record.seq) && record.seq >= 0, `sequence number ${record.seq}`);
      assert.deepEqual(concatBytes(encodeSealedHeader(record.seq), record.ciphertext), bytes);
      assert.ok(record.ciphertext.length >= AEAD_TAG_BYTES);
      return;
    case RecordType.REFUSED: {
      const reasonBytes = new TextEncoder().encode(record.reason);
      assert.ok(reasonBytes.length <= MAX_REASON_BYTES, 'a REFUSED reason is at most 512 bytes');
      let sentText: string | undefined;
      try {
        sentText = fromUtf8(bytes.subarray(1));
      } catch {
        sentText = undefined;
      }
      // A reason sent in valid UTF-8 within the limit comes through exactly, and re-encodes to the same record.
      if (sentText !== undefined && bytes.length - 1 <= MAX_REASON_BYTES) {
        assert.equal(record.reason, sentText);
        assert.deepEqual(encodeRefusedRecord(record.reason), bytes);
      }
      return;
    }
    default:
      assert.equal(record.bytes, bytes, 'ACK, RESUME and RESUMED pass on the bytes whole');
      checkTagged(record);
  }
}

export const tunnelRecordsTarget: FuzzTarget<RecordInput> = {
  name: 'tunnel-records',
  description: 'decodeRecord, decodeAck and decodeResume on arbitrary, damaged and authentically tagged records: typed errors only, exact round trips',
  input,
  async start() {
    return {
      check: async ({ bytes }) => checkRecord(bytes),
      checkStillServing: async () => checkRecord(encodeAck(keys.clientAck, { nextExpectedSeq: 7, receivedUpToSeq: 9 })),
      close: async () => {},
      toleratedBugs: new Map(),
    };
  },
};
