/**
 * @module adapters/node-stream
 * A MuxStream as a Node Duplex, so Node edges can use pipe()/pipeline() with their usual backpressure:
 * - writes wait for the stream's send credit (write() false -> callback held until ondrain);
 * - reads grant credit back only once Node's readable buffer has room (push() false -> credit held until _read()).
 * So a slow reader on either side holds the peer at one window, and nothing buffers without bound.
 */
import { Duplex } from 'node:stream';
import { StreamErrorCode } from '../constants.ts';
import type { MuxStream } from '../stream.ts';

export class MuxStreamDuplex extends Duplex {
  private creditHeld = 0;

  constructor(private readonly stream: MuxStream) {
    super({ allowHalfOpen: true });
    stream.ondata = (bytes) => {
      if (this.push(bytes)) stream.consumed(bytes.length);
      else this.creditHeld += bytes.length;
    };
    stream.onend = () => this.push(null);
    stream.onclose = (error) => {
      if (error) this.destroy(error);
      else if (!this.readableEnded) this.push(null);
    };
  }

  override _read(): void {
    if (this.creditHeld > 0) {
      const bytes = this.creditHeld;
      this.creditHeld = 0;
      this.stream.consumed(bytes);
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.stream.isClosed) {
      callback(new Error('the tunnel stream is closed'));
      return;
    }
    try {
      if (this.stream.write(chunk)) callback();
      else this.stream.ondrain = () => callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.stream.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.stream.isClosed) this.stream.reset(StreamErrorCode.GENERAL_FAILURE, error?.message ?? 'closed by the local end');
    // Bytes received but never read are consumed now: otherwise their share of the session window, shared by every
    // stream, would be lost for good (a tab closed during a throttled download would shrink it stream by stream).
    // After the reset, so only session credit goes back: stream credit would invite bytes nobody will read.
    if (this.creditHeld > 0) {
      const bytes = this.creditHeld;
      this.creditHeld = 0;
      this.stream.consumed(bytes);
    }
    callback(error);
  }
}
