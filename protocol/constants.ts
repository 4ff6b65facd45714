/**
 * @module constants
 * Values fixed by the Ferry tunnel protocol (version 1). Changing any of these changes the wire format.
 */

/** Noise protocol name; also the initial handshake hash input (Noise spec §5.2). */
export const NOISE_PROTOCOL_NAME = 'Noise_NK_25519_ChaChaPoly_SHA256';
/** Noise prologue: binds every handshake to this protocol and version, so a downgrade fails authentication. */
export const NOISE_PROLOGUE = 'ferry/1';

/** Largest tunnel record on any hop (bytes). Chromium's data channel accepts at most 262,144-byte messages. */
export const MAX_RECORD_BYTES = 256 * 1024;
/** Largest DATA payload a sender puts in one frame (bytes); keeps records well under MAX_RECORD_BYTES. */
export const MAX_DATA_PAYLOAD_BYTES = 64 * 1024;
/** Poly1305 tag length (bytes). */
export const AEAD_TAG_BYTES = 16;
/** X25519 public key length (bytes). */
export const DH_PUBLIC_KEY_BYTES = 32;
/** Session identifier sent by the exit in its handshake reply (bytes). */
export const SESSION_ID_BYTES = 16;

/** First byte of every tunnel record. */
export const RecordType = {
  /** client -> exit: Noise NK message 1 (e, es) with an encrypted ClientHello payload. */
  HELLO: 0x01,
  /** exit -> client: Noise NK message 2 (e, ee) with an encrypted ServerHello payload. */
  WELCOME: 0x02,
  /** either way, after the handshake: [type][seq u64][AEAD ciphertext of one mux frame]. */
  SEALED: 0x03,
  /** exit -> client, unauthenticated: the exit refuses a HELLO (full) or a RESUME (unknown, expired, forged). */
  REFUSED: 0x04,
  /** either way: cumulative acknowledgement of SEALED records, HMAC-tagged (resume.ts). */
  ACK: 0x05,
  /** client -> exit: continue session X through this new path; HMAC-tagged (resume.ts). */
  RESUME: 0x06,
  /** exit -> client: the resume was accepted; HMAC-tagged (resume.ts). */
  RESUMED: 0x07,
  /** either way, on every path: is this path alive? Unsequenced; HMAC-tagged (resume.ts). */
  PATH_PING: 0x08,
  /** back on the path the PATH_PING came by: it is, and this had arrived. HMAC-tagged (resume.ts). */
  PATH_PONG: 0x09,
  /** client -> exit: add this new path to session X, beside the ones it has; HMAC-tagged (resume.ts). */
  JOIN: 0x0a,
  /** exit -> client: the path was added; HMAC-tagged (resume.ts). */
  JOINED: 0x0b,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** Record header of a SEALED record: type (1) + sequence number (8). Authenticated as AEAD associated data. */
export const SEALED_HEADER_BYTES = 9;

/** Mux frame types, carried encrypted inside SEALED records. */
export const FrameType = {
  /** client -> exit: open a TCP stream to host:port. */
  OPEN: 0x01,
  /** exit -> client: the stream is connected. */
  OPEN_OK: 0x02,
  /** exit -> client: the connection failed; carries an OpenFailure code and a message. */
  OPEN_FAIL: 0x03,
  /** stream bytes; counts against the receiver's credit. */
  DATA: 0x04,
  /** grants the peer more send credit (bytes); stream 0 = the session-wide window. */
  CREDIT: 0x05,
  /** half-close: the sender will send no more DATA on this stream. */
  CLOSE: 0x06,
  /** abort the stream at once; carries a code and a message. */
  RESET: 0x07,
  /** liveness probe (stream 0); answered by PONG with the same 8 bytes. */
  PING: 0x08,
  PONG: 0x09,
  /** the sender closes the whole session; carries a code and a message. */
  GOAWAY: 0x0a,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Frame header: type (1) + stream id (4). */
export const FRAME_HEADER_BYTES = 5;
/** Stream id 0 is the session itself (session-wide CREDIT, PING, PONG, GOAWAY). */
export const SESSION_STREAM_ID = 0;
/** Longest host name in OPEN (bytes), as in DNS and SOCKS5. */
export const MAX_HOST_BYTES = 255;
/** Longest human-readable message in OPEN_FAIL / RESET / GOAWAY (bytes). */
export const MAX_REASON_BYTES = 512;

/**
 * Why an OPEN failed or a stream was reset. Numbered as SOCKS5 reply codes (RFC 1928 §6) so the helper can pass
 * them straight to a SOCKS client.
 */
export const StreamErrorCode = {
  GENERAL_FAILURE: 1,
  NOT_ALLOWED: 2,
  NETWORK_UNREACHABLE: 3,
  HOST_UNREACHABLE: 4,
  CONNECTION_REFUSED: 5,
  TIMED_OUT: 6,
} as const;
export type StreamErrorCode = (typeof StreamErrorCode)[keyof typeof StreamErrorCode];

/** Why a whole session ended (GOAWAY, and the WebSocket close reason at the exit). */
export const SessionCloseCode = {
  NORMAL: 0,
  PROTOCOL_ERROR: 1,
  FLOW_CONTROL_ERROR: 2,
  TOO_MANY_STREAMS: 3,
  IDLE_TIMEOUT: 4,
  INTERNAL_ERROR: 5,
  SHUTTING_DOWN: 6,
} as const;
export type SessionCloseCode = (typeof SessionCloseCode)[keyof typeof SessionCloseCode];
