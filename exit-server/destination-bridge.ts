/**
 * @module exit-server/destination-bridge
 * Joins a client's tunnel stream and its destination socket, both ways, with backpressure.
 *
 * destination -> client: each read (destination-dialer.ts hands them over one by one) is written to the stream and
 * then counted against the session's outbound budget (outbound-budget.ts). The socket reads only while both allow it:
 * the stream's own queue is under its high-water mark, and the budget does not hold the session. Bytes are never
 * dropped to keep a limit: a held destination simply is not read, and TCP pushes back on it.
 * client -> destination: through MuxStreamDuplex, credit going back as the socket takes the bytes.
 *
 * Not stream.pipeline: when a destination sends its last bytes and closes (HTTP `Connection: close`), those bytes may
 * still wait in the tunnel stream for credit (or, while the client changes volunteer, for a new path). pipeline would
 * call that a "premature close" and reset the stream, losing them. Here the destination's end becomes a half-close
 * that goes out after the queued bytes; only a destination *error* resets the stream. For the same reason the
 * destination's end goes to the stream itself, not through the adapter's writable side: ending that would let the
 * adapter finish (and, if the client had already half-closed, destroy and reset the stream) while bytes still wait
 * for credit.
 */
import type { Socket } from 'node:net';
import { MuxStreamDuplex } from '../protocol/adapters/node-stream.ts';
import type { MuxStream } from '../protocol/index.ts';
import { StreamErrorCode } from '../protocol/index.ts';
import type { BudgetedDestination, SessionAccount } from './outbound-budget.ts';

export interface BridgeOptions {
  /** Close the stream after this long with no bytes either way. */
  idleTimeoutMs: number;
  /** The budget of the session the stream belongs to. */
  account: SessionAccount;
  /** Runs once, when both the stream and the socket are finished. */
  onFinished(): void;
}

export class DestinationBridge implements BudgetedDestination {
  private socket: Socket | undefined;
  /** The socket is reading now (it starts paused: destination-dialer.ts). */
  private reading = false;
  private heldByBudget = false;
  /** The stream's send queue is above its high-water mark: wait for its ondrain. */
  private streamQueueFull = false;
  /** The destination sent its EOF: nothing more will be read. */
  private destinationEnded = false;
  private destinationClosed = false;
  private finished = false;

  constructor(
    private readonly stream: MuxStream,
    private readonly options: BridgeOptions,
  ) {}

  /** Takes one read from the destination (give this to the dialer). Never throws: it runs inside the socket's read. */
  readonly receiveFromDestination = (bytes: Uint8Array): void => {
    // A stream the client reset, or that failed, takes nothing more; its socket is being destroyed.
    if (this.stream.isClosed || this.destinationEnded) return;
    // `bytes` is the dialer's read buffer, valid only now: the stream copies whatever it cannot send at once.
    if (!this.stream.write(bytes, true)) this.streamQueueFull = true;
    // May hold this destination and every other of the session, before any of them reads again.
    this.options.account.update();
    this.updateReading();
  };

  setHeldByBudget(held: boolean): void {
    this.heldByBudget = held;
    this.updateReading();
  }

  /** The destination is connected (and paused): join it to the stream, both ways, and let it read if it may. */
  attach(socket: Socket): void {
    const { stream, options } = this;
    this.socket = socket;
    // Used for the client -> destination direction only (and never ended: see the module comment).
    const tunnel = new MuxStreamDuplex(stream);
    let streamFailed = false;
    const finish = (): void => {
      if (this.finished || !this.destinationClosed || !tunnel.destroyed) return;
      this.finished = true;
      options.onFinished();
    };
    const tunnelOnClose = stream.onclose;
    stream.onclose = (error) => {
      tunnelOnClose?.(error); // a failed stream destroys the tunnel; a finished one ends its readable side
      if (error) {
        streamFailed = true;
        return;
      }
      // Finished cleanly: the tunnel goes once the client's last bytes have been passed to the socket.
      if (tunnel.readableEnded) tunnel.destroy();
      else tunnel.once('end', () => tunnel.destroy());
    };

    // destination -> client (the reads come through receiveFromDestination)
    stream.ondrain = () => {
      this.streamQueueFull = false;
      this.updateReading();
    };
    socket.on('end', () => {
      this.destinationEnded = true;
      // Sent as CLOSE once everything queued before it has gone out.
      if (!stream.isClosed) stream.end();
    });

    // client -> destination
    tunnel.on('data', (chunk: Buffer) => {
      if (this.destinationClosed) return; // nowhere to deliver; reading on keeps the credit flowing
      if (!socket.write(chunk)) tunnel.pause();
    });
    socket.on('drain', () => tunnel.resume());
    tunnel.on('end', () => {
      if (!this.destinationClosed) socket.end();
    });

    socket.setTimeout(options.idleTimeoutMs, () => socket.destroy(new Error(`no traffic for ${options.idleTimeoutMs / 1000} s`)));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The destination failed: what it still owed cannot come. Tell the client at once.
      if (!stream.isClosed) stream.reset(StreamErrorCode.GENERAL_FAILURE, `the destination connection failed: ${error.code ?? error.message}`);
    });
    socket.on('close', () => {
      this.destinationClosed = true;
      options.account.removeDestination(this);
      tunnel.resume();
      if (!stream.isClosed) stream.end();
      finish();
    });
    tunnel.on('error', () => socket.destroy());
    tunnel.on('close', () => {
      // A failed stream cuts the destination. A finished one has ended both ways: the socket closes by itself once
      // it has written the client's last bytes (or its idle timeout cuts it).
      if (streamFailed) socket.destroy();
      else socket.end();
      // The stream is finished: what it still queued is gone, which may let the session read again.
      options.account.update();
      finish();
    });
    // Starts reading unless the session is held.
    options.account.addDestination(this);
  }

  private updateReading(): void {
    const socket = this.socket;
    if (!socket || this.destinationClosed) return;
    const shouldRead = !this.heldByBudget && !this.streamQueueFull;
    if (shouldRead === this.reading) return;
    this.reading = shouldRead;
    if (shouldRead) socket.resume();
    else socket.pause();
  }
}
