/**
 * @module stream
 * One multiplexed stream: per-stream credit flow control in both directions. The stream knows nothing of the
 * session; the muxer injects a narrow StreamHost (yamux habit).
 *
 * Send side: write() queues bytes; flush() sends DATA while both this stream's send credit and the session's allow.
 * Receive side: the peer may send at most `receiveWindowRemaining` bytes; the owner calls consumed(n) once it has
 * passed n bytes on (e.g. written them to a socket), and the stream grants that much credit back in batches.
 */
import { FrameType, MAX_DATA_PAYLOAD_BYTES, StreamErrorCode } from './constants.ts';
import { FlowControlError, MalformedInputError, StreamError } from './errors.ts';
import type { Frame } from './frame.ts';

/** What a stream needs from its session. */
export interface StreamHost {
  sendFrame(frame: Frame): void;
  /** Takes up to `wanted` bytes of session-wide send credit; returns how many were granted (may be 0). */
  takeSessionSendCredit(wanted: number): number;
  /** This stream's send queue grew (positive) or shrank (negative) by `deltaBytes`: the session keeps the sum. */
  sendQueueChanged(deltaBytes: number): void;
  /** The owner consumed `bytes` received on some stream: the session-wide window may be reopened. */
  sessionBytesConsumed(bytes: number): void;
  /** The stream is fully closed: forget it. */
  streamClosed(streamId: number): void;
}

export interface StreamInit {
  id: number;
  host: StreamHost;
  /** Bytes the peer allows us to send before its first CREDIT (announced in its handshake). */
  initialSendCredit: number;
  /** This side's per-stream receive window. */
  receiveWindowBytes: number;
  /** Local queue size above which write() returns false. */
  sendHighWaterBytes: number;
  /** Where the stream goes, as the client asked (host unresolved). */
  target: { host: string; port: number };
}

type OpenState = 'opening' | 'open' | 'closed';

export class MuxStream {
  readonly id: number;
  readonly target: { host: string; port: number };

  /** Called once the exit has connected (client) or after accept() (exit). */
  onopen: (() => void) | undefined;
  /** Bytes from the peer. Call consumed(bytes.length) once they have been passed on. */
  ondata: ((bytes: Uint8Array) => void) | undefined;
  /** The peer half-closed: no more data will come. */
  onend: (() => void) | undefined;
  /** The local send queue fell below the high-water mark again. */
  ondrain: (() => void) | undefined;
  /** The stream is finished; `error` is set when it failed (OPEN_FAIL, RESET, session lost). Fires exactly once. */
  onclose: ((error?: StreamError) => void) | undefined;

  private state: OpenState = 'opening';
  private readonly host: StreamHost;
  private sendCredit: number;
  private readonly sendQueue: Uint8Array[] = [];
  private sendQueueBytes = 0;
  private readonly sendHighWaterBytes: number;
  private needsDrain = false;
  private localEndRequested = false;
  private localEndSent = false;
  private remoteEnded = false;
  private readonly receiveWindowBytes: number;
  private receiveWindowRemaining: number;
  private consumedNotGranted = 0;
  bytesSent = 0;
  bytesReceived = 0;

  constructor(init: StreamInit) {
    this.id = init.id;
    this.host = init.host;
    this.target = init.target;
    this.sendCredit = init.initialSendCredit;
    this.receiveWindowBytes = init.receiveWindowBytes;
    this.receiveWindowRemaining = init.receiveWindowBytes;
    this.sendHighWaterBytes = init.sendHighWaterBytes;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Bytes queued locally, waiting for credit. */
  get bufferedAmount(): number {
    return this.sendQueueBytes;
  }

  /**
   * Queues bytes for the peer. Returns false when the queue is above the high-water mark: wait for ondrain.
   * Writing after end() or close throws StreamError.
   *
   * With `transient`, `bytes` is only valid during this call (a reused read buffer): what credit lets out now is sealed
   * straight from it, and only what must wait is copied. Sealing copies a record's bytes anyway, so a read that goes
   * out at once is copied once instead of twice (the exit's destination reads, hundreds of MB a second).
   */
  write(bytes: Uint8Array, transient = false): boolean {
    if (this.state === 'closed') throw new StreamError(StreamErrorCode.GENERAL_FAILURE, 'write on a closed stream');
    if (this.localEndRequested) throw new StreamError(StreamErrorCode.GENERAL_FAILURE, 'write after end()');
    let pushed = 0;
    for (let offset = 0; offset < bytes.length; offset += MAX_DATA_PAYLOAD_BYTES) {
      const chunk = bytes.subarray(offset, offset + MAX_DATA_PAYLOAD_BYTES);
      this.sendQueue.push(chunk);
      this.sendQueueBytes += chunk.length;
      pushed += 1;
    }
    this.host.sendQueueChanged(bytes.length);
    this.flush();
    if (transient) {
      // What flush left of this write is at the end of the queue (it sends from the front, in order).
      const queue = this.sendQueue;
      for (let index = Math.max(0, queue.length - pushed); index < queue.length; index += 1) {
        const waiting = queue[index];
        if (waiting !== undefined && waiting.buffer === bytes.buffer) queue[index] = waiting.slice();
      }
    }
    const belowHighWater = this.sendQueueBytes < this.sendHighWaterBytes;
    if (!belowHighWater) this.needsDrain = true;
    return belowHighWater;
  }

  /** Half-closes: CLOSE is sent once everything queued has been sent. */
  end(): void {
    if (this.state === 'closed' || this.localEndRequested) return;
    this.localEndRequested = true;
    this.flush();
  }

  /** Aborts the stream now, telling the peer why. */
  reset(code: StreamErrorCode, reason: string): void {
    if (this.state === 'closed') return;
    this.host.sendFrame({ type: FrameType.RESET, streamId: this.id, code, reason });
    this.finish(new StreamError(code, reason));
  }

  /** The owner passed `bytes` received bytes on; reopen that much of the receive windows. */
  consumed(bytes: number): void {
    if (bytes <= 0) return;
    this.host.sessionBytesConsumed(bytes);
    if (this.state === 'closed' || this.remoteEnded) return;
    this.consumedNotGranted += bytes;
    // Grant in batches of a quarter window: fewer CREDIT frames, and the peer never stalls for lack of credit.
    if (this.consumedNotGranted >= this.receiveWindowBytes / 4) {
      const grant = this.consumedNotGranted;
      this.consumedNotGranted = 0;
      this.receiveWindowRemaining += grant;
      this.host.sendFrame({ type: FrameType.CREDIT, streamId: this.id, bytes: grant });
    }
  }

  // ---- called by the muxer ----

  /** Exit side: the destination is connected. */
  accept(): void {
    if (this.state !== 'opening') return;
    this.state = 'open';
    this.host.sendFrame({ type: FrameType.OPEN_OK, streamId: this.id });
    this.onopen?.();
    this.flush();
  }

  /** Exit side: the destination could not be reached. */
  reject(code: StreamErrorCode, reason: string): void {
    if (this.state !== 'opening') return;
    this.host.sendFrame({ type: FrameType.OPEN_FAIL, streamId: this.id, code, reason });
    this.finish(new StreamError(code, reason));
  }

  handleOpenOk(): void {
    if (this.state !== 'opening') throw new MalformedInputError(`OPEN_OK for stream ${this.id}, which is not opening`);
    this.state = 'open';
    this.onopen?.();
    this.flush();
  }

  handleOpenFail(code: StreamErrorCode, reason: string): void {
    if (this.state !== 'opening') throw new MalformedInputError(`OPEN_FAIL for stream ${this.id}, which is not opening`);
    this.finish(new StreamError(code, reason));
  }

  handleData(data: Uint8Array): void {
    if (this.state !== 'open') throw new MalformedInputError(`DATA on stream ${this.id} before it was open`);
    if (this.remoteEnded) throw new MalformedInputError(`DATA on stream ${this.id} after its CLOSE`);
    if (data.length > this.receiveWindowRemaining) {
      throw new FlowControlError(`stream ${this.id} received ${data.length} bytes with only ${this.receiveWindowRemaining} bytes of credit`);
    }
    this.receiveWindowRemaining -= data.length;
    this.bytesReceived += data.length;
    this.ondata?.(data);
  }

  handleCredit(bytes: number): void {
    if (this.sendCredit + bytes > 0xffff_ffff) throw new FlowControlError(`stream ${this.id} credit overflowed 2^32`);
    this.sendCredit += bytes;
    this.flush();
  }

  handleClose(): void {
    if (this.remoteEnded) throw new MalformedInputError(`CLOSE twice on stream ${this.id}`);
    this.remoteEnded = true;
    this.onend?.();
    this.maybeFinished();
  }

  handleReset(code: StreamErrorCode, reason: string): void {
    this.finish(new StreamError(code, `the exit reset the stream: ${reason}`));
  }

  /** The session is gone: fail the stream without sending anything. */
  abort(error: StreamError): void {
    this.finish(error);
  }

  /** Sends queued DATA as far as credit allows, then CLOSE if end() was requested and the queue is empty. */
  flush(): void {
    if (this.state !== 'open') return;
    const queuedBefore = this.sendQueueBytes;
    while (this.sendQueue.length > 0 && this.sendCredit > 0) {
      const head = this.sendQueue[0] as Uint8Array;
      const wanted = Math.min(head.length, this.sendCredit);
      const granted = this.host.takeSessionSendCredit(wanted);
      if (granted === 0) break;
      const chunk = head.subarray(0, granted);
      if (granted === head.length) this.sendQueue.shift();
      else this.sendQueue[0] = head.subarray(granted);
      this.sendQueueBytes -= granted;
      this.sendCredit -= granted;
      this.bytesSent += granted;
      this.host.sendFrame({ type: FrameType.DATA, streamId: this.id, data: chunk });
    }
    if (this.sendQueueBytes !== queuedBefore) this.host.sendQueueChanged(this.sendQueueBytes - queuedBefore);
    if (this.needsDrain && this.sendQueueBytes < this.sendHighWaterBytes) {
      this.needsDrain = false;
      this.ondrain?.();
    }
    if (this.localEndRequested && !this.localEndSent && this.sendQueue.length === 0) {
      this.localEndSent = true;
      this.host.sendFrame({ type: FrameType.CLOSE, streamId: this.id });
      this.maybeFinished();
    }
  }

  private maybeFinished(): void {
    if (this.localEndSent && this.remoteEnded) this.finish();
  }

  private finish(error?: StreamError): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.sendQueueBytes > 0) this.host.sendQueueChanged(-this.sendQueueBytes);
    this.sendQueue.length = 0;
    this.sendQueueBytes = 0;
    this.host.streamClosed(this.id);
    this.onclose?.(error);
  }
}
