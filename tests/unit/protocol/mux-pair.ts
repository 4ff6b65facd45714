/**
 * Two muxers back to back, for the muxer and stream-adapter tests: a client and an exit Multiplexer joined by two
 * queues of encoded frames, delivered (through decodeFrame, as from the wire) only when a test says so. Every frame
 * delivered is kept, decoded, by the side that sent it.
 */
import type { SessionConfig } from '../../../protocol/config.ts';
import { FrameType } from '../../../protocol/constants.ts';
import { decodeFrame, encodeFrame, type Frame } from '../../../protocol/frame.ts';
import { Multiplexer } from '../../../protocol/muxer.ts';
import type { MuxStream } from '../../../protocol/stream.ts';

export interface MuxPair {
  client: Multiplexer;
  exit: Multiplexer;
  /** Encoded frames waiting to be delivered, per direction. */
  toExit: Uint8Array[];
  toClient: Uint8Array[];
  /** Every frame delivered so far, decoded, by the side that sent it. */
  fromClient: Frame[];
  fromExit: Frame[];
}

export function connectMuxPair(clientConfig: SessionConfig, exitConfig: SessionConfig, onOpenRequest: (stream: MuxStream) => void): MuxPair {
  const toExit: Uint8Array[] = [];
  const toClient: Uint8Array[] = [];
  const client = new Multiplexer({
    role: 'client',
    config: clientConfig,
    peerStreamWindowBytes: exitConfig.streamReceiveWindowBytes,
    peerSessionWindowBytes: exitConfig.sessionReceiveWindowBytes,
    sendFrame: (frame) => toExit.push(encodeFrame(frame)),
  });
  const exit = new Multiplexer({
    role: 'exit',
    config: exitConfig,
    peerStreamWindowBytes: clientConfig.streamReceiveWindowBytes,
    peerSessionWindowBytes: clientConfig.sessionReceiveWindowBytes,
    sendFrame: (frame) => toClient.push(encodeFrame(frame)),
    onOpenRequest,
  });
  return { client, exit, toExit, toClient, fromClient: [], fromExit: [] };
}

/** Delivers up to `count` queued frames one way (toExit: client -> exit); returns how many it delivered. */
export function deliver(pair: MuxPair, toExit: boolean, count: number): number {
  const queue = toExit ? pair.toExit : pair.toClient;
  let delivered = 0;
  for (; delivered < count; delivered++) {
    const next = queue.shift();
    if (next === undefined) break;
    const frame = decodeFrame(next);
    (toExit ? pair.fromClient : pair.fromExit).push(frame);
    (toExit ? pair.exit : pair.client).receiveFrame(frame);
  }
  return delivered;
}

export const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);

/** The CREDIT grants among `frames` for one stream (0: the session), in order. */
export function creditFrames(frames: Frame[], streamId: number): number[] {
  return frames.flatMap((frame) => (frame.type === FrameType.CREDIT && frame.streamId === streamId ? [frame.bytes] : []));
}
