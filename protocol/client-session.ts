/**
 * @module client-session
 * The client end of a session: runs in the native helper. Sends HELLO, checks the exit's static key (Noise NK),
 * adds paths beside the first (JOIN: to stripe, or to stand by), runs the heartbeat that pings every path and drops a
 * silent one (sooner while another is live: a false alarm then costs a switch, not a new match), and moves the
 * session to a new path with RESUME when none is left.
 */

import { equalBytes, utf8 } from './bytes.ts';
import { NOISE_PROLOGUE, NOISE_PROTOCOL_NAME, RecordType, SessionCloseCode } from './constants.ts';
import { AuthenticationError, MalformedInputError, PathRecordError, ProtocolError, SessionClosedError } from './errors.ts';
import { decodeServerHello, encodeClientHello } from './hello.ts';
import type { StreamTarget } from './muxer.ts';
import { NkInitiator } from './noise.ts';
import { encodeHandshakeRecord, type TunnelRecord } from './record.ts';
import { decodeJoin, decodeResume, encodeJoin, encodeResume, PathRole, type ResumeKeys } from './resume.ts';
import { beforeAuthentication, type RecordSink, SessionEndpoint, type SessionOptions } from './session-endpoint.ts';
import type { SessionPath } from './session-path.ts';
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
  /** RESUME and JOIN attempts so far; the exit accepts only growing numbers. */
  private attempts = 0;
  /** The attempt each JOIN or RESUME path waits to hear answered. */
  private readonly attemptOf = new Map<SessionPath, number>();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
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
    const first = this.paths[0];
    if (first === undefined) return;
    first.lastHeardAtMs = this.lastReceivedAt;
    this.sendOn(first, encodeHandshakeRecord(RecordType.HELLO, this.initiator.writeMessage1(encodeClientHello(this.ownWindows()))));
    this.heartbeat = setInterval(() => this.tick(), Math.max(25, Math.floor(this.config.heartbeatIntervalMs / 2)));
  }

  /** True when the session can move to a new path (it completed its handshake and has not closed). */
  get resumable(): boolean {
    return this.sessionId !== undefined && (this.state === 'detached' || this.state === 'resuming' || this.state === 'open');
  }

  /** True when join() can add a path now: the session is open (or waiting for a path) and below maxPathsPerSession. */
  get canJoin(): boolean {
    return this.sessionId !== undefined && (this.state === 'open' || this.state === 'detached') && this.paths.length < this.config.maxPathsPerSession;
  }

  /**
   * Continues the session through a new path, as its only one: the others are let go (the caller closes them). Sends
   * RESUME; once the exit answers RESUMED, both ends send again what the other lacks.
   */
  resume(sendRecord: RecordSink): SessionPath {
    if (!this.resumable || !this.sessionId || !this.keys) throw new SessionClosedError('this session cannot be resumed');
    this.transportLost('replaced by a new path');
    const path = this.addPath(sendRecord, 'resuming', PathRole.CARRY);
    const attempt = ++this.attempts;
    this.attemptOf.set(path, attempt);
    this.setState('resuming');
    this.sendOn(path, encodeResume(RecordType.RESUME, this.keys.resume, { sessionId: this.sessionId, attempt, nextExpectedSeq: this.reorder.nextSeq }));
    return path;
  }

  /**
   * Adds a path beside the ones the session has: `carry` stripes records over it too, `standby` keeps it idle (pings
   * only) until no carrying path is left. Sends JOIN; the path is used once the exit answers JOINED.
   */
  join(sendRecord: RecordSink, role: PathRole): SessionPath {
    if (!this.canJoin || !this.sessionId || !this.keys) {
      throw new SessionClosedError(
        this.paths.length >= this.config.maxPathsPerSession
          ? `the session already has ${this.config.maxPathsPerSession} paths`
          : 'this session cannot take a path now',
      );
    }
    const path = this.addPath(sendRecord, 'joining', role);
    const attempt = ++this.attempts;
    this.attemptOf.set(path, attempt);
    this.sendOn(path, encodeJoin(RecordType.JOIN, this.keys.join, { sessionId: this.sessionId, attempt, role }));
    return path;
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

  override removePath(path: SessionPath, reason: string): void {
    this.attemptOf.delete(path);
    super.removePath(path, reason);
  }

  protected ownAckKey(keys: ResumeKeys): Uint8Array {
    return keys.clientAck;
  }

  protected peerAckKey(keys: ResumeKeys): Uint8Array {
    return keys.exitAck;
  }

  protected receiveControlRecord(record: TunnelRecord, path: SessionPath): void {
    switch (record.type) {
      case RecordType.REFUSED:
        // Unauthenticated: on a carrying path it can only be a volunteer's injection, so it fails the path. In
        // answer to HELLO, RESUME or JOIN it is the exit's word (it has no keys for a session it does not know).
        if (path.state === 'live')
          throw new PathRecordError(new MalformedInputError(`a REFUSED record arrived on a carrying path (${record.reason.slice(0, 100)})`));
        if (path.state === 'joining') {
          // The session goes on over its other paths; only this one is turned away (e.g. the exit's path limit).
          this.dropPath(path, `the exit refused the new path: ${record.reason}`, 'gone');
          return;
        }
        if (path.state === 'resuming') {
          throw new ProtocolError('FERRY_ERR_RESUME_REFUSED', `the exit could not continue the session: ${record.reason}`, SessionCloseCode.NORMAL);
        }
        throw new ProtocolError('FERRY_ERR_REFUSED', `the exit refused the session: ${record.reason}`, SessionCloseCode.NORMAL);
      case RecordType.WELCOME: {
        if (this.state !== 'handshaking' || !this.started || path.state !== 'starting')
          throw new PathRecordError(new MalformedInputError('WELCOME arrived twice or before HELLO'));
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
        if (path.state !== 'resuming' || !keys || !this.sessionId) throw new PathRecordError(new MalformedInputError('RESUMED arrived without a RESUME'));
        const reply = beforeAuthentication(() => decodeResume(keys.resumed, record.bytes, 'RESUMED'));
        // A genuine RESUMED of an earlier attempt, replayed by a volunteer: the path is lying, not the exit.
        if (!equalBytes(reply.sessionId, this.sessionId) || reply.attempt !== this.attemptOf.get(path)) {
          throw new PathRecordError(new AuthenticationError('RESUMED answers another resume attempt'));
        }
        this.attemptOf.delete(path);
        path.state = 'live';
        this.resumeCount++;
        this.markResumed();
        this.replayFrom(reply.nextExpectedSeq, path);
        this.sendAck();
        for (const waiter of this.openWaiters.splice(0)) waiter.resolve();
        return;
      }
      case RecordType.JOINED: {
        const keys = this.keys;
        if (path.state !== 'joining' || !keys || !this.sessionId) throw new PathRecordError(new MalformedInputError('JOINED arrived without a JOIN'));
        const reply = beforeAuthentication(() => decodeJoin(keys.joined, record.bytes, 'JOINED'));
        if (!equalBytes(reply.sessionId, this.sessionId) || reply.attempt !== this.attemptOf.get(path) || reply.role !== path.role) {
          throw new PathRecordError(new AuthenticationError('JOINED answers another join'));
        }
        this.attemptOf.delete(path);
        path.state = 'live';
        this.joinCount++;
        if (this.state === 'detached') this.markResumed();
        this.sendWaiting();
        for (const waiter of this.openWaiters.splice(0)) waiter.resolve();
        return;
      }
      default:
        throw new PathRecordError(new MalformedInputError(`the client does not accept record type ${record.type}`));
    }
  }

  protected aloneSilenceLimitMs(): number {
    return this.config.pathSilenceTimeoutMs;
  }

  /** The client acts first on a silent path: with another live, a false alarm costs only a switch. */
  protected besideSilenceLimitMs(): number {
    return this.config.standbySilenceTimeoutMs;
  }

  protected pingKeys(keys: ResumeKeys): { own: Uint8Array; peer: Uint8Array; ownPong: Uint8Array; peerPong: Uint8Array } {
    return { own: keys.pingFromClient, peer: keys.pingFromExit, ownPong: keys.pongFromClient, peerPong: keys.pongFromExit };
  }

  protected override onFinished(error: ProtocolError | undefined): void {
    clearInterval(this.heartbeat);
    for (const waiter of this.openWaiters.splice(0)) waiter.reject(error ?? new SessionClosedError('the session closed'));
  }
}
