/**
 * @module session
 * The two session endpoints: ClientSession (in the native helper) and ExitSession (in the exit server). Each turns
 * tunnel records from its current path into mux frames and back: handshake, then SEALED records, each carrying one
 * frame. A session outlives its path: every SEALED record is kept (already encrypted) until the peer acknowledges
 * it; when a path breaks the session is detached, and through a new path the client sends RESUME and both ends send
 * again what the other lacks, so every stream carries on with no byte lost, duplicated or reordered.
 * Any protocol violation closes the session with GOAWAY and a typed error; nothing throws out of receiveRecord().
 * Runtime-neutral: paths are callbacks, the cipher an injected factory.
 */
import { NOISE_PROLOGUE, NOISE_PROTOCOL_NAME, RecordType, SessionCloseCode, StreamErrorCode, FrameType, SESSION_ID_BYTES } from './constants.ts';
import { equalBytes, utf8 } from './bytes.ts';
import { verifySessionConfig, type SessionConfig } from './config.ts';
import { nobleChaCha20Poly1305, randomBytes, type AeadFactory, type KeyPair } from './crypto.ts';
import { ProtocolError, MalformedInputError, SessionClosedError, StreamError, AuthenticationError, SequenceError } from './errors.ts';
import { decodeFrame, encodeFrame, type Frame } from './frame.ts';
import { decodeClientHello, decodeServerHello, encodeClientHello, encodeServerHello, type ReceiveWindows } from './hello.ts';
import { Multiplexer, type StreamTarget } from './muxer.ts';
import { NkInitiator, NkResponder, type HandshakeResult } from './noise.ts';
import { decodeRecord, encodeHandshakeRecord, encodeRefusedRecord, type TunnelRecord } from './record.ts';
import { SealedChannel } from './channel.ts';
import { ReplayBuffer } from './replay-buffer.ts';
import { decodeAck, decodeResume, deriveResumeKeys, encodeAck, encodeResume, type ResumeKeys } from './resume.ts';
import type { MuxStream } from './stream.ts';

/**
 * - handshaking: HELLO sent or awaited;
 * - open: carrying traffic over a path;
 * - detached: the path broke; records queue (bounded) until a resume or detachedTimeoutMs;
 * - resuming (client): RESUME sent through a new path, waiting for RESUMED;
 * - closed.
 */
export type SessionState = 'handshaking' | 'open' | 'detached' | 'resuming' | 'closed';

/** Sends one record over the current path (pipe, data channel or WebSocket). */
export type RecordSink = (record: Uint8Array) => void;

export interface SessionOptions {
  /** The first path. */
  sendRecord: RecordSink;
  config?: Partial<SessionConfig>;
  /** ChaCha20-Poly1305 implementation; @noble/ciphers by default. */
  aead?: AeadFactory;
  /** Fires once when the session closes; `error` is undefined for a normal close. */
  onClose?(error: ProtocolError | undefined): void;
  /** Fires on every state change. */
  onStateChange?(state: SessionState): void;
}

/** Counters a UI can show. Payload bytes only (what the applications sent and received). */
export interface SessionStats {
  bytesSent: number;
  bytesReceived: number;
  recordsSent: number;
  recordsReceived: number;
  streams: number;
  /** Times the session moved to a new path and carried on. */
  resumes: number;
  /** Bytes of sealed records waiting for the peer's acknowledgement. */
  replayBufferBytes: number;
}


/** What the two endpoints share: records, the sealed channel, acknowledgements, replay, the muxer, closing. */
abstract class SessionEndpoint {
  protected readonly config: SessionConfig;
  protected readonly aead: AeadFactory;
  protected channel: SealedChannel | undefined;
  protected muxer: Multiplexer | undefined;
  protected keys: ResumeKeys | undefined;
  protected transport: RecordSink | undefined;
  protected readonly replay: ReplayBuffer;
  private currentState: SessionState = 'handshaking';
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private detachedTimer: ReturnType<typeof setTimeout> | undefined;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private receivedSinceAck = 0;
  private closeError: ProtocolError | undefined;
  protected lastReceivedAt = Date.now();
  protected lastSentAt = Date.now();
  protected resumeCount = 0;
  private readonly counters = { bytesSent: 0, bytesReceived: 0, recordsSent: 0, recordsReceived: 0 };

  constructor(protected readonly options: SessionOptions) {
    this.config = verifySessionConfig(options.config);
    this.aead = options.aead ?? nobleChaCha20Poly1305;
    this.replay = new ReplayBuffer(this.config.maxReplayBufferBytes);
    this.transport = options.sendRecord;
    this.handshakeTimer = setTimeout(() => {
      this.fail(new ProtocolError('FERRY_ERR_HANDSHAKE_TIMEOUT', `the handshake did not complete within ${this.config.handshakeTimeoutMs} ms`, SessionCloseCode.IDLE_TIMEOUT));
    }, this.config.handshakeTimeoutMs);
  }

  get state(): SessionState {
    return this.currentState;
  }

  /** Why the session closed, if it failed. */
  get error(): ProtocolError | undefined {
    return this.closeError;
  }

  get stats(): SessionStats {
    return { ...this.counters, streams: this.muxer?.streamCount ?? 0, resumes: this.resumeCount, replayBufferBytes: this.replay.bytes };
  }

  /** Feeds one record from the current path. Never throws: a bad record closes the session with a typed error. */
  receiveRecord(bytes: Uint8Array): void {
    if (this.currentState === 'closed') return;
    try {
      this.counters.recordsReceived++;
      this.lastReceivedAt = Date.now();
      const record = decodeRecord(bytes);
      switch (record.type) {
        case RecordType.SEALED:
          this.receiveSealed(record);
          return;
        case RecordType.ACK:
          this.receiveAck(record.bytes);
          return;
        default:
          this.receiveControlRecord(record);
      }
    } catch (error) {
      this.fail(error instanceof ProtocolError ? error : new ProtocolError('FERRY_ERR_INTERNAL', `internal error: ${String(error)}`, SessionCloseCode.INTERNAL_ERROR));
    }
  }

  /** Closes the session: tells the peer (GOAWAY) when it can, fails every open stream. */
  close(reason = 'closed', code: SessionCloseCode = SessionCloseCode.NORMAL): void {
    if (this.currentState === 'closed') return;
    if (this.channel) this.sendFrame({ type: FrameType.GOAWAY, code, reason });
    this.finish(code === SessionCloseCode.NORMAL ? undefined : new SessionClosedError(reason, code));
  }

  /**
   * The current path is gone. An open session detaches and waits (bounded) for a resume through a new path; a session
   * still in its handshake has nothing to resume and closes.
   */
  transportLost(reason: string): void {
    if (this.currentState === 'closed') return;
    if (this.currentState === 'handshaking') {
      this.finish(new SessionClosedError(`the path to the exit was lost during the handshake: ${reason}`, SessionCloseCode.INTERNAL_ERROR));
      return;
    }
    if (this.currentState === 'detached') return;
    this.transport = undefined;
    this.clearAckTimer();
    this.setState('detached');
    clearTimeout(this.detachedTimer);
    this.detachedTimer = setTimeout(() => {
      this.fail(new ProtocolError(
        'FERRY_ERR_RESUME_TIMEOUT',
        `no new path within ${this.config.detachedTimeoutMs / 1000} s after the old one broke (${reason}); the session's streams are closed`,
        SessionCloseCode.IDLE_TIMEOUT,
      ));
    }, this.config.detachedTimeoutMs);
  }

  protected abstract receiveControlRecord(record: TunnelRecord): void;

  protected setState(state: SessionState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.options.onStateChange?.(state);
  }

  protected sendRecord(record: Uint8Array): void {
    if (!this.transport) return;
    this.counters.recordsSent++;
    this.lastSentAt = Date.now();
    this.transport(record);
  }

  protected sendFrame = (frame: Frame): void => {
    if (!this.channel || this.currentState === 'closed') return;
    if (frame.type === FrameType.DATA) this.counters.bytesSent += frame.data.length;
    const seq = this.channel.nextSendSeq;
    const record = this.channel.seal(encodeFrame(frame));
    try {
      this.replay.push(seq, record);
    } catch (error) {
      this.fail(error as ProtocolError);
      return;
    }
    // While detached or resuming, the record waits in the replay buffer and goes out after RESUMED.
    if (this.currentState === 'open') this.sendRecord(record);
  };

  private receiveSealed(record: Extract<TunnelRecord, { type: typeof RecordType.SEALED }>): void {
    if (!this.channel) throw new MalformedInputError('a sealed record arrived before the handshake completed');
    if (this.currentState !== 'open') throw new MalformedInputError(`a sealed record arrived while the session was ${this.currentState}`);
    const frame = decodeFrame(this.channel.open(record.seq, record.header, record.ciphertext));
    this.scheduleAck();
    if (frame.type === FrameType.DATA) this.counters.bytesReceived += frame.data.length;
    if (frame.type === FrameType.GOAWAY) {
      this.finish(frame.code === SessionCloseCode.NORMAL ? undefined : new SessionClosedError(`the peer closed the session: ${frame.reason}`, frame.code));
      return;
    }
    this.muxer?.receiveFrame(frame);
  }

  private receiveAck(bytes: Uint8Array): void {
    if (!this.channel || !this.keys) throw new MalformedInputError('an ACK arrived before the handshake completed');
    const nextExpected = decodeAck(this.peerAckKey(this.keys), bytes);
    if (nextExpected > this.channel.nextSendSeq) throw new SequenceError(`the peer acknowledged record ${nextExpected - 1}, which was never sent`);
    this.replay.acknowledge(nextExpected);
  }

  /** The key this side tags its ACKs with, and the one the peer uses. */
  protected abstract ownAckKey(keys: ResumeKeys): Uint8Array;
  protected abstract peerAckKey(keys: ResumeKeys): Uint8Array;

  private scheduleAck(): void {
    this.receivedSinceAck++;
    if (this.receivedSinceAck >= this.config.ackEveryRecords) this.sendAck();
    else this.ackTimer ??= setTimeout(() => this.sendAck(), this.config.ackDelayMs);
  }

  protected sendAck(): void {
    this.clearAckTimer();
    if (!this.channel || !this.keys || this.currentState !== 'open') return;
    this.receivedSinceAck = 0;
    this.sendRecord(encodeAck(this.ownAckKey(this.keys), this.channel.nextReceiveSeq));
  }

  private clearAckTimer(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  /** Both ends, after a resume: drop what the peer has, send the rest again, in order. */
  protected replayFrom(peerNextExpectedSeq: number): void {
    if (!this.channel) return;
    const oldest = this.replay.oldestSeq ?? this.channel.nextSendSeq;
    if (peerNextExpectedSeq < oldest || peerNextExpectedSeq > this.channel.nextSendSeq) {
      throw new SequenceError(`cannot resume: the peer expects record ${peerNextExpectedSeq}, but only ${oldest}..${this.channel.nextSendSeq - 1} are kept`);
    }
    this.replay.acknowledge(peerNextExpectedSeq);
    for (const record of this.replay.from(peerNextExpectedSeq)) this.sendRecord(record);
  }

  protected markResumed(): void {
    clearTimeout(this.detachedTimer);
    this.detachedTimer = undefined;
    this.resumeCount++;
    this.setState('open');
  }

  protected opened(handshake: HandshakeResult, peerWindows: ReceiveWindows, role: 'client' | 'exit', onOpenRequest?: (stream: MuxStream) => void): void {
    clearTimeout(this.handshakeTimer);
    this.channel = new SealedChannel(handshake, this.aead);
    this.keys = deriveResumeKeys(handshake.resumeSecret);
    // Never send more than our own replay buffer can keep: clamp the peer's announced session window, leaving an
    // eighth of the buffer for control frames and record overhead.
    const sessionSendWindow = Math.min(peerWindows.sessionWindowBytes, Math.floor((this.config.maxReplayBufferBytes * 7) / 8));
    this.muxer = new Multiplexer({
      role,
      config: this.config,
      peerStreamWindowBytes: Math.min(peerWindows.streamWindowBytes, sessionSendWindow),
      peerSessionWindowBytes: sessionSendWindow,
      sendFrame: this.sendFrame,
      ...(onOpenRequest ? { onOpenRequest } : {}),
    });
    this.setState('open');
  }

  protected ownWindows(): ReceiveWindows {
    return { streamWindowBytes: this.config.streamReceiveWindowBytes, sessionWindowBytes: this.config.sessionReceiveWindowBytes };
  }

  protected fail(error: ProtocolError): void {
    if (this.currentState === 'closed') return;
    if (this.channel && this.currentState === 'open') this.sendFrame({ type: FrameType.GOAWAY, code: error.closeCode, reason: error.message });
    this.finish(error);
  }

  protected finish(error: ProtocolError | undefined): void {
    if (this.currentState === 'closed') return;
    this.currentState = 'closed';
    this.closeError = error;
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.detachedTimer);
    this.clearAckTimer();
    this.replay.clear();
    const reason = error ? `the tunnel session ended: ${error.message}` : 'the tunnel session closed';
    this.muxer?.abortAll(new StreamError(StreamErrorCode.GENERAL_FAILURE, reason));
    this.onFinished(error);
    this.options.onStateChange?.('closed');
    this.options.onClose?.(error);
  }

  protected onFinished(_error: ProtocolError | undefined): void {}
}

export interface ClientSessionOptions extends SessionOptions {
  /** The exit's static X25519 public key, known in advance (from the broker's exit list or configuration). */
  exitPublicKey: Uint8Array;
  /** Fires once the exit has answered and authenticated. */
  onOpen?(): void;
  /** Nothing arrived for pathSilenceTimeoutMs: the path is dead. Find another and call resume() (or start anew). */
  onPathSilent?(reason: string): void;
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
    this.sendRecord(encodeResume(RecordType.RESUME, this.keys.resume, { sessionId: this.sessionId, attempt: this.resumeAttempt, nextExpectedSeq: this.channel.nextReceiveSeq }));
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
        if (this.state === 'resuming') {
          throw new ProtocolError('FERRY_ERR_RESUME_REFUSED', `the exit could not continue the session: ${record.reason}`, SessionCloseCode.NORMAL);
        }
        throw new ProtocolError('FERRY_ERR_REFUSED', `the exit refused the session: ${record.reason}`, SessionCloseCode.NORMAL);
      case RecordType.WELCOME: {
        if (this.state !== 'handshaking' || !this.started) throw new MalformedInputError('WELCOME arrived twice or before HELLO');
        const { payload, result } = this.initiator.readMessage2(record.handshake);
        const hello = decodeServerHello(payload);
        this.sessionId = hello.sessionId;
        this.opened(result, hello, 'client');
        for (const waiter of this.openWaiters.splice(0)) waiter.resolve();
        this.clientOptions.onOpen?.();
        return;
      }
      case RecordType.RESUMED: {
        if (this.state !== 'resuming' || !this.keys || !this.sessionId) throw new MalformedInputError('RESUMED arrived without a RESUME');
        const reply = decodeResume(this.keys.resumed, record.bytes, 'RESUMED');
        if (!equalBytes(reply.sessionId, this.sessionId) || reply.attempt !== this.resumeAttempt) {
          throw new AuthenticationError('RESUMED answers another resume attempt');
        }
        this.markResumed();
        this.replayFrom(reply.nextExpectedSeq);
        this.sendAck();
        for (const waiter of this.openWaiters.splice(0)) waiter.resolve();
        return;
      }
      default:
        throw new MalformedInputError(`the client does not accept record type ${record.type}`);
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
      this.clientOptions.onPathSilent?.(`nothing arrived from the exit for ${this.config.pathSilenceTimeoutMs / 1000} s`);
    }
  }

  protected override onFinished(error: ProtocolError | undefined): void {
    clearInterval(this.heartbeat);
    for (const waiter of this.openWaiters.splice(0)) waiter.reject(error ?? new SessionClosedError('the session closed'));
  }
}

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
      this.sendRecord(encodeResume(RecordType.RESUMED, this.keys.resumed, { sessionId: this.sessionId, attempt: request.attempt, nextExpectedSeq: this.channel?.nextReceiveSeq ?? 0 }));
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
    if (record.type === RecordType.RESUME) throw new MalformedInputError('RESUME must be the first record on a new path');
    if (record.type !== RecordType.HELLO) throw new MalformedInputError(`the exit does not accept record type ${record.type} here`);
    if (this.state !== 'handshaking') throw new MalformedInputError('HELLO arrived twice');
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
