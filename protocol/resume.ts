/**
 * @module resume
 * The records that let a session outlive its path. Each carries an HMAC-SHA256 tag (truncated to 16 bytes) under a
 * key derived from the handshake, different per record kind and direction, so a volunteer can neither forge one nor
 * reflect one back.
 *
 *   ACK      [0x05][next expected seq u64][tag 16]                       either way
 *   RESUME   [0x06][session id 16][attempt u32][next expected seq u64][tag 16]   client -> exit
 *   RESUMED  [0x07][session id 16][attempt u32][next expected seq u64][tag 16]   exit -> client
 *
 * `attempt` must grow with every RESUME the exit accepts, so a captured RESUME cannot be replayed later to pull the
 * session onto another path (hijack) or to run it on two paths at once (fork).
 */

import { equalBytes, readUint64, utf8, viewOf, writeUint64 } from './bytes.ts';
import { RecordType, SESSION_ID_BYTES } from './constants.ts';
import { hmacSha256 } from './crypto.ts';
import { AuthenticationError, MalformedInputError } from './errors.ts';

export const RESUME_TAG_BYTES = 16;
export const ACK_RECORD_BYTES = 1 + 8 + RESUME_TAG_BYTES;
export const RESUME_RECORD_BYTES = 1 + SESSION_ID_BYTES + 4 + 8 + RESUME_TAG_BYTES;

/** The four keys, from the handshake's resume secret. */
export interface ResumeKeys {
  clientAck: Uint8Array;
  exitAck: Uint8Array;
  resume: Uint8Array;
  resumed: Uint8Array;
}

export function deriveResumeKeys(resumeSecret: Uint8Array): ResumeKeys {
  const derive = (label: string): Uint8Array => hmacSha256(resumeSecret, utf8(`ferry/1 ${label}`));
  return { clientAck: derive('ack client->exit'), exitAck: derive('ack exit->client'), resume: derive('resume'), resumed: derive('resumed') };
}

function tag(key: Uint8Array, body: Uint8Array): Uint8Array {
  return hmacSha256(key, body).subarray(0, RESUME_TAG_BYTES);
}

function verify(key: Uint8Array, record: Uint8Array, what: string): void {
  const bodyLength = record.length - RESUME_TAG_BYTES;
  if (!equalBytes(tag(key, record.subarray(0, bodyLength)), record.subarray(bodyLength))) {
    throw new AuthenticationError(`${what} failed authentication: forged, or made for another session`);
  }
}

/** A sequence number field; above 2^53 it cannot be a real one (the sender would have to send that many records). */
function sequenceNumber(view: DataView, offset: number, what: string): number {
  try {
    return readUint64(view, offset);
  } catch {
    throw new MalformedInputError(`${what} record has a sequence number above 2^53`);
  }
}

export function encodeAck(key: Uint8Array, nextExpectedSeq: number): Uint8Array {
  const record = new Uint8Array(ACK_RECORD_BYTES);
  record[0] = RecordType.ACK;
  writeUint64(viewOf(record), 1, nextExpectedSeq);
  record.set(tag(key, record.subarray(0, 9)), 9);
  return record;
}

export function decodeAck(key: Uint8Array, record: Uint8Array): number {
  if (record.length !== ACK_RECORD_BYTES) throw new MalformedInputError(`an ACK record must be ${ACK_RECORD_BYTES} bytes, got ${record.length}`);
  verify(key, record, 'an ACK');
  return sequenceNumber(viewOf(record), 1, 'an ACK');
}

export interface ResumeRequest {
  sessionId: Uint8Array;
  attempt: number;
  nextExpectedSeq: number;
}

export function encodeResume(type: typeof RecordType.RESUME | typeof RecordType.RESUMED, key: Uint8Array, request: ResumeRequest): Uint8Array {
  const record = new Uint8Array(RESUME_RECORD_BYTES);
  const view = viewOf(record);
  record[0] = type;
  record.set(request.sessionId, 1);
  view.setUint32(1 + SESSION_ID_BYTES, request.attempt);
  writeUint64(view, 5 + SESSION_ID_BYTES, request.nextExpectedSeq);
  record.set(tag(key, record.subarray(0, RESUME_RECORD_BYTES - RESUME_TAG_BYTES)), RESUME_RECORD_BYTES - RESUME_TAG_BYTES);
  return record;
}

/** Reads the session id without checking the tag: the exit needs it to find the session whose key checks the tag. */
export function peekResumeSessionId(record: Uint8Array): Uint8Array {
  if (record.length !== RESUME_RECORD_BYTES) throw new MalformedInputError(`a RESUME record must be ${RESUME_RECORD_BYTES} bytes, got ${record.length}`);
  return record.slice(1, 1 + SESSION_ID_BYTES);
}

export function decodeResume(key: Uint8Array, record: Uint8Array, what: 'RESUME' | 'RESUMED'): ResumeRequest {
  if (record.length !== RESUME_RECORD_BYTES) throw new MalformedInputError(`a ${what} record must be ${RESUME_RECORD_BYTES} bytes, got ${record.length}`);
  verify(key, record, `a ${what}`);
  const view = viewOf(record);
  return {
    sessionId: record.slice(1, 1 + SESSION_ID_BYTES),
    attempt: view.getUint32(1 + SESSION_ID_BYTES),
    nextExpectedSeq: sequenceNumber(view, 5 + SESSION_ID_BYTES, `a ${what}`),
  };
}
