/**
 * @module protocol
 * Ferry's tunnel protocol, runtime-neutral: records, the Noise NK handshake, sealed records, stream multiplexing
 * with credit flow control, and the two session endpoints. See docs/wire-protocol.md.
 */

export { fromBase64Url, toBase64Url } from './bytes.ts';
export { ClientSession, type ClientSessionOptions } from './client-session.ts';
export * from './config.ts';
export * from './constants.ts';
export { type AeadCipher, type AeadFactory, generateKeyPair, type KeyPair, keyPairFromSecret, nobleChaCha20Poly1305 } from './crypto.ts';
export * from './errors.ts';
export { ExitSession, type ExitSessionOptions, type PathDecision } from './exit-session.ts';
export { decodeFrame, encodeFrame, type Frame } from './frame.ts';
export type { StreamTarget } from './muxer.ts';
export { decodeRecord, type TunnelRecord } from './record.ts';
export { PathRole } from './resume.ts';
export type { PathFailure, RecordSink, SessionOptions, SessionState, SessionStats } from './session-endpoint.ts';
export { SessionPath } from './session-path.ts';
export { MuxStream } from './stream.ts';
