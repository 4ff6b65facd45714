/**
 * @module exit-server/destination-bridge
 * Joins a client's tunnel stream and its destination socket, both ways, with backpressure.
 *
 * Not stream.pipeline: when a destination sends its last bytes and closes (HTTP `Connection: close`), those bytes may
 * still wait in the tunnel stream for credit (or, while the client changes volunteer, for a new path). pipeline would
 * call that a "premature close" and reset the stream, losing them. Here the destination's end becomes a half-close
 * that goes out after the queued bytes; only a destination *error* resets the stream.
 */
import type { Socket } from 'node:net';
import { MuxStreamDuplex } from '../protocol/adapters/node-stream.ts';
import type { MuxStream } from '../protocol/index.ts';
import { StreamErrorCode } from '../protocol/index.ts';

export interface BridgeOptions {
  /** Close the stream after this long with no bytes either way. */
  idleTimeoutMs: number;
  /** Runs once, when both the stream and the socket are finished. */
  onFinished(): void;
}

export function bridgeDestination(stream: MuxStream, socket: Socket, options: BridgeOptions): void {
  const tunnel = new MuxStreamDuplex(stream);
  let destinationClosed = false;
  let finished = false;
  const finish = (): void => {
    if (finished || !destinationClosed || !tunnel.destroyed) return;
    finished = true;
    options.onFinished();
  };

  // destination -> client
  socket.on('data', (chunk: Buffer) => {
    if (!tunnel.write(chunk)) socket.pause();
  });
  tunnel.on('drain', () => socket.resume());
  socket.on('end', () => {
    if (!tunnel.writableEnded) tunnel.end();
  });

  // client -> destination
  tunnel.on('data', (chunk: Buffer) => {
    if (destinationClosed) return; // nowhere to deliver; reading on keeps the credit flowing
    if (!socket.write(chunk)) tunnel.pause();
  });
  socket.on('drain', () => tunnel.resume());
  tunnel.on('end', () => {
    if (!destinationClosed) socket.end();
  });

  socket.setTimeout(options.idleTimeoutMs, () => socket.destroy(new Error(`no traffic for ${options.idleTimeoutMs / 1000} s`)));
  socket.on('error', (error: NodeJS.ErrnoException) => {
    // The destination failed: what it still owed cannot come. Tell the client at once.
    if (!stream.isClosed) stream.reset(StreamErrorCode.GENERAL_FAILURE, `the destination connection failed: ${error.code ?? error.message}`);
  });
  socket.on('close', () => {
    destinationClosed = true;
    tunnel.resume();
    if (!tunnel.writableEnded && !stream.isClosed) tunnel.end();
    finish();
  });
  tunnel.on('error', () => socket.destroy());
  tunnel.on('close', () => {
    socket.destroy();
    finish();
  });
}
