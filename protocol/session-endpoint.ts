/**
 * @module session-endpoint
 * What the two session endpoints share (client-session.ts, exit-session.ts): each turns tunnel records from its
 * paths into mux frames and back: handshake, then SEALED records, each carrying one frame. A session outlives its
 * paths and can use several at once:
 * - every SEALED record is kept (already encrypted) until the peer acknowledges it, and sent where it should arrive
 *   first (session-path.ts choosePath); when a path goes, what it carried unacknowledged goes again on the others;
 * - records are authenticated as they arrive, by whichever path, and handed on in sequence (reorder-buffer.ts);
 * - both ends PATH_PING every path; a silent one is dropped (sooner while another is live);
 * - a path that replays records (seen-window.ts), delivers one that fails its checks, or loses one (an ACK shows a
 *   later record sent on the same path arrived, or a PATH_PONG shows a record sent before its ping missing) is
 *   dropped, and the session carries on over the others;
 * - with no path left the session is detached; through a new path the client sends RESUME and both ends send again
 *   what the other lacks, so every stream carries on with no byte lost, duplicated or reordered.
 * Any protocol violation by the authenticated peer closes the session with GOAWAY and a typed error; nothing throws
 * out of receiveRecord(). Runtime-neutral: paths are callbacks, the cipher an injected factory.
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
import { ReorderBuffer } from './reorder-buffer.ts';
import { ReplayBuffer, type ReplayEntry } from './replay-buffer.ts';
import {
  ACK_RECORD_BYTES,
  type Acknowledgement,
  decodeAck,
  decodePathPing,
  decodePathPong,
  deriveResumeKeys,
  encodeAck,
  encodePathPing,
  encodePathPong,
  PathRole,
  type ResumeKeys,
} from './resume.ts';
import { choosePath, type PathState, type RecordSink, SessionPath } from './session-path.ts';
import type { MuxStream } from './stream.ts';

export type { RecordSink } from './session-path.ts';

/**
 * - handshaking: HELLO sent or awaited;
 * - open: carrying traffic over one path or more;
 * - detached: no path carries; records queue (bounded) until a path comes back or detachedTimeoutMs;
 * - resuming (client): RESUME sent through a new path, waiting for RESUMED;
 * - closed.
 */
export type SessionState = 'handshaking' | 'open' | 'detached' | 'resuming' | 'closed';

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
   * The session gave up `path`: it went silent, or it is hostile (it delivered a record that failed its checks,
   * replayed one or lost one). The session no longer uses it: close it. With no path left, find another and resume
   * (the client), or wait for one (the exit).
   */
  onPathFailed?(reason: string, path: SessionPath, kind: PathFailure): void;
}

/**
 * Why a session gave a path up: it spoiled, replayed or lost what it carried (`hostile`), it went quiet (`silent`),
 * or the other end no longer has it (`gone`: it moved to a standby, or refused the path).
 */
export type PathFailure = 'hostile' | 'silent' | 'gone';

/**
 * The peer has shown this record's latest send arrived, though not yet all before it: a record sent later on the same
 * path arrived, and a path delivers in order (creditArrivals). Its path was credited then, not again by the ACK.
 */
function hasArrived(entry: ReplayEntry): boolean {
  return entry.path !== undefined && entry.sendIndex <= entry.path.arrivedUpToSendIndex;
}

/** A heartbeat this many intervals late judges no silence (the process was too busy to read its paths). */
const LATE_TICK_FACTOR = 2;

/** Counters a UI can show. Payload bytes only (what the applications sent and received). */
export interface SessionStats {
  bytesSent: number;
  bytesReceived: number;
  recordsSent: number;
  recordsReceived: number;
  streams: number;
  /** Times the session moved to a new path and carried on. */
  resumes: number;
  /** Paths added beside others (JOIN). */
  pathsJoined: number;
  /** Times a carrying path went while another live path carried on (no resume needed). */
  pathSwitches: number;
  /** Paths carrying or standing by now. */
  paths: number;
  /** Bytes of sealed records waiting for the peer's acknowledgement. */
  replayBufferBytes: number;
  /** Bytes that arrived ahead of a missing record, waiting for it. */
  reorderBufferBytes: number;
  /** Paths given up because they delivered a record that failed its checks, replayed or lost one. */
  pathsFailed: number;
  /** Records that came on a path the session no longer has, or before a resume or join completed: dropped. */
  recordsDropped: number;
  /** Records that came again by a second path (sent again after the first seemed gone): dropped. */
  duplicatesDropped: number;
}

/** What the two endpoints share: paths, records, the sealed channel, acknowledgements, replay, the muxer, closing. */
export abstract class SessionEndpoint {
  protected readonly config: SessionConfig;
  protected readonly aead: AeadFactory;
  protected channel: SealedChannel | undefined;
  protected muxer: Multiplexer | undefined;
  protected keys: ResumeKeys | undefined;
  /** Every path not yet gone, oldest first. */
  protected readonly paths: SessionPath[] = [];
  protected readonly replay: ReplayBuffer;
  protected readonly reorder: ReorderBuffer;
  private readonly recordPool: RecordPool | undefined;
  private currentState: SessionState = 'handshaking';
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private detachedTimer: ReturnType<typeof setTimeout> | undefined;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private receivedSinceAck = 0;
  /** Sends so far: orders the sends on each path (ReplayEntry.sendIndex). */
  private sendCount = 0;
  /** PATH_PINGs this end has sent, on all paths. */
  private pingCount = 0;
  /** When tick() last ran (Date.now() ms); 0 before. */
  private lastTickAtMs = 0;
  private closeError: ProtocolError | undefined;
  protected lastReceivedAt = Date.now();
  protected resumeCount = 0;
  protected joinCount = 0;
  private readonly counters = {
    bytesSent: 0,
    bytesReceived: 0,
    recordsSent: 0,
    recordsReceived: 0,
    pathsFailed: 0,
    recordsDropped: 0,
    duplicatesDropped: 0,
    pathSwitches: 0,
  };

  constructor(protected readonly options: SessionOptions) {
    this.config = verifySessionConfig(options.config);
    this.aead = options.aead ?? nobleChaCha20Poly1305;
    this.recordPool = options.recordPool;
    this.replay = new ReplayBuffer(this.config.maxReplayBufferBytes, (entry) => this.reuseIfUnread(entry));
    this.reorder = new ReorderBuffer(this.config.maxReorderBufferBytes);
    this.addPath(options.sendRecord, 'starting', PathRole.CARRY);
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

  /** When the last record arrived from the peer, by any path (Date.now() milliseconds); the session's start before any did. */
  get lastHeardAtMs(): number {
    return this.lastReceivedAt;
  }

  /** Why the session closed, if it failed. */
  get error(): ProtocolError | undefined {
    return this.closeError;
  }

  /** The paths not yet gone, oldest first. */
  get attachedPaths(): readonly SessionPath[] {
    return this.paths;
  }

  /** The newest path not yet gone: where records go that come with no path named. */
  get currentPath(): SessionPath | undefined {
    return this.paths[this.paths.length - 1];
  }

  /**
   * Bytes this end holds for the peer, in the direction toward it: stream bytes waiting for the peer's credit plus
   * sealed records sent and not yet acknowledged. A peer that returns neither credit nor ACKs makes it grow, so the
   * exit budgets it (exit-server/outbound-budget.ts). The paths' own send buffers hold these same records (ws sends
   * them without copying), so they are not added again.
   */
  get outboundQueuedBytes(): number {
    return this.replay.bytes + (this.muxer?.sendQueueBytes ?? 0);
  }

  get stats(): SessionStats {
    return {
      ...this.counters,
      streams: this.muxer?.streamCount ?? 0,
      resumes: this.resumeCount,
      pathsJoined: this.joinCount,
      paths: this.paths.filter((path) => path.state === 'live').length,
      replayBufferBytes: this.replay.bytes,
      reorderBufferBytes: this.reorder.bytes,
    };
  }

  /**
   * Feeds one record from `path` (by default the newest). Never throws. A record that fails a check a volunteer
   * could cause (it does not parse or authenticate, or comes twice on one path) fails that path: the session drops
   * it, onPathFailed fires, and the others carry on. A violation by the authenticated peer closes the session with a
   * typed error.
   */
  receiveRecord(bytes: Uint8Array, path: SessionPath | undefined = this.currentPath): void {
    if (this.currentState === 'closed') return;
    if (path === undefined || path.state === 'gone') {
      // Late records of a path this side already let go; the peer sends again what the others lack.
      this.counters.recordsDropped++;
      return;
    }
    try {
      this.counters.recordsReceived++;
      const now = Date.now();
      this.lastReceivedAt = now;
      path.lastHeardAtMs = now;
      const record = beforeAuthentication(() => decodeRecord(bytes));
      if ((record.type === RecordType.SEALED || record.type === RecordType.ACK) && (path.state === 'resuming' || path.state === 'joining')) {
        // Sent before the peer knew of this path (late records of an old one): it sends them again after its answer.
        this.counters.recordsDropped++;
        return;
      }
      switch (record.type) {
        case RecordType.SEALED:
          this.receiveSealed(record, path);
          return;
        case RecordType.ACK:
          this.receiveAck(record.bytes, path);
          return;
        case RecordType.PATH_PING:
          this.receivePathPing(record.bytes, path);
          return;
        case RecordType.PATH_PONG:
          this.receivePathPong(record.bytes, path);
          return;
        default:
          this.receiveControlRecord(record, path);
      }
    } catch (error) {
      if (error instanceof PathRecordError) this.pathFailed(error, path);
      else
        this.fail(
          error instanceof ProtocolError ? error : new ProtocolError('FERRY_ERR_INTERNAL', `internal error: ${String(error)}`, SessionCloseCode.INTERNAL_ERROR),
        );
    }
  }

  /**
   * `path` delivered a record that failed its checks. Before the handshake there is nothing to keep, so the session
   * fails with the check's own error; after it, the path is dropped and the others carry on.
   */
  private pathFailed(error: PathRecordError, path: SessionPath): void {
    if (this.currentState === 'handshaking') {
      this.fail(error.check);
      return;
    }
    this.dropPath(path, `the path through this volunteer delivered a record that failed its checks (${error.check.message})`, 'hostile');
  }

  /** The session gives `path` up: tells the owner (which closes it), then carries on without it. */
  protected dropPath(path: SessionPath, reason: string, kind: PathFailure): void {
    if (path.state === 'gone' || this.currentState === 'closed') return;
    if (kind === 'hostile') this.counters.pathsFailed++;
    // The owner first: it marks the path as gone before the session reacts, so nothing is restarted on a dead path.
    this.options.onPathFailed?.(reason, path, kind);
    this.removePath(path, reason);
  }

  /** Closes the session: tells the peer (GOAWAY) when it can, fails every open stream. */
  close(reason = 'closed', code: SessionCloseCode = SessionCloseCode.NORMAL): void {
    if (this.currentState === 'closed') return;
    if (this.channel) this.sendFrame({ type: FrameType.GOAWAY, code, reason });
    this.finish(code === SessionCloseCode.NORMAL ? undefined : new SessionClosedError(reason, code));
  }

  /** Every path is gone (the owner saw them close). */
  transportLost(reason: string): void {
    for (const path of [...this.paths]) this.removePath(path, reason);
  }

  /**
   * `path` is gone (its owner saw it close, or the session dropped it). What it carried unacknowledged goes again on
   * the others. With no path left an open session detaches and waits (bounded) for one; a session still in its
   * handshake has nothing to resume and closes.
   */
  removePath(path: SessionPath, reason: string): void {
    if (path.state === 'gone' || this.currentState === 'closed') return;
    const wasStarting = path.state === 'starting';
    const wasCarrying = path.state === 'live' && path.role === PathRole.CARRY;
    path.state = 'gone';
    this.paths.splice(this.paths.indexOf(path), 1);
    if (wasCarrying && this.paths.some((other) => other.state === 'live')) this.counters.pathSwitches++;
    if (this.currentState === 'handshaking') {
      if (wasStarting) this.finish(new SessionClosedError(`the path to the exit was lost during the handshake: ${reason}`, SessionCloseCode.INTERNAL_ERROR));
      return;
    }
    for (const entry of this.replay.from(0)) if (entry.path === path) entry.path = undefined;
    const carrying = this.paths.some((candidate) => candidate.state === 'live' || candidate.state === 'resuming');
    if (!carrying && this.currentState !== 'detached') {
      this.clearAckTimer();
      this.setState('detached');
      // Counted from when the first path broke: a resume that fails in turn does not extend the wait.
      this.detachedTimer ??= setTimeout(() => {
        this.fail(
          new ProtocolError(
            'FERRY_ERR_RESUME_TIMEOUT',
            `no new path within ${this.config.detachedTimeoutMs / 1000} s after the last one broke (${reason}); the session's streams are closed`,
            SessionCloseCode.IDLE_TIMEOUT,
          ),
        );
      }, this.config.detachedTimeoutMs);
    }
    this.sendWaiting();
  }

  protected abstract receiveControlRecord(record: TunnelRecord, path: SessionPath): void;

  protected setState(state: SessionState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.options.onStateChange?.(state);
  }

  /** A new path, not yet carrying: the subclass sends its JOIN, RESUME or answer on it. */
  protected addPath(sink: RecordSink, state: PathState, role: PathRole): SessionPath {
    const path = new SessionPath(sink, state, role, Date.now());
    this.paths.push(path);
    return path;
  }

  /** Sends one record on `path` as it is (handshake, control and path records). */
  protected sendOn(path: SessionPath, record: Uint8Array, onWritten?: () => void): void {
    if (path.state === 'gone') return;
    this.counters.recordsSent++;
    path.lastSentAtMs = Date.now();
    path.send(record, onWritten);
  }

  /**
   * Sends a kept record where it should arrive first (or on `path`); with a pool, counts the write so the record's
   * memory is reused only after it. With no live path it waits (sendWaiting sends it when one comes).
   */
  private sendKept(entry: ReplayEntry, path = choosePath(this.paths, entry.record.length)): void {
    if (path === undefined) return;
    const previous = entry.path;
    if (previous !== undefined && previous !== path && previous.state !== 'gone' && !hasArrived(entry)) previous.inFlightBytes -= entry.record.length;
    const now = Date.now();
    entry.path = path;
    entry.sendIndex = ++this.sendCount;
    entry.sends++;
    path.sent(entry.record.length, now);
    this.counters.recordsSent++;
    if (this.recordPool === undefined) {
      path.send(entry.record);
      return;
    }
    entry.writesPending++;
    let reported = false;
    path.send(entry.record, () => {
      if (reported) return; // a sink that reports twice must not make the count wrong
      reported = true;
      entry.writesPending--;
      this.reuseIfUnread(entry);
    });
  }

  /** Sends, in order, the kept records that have no path (never sent, or their path died) if one is live now. */
  protected sendWaiting(): void {
    if (this.currentState !== 'open') return;
    for (const entry of this.replay.from(0)) {
      if (entry.path !== undefined) continue;
      const path = choosePath(this.paths, entry.record.length);
      if (path === undefined) return;
      this.sendKept(entry, path);
    }
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
    // While detached or resuming, the record waits in the replay buffer and goes out once a path carries again.
    if (this.currentState === 'open') this.sendKept(entry);
  };

  private receiveSealed(record: Extract<TunnelRecord, { type: typeof RecordType.SEALED }>, path: SessionPath): void {
    const channel = this.channel;
    if (!channel || path.state !== 'live') throw new PathRecordError(new MalformedInputError('a sealed record arrived before the handshake completed'));
    // An honest peer sends a record on one path once at most: the same number twice on this path is a replay.
    if (path.seen.witness(record.seq) === 'again') throw new PathRecordError(new SequenceError(`record ${record.seq} arrived twice on this path (replayed)`));
    if (this.reorder.has(record.seq)) {
      // Sent again by another path after this one seemed gone, or the other way round: the first copy was enough.
      this.counters.duplicatesDropped++;
      return;
    }
    const plaintext = beforeAuthentication(() => channel.open(record.seq, record.header, record.ciphertext));
    // Authenticated from here on: a bad frame, or more than the window allows, is the peer's own violation.
    this.peerCarriesOn(path);
    this.scheduleAck();
    this.reorder.accept(record.seq, plaintext, this.deliverFrame);
  }

  /** One record's frame, in sequence. */
  private readonly deliverFrame = (plaintext: Uint8Array): void => {
    if (this.currentState === 'closed') return;
    const frame = decodeFrame(plaintext);
    if (frame.type === FrameType.DATA) this.counters.bytesReceived += frame.data.length;
    if (frame.type === FrameType.GOAWAY) {
      this.finish(frame.code === SessionCloseCode.NORMAL ? undefined : new SessionClosedError(`the peer closed the session: ${frame.reason}`, frame.code));
      return;
    }
    this.muxer?.receiveFrame(frame);
  };

  private receiveAck(bytes: Uint8Array, path?: SessionPath): void {
    const keys = this.keys;
    const channel = this.channel;
    if (!channel || !keys) throw new PathRecordError(new MalformedInputError('an ACK arrived before the handshake completed'));
    const ack = beforeAuthentication(() => decodeAck(this.peerAckKey(keys), bytes));
    if (ack.receivedUpToSeq > channel.nextSendSeq) throw new SequenceError(`the peer acknowledged record ${ack.receivedUpToSeq - 1}, which was never sent`);
    if (path !== undefined) this.peerCarriesOn(path);
    this.acknowledge(ack, Date.now());
    this.dropPathThatLost(ack);
  }

  /**
   * The peer has every record below `ack.nextExpectedSeq`, and the one below `ack.receivedUpToSeq`: credit each path
   * with what it delivered, then sample the paths' rates.
   */
  private acknowledge(ack: Acknowledgement, now: number): void {
    this.replay.acknowledge(ack.nextExpectedSeq, (entry) => {
      if (entry.path !== undefined && entry.path.state !== 'gone' && !hasArrived(entry)) entry.path.delivered(entry.record.length);
    });
    this.creditArrivals(ack);
    for (const path of this.paths) path.sampleRate(now);
  }

  /**
   * Striping, a faster path's records wait at the peer behind a slower one's, and the cumulative ACK counts them only
   * once the gap is filled: the fast path would look as slow as the other, get less to carry, and measure slower
   * still. The latest record that arrived (`receivedUpToSeq - 1`) came on the path it was sent on, which delivers in
   * order: everything sent there before it arrived too, and that path is credited now.
   */
  private creditArrivals(ack: Acknowledgement): void {
    if (ack.receivedUpToSeq <= ack.nextExpectedSeq) return;
    const latest = this.replay.get(ack.receivedUpToSeq - 1);
    const path = latest?.path;
    // Sent more than once, it may have come by an earlier send on another path: then nothing is shown.
    if (latest === undefined || path === undefined || path.state === 'gone' || latest.sends !== 1) return;
    const creditedUpTo = path.arrivedUpToSendIndex;
    if (latest.sendIndex <= creditedUpTo) return;
    path.arrivedUpToSendIndex = latest.sendIndex;
    for (const entry of this.replay.from(ack.nextExpectedSeq)) {
      // A record numbered after `latest` was sent after it (unless it went while `latest` waited for a path: then
      // the cumulative ACK credits it instead), so the walk ends there rather than at the end of the buffer.
      if (entry.seq > latest.seq) break;
      if (entry.path === path && entry.sendIndex > creditedUpTo && entry.sendIndex <= latest.sendIndex) path.delivered(entry.record.length);
    }
  }

  /**
   * The peer sent a record (authenticated) on a standby path: it carries there now, so it has no carrying path left
   * (its side saw them close). Follow it at once, without waiting to find ours silent: it carries here too, and our
   * carrying paths, dead at the other end, are let go (what they held goes again on this one).
   */
  private peerCarriesOn(path: SessionPath): void {
    if (path.role !== PathRole.STANDBY || path.state !== 'live') return;
    path.role = PathRole.CARRY;
    for (const other of [...this.paths]) {
      if (other !== path && other.state === 'live' && other.role === PathRole.CARRY) {
        this.dropPath(other, 'the other end moved the session to a standby path: this one is gone at its side', 'gone');
      }
    }
  }

  /**
   * Paths are ordered and reliable: an honest one delivers what it was given in the order it was given. So when the
   * peer has a record sent on a path after the first record it lacks, and that one went by the same path last, the
   * path lost it. (The later record must have gone only that way: a copy sent by another path proves nothing.)
   */
  private dropPathThatLost(ack: Acknowledgement): void {
    if (ack.receivedUpToSeq <= ack.nextExpectedSeq) return;
    const missing = this.replay.get(ack.nextExpectedSeq);
    const later = this.replay.get(ack.receivedUpToSeq - 1);
    const path = missing?.path;
    if (missing === undefined || later === undefined || path === undefined || path.state !== 'live') return;
    if (later.path !== path || later.sends !== 1 || later.sendIndex < missing.sendIndex) return;
    this.dropPath(path, `the path through this volunteer lost record ${missing.seq}: record ${later.seq}, sent after it on the same path, arrived`, 'hostile');
  }

  /**
   * Heartbeat, every half heartbeatIntervalMs (the client runs its own timer; the exit server calls it for its
   * sessions): PATH_PING every live path due one, and drop a path heard from for too long: besideSilenceLimitMs
   * while another path is live, else aloneSilenceLimitMs (if this end judges that at all).
   */
  tick(now = Date.now()): void {
    if (this.currentState === 'closed') return;
    // A heartbeat that itself comes late (the process was busy) judges no silence: records may be waiting unread.
    const late = this.lastTickAtMs !== 0 && now - this.lastTickAtMs > LATE_TICK_FACTOR * this.config.heartbeatIntervalMs;
    this.lastTickAtMs = now;
    const keys = this.keys;
    if (keys !== undefined) {
      for (const path of this.paths) {
        if (path.state !== 'live' || now - path.lastPingSentAtMs < this.config.heartbeatIntervalMs) continue;
        path.lastPingCounter = ++this.pingCount;
        path.lastPingSentAtMs = now;
        path.lastPingSendIndex = this.sendCount;
        this.sendOn(path, encodePathPing(this.pingKeys(keys).own, path.lastPingCounter));
      }
    }
    if (late) return;
    for (const path of [...this.paths]) {
      const othersLive = this.paths.some((other) => other !== path && other.state === 'live');
      const limitMs = othersLive ? this.besideSilenceLimitMs() : this.aloneSilenceLimitMs();
      if (limitMs !== undefined && path.state !== 'gone' && now - path.lastHeardAtMs > limitMs) {
        this.dropPath(path, `nothing arrived through this volunteer for ${limitMs / 1000} s`, 'silent');
      }
    }
  }

  /** How long this end lets its only path be silent before it gives it up; undefined: its owner judges that. */
  protected abstract aloneSilenceLimitMs(): number | undefined;

  /** How long this end lets a path be silent while another is live. */
  protected abstract besideSilenceLimitMs(): number;

  /** The keys this end tags its PATH_PINGs and PATH_PONGs with (`own`), and those the peer's carry (`peer`). */
  protected abstract pingKeys(keys: ResumeKeys): { own: Uint8Array; peer: Uint8Array; ownPong: Uint8Array; peerPong: Uint8Array };

  /** Answers on the same path, with what has arrived so far: the records sent on it before this ping. */
  private receivePathPing(bytes: Uint8Array, path: SessionPath): void {
    const keys = this.keys;
    if (!keys || path.state !== 'live') throw new PathRecordError(new MalformedInputError('a PATH_PING arrived on a path not carrying yet'));
    const counter = beforeAuthentication(() => decodePathPing(this.pingKeys(keys).peer, bytes));
    // The peer's counter grows with every ping: one that does not is a volunteer replaying an old one.
    if (counter <= path.lastPingHeard) throw new PathRecordError(new SequenceError(`PATH_PING ${counter} came after ${path.lastPingHeard} (replayed)`));
    path.lastPingHeard = counter;
    this.sendOn(
      path,
      encodePathPong(this.pingKeys(keys).ownPong, { counter, nextExpectedSeq: this.reorder.nextSeq, receivedUpToSeq: this.reorder.receivedUpTo }),
    );
  }

  /** A round-trip sample, an acknowledgement, and the proof of a loss if a record sent here before the ping is missing. */
  private receivePathPong(bytes: Uint8Array, path: SessionPath): void {
    const keys = this.keys;
    const channel = this.channel;
    if (!keys || !channel || path.state !== 'live') throw new PathRecordError(new MalformedInputError('a PATH_PONG arrived on a path not carrying yet'));
    const pong = beforeAuthentication(() => decodePathPong(this.pingKeys(keys).peerPong, bytes));
    // Each pong answers a ping sent on this path since the last pong: an older one is a replay.
    if (pong.counter <= path.lastPongCounter || pong.counter > path.lastPingCounter) {
      throw new PathRecordError(new SequenceError(`PATH_PONG ${pong.counter} answers no ping this path is waiting on (replayed)`));
    }
    if (pong.receivedUpToSeq > channel.nextSendSeq) throw new SequenceError(`the peer acknowledged record ${pong.receivedUpToSeq - 1}, which was never sent`);
    path.lastPongCounter = pong.counter;
    const now = Date.now();
    if (pong.counter === path.lastPingCounter) path.rttSample(now - path.lastPingSentAtMs);
    this.acknowledge(pong, now);
    // Only the latest ping's send count is kept; an older pong proves nothing about what went before it.
    if (pong.counter !== path.lastPingCounter) return;
    const missing = this.replay.get(pong.nextExpectedSeq);
    if (missing === undefined || missing.path !== path || missing.sendIndex > path.lastPingSendIndex) return;
    this.dropPath(path, `the path through this volunteer lost record ${missing.seq}: its PATH_PING, sent after it, arrived first`, 'hostile');
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
    const path = choosePath(this.paths, ACK_RECORD_BYTES);
    if (path === undefined) return;
    this.receivedSinceAck = 0;
    this.sendOn(path, encodeAck(this.ownAckKey(this.keys), { nextExpectedSeq: this.reorder.nextSeq, receivedUpToSeq: this.reorder.receivedUpTo }));
  }

  private clearAckTimer(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  /** Both ends, after a resume: drop what the peer has, send the rest again, in order, on the resumed path. */
  protected replayFrom(peerNextExpectedSeq: number, path: SessionPath): void {
    if (!this.channel) return;
    const oldest = this.replay.oldestSeq ?? this.channel.nextSendSeq;
    if (peerNextExpectedSeq < oldest || peerNextExpectedSeq > this.channel.nextSendSeq) {
      throw new SequenceError(`cannot resume: the peer expects record ${peerNextExpectedSeq}, but only ${oldest}..${this.channel.nextSendSeq - 1} are kept`);
    }
    this.replay.acknowledge(peerNextExpectedSeq);
    for (const entry of this.replay.from(peerNextExpectedSeq)) this.sendKept(entry, path);
  }

  /** A path carries again after the session was detached (RESUME, or a JOIN that found no other path). */
  protected markResumed(): void {
    clearTimeout(this.detachedTimer);
    this.detachedTimer = undefined;
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
    for (const path of this.paths) if (path.state === 'starting') path.state = 'live';
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
    this.reorder.clear();
    const reason = error ? `the tunnel session ended: ${error.message}` : 'the tunnel session closed';
    this.muxer?.abortAll(new StreamError(StreamErrorCode.GENERAL_FAILURE, reason));
    this.onFinished(error);
    for (const path of this.paths.splice(0)) path.state = 'gone';
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
