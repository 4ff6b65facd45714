/**
 * @module record
 * The outer layer: one tunnel record per WebSocket or data-channel message. Volunteers carry records verbatim and can
 * read nothing but the type byte, the sequence number and the length.
 *
 *   HELLO    [0x01][Noise message 1: e (32) | encrypted ClientHello + tag]
 *   WELCOME  [0x02][Noise message 2: e (32) | encrypted ServerHello + tag]
 *   SEALED   [0x03][seq u64 BE][ChaCha20-Poly1305(frame) + tag]   AAD = the 9 header bytes
 *   REFUSED  [0x04][UTF-8 reason]                                   unauthenticated; the client only reports it
 *   ACK, RESUME, RESUMED, PATH_PING, PATH_PONG, JOIN, JOINED: see resume.ts
 */

import { fromUtf8, readUint64, utf8BytesPrefix, utf8Prefix, viewOf, writeUint64 } from './bytes.ts';
import { AEAD_TAG_BYTES, DH_PUBLIC_KEY_BYTES, MAX_REASON_BYTES, MAX_RECORD_BYTES, RecordType, SEALED_HEADER_BYTES } from './constants.ts';
import { MalformedInputError, OversizeError } from './errors.ts';

export type TunnelRecord =
  | { type: typeof RecordType.HELLO; handshake: Uint8Array }
  | { type: typeof RecordType.WELCOME; handshake: Uint8Array }
  | { type: typeof RecordType.SEALED; seq: number; header: Uint8Array; ciphertext: Uint8Array }
  | { type: typeof RecordType.REFUSED; reason: string }
  | { type: TaggedRecordType; bytes: Uint8Array };

/** The records resume.ts checks with an HMAC tag under one of the session's resume keys. */
export type TaggedRecordType =
  | typeof RecordType.ACK
  | typeof RecordType.RESUME
  | typeof RecordType.RESUMED
  | typeof RecordType.PATH_PING
  | typeof RecordType.PATH_PONG
  | typeof RecordType.JOIN
  | typeof RecordType.JOINED;

const MIN_HANDSHAKE_BYTES = DH_PUBLIC_KEY_BYTES + AEAD_TAG_BYTES;

/** Parses one record. Checks the size before anything else (ws haveLength habit), then the type and lengths. */
export function decodeRecord(bytes: Uint8Array): TunnelRecord {
  if (bytes.length > MAX_RECORD_BYTES) {
    throw new OversizeError(`a record of ${bytes.length} bytes exceeds the limit of ${MAX_RECORD_BYTES} bytes`);
  }
  if (bytes.length === 0) throw new MalformedInputError('an empty record has no type byte');
  const type = bytes[0];
  switch (type) {
    case RecordType.HELLO:
    case RecordType.WELCOME: {
      if (bytes.length - 1 < MIN_HANDSHAKE_BYTES) {
        throw new MalformedInputError(`a handshake record of ${bytes.length} bytes is shorter than the minimum ${MIN_HANDSHAKE_BYTES + 1}`);
      }
      return { type, handshake: bytes.subarray(1) };
    }
    case RecordType.SEALED: {
      if (bytes.length < SEALED_HEADER_BYTES + AEAD_TAG_BYTES) {
        throw new MalformedInputError(`a sealed record of ${bytes.length} bytes is shorter than header and tag`);
      }
      let seq: number;
      try {
        seq = readUint64(viewOf(bytes), 1);
      } catch {
        throw new MalformedInputError('a sealed record has a sequence number above 2^53');
      }
      return { type, seq, header: bytes.subarray(0, SEALED_HEADER_BYTES), ciphertext: bytes.subarray(SEALED_HEADER_BYTES) };
    }
    case RecordType.REFUSED: {
      let reason: string;
      try {
        // A peer that sent more than the limit still gets its text shown, cut at a character boundary.
        reason = fromUtf8(utf8BytesPrefix(bytes.subarray(1), MAX_REASON_BYTES));
      } catch {
        reason = 'refused (reason not valid UTF-8)';
      }
      return { type, reason };
    }
    case RecordType.ACK:
    case RecordType.RESUME:
    case RecordType.RESUMED:
    case RecordType.PATH_PING:
    case RecordType.PATH_PONG:
    case RecordType.JOIN:
    case RecordType.JOINED:
      // Lengths and tags are checked in resume.ts, with the session's keys.
      return { type, bytes };
    default:
      throw new MalformedInputError(`unknown record type 0x${(type ?? 0).toString(16).padStart(2, '0')}`);
  }
}

export function encodeHandshakeRecord(type: typeof RecordType.HELLO | typeof RecordType.WELCOME, handshake: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + handshake.length);
  out[0] = type;
  out.set(handshake, 1);
  return out;
}

export function encodeSealedHeader(seq: number): Uint8Array {
  const header = new Uint8Array(SEALED_HEADER_BYTES);
  header[0] = RecordType.SEALED;
  writeUint64(viewOf(header), 1, seq);
  return header;
}

export function encodeRefusedRecord(reason: string): Uint8Array {
  const text = utf8Prefix(reason, MAX_REASON_BYTES);
  const out = new Uint8Array(1 + text.length);
  out[0] = RecordType.REFUSED;
  out.set(text, 1);
  return out;
}
