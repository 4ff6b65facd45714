/**
 * @module exit-session
 * The exit end of a session: one per client, in the exit server. Answers HELLO with WELCOME, hands stream requests
 * to the exit's dialer, and accepts a RESUME only with a valid tag and a fresh attempt number.
 */

import { equalBytes, utf8 } from './bytes.ts';
import { NOISE_PROLOGUE, NOISE_PROTOCOL_NAME, RecordType, SESSION_ID_BYTES, SessionCloseCode } from './constants.ts';
import { type KeyPair, randomBytes } from './crypto.ts';
import { AuthenticationError, MalformedInputError, PathRecordError, ProtocolError, SessionClosedError } from './errors.ts';
import { decodeClientHello, encodeServerHello, type ReceiveWindows } from './hello.ts';
import { NkResponder } from './noise.ts';
import { encodeHandshakeRecord, encodeRefusedRecord, type TunnelRecord } from './record.ts';
import { decodeResume, encodeResume, type ResumeKeys } from './resume.ts';
import { type RecordSink, SessionEndpoint, type SessionOptions } from './session-endpoint.ts';
import type { MuxStream } from './stream.ts';

export interface ExitSessionOptions extends SessionOptions {
  staticKeyPair: KeyPair;
  /** A client asks for a stream: connect, then stream.accept(), or stream.reject(code, reason). */
  onOpenRequest(stream: MuxStream): void;
  /** For ids; defaults to crypto.getRandomValues. */
  randomBytes?(length: number): Uint8Array;
}

/** Why the exit refused a RESUME; the session it named is left as it was. */
export type ResumeDecision = { accepted: true } | { accepted: false; reason: string };

/** The exit end: one per client session. */
export class ExitSession extends SessionEndpoint {
  private readonly responder: NkResponder;
  private lastAcceptedAttempt = 0;
  sessionId: Uint8Array | undefined;

  constructor(private readonly exitOptions: ExitSessionOptions) {
    super(exitOptions);
    this.responder = new NkResponder(NOISE_PROTOCOL_NAME, exitOptions.staticKeyPair, { prologue: utf8(NOISE_PROLOGUE), aead: this.aead });
  }

  /** Tells a client the exit will not take it (e.g. full), then closes. The reason is not authenticated. */
  refuse(reason: string): void {
    this.sendRecord(encodeRefusedRecord(reason));
    this.finish(new SessionClosedError(`refused: ${reason}`, SessionCloseCode.SHUTTING_DOWN));
  }

  /**
   * A RESUME arrived on a new path. Accepted only with a valid tag and an attempt number above every one accepted
   * before; then the session moves to `sendRecord` (the caller closes the old path) and both ends replay. A refused
   * RESUME leaves the session exactly as it was: a forged or replayed one cannot hijack, fork or break it.
   */
  acceptResume(resumeRecord: Uint8Array, sendRecord: RecordSink): ResumeDecision {
    if (this.state === 'closed' || this.state === 'handshaking' || !this.keys || !this.sessionId) return { accepted: false, reason: 'no such session' };
    let request: ReturnType<typeof decodeResume>;
    try {
      request = decodeResume(this.keys.resume, resumeRecord, 'RESUME');
    } catch (error) {
      return { accepted: false, reason: error instanceof Error ? error.message : 'unreadable RESUME' };
    }
    if (!equalBytes(request.sessionId, this.sessionId)) return { accepted: false, reason: 'RESUME names another session' };
    if (request.attempt <= this.lastAcceptedAttempt) {
      return { accepted: false, reason: `stale RESUME (attempt ${request.attempt}; ${this.lastAcceptedAttempt} was already accepted): replayed` };
    }
    this.lastAcceptedAttempt = request.attempt;
    this.transport = sendRecord;
    this.markResumed();
    try {
      this.sendRecord(
        encodeResume(RecordType.RESUMED, this.keys.resumed, {
          sessionId: this.sessionId,
          attempt: request.attempt,
          nextExpectedSeq: this.channel?.nextReceiveSeq ?? 0,
        }),
      );
      this.replayFrom(request.nextExpectedSeq);
    } catch (error) {
      this.fail(error instanceof ProtocolError ? error : new ProtocolError('FERRY_ERR_INTERNAL', String(error)));
      return { accepted: false, reason: this.error?.message ?? 'resume failed' };
    }
    return { accepted: true };
  }

  protected ownAckKey(keys: ResumeKeys): Uint8Array {
    return keys.exitAck;
  }

  protected peerAckKey(keys: ResumeKeys): Uint8Array {
    return keys.clientAck;
  }

  protected receiveControlRecord(record: TunnelRecord): void {
    if (record.type === RecordType.RESUME) throw new PathRecordError(new MalformedInputError('RESUME must be the first record on a new path'));
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
    this.sendRecord(encodeHandshakeRecord(RecordType.WELCOME, message));
    this.opened(result, peerWindows, 'exit', this.exitOptions.onOpenRequest);
  }
}
