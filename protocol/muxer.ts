/**
 * @module muxer
 * Many streams over one session: dispatches decoded frames to streams, allocates stream ids (client side), enforces
 * the stream limit and the session-wide credit window (HTTP/2-style: stream 0 carries session CREDIT), answers PING.
 */

import type { SessionConfig } from './config.ts';
import { FrameType, SESSION_STREAM_ID, type SessionCloseCode, StreamErrorCode } from './constants.ts';
import { FlowControlError, MalformedInputError, StreamError } from './errors.ts';
import type { Frame } from './frame.ts';
import { MuxStream, type StreamHost } from './stream.ts';

export interface StreamTarget {
  host: string;
  port: number;
}

export interface MuxerInit {
  role: 'client' | 'exit';
  config: SessionConfig;
  /** The peer's per-stream receive window (from its handshake): our initial send credit per stream. */
  peerStreamWindowBytes: number;
  /** The peer's session-wide receive window: our initial session send credit. */
  peerSessionWindowBytes: number;
  sendFrame(frame: Frame): void;
  /** Exit side: a client asks for a stream. Call stream.accept() once connected, or stream.reject(code, reason). */
  onOpenRequest?(stream: MuxStream): void;
  /** The peer sent GOAWAY. */
  onGoAway?(code: SessionCloseCode, reason: string): void;
}

export class Multiplexer implements StreamHost {
  private readonly streams = new Map<number, MuxStream>();
  private nextStreamId = 1;
  private sessionSendCredit: number;
  private sessionReceiveRemaining: number;
  private sessionConsumedNotGranted = 0;
  private queuedSendBytes = 0;
  private closed = false;

  constructor(private readonly init: MuxerInit) {
    this.sessionSendCredit = init.peerSessionWindowBytes;
    this.sessionReceiveRemaining = init.config.sessionReceiveWindowBytes;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Bytes written to streams and not yet sent for want of credit, all streams together. */
  get sendQueueBytes(): number {
    return this.queuedSendBytes;
  }

  /** Client side: asks the exit to open a TCP connection to target. */
  openStream(target: StreamTarget): MuxStream {
    if (this.init.role !== 'client') throw new Error('only the client opens streams');
    if (this.closed) throw new StreamError(StreamErrorCode.GENERAL_FAILURE, 'the session is closed');
    if (this.streams.size >= this.init.config.maxStreams) {
      throw new StreamError(StreamErrorCode.GENERAL_FAILURE, `too many streams open at once (limit ${this.init.config.maxStreams})`);
    }
    const id = this.nextStreamId;
    this.nextStreamId += 2; // odd ids: room for exit-initiated streams later without a clash
    const stream = this.createStream(id, target);
    this.init.sendFrame({ type: FrameType.OPEN, streamId: id, host: target.host, port: target.port });
    return stream;
  }

  /** Handles one decoded frame. Throws ProtocolError on a violation; the session then closes. */
  receiveFrame(frame: Frame): void {
    if (this.closed) return;
    switch (frame.type) {
      case FrameType.OPEN:
        this.handleOpen(frame.streamId, { host: frame.host, port: frame.port });
        return;
      case FrameType.OPEN_OK:
        this.clientStream(frame.streamId, 'OPEN_OK')?.handleOpenOk();
        return;
      case FrameType.OPEN_FAIL:
        this.clientStream(frame.streamId, 'OPEN_FAIL')?.handleOpenFail(frame.code, frame.reason);
        return;
      case FrameType.DATA:
        this.handleData(frame.streamId, frame.data);
        return;
      case FrameType.CREDIT:
        this.handleCredit(frame.streamId, frame.bytes);
        return;
      case FrameType.CLOSE:
        this.streams.get(frame.streamId)?.handleClose();
        return;
      case FrameType.RESET:
        this.streams.get(frame.streamId)?.handleReset(frame.code, frame.reason);
        return;
      case FrameType.PING:
        this.init.sendFrame({ type: FrameType.PONG, opaque: frame.opaque });
        return;
      case FrameType.PONG:
        return;
      case FrameType.GOAWAY:
        this.init.onGoAway?.(frame.code, frame.reason);
        return;
    }
  }

  /** Fails every stream (session lost). Sends nothing. */
  abortAll(error: StreamError): void {
    this.closed = true;
    for (const stream of [...this.streams.values()]) stream.abort(error);
    this.streams.clear();
  }

  // ---- StreamHost ----

  sendFrame(frame: Frame): void {
    if (!this.closed) this.init.sendFrame(frame);
  }

  takeSessionSendCredit(wanted: number): number {
    const granted = Math.min(wanted, this.sessionSendCredit);
    this.sessionSendCredit -= granted;
    return granted;
  }

  sendQueueChanged(deltaBytes: number): void {
    this.queuedSendBytes += deltaBytes;
  }

  sessionBytesConsumed(bytes: number): void {
    if (this.closed) return;
    this.sessionConsumedNotGranted += bytes;
    if (this.sessionConsumedNotGranted >= this.init.config.sessionReceiveWindowBytes / 4) {
      const grant = this.sessionConsumedNotGranted;
      this.sessionConsumedNotGranted = 0;
      this.sessionReceiveRemaining += grant;
      this.init.sendFrame({ type: FrameType.CREDIT, streamId: SESSION_STREAM_ID, bytes: grant });
    }
  }

  streamClosed(streamId: number): void {
    this.streams.delete(streamId);
  }

  // ---- frame handlers ----

  private createStream(id: number, target: StreamTarget): MuxStream {
    const stream = new MuxStream({
      id,
      host: this,
      target,
      initialSendCredit: this.init.peerStreamWindowBytes,
      receiveWindowBytes: this.init.config.streamReceiveWindowBytes,
      sendHighWaterBytes: this.init.config.streamSendHighWaterBytes,
    });
    this.streams.set(id, stream);
    return stream;
  }

  private handleOpen(streamId: number, target: StreamTarget): void {
    if (this.init.role !== 'exit') throw new MalformedInputError('the exit may not open streams toward the client');
    if (this.streams.has(streamId)) throw new MalformedInputError(`OPEN for stream ${streamId}, which is already open`);
    if (this.streams.size >= this.init.config.maxStreams) {
      // Refuse this stream, keep the session: the client may simply have many tabs open.
      this.init.sendFrame({
        type: FrameType.OPEN_FAIL,
        streamId,
        code: StreamErrorCode.GENERAL_FAILURE,
        reason: `too many streams open at once (limit ${this.init.config.maxStreams})`,
      });
      return;
    }
    const stream = this.createStream(streamId, target);
    if (this.init.onOpenRequest) this.init.onOpenRequest(stream);
    else stream.reject(StreamErrorCode.NOT_ALLOWED, 'this endpoint accepts no streams');
  }

  private clientStream(streamId: number, what: string): MuxStream | undefined {
    if (this.init.role !== 'client') throw new MalformedInputError(`${what} sent to the exit`);
    return this.streams.get(streamId);
  }

  private handleData(streamId: number, data: Uint8Array): void {
    if (data.length > this.sessionReceiveRemaining) {
      throw new FlowControlError(`the session received ${data.length} bytes with only ${this.sessionReceiveRemaining} bytes of session credit`);
    }
    this.sessionReceiveRemaining -= data.length;
    const stream = this.streams.get(streamId);
    if (!stream) {
      // A stream we already closed or reset; the peer sent before it knew. Drop the bytes, keep the window whole.
      this.sessionBytesConsumed(data.length);
      return;
    }
    stream.handleData(data);
  }

  private handleCredit(streamId: number, bytes: number): void {
    if (streamId === SESSION_STREAM_ID) {
      if (this.sessionSendCredit + bytes > Number.MAX_SAFE_INTEGER) throw new FlowControlError('session credit overflowed');
      this.sessionSendCredit += bytes;
      // Session credit is shared: give every stream that waits a chance to send.
      for (const stream of this.streams.values()) {
        if (this.sessionSendCredit === 0) break;
        stream.flush();
      }
      return;
    }
    this.streams.get(streamId)?.handleCredit(bytes);
  }
}
