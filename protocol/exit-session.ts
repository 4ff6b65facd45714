/**
 * @module exit-session
 * The exit end of a session: one per client, in the exit server. Answers HELLO with WELCOME, hands stream requests
 * to the exit's dialer, and accepts a RESUME (the session moves to the new path alone) or a JOIN (the path is added
 * beside the others, up to maxPathsPerSession) only with a valid tag and a fresh attempt number.
 */

import { equalBytes, utf8 } from './bytes.ts';
import { NOISE_PROLOGUE, NOISE_PROTOCOL_NAME, RecordType, SESSION_ID_BYTES } from './constants.ts';
import { type KeyPair, randomBytes } from './crypto.ts';
import { AuthenticationError, MalformedInputError, PathRecordError, ProtocolError } from './errors.ts';
import { decodeClientHello, encodeServerHello, type ReceiveWindows } from './hello.ts';
import { NkResponder } from './noise.ts';
import { encodeHandshakeRecord, type TunnelRecord } from './record.ts';
import { decodeJoin, decodeResume, encodeJoin, encodeResume, PathRole, type ResumeKeys } from './resume.ts';
import { type RecordSink, SessionEndpoint, type SessionOptions } from './session-endpoint.ts';
import type { SessionPath } from './session-path.ts';
import type { MuxStream } from './stream.ts';

export interface ExitSessionOptions extends SessionOptions {
  staticKeyPair: KeyPair;
  /** A client asks for a stream: connect, then stream.accept(), or stream.reject(code, reason). */
  onOpenRequest(stream: MuxStream): void;
  /** For ids; defaults to crypto.getRandomValues. */
  randomBytes?(length: number): Uint8Array;
}

/**
 * Whether the exit took a RESUME or JOIN. A RESUME also lets go of the session's other paths (`replaced`: the
 * caller closes them). A refused one leaves the session it named exactly as it was.
 */
export type PathDecision = { accepted: true; path: SessionPath; replaced: SessionPath[] } | { accepted: false; reason: string };

/** The exit end: one per client session. */
export class ExitSession extends SessionEndpoint {
  private readonly responder: NkResponder;
  private lastAcceptedAttempt = 0;
  sessionId: Uint8Array | undefined;

  constructor(private readonly exitOptions: ExitSessionOptions) {
    super(exitOptions);
    this.responder = new NkResponder(NOISE_PROTOCOL_NAME, exitOptions.staticKeyPair, { prologue: utf8(NOISE_PROLOGUE), aead: this.aead });
  }

  /** The first path, which carried the handshake. */
  get firstPath(): SessionPath | undefined {
    return this.paths[0];
  }

  /**
   * A RESUME arrived on a new path. Accepted only with a valid tag and an attempt number above every one accepted
   * before; then the session moves to `sendRecord` alone and both ends replay. A refused RESUME leaves the session
   * exactly as it was: a forged or replayed one cannot hijack, fork or break it.
   */
  acceptResume(resumeRecord: Uint8Array, sendRecord: RecordSink): PathDecision {
    const keys = this.keys;
    if (this.state === 'closed' || this.state === 'handshaking' || !keys || !this.sessionId) return { accepted: false, reason: 'no such session' };
    const checked = this.checkAttempt(() => decodeResume(keys.resume, resumeRecord, 'RESUME'), 'RESUME');
    if (!checked.accepted) return checked;
    const replaced = [...this.paths];
    this.transportLost('the session moved to another path');
    const path = this.addPath(sendRecord, 'live', PathRole.CARRY);
    this.resumeCount++;
    this.markResumed();
    try {
      this.sendOn(
        path,
        encodeResume(RecordType.RESUMED, keys.resumed, { sessionId: this.sessionId, attempt: checked.attempt, nextExpectedSeq: this.reorder.nextSeq }),
      );
      this.replayFrom(checked.nextExpectedSeq, path);
    } catch (error) {
      this.fail(error instanceof ProtocolError ? error : new ProtocolError('FERRY_ERR_INTERNAL', String(error)));
      return { accepted: false, reason: this.error?.message ?? 'resume failed' };
    }
    return { accepted: true, path, replaced };
  }

  /**
   * A JOIN arrived on a new path: added beside the others if its tag is valid, its attempt number fresh, and the
   * session below maxPathsPerSession. What waits for a path (all others died) goes out on it.
   */
  acceptJoin(joinRecord: Uint8Array, sendRecord: RecordSink): PathDecision {
    const keys = this.keys;
    if (this.state === 'closed' || this.state === 'handshaking' || !keys || !this.sessionId) return { accepted: false, reason: 'no such session' };
    if (this.paths.length >= this.config.maxPathsPerSession) {
      return { accepted: false, reason: `this session already has ${this.config.maxPathsPerSession} paths, the most this exit allows` };
    }
    const checked = this.checkAttempt(() => decodeJoin(keys.join, joinRecord, 'JOIN'), 'JOIN');
    if (!checked.accepted) return checked;
    const path = this.addPath(sendRecord, 'live', checked.role);
    this.joinCount++;
    this.sendOn(path, encodeJoin(RecordType.JOINED, keys.joined, { sessionId: this.sessionId, attempt: checked.attempt, role: checked.role }));
    if (this.state === 'detached') this.markResumed();
    this.sendWaiting();
    return { accepted: true, path, replaced: [] };
  }

  /** Checks a RESUME's or JOIN's tag, session and attempt; a fresh attempt becomes the one to beat. */
  private checkAttempt<T extends { sessionId: Uint8Array; attempt: number }>(
    decode: () => T,
    what: string,
  ): ({ accepted: true } & T) | { accepted: false; reason: string } {
    let request: T;
    try {
      request = decode();
    } catch (error) {
      return { accepted: false, reason: error instanceof Error ? error.message : `unreadable ${what}` };
    }
    if (!this.sessionId || !equalBytes(request.sessionId, this.sessionId)) return { accepted: false, reason: `${what} names another session` };
    if (request.attempt <= this.lastAcceptedAttempt) {
      return { accepted: false, reason: `stale ${what} (attempt ${request.attempt}; ${this.lastAcceptedAttempt} was already accepted): replayed` };
    }
    this.lastAcceptedAttempt = request.attempt;
    return { accepted: true, ...request };
  }

  /** A lone path's silence is the exit server's to judge (its sessionSilenceTimeoutMs sweep). */
  protected aloneSilenceLimitMs(): undefined {
    return undefined;
  }

  /**
   * The exit leaves quick judgement to the client (which notices first and moves), and drops a silent path beside
   * others only after pathSilenceTimeoutMs: a volunteer that swallows everything yet keeps its socket open.
   */
  protected besideSilenceLimitMs(): number {
    return this.config.pathSilenceTimeoutMs;
  }

  protected pingKeys(keys: ResumeKeys): { own: Uint8Array; peer: Uint8Array; ownPong: Uint8Array; peerPong: Uint8Array } {
    return { own: keys.pingFromExit, peer: keys.pingFromClient, ownPong: keys.pongFromExit, peerPong: keys.pongFromClient };
  }

  protected ownAckKey(keys: ResumeKeys): Uint8Array {
    return keys.exitAck;
  }

  protected peerAckKey(keys: ResumeKeys): Uint8Array {
    return keys.clientAck;
  }

  protected receiveControlRecord(record: TunnelRecord, path: SessionPath): void {
    if (record.type === RecordType.RESUME || record.type === RecordType.JOIN) {
      throw new PathRecordError(new MalformedInputError(`${record.type === RecordType.JOIN ? 'JOIN' : 'RESUME'} must be the first record on a new path`));
    }
    if (record.type !== RecordType.HELLO) throw new PathRecordError(new MalformedInputError(`the exit does not accept record type ${record.type} here`));
    if (this.state !== 'handshaking') throw new PathRecordError(new MalformedInputError('HELLO arrived twice'));
    let peerWindows: ReceiveWindows;
    try {
      peerWindows = decodeClientHello(this.responder.readMessage1(record.handshake));
    } catch (error) {
      if (error instanceof AuthenticationError || error instanceof MalformedInputError) throw error;
      throw new MalformedInputError(`unreadable HELLO: ${String(error)}`);
    }
    this.sessionId = (this.exitOptions.randomBytes ?? randomBytes)(SESSION_ID_BYTES);
    const { message, result } = this.responder.writeMessage2(encodeServerHello({ sessionId: this.sessionId, ...this.ownWindows() }));
    this.sendOn(path, encodeHandshakeRecord(RecordType.WELCOME, message));
    this.opened(result, peerWindows, 'exit', this.exitOptions.onOpenRequest);
  }
}
