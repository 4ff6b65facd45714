/**
 * @module errors
 * Typed protocol errors. Each carries a stable string `code` (listed in docs/wire-protocol.md) and, for errors that
 * end a session, the SessionCloseCode sent in GOAWAY. Use `instanceof` to tell them apart.
 */
import { SessionCloseCode, type StreamErrorCode } from './constants.ts';

export class ProtocolError extends Error {
  override name = 'ProtocolError';
  /** Stable identifier, e.g. FERRY_ERR_BAD_RECORD. */
  readonly code: string;
  /** What the session sends in GOAWAY before it closes. */
  readonly closeCode: SessionCloseCode;
  constructor(code: string, message: string, closeCode: SessionCloseCode = SessionCloseCode.PROTOCOL_ERROR) {
    super(message);
    this.code = code;
    this.closeCode = closeCode;
  }
}

/** A record or frame that does not parse: bad type byte, bad length, truncated fields. */
export class MalformedInputError extends ProtocolError {
  override name = 'MalformedInputError';
  constructor(message: string) {
    super('FERRY_ERR_MALFORMED', message);
  }
}

/** A record larger than MAX_RECORD_BYTES or a field over its named limit. */
export class OversizeError extends ProtocolError {
  override name = 'OversizeError';
  constructor(message: string) {
    super('FERRY_ERR_OVERSIZE', message);
  }
}

/** Authentication failed: a tag did not verify, or the handshake could not be completed with the expected key. */
export class AuthenticationError extends ProtocolError {
  override name = 'AuthenticationError';
  constructor(message: string) {
    super('FERRY_ERR_AUTH', message);
  }
}

/** A record arrived out of order or repeated (sequence numbers must increase by one). */
export class SequenceError extends ProtocolError {
  override name = 'SequenceError';
  constructor(message: string) {
    super('FERRY_ERR_SEQUENCE', message);
  }
}

/** The peer sent more than the credit it was granted. */
export class FlowControlError extends ProtocolError {
  override name = 'FlowControlError';
  constructor(message: string) {
    super('FERRY_ERR_FLOW_CONTROL', message, SessionCloseCode.FLOW_CONTROL_ERROR);
  }
}

/**
 * A record on the current path failed a check that comes before, or in place of, authentication: it does not parse,
 * its tag does not verify, its sequence number is not the next one, or it is out of place (a REFUSED into an open
 * session). A volunteer can send any of these, so they fail the path, not the session: the session detaches and
 * resumes through another volunteer. `check` is the error of the check that failed.
 */
export class PathRecordError extends ProtocolError {
  override name = 'PathRecordError';
  constructor(readonly check: ProtocolError) {
    super('FERRY_ERR_BAD_PATH_RECORD', `a record on this path failed its checks: ${check.message}`, check.closeCode);
  }
}

/** The session is closed (or not yet open) and cannot carry this operation. */
export class SessionClosedError extends ProtocolError {
  override name = 'SessionClosedError';
  constructor(message: string, closeCode: SessionCloseCode = SessionCloseCode.NORMAL) {
    super('FERRY_ERR_SESSION_CLOSED', message, closeCode);
  }
}

/** A configuration value is out of range; thrown once, up front, by verify*Config. */
export class InvalidConfigError extends Error {
  override name = 'InvalidConfigError';
  readonly code = 'FERRY_ERR_CONFIG';
}

/** A stream ended abnormally: OPEN_FAIL, RESET, or its session closed. `streamCode` uses SOCKS5 numbering. */
export class StreamError extends Error {
  override name = 'StreamError';
  readonly code = 'FERRY_ERR_STREAM';
  constructor(
    readonly streamCode: StreamErrorCode,
    message: string,
  ) {
    super(message);
  }
}
