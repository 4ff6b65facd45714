/**
 * @module session-endpoint
 * What the two session endpoints share (client-session.ts, exit-session.ts): each turns tunnel records from its
 * current path into mux frames and back: handshake, then SEALED records, each carrying one frame. A session outlives
 * its path: every SEALED record is kept (already encrypted) until the peer acknowledges it; when a path breaks the
 * session is detached, and through a new path the client sends RESUME and both ends send again what the other lacks,
 * so every stream carries on with no byte lost, duplicated or reordered.
 * Any protocol violation closes the session with GOAWAY and a typed error; nothing throws out of receiveRecord().
 * Runtime-neutral: paths are callbacks, the cipher an injected factory.
 */

import { SealedChannel } from './channel.ts';
import { type SessionConfig, verifySessionConfig } from './config.ts';
import { FrameType, RecordType, SessionCloseCode, StreamErrorCode } from './constants.ts';
import { type AeadFactory, nobleChaCha20Poly1305 } from './crypto.ts';
import { MalformedInputError, PathRecordError, ProtocolError, SequenceError, SessionClosedError, StreamError } from './errors.ts';
import { decodeFrame, encodeFrameParts, type Frame } from './frame.ts';
import type { ReceiveWindows } from './hello.ts';
import { Multiplexer } from './muxer.ts';
import type { HandshakeResult } from './noise.ts';
import { decodeRecord, type TunnelRecord } from './record.ts';
import type { RecordPool } from './record-pool.ts';
import { ReplayBuffer, type ReplayEntry } from './replay-buffer.ts';
import { decodeAck, deriveResumeKeys, encodeAck, type ResumeKeys } from './resume.ts';
import type { MuxStream } from './stream.ts';

/**
 * - handshaking: HELLO sent or awaited;
 * - open: carrying traffic over a path;
 * - detached: the path broke; records queue (bounded) until a resume or detachedTimeoutMs;
 * - resuming (client): RESUME sent through a new path, waiting for RESUMED;
 * - closed.
 */
export type SessionState = 'handshaking' | 'open' | 'detached' | 'resuming' | 'closed';

/**
 * Sends one record over the current path (pipe, data channel or WebSocket). A sink that can tell calls `onWritten`
 * once the path no longer reads the record's bytes (written out, or the path is gone), and never before: sealed
 * records from a RecordPool are reused after that. A sink that never calls it only forgoes the reuse.
 */
export type RecordSink = (record: Uint8Array, onWritten?: () => void) => void;

export interface SessionOptions {
  /** The first path. */
  sendRecord: RecordSink;
  config?: Partial<SessionConfig>;
  /** ChaCha20-Poly1305 implementation; @noble/ciphers by default. */
  aead?: AeadFactory;
  /** Seal records into reusable memory (record-pool.ts), shared by the sessions of one process. */
  recordPool?: RecordPool;
  /** Fires once when the session closes; `error` is undefined for a normal close. */
  onClose?(error: ProtocolError | undefined): void;
  /** Fires on every state change. */
  onStateChange?(state: SessionState): void;
  /**
   * The current path is dead (silent) or hostile (it delivered a record that failed its checks): the session has
   * detached; find another path and resume (the client), or drop this one (the exit).
   */
  onPathFailed?(reason: string): void;
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
  /** Paths given up because they delivered a record that failed its checks. */
  pathsFailed: number;
  /** Records that came while the session had no path, or before a resume completed (late ones of an old path): dropped. */
  recordsDropped: number;
}

/** What the two endpoints share: records, the sealed channel, acknowledgements, replay, the muxer, closing. */
export abstract class SessionEndpoint {
  protected readonly config: SessionConfig;
  protected readonly aead: AeadFactory;
  protected channel: SealedChannel | undefined;
  protected muxer: Multiplexer | undefined;
  protected keys: ResumeKeys | undefined;
  protected transport: RecordSink | undefined;
  protected readonly replay: ReplayBuffer;
  private readonly recordPool: RecordPool | undefined;
  private currentState: SessionState = 'handshaking';
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private detachedTimer: ReturnType<typeof setTimeout> | undefined;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private receivedSinceAck = 0;
  private closeError: ProtocolError | undefined;
  protected lastReceivedAt = Date.now();
  protected lastSentAt = Date.now();
  protected resumeCount = 0;
  private readonly counters = { bytesSent: 0, bytesReceived: 0, recordsSent: 0, recordsReceived: 0, pathsFailed: 0, recordsDropped: 0 };

  constructor(protected readonly options: SessionOptions) {
    this.config = verifySessionConfig(options.config);
    this.aead = options.aead ?? nobleChaCha20Poly1305;
    this.recordPool = options.recordPool;
    this.replay = new ReplayBuffer(this.config.maxReplayBufferBytes, (entry) => this.reuseIfUnread(entry));
    this.transport = options.sendRecord;
    this.handshakeTimer = setTimeout(() => {
      this.fail(
        new ProtocolError(
          'FERRY_ERR_HANDSHAKE_TIMEOUT',
          `the handshake did not complete within ${this.config.handshakeTimeoutMs} ms`,
          SessionCloseCode.IDLE_TIMEOUT,
        ),
      );
    }, this.config.handshakeTimeoutMs);
  }

  get state(): SessionState {
    return this.currentState;
  }

  /** When the last record arrived from the peer (Date.now() milliseconds); the session's start before any did. */
  get lastHeardAtMs(): number {
    return this.lastReceivedAt;
  }

  /** Why the session closed, if it failed. */
  get error(): ProtocolError | undefined {
    return this.closeError;
  }

  /**
   * Bytes this end holds for the peer, in the direction toward it: stream bytes waiting for the peer's credit plus
   * sealed records sent and not yet acknowledged. A peer that returns neither credit nor ACKs makes it grow, so the
   * exit budgets it (exit-server/outbound-budget.ts). The path's own send buffer holds these same records (ws sends
   * them without copying), so it is not added again.
   */
  get outboundQueuedBytes(): number {
    return this.replay.bytes + (this.muxer?.sendQueueBytes ?? 0);
  }

  get stats(): SessionStats {
    return { ...this.counters, streams: this.muxer?.streamCount ?? 0, resumes: this.resumeCount, replayBufferBytes: this.replay.bytes };
  }

  /**
   * Feeds one record from the current path. Never throws. A record that fails a check a volunteer could cause (it
   * does not parse, authenticate or come in sequence) fails the path: the session detaches and onPathFailed fires. A
   * violation by the authenticated peer closes the session with a typed error.
   */
  receiveRecord(bytes: Uint8Array): void {
    if (this.currentState === 'closed') return;
    if (this.currentState === 'detached') {
      // Late records of a path this side already gave up; the peer sends them again after the resume.
      this.counters.recordsDropped++;
      return;
    }
    try {
      this.counters.recordsReceived++;
      this.lastReceivedAt = Date.now();
      const record = beforeAuthentication(() => decodeRecord(bytes));
      if (this.currentState === 'resuming' && (record.type === RecordType.SEALED || record.type === RecordType.ACK)) {
        // Sent before the peer knew of the new path (late records of the old one): it sends them again after RESUMED.
        this.counters.recordsDropped++;
        return;
      }
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
      if (error instanceof PathRecordError) this.pathFailed(error);
      else
        this.fail(
          error instanceof ProtocolError ? error : new ProtocolError('FERRY_ERR_INTERNAL', `internal error: ${String(error)}`, SessionCloseCode.INTERNAL_ERROR),
        );
    }
  }

  /**
   * The current path delivered a record that failed its checks. Before the handshake there is nothing to keep, so
   * the session fails with the check's own error; after it, the session detaches and waits for another path.
   */
  private pathFailed(error: PathRecordError): void {
    if (this.currentState === 'handshaking') {
      this.fail(error.check);
      return;
    }
    this.counters.pathsFailed++;
    this.reportPathFailed(`the path through this volunteer delivered a record that failed its checks (${error.check.message})`);
  }

  /** Detaches from the current path and tells the owner, which finds (client) or awaits (exit) another. */
  protected reportPathFailed(reason: string): void {
    // The owner first: it marks the path as gone before the session reacts, so nothing is restarted on a dead path.
    this.options.onPathFailed?.(reason);
    this.transportLost(reason);
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
    // Counted from when the first path broke: a resume that fails in turn does not extend the wait.
    this.detachedTimer ??= setTimeout(() => {
      this.fail(
        new ProtocolError(
          'FERRY_ERR_RESUME_TIMEOUT',
          `no new path within ${this.config.detachedTimeoutMs / 1000} s after the old one broke (${reason}); the session's streams are closed`,
          SessionCloseCode.IDLE_TIMEOUT,
        ),
      );
    }, this.config.detachedTimeoutMs);
  }

  protected abstract receiveControlRecord(record: TunnelRecord): void;

  protected setState(state: SessionState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.options.onStateChange?.(state);
  }

  protected sendRecord(record: Uint8Array, onWritten?: () => void): void {
    if (!this.transport) return;
    this.counters.recordsSent++;
    this.lastSentAt = Date.now();
    this.transport(record, onWritten);
  }

  /** Sends a kept record; with a pool, counts the write so the record's memory is reused only after it. */
  private sendKept(entry: ReplayEntry): void {
    if (!this.transport) return;
    if (this.recordPool === undefined) {
      this.sendRecord(entry.record);
      return;
    }
    entry.writesPending++;
    let reported = false;
    this.sendRecord(entry.record, () => {
      if (reported) return; // a sink that reports twice must not make the count wrong
      reported = true;
      entry.writesPending--;
      this.reuseIfUnread(entry);
    });
  }

  /** Back to the pool once the peer has the record (or the session ended) and no path is still writing it. */
  private reuseIfUnread(entry: ReplayEntry): void {
    if (entry.retired && entry.writesPending === 0) this.recordPool?.give(entry.record);
  }

  protected sendFrame = (frame: Frame): void => {
    if (!this.channel || this.currentState === 'closed') return;
    if (frame.type === FrameType.DATA) this.counters.bytesSent += frame.data.length;
    const seq = this.channel.nextSendSeq;
    const record = this.channel.seal(encodeFrameParts(frame), this.recordPool?.take);
    let entry: ReplayEntry;
    try {
      entry = this.replay.push(seq, record);
    } catch (error) {
      // The peer stopped acknowledging. fail() sends a GOAWAY if one still fits; when even that does not, the session
      // closes without it (failing again would only try the same GOAWAY again, without end).
      if (frame.type === FrameType.GOAWAY) this.finish(error as ProtocolError);
      else this.fail(error as ProtocolError);
      return;
    }
    // While detached or resuming, the record waits in the replay buffer and goes out after RESUMED.
    if (this.currentState === 'open') this.sendKept(entry);
  };

  private receiveSealed(record: Extract<TunnelRecord, { type: typeof RecordType.SEALED }>): void {
    const channel = this.channel;
    if (!channel) throw new PathRecordError(new MalformedInputError('a sealed record arrived before the handshake completed'));
    if (this.currentState !== 'open') throw new PathRecordError(new MalformedInputError(`a sealed record arrived while the session was ${this.currentState}`));
    const plaintext = beforeAuthentication(() => channel.open(record.seq, record.header, record.ciphertext));
    // Authenticated from here on: a bad frame is the peer's own violation, and ends the session.
    const frame = decodeFrame(plaintext);
    this.scheduleAck();
    if (frame.type === FrameType.DATA) this.counters.bytesReceived += frame.data.length;
    if (frame.type === FrameType.GOAWAY) {
      this.finish(frame.code === SessionCloseCode.NORMAL ? undefined : new SessionClosedError(`the peer closed the session: ${frame.reason}`, frame.code));
      return;
    }
    this.muxer?.receiveFrame(frame);
  }

  private receiveAck(bytes: Uint8Array): void {
    const keys = this.keys;
    if (!this.channel || !keys) throw new PathRecordError(new MalformedInputError('an ACK arrived before the handshake completed'));
    const nextExpected = beforeAuthentication(() => decodeAck(this.peerAckKey(keys), bytes));
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
    for (const entry of this.replay.from(peerNextExpectedSeq)) this.sendKept(entry);
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

/** Runs a check that comes before authentication: any protocol error it throws is the path's fault (PathRecordError). */
export function beforeAuthentication<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ProtocolError && !(error instanceof PathRecordError)) throw new PathRecordError(error);
    throw error;
  }
}
