/**
 * @module protocol
 * Ferry's tunnel protocol, runtime-neutral: records, the Noise NK handshake, sealed records, stream multiplexing
 * with credit flow control, and the two session endpoints. See docs/wire-protocol.md.
 */
export * from './constants.ts';
export * from './errors.ts';
export * from './config.ts';
export { generateKeyPair, keyPairFromSecret, nobleChaCha20Poly1305, type AeadFactory, type AeadCipher, type KeyPair } from './crypto.ts';
export { toBase64Url, fromBase64Url } from './bytes.ts';
export { decodeRecord, type TunnelRecord } from './record.ts';
export { decodeFrame, encodeFrame, type Frame } from './frame.ts';
export { MuxStream } from './stream.ts';
export type { StreamTarget } from './muxer.ts';
export type { SessionState, SessionStats, SessionOptions, RecordSink } from './session-endpoint.ts';
export { ClientSession, type ClientSessionOptions } from './client-session.ts';
export { ExitSession, type ExitSessionOptions, type ResumeDecision } from './exit-session.ts';
