/**
 * @module client-session
 * The client end of a session: runs in the native helper. Sends HELLO, checks the exit's static key (Noise NK),
 * keeps the path alive with PINGs, reports a silent path, and moves the session to a new path with RESUME.
 */

import { equalBytes, utf8 } from './bytes.ts';
import { FrameType, NOISE_PROLOGUE, NOISE_PROTOCOL_NAME, RecordType, SessionCloseCode } from './constants.ts';
import { AuthenticationError, MalformedInputError, PathRecordError, ProtocolError, SessionClosedError } from './errors.ts';
import { decodeServerHello, encodeClientHello } from './hello.ts';
import type { StreamTarget } from './muxer.ts';
import { NkInitiator } from './noise.ts';
import { encodeHandshakeRecord, type TunnelRecord } from './record.ts';
import { decodeResume, encodeResume, type ResumeKeys } from './resume.ts';
import { beforeAuthentication, type RecordSink, SessionEndpoint, type SessionOptions } from './session-endpoint.ts';
import type { MuxStream } from './stream.ts';

export interface ClientSessionOptions extends SessionOptions {
  /** The exit's static X25519 public key, known in advance (from the broker's exit list or configuration). */
  exitPublicKey: Uint8Array;
  /** Fires once the exit has answered and authenticated. */
  onOpen?(): void;
}

/** The client end: runs in the native helper. */
export class ClientSession extends SessionEndpoint {
  private readonly initiator: NkInitiator;
  private readonly openWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private started = false;
  private resumeAttempt = 0;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private silenceReported = false;
  sessionId: Uint8Array | undefined;

  constructor(private readonly clientOptions: ClientSessionOptions) {
    super(clientOptions);
    this.initiator = new NkInitiator(NOISE_PROTOCOL_NAME, clientOptions.exitPublicKey, { prologue: utf8(NOISE_PROLOGUE), aead: this.aead });
  }

  /** Sends HELLO over the first path. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.lastReceivedAt = Date.now();
    this.sendRecord(encodeHandshakeRecord(RecordType.HELLO, this.initiator.writeMessage1(encodeClientHello(this.ownWindows()))));
    this.heartbeat = setInterval(() => this.checkPath(), Math.max(50, Math.floor(this.config.heartbeatIntervalMs / 2)));
  }

  /** True when the session can move to a new path (it completed its handshake and has not closed). */
  get resumable(): boolean {
    return this.sessionId !== undefined && (this.state === 'detached' || this.state === 'resuming' || this.state === 'open');
  }

  /**
   * Continues the session through a new path: sends RESUME; once the exit answers RESUMED, both ends replay what the
   * other lacks. Call after transportLost() (or instead of it: a resume implies the old path is gone).
   */
  resume(sendRecord: RecordSink): void {
    if (!this.resumable || !this.sessionId || !this.keys || !this.channel) throw new SessionClosedError('this session cannot be resumed');
    if (this.state === 'open') this.transportLost('replaced by a new path');
    this.transport = sendRecord;
    this.resumeAttempt++;
    this.silenceReported = false;
    this.lastReceivedAt = Date.now();
    this.setState('resuming');
    this.sendRecord(
      encodeResume(RecordType.RESUME, this.keys.resume, {
        sessionId: this.sessionId,
        attempt: this.resumeAttempt,
        nextExpectedSeq: this.channel.nextReceiveSeq,
      }),
    );
  }

  /** Resolves when the session is open; rejects if it closes first. */
  whenOpen(): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(this.error ?? new SessionClosedError('the session is closed'));
    return new Promise((resolve, reject) => this.openWaiters.push({ resolve, reject }));
  }

  /** Opens a stream to host:port through the exit. The session must have completed its handshake. */
  openStream(target: StreamTarget): MuxStream {
    if (!this.muxer || this.state === 'closed' || this.state === 'handshaking') throw new SessionClosedError('the tunnel session is not open');
    return this.muxer.openStream(target);
  }

  protected ownAckKey(keys: ResumeKeys): Uint8Array {
    return keys.clientAck;
  }

  protected peerAckKey(keys: ResumeKeys): Uint8Array {
    return keys.exitAck;
  }

  protected receiveControlRecord(record: TunnelRecord): void {
    switch (record.type) {
      case RecordType.REFUSED:
        // Unauthenticated: into an open session it can only be a volunteer's injection, so it fails the path. In
        // answer to HELLO or RESUME it is the exit's word (it has no keys for a session it does not know).
        if (this.state === 'open')
          throw new PathRecordError(new MalformedInputError(`a REFUSED record arrived in an open session (${record.reason.slice(0, 100)})`));
        if (this.state === 'resuming') {
          throw new ProtocolError('FERRY_ERR_RESUME_REFUSED', `the exit could not continue the session: ${record.reason}`, SessionCloseCode.NORMAL);
        }
        throw new ProtocolError('FERRY_ERR_REFUSED', `the exit refused the session: ${record.reason}`, SessionCloseCode.NORMAL);
      case RecordType.WELCOME: {
        if (this.state !== 'handshaking' || !this.started) throw new PathRecordError(new MalformedInputError('WELCOME arrived twice or before HELLO'));
        const { payload, result } = this.initiator.readMessage2(record.handshake);
        const hello = decodeServerHello(payload);
        this.sessionId = hello.sessionId;
        this.opened(result, hello, 'client');
        for (const waiter of this.openWaiters.splice(0)) waiter.resolve();
        this.clientOptions.onOpen?.();
        return;
      }
      case RecordType.RESUMED: {
        const keys = this.keys;
        if (this.state !== 'resuming' || !keys || !this.sessionId) throw new PathRecordError(new MalformedInputError('RESUMED arrived without a RESUME'));
        const reply = beforeAuthentication(() => decodeResume(keys.resumed, record.bytes, 'RESUMED'));
        // A genuine RESUMED of an earlier attempt, replayed by a volunteer: the path is lying, not the exit.
        if (!equalBytes(reply.sessionId, this.sessionId) || reply.attempt !== this.resumeAttempt) {
          throw new PathRecordError(new AuthenticationError('RESUMED answers another resume attempt'));
        }
        this.markResumed();
        this.replayFrom(reply.nextExpectedSeq);
        this.sendAck();
        for (const waiter of this.openWaiters.splice(0)) waiter.resolve();
        return;
      }
      default:
        throw new PathRecordError(new MalformedInputError(`the client does not accept record type ${record.type}`));
    }
  }

  /** Heartbeat: keep the path busy enough that silence means death, and report death once per path. */
  private checkPath(): void {
    const now = Date.now();
    if (this.state === 'open' && now - this.lastSentAt >= this.config.heartbeatIntervalMs) {
      const opaque = new Uint8Array(8);
      new DataView(opaque.buffer).setFloat64(0, now);
      this.sendFrame({ type: FrameType.PING, opaque });
    }
    const waitingForPeer = this.state === 'open' || this.state === 'resuming' || this.state === 'handshaking';
    if (waitingForPeer && !this.silenceReported && now - this.lastReceivedAt > this.config.pathSilenceTimeoutMs) {
      this.silenceReported = true;
      this.reportPathFailed(`nothing arrived from the exit for ${this.config.pathSilenceTimeoutMs / 1000} s`);
    }
  }

  protected override onFinished(error: ProtocolError | undefined): void {
    clearInterval(this.heartbeat);
    for (const waiter of this.openWaiters.splice(0)) waiter.reject(error ?? new SessionClosedError('the session closed'));
  }
}
