/**
 * @module resume
 * The records that let a session outlive its paths and use several at once. Each carries an HMAC-SHA256 tag
 * (truncated to 16 bytes) under a key derived from the handshake, different per record kind and direction, so a
 * volunteer can neither forge one nor reflect one back as another kind.
 *
 *   ACK       [0x05][next expected seq u64][received up to u64][tag 16]            either way
 *   RESUME    [0x06][session id 16][attempt u32][next expected seq u64][tag 16]   client -> exit
 *   RESUMED   [0x07][session id 16][attempt u32][next expected seq u64][tag 16]   exit -> client
 *   PATH_PING [0x08][counter u64][tag 16]                                         either way, every path
 *   PATH_PONG [0x09][counter u64][next expected seq u64][received up to u64][tag 16]   back on the same path
 *   JOIN      [0x0a][session id 16][attempt u32][role u8][tag 16]                 client -> exit
 *   JOINED    [0x0b][session id 16][attempt u32][role u8][tag 16]                 exit -> client
 *
 * An ACK's "received up to" is one past the highest sequence number received, in order or not: with the cumulative
 * "next expected" it lets the sender see a record lost between two that arrived (session-endpoint.ts). A PATH_PONG
 * carries the same two numbers as they stood when its PATH_PING arrived: paths are ordered, so a record sent on that
 * path before the ping and still missing then was lost by the path, even if nothing was sent after it.
 * `attempt` is shared by RESUME and JOIN and must grow with every one the exit accepts, so a captured one cannot be
 * replayed later to pull the session onto another path (hijack) or add a path nobody asked for.
 */

import { equalBytes, readUint64, utf8, viewOf, writeUint64 } from './bytes.ts';
import { RecordType, SESSION_ID_BYTES } from './constants.ts';
import { hmacSha256 } from './crypto.ts';
import { AuthenticationError, MalformedInputError } from './errors.ts';

export const RESUME_TAG_BYTES = 16;
export const ACK_RECORD_BYTES = 1 + 8 + 8 + RESUME_TAG_BYTES;
export const RESUME_RECORD_BYTES = 1 + SESSION_ID_BYTES + 4 + 8 + RESUME_TAG_BYTES;
export const PATH_PING_RECORD_BYTES = 1 + 8 + RESUME_TAG_BYTES;
export const PATH_PONG_RECORD_BYTES = 1 + 8 + 8 + 8 + RESUME_TAG_BYTES;
export const JOIN_RECORD_BYTES = 1 + SESSION_ID_BYTES + 4 + 1 + RESUME_TAG_BYTES;

/**
 * What a path is for: `carry` paths take the session's records (several of them stripe); a `standby` path gets only
 * PATH_PINGs until no carrying path is left, then it carries at once.
 */
export const PathRole = { CARRY: 1, STANDBY: 2 } as const;
export type PathRole = (typeof PathRole)[keyof typeof PathRole];

/** The keys, from the handshake's resume secret. */
export interface ResumeKeys {
  clientAck: Uint8Array;
  exitAck: Uint8Array;
  resume: Uint8Array;
  resumed: Uint8Array;
  join: Uint8Array;
  joined: Uint8Array;
  pingFromClient: Uint8Array;
  pingFromExit: Uint8Array;
  pongFromClient: Uint8Array;
  pongFromExit: Uint8Array;
}

export function deriveResumeKeys(resumeSecret: Uint8Array): ResumeKeys {
  const derive = (label: string): Uint8Array => hmacSha256(resumeSecret, utf8(`ferry/1 ${label}`));
  return {
    clientAck: derive('ack client->exit'),
    exitAck: derive('ack exit->client'),
    resume: derive('resume'),
    resumed: derive('resumed'),
    join: derive('join'),
    joined: derive('joined'),
    pingFromClient: derive('path ping client->exit'),
    pingFromExit: derive('path ping exit->client'),
    pongFromClient: derive('path pong client->exit'),
    pongFromExit: derive('path pong exit->client'),
  };
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

/** What an ACK says: every record below `nextExpectedSeq` arrived, and none at or above `receivedUpToSeq` did. */
export interface Acknowledgement {
  nextExpectedSeq: number;
  receivedUpToSeq: number;
}

export function encodeAck(key: Uint8Array, ack: Acknowledgement): Uint8Array {
  const record = new Uint8Array(ACK_RECORD_BYTES);
  const view = viewOf(record);
  record[0] = RecordType.ACK;
  writeUint64(view, 1, ack.nextExpectedSeq);
  writeUint64(view, 9, ack.receivedUpToSeq);
  record.set(tag(key, record.subarray(0, 17)), 17);
  return record;
}

export function decodeAck(key: Uint8Array, record: Uint8Array): Acknowledgement {
  if (record.length !== ACK_RECORD_BYTES) throw new MalformedInputError(`an ACK record must be ${ACK_RECORD_BYTES} bytes, got ${record.length}`);
  verify(key, record, 'an ACK');
  const view = viewOf(record);
  const nextExpectedSeq = sequenceNumber(view, 1, 'an ACK');
  const receivedUpToSeq = sequenceNumber(view, 9, 'an ACK');
  if (receivedUpToSeq < nextExpectedSeq)
    throw new MalformedInputError(`an ACK says records up to ${receivedUpToSeq} arrived, below its next expected ${nextExpectedSeq}`);
  return { nextExpectedSeq, receivedUpToSeq };
}

/** PATH_PING: a counter that grows with every ping this end sends, on any path. */
export function encodePathPing(key: Uint8Array, counter: number): Uint8Array {
  const record = new Uint8Array(PATH_PING_RECORD_BYTES);
  record[0] = RecordType.PATH_PING;
  writeUint64(viewOf(record), 1, counter);
  record.set(tag(key, record.subarray(0, 9)), 9);
  return record;
}

export function decodePathPing(key: Uint8Array, record: Uint8Array): number {
  if (record.length !== PATH_PING_RECORD_BYTES)
    throw new MalformedInputError(`a PATH_PING record must be ${PATH_PING_RECORD_BYTES} bytes, got ${record.length}`);
  verify(key, record, 'a PATH_PING');
  return sequenceNumber(viewOf(record), 1, 'a PATH_PING');
}

/** A PATH_PONG: the ping's counter, and what the answering end had received when the ping came. */
export interface PathPong extends Acknowledgement {
  counter: number;
}

export function encodePathPong(key: Uint8Array, pong: PathPong): Uint8Array {
  const record = new Uint8Array(PATH_PONG_RECORD_BYTES);
  const view = viewOf(record);
  record[0] = RecordType.PATH_PONG;
  writeUint64(view, 1, pong.counter);
  writeUint64(view, 9, pong.nextExpectedSeq);
  writeUint64(view, 17, pong.receivedUpToSeq);
  record.set(tag(key, record.subarray(0, 25)), 25);
  return record;
}

export function decodePathPong(key: Uint8Array, record: Uint8Array): PathPong {
  if (record.length !== PATH_PONG_RECORD_BYTES)
    throw new MalformedInputError(`a PATH_PONG record must be ${PATH_PONG_RECORD_BYTES} bytes, got ${record.length}`);
  verify(key, record, 'a PATH_PONG');
  const view = viewOf(record);
  const pong = {
    counter: sequenceNumber(view, 1, 'a PATH_PONG'),
    nextExpectedSeq: sequenceNumber(view, 9, 'a PATH_PONG'),
    receivedUpToSeq: sequenceNumber(view, 17, 'a PATH_PONG'),
  };
  if (pong.receivedUpToSeq < pong.nextExpectedSeq) throw new MalformedInputError('a PATH_PONG says fewer records arrived than it acknowledges');
  return pong;
}

export interface JoinRequest {
  sessionId: Uint8Array;
  attempt: number;
  role: PathRole;
}

export function encodeJoin(type: typeof RecordType.JOIN | typeof RecordType.JOINED, key: Uint8Array, request: JoinRequest): Uint8Array {
  const record = new Uint8Array(JOIN_RECORD_BYTES);
  record[0] = type;
  record.set(request.sessionId, 1);
  viewOf(record).setUint32(1 + SESSION_ID_BYTES, request.attempt);
  record[5 + SESSION_ID_BYTES] = request.role;
  record.set(tag(key, record.subarray(0, JOIN_RECORD_BYTES - RESUME_TAG_BYTES)), JOIN_RECORD_BYTES - RESUME_TAG_BYTES);
  return record;
}

export function decodeJoin(key: Uint8Array, record: Uint8Array, what: 'JOIN' | 'JOINED'): JoinRequest {
  if (record.length !== JOIN_RECORD_BYTES) throw new MalformedInputError(`a ${what} record must be ${JOIN_RECORD_BYTES} bytes, got ${record.length}`);
  verify(key, record, `a ${what}`);
  const role = record[5 + SESSION_ID_BYTES];
  if (role !== PathRole.CARRY && role !== PathRole.STANDBY) throw new MalformedInputError(`a ${what} names path role ${role}, which does not exist`);
  return { sessionId: record.slice(1, 1 + SESSION_ID_BYTES), attempt: viewOf(record).getUint32(1 + SESSION_ID_BYTES), role };
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

/**
 * Reads the session id of a RESUME or JOIN without checking the tag: the exit needs it to find the session whose key
 * checks the tag.
 */
export function peekResumeSessionId(record: Uint8Array): Uint8Array {
  const expected = record[0] === RecordType.JOIN ? JOIN_RECORD_BYTES : RESUME_RECORD_BYTES;
  const what = record[0] === RecordType.JOIN ? 'JOIN' : 'RESUME';
  if (record.length !== expected) throw new MalformedInputError(`a ${what} record must be ${expected} bytes, got ${record.length}`);
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
